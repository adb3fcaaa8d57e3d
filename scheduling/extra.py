"""Walk-ins and deliberate overbookings: a scheduler books a request beyond the template's
capacity, knowingly.

What still holds: the request must be bookable, the device active, of the procedure's
modality and the hub's, and the time within one of its windows that day (not in a
closure); the patient must not have another exam then. What is waived: the capacity
count and the quotas (that is the point), and the lead time for a walk-in. The booking
is an ordinary appointment (accession number, worklist entry, LINE message through the
booking event) marked in ``extra_booking``; a walk-in is marked arrived at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from scheduling.access import require_hub_side
from scheduling.audit import Actor, record
from scheduling.booking import announce_booking, new_appointment
from scheduling.db import db
from scheduling.errors import Conflict, ValidationFailed
from scheduling.i18n import N_
from scheduling.locks import lock_for_booking, lock_request
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    ExtraBooking,
    ExtraKind,
    ImagingRequest,
    RequestStatus,
)
from scheduling.states import BOOKABLE_REQUEST_STATUSES, LIVE_APPOINTMENT_STATUSES, transition
from scheduling.timetable import (
    device_closures,
    device_windows,
    local_day,
    to_naive,
)
from scheduling.tx import check_aware, finish, rollback_on_error


def _check_time(device: Device, start_at: datetime, end_at: datetime) -> None:
    day = local_day(start_at)
    windows = device_windows([device], day, day).get((device.id, day), [])
    if not any(w.start <= start_at and end_at <= w.end for w in windows):
        raise ValidationFailed(
            N_("That time is outside the device's opening hours"), code="extra-hours"
        )
    begin, finish_at = to_naive(start_at), to_naive(end_at)
    closed = device_closures([device], start_at, end_at)[device.id]
    if any(c_start < finish_at and begin < c_end for c_start, c_end in closed):
        raise Conflict(N_("The hospital or device is closed at that time"), code="closed")


def book_extra(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    device: Device,
    start_at: datetime,
    kind: ExtraKind,
    reason: str = "",
    commit: bool = True,
) -> Appointment:
    check_aware(now, start_at)
    with rollback_on_error(commit):
        lock_request(request)
        require_hub_side(actor, device.hospital_id)
        if request.hub_hospital_id != device.hospital_id:
            raise Conflict(N_("This request is addressed to another hub"), code="other-hub")
        if request.status not in BOOKABLE_REQUEST_STATUSES:
            transition(request, RequestStatus.SCHEDULED)  # raises the state conflict
        if not device.is_active:
            raise Conflict(N_("This device is not taking bookings"), code="device-inactive")
        if device.modality_code != request.procedure.modality_code:
            raise ValidationFailed(
                N_("This device cannot perform the requested procedure"), code="wrong-modality"
            )
        end_at = start_at + timedelta(minutes=request.procedure.duration_minutes)
        _check_time(device, start_at, end_at)
        lock_for_booking(request.patient_id, [device.id])
        busy = db.session.scalar(
            select(func.count(Appointment.id)).where(
                Appointment.patient_id == request.patient_id,
                Appointment.status.in_(LIVE_APPOINTMENT_STATUSES),
                Appointment.start_at < end_at,
                Appointment.end_at > start_at,
            )
        )
        if busy:
            raise Conflict(
                N_("The patient already has another exam at that time"), code="patient-overlap"
            )
        appointment = new_appointment(actor, now, request, device, start_at, end_at)
        previous = transition(request, RequestStatus.SCHEDULED)
        request.updated_at = now
        if kind is ExtraKind.WALK_IN:
            appointment.status = AppointmentStatus.ARRIVED
            appointment.arrived_at = now
        db.session.flush()
        db.session.add(
            ExtraBooking(
                appointment_id=appointment.id,
                kind=kind,
                reason=(reason or "").strip()[:500] or None,
                created_at=now,
                created_by_id=actor.user.id if actor.user is not None else None,
            )
        )
        record(
            actor,
            "appointment.book_extra",
            now,
            entity=appointment,
            hospital_id=device.hospital_id,
            request_id=request.id,
            kind=kind.name,
            device=device.ae_title,
            start_at=start_at.isoformat(),
            accession_number=appointment.accession_number,
            reason=reason or None,
        )
        announce_booking(actor, now, appointment, request, previous)
        finish(commit)
    return appointment


def extra_kinds(appointment_ids: list[int]) -> dict[int, ExtraKind]:
    if not appointment_ids:
        return {}
    return dict(
        db.session.execute(
            select(ExtraBooking.appointment_id, ExtraBooking.kind).where(
                ExtraBooking.appointment_id.in_(appointment_ids)
            )
        ).all()
    )
