"""Booking operations: book, reschedule, cancel, arrive, no-show, start, complete, discontinue.

How a booking stays race-free (the same code on SQLite and PostgreSQL)
----------------------------------------------------------------------
A booking is "read what is taken, decide, insert", so concurrent bookers must not
both read before either inserts. ``book`` and ``reschedule`` therefore take locks
*before* they check anything (``scheduling/locks.py``):

1. the request row (``SELECT … FOR UPDATE``): one operation at a time per request;
2. the patient row: one booking at a time per patient, so two bookings for one
   patient on different devices cannot both pass the "no overlapping exams" check;
3. the device row(s): one booking at a time per device, so the capacity count
   (``rules.check_slot``) cannot change before the commit; when the hub has a quota
   for the device's whole modality, every device of that modality at the hub, so the
   quota count cannot change either;
4. the hub's accession counter row (``UPDATE … RETURNING``): numbers never repeat.

Locks are always taken in this order, so transactions never wait on each other in
a cycle (no deadlocks). Bookings on different devices run in parallel on PostgreSQL.
On SQLite, which has one writer at a time anyway, ``BEGIN IMMEDIATE`` takes the
database write lock before the checks read. The loser of a race waits for the
winner's commit, then sees the slot taken and gets a :class:`Conflict` ("this slot
has just been taken", Thai by default) before it has written anything; with
``commit=True`` its transaction is rolled back at once. Unique constraints back this
up: accession number per hub, Study Instance UID and appointment code.

Identifiers made at booking: accession number ``<hub MOPH code><2-digit BE year>
<6-digit sequence>`` (13 characters, unique per hub), requested procedure ID = the
accession number, SPS ID = accession + ``S1``, Study Instance UID ``2.25.<uuid4 as
integer>``, and an 8-character appointment code (no 0/O/1/I) printed on the slip.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scheduling import events, notices
from scheduling.access import require_hub_side, require_party
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import Conflict, NotFound, ValidationFailed
from scheduling.i18n import N_
from scheduling.locks import lock_appointment, lock_for_booking, lock_request
from scheduling.models import (
    AccessionCounter,
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    RequestStatus,
)
from scheduling.rules import GridSlot, check_slot, modality_quota_devices
from scheduling.states import LIVE_APPOINTMENT_STATUSES, can_transition, transition
from scheduling.timetable import local_day
from scheduling.tx import check_aware, finish, rollback_on_error

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


def new_study_instance_uid() -> str:
    """A DICOM UID under the 2.25 root: the UUID's 128 bits as one decimal integer."""
    return f"2.25.{uuid.uuid4().int}"


def new_appointment_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


_COUNTER = AccessionCounter.__table__
# Built once: building the statement cost more than running it.
_BUMP_COUNTER = (
    update(_COUNTER)
    .where(_COUNTER.c.hospital_id == bindparam("b_hub"), _COUNTER.c.year == bindparam("b_year"))
    .values(last_value=_COUNTER.c.last_value + 1)
    .returning(_COUNTER.c.last_value)
)


def next_accession_number(hub: Hospital, now: datetime) -> str:
    """Draw the hub's next number; the row lock is held until the booking commits."""
    year = local_day(now).year
    connection = db.session.connection()
    params = {"b_hub": hub.id, "b_year": year}
    value = connection.execute(_BUMP_COUNTER, params).scalar()
    if value is None:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(
            insert(_COUNTER)
            .values(hospital_id=hub.id, year=year, last_value=0)
            .on_conflict_do_nothing(index_elements=["hospital_id", "year"])
        )
        value = connection.execute(_BUMP_COUNTER, params).scalar()
    return f"{hub.code}{(year + 543) % 100:02d}{value:06d}"


def _live_appointments(request: ImagingRequest) -> list[Appointment]:
    return [a for a in request.appointments if a.status in LIVE_APPOINTMENT_STATUSES]


def new_appointment(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    device: Device,
    start_at: datetime,
    end_at: datetime,
) -> Appointment:
    """A BOOKED appointment of ``request`` on ``device``, with its identifiers (accession
    number, Study Instance UID, appointment code), added to the session.

    For booking operations that have already taken the booking locks and checked what
    they waive or require (``book``, ``reschedule``, ``extra.book_extra``); announce it
    with :func:`announce_booking`.
    """
    accession = next_accession_number(device.hospital, now)
    appointment = Appointment(
        request_id=request.id,
        patient_id=request.patient_id,
        hub_hospital_id=device.hospital_id,
        device_id=device.id,
        start_at=start_at,
        end_at=end_at,
        status=AppointmentStatus.BOOKED,
        accession_number=accession,
        study_instance_uid=new_study_instance_uid(),
        requested_procedure_id=accession,
        sps_id=f"{accession}S1",
        appointment_code=new_appointment_code(),
        booked_by_id=actor.user.id if actor.user is not None else None,
        created_at=now,
        updated_at=now,
    )
    db.session.add(appointment)
    return appointment


def _locked_slot(
    now: datetime,
    request: ImagingRequest,
    device: Device,
    start_at: datetime,
    moving: Appointment | None = None,
) -> GridSlot:
    """Take the patient and device locks (steps 2 and 3 above), then judge the slot: the
    order that keeps ``book`` and ``reschedule`` race-free. ``moving``: the booking
    being rescheduled (it does not block its own new slot)."""
    lock_for_booking(request.patient_id, modality_quota_devices(device))
    return check_slot(
        now,
        device,
        request.procedure,
        start_at,
        requesting_hospital_id=request.requesting_hospital_id,
        priority=request.priority,
        patient_id=request.patient_id,
        exclude_appointment_id=moving.id if moving is not None else None,
    )


def book(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    device: Device,
    start_at: datetime,
    commit: bool = True,
) -> Appointment:
    """Book the request into the slot of ``device`` starting at ``start_at``."""
    check_aware(now, start_at)
    with rollback_on_error(commit):
        lock_request(request)
        require_party(actor, request, device.hospital_id)
        if not can_transition(request.status, RequestStatus.SCHEDULED):
            if _live_appointments(request):
                raise Conflict(
                    N_("This request is already booked; reschedule it instead"),
                    code="already-booked",
                )
            transition(request, RequestStatus.SCHEDULED)  # raises the state conflict
        slot = _locked_slot(now, request, device, start_at)
        appointment = new_appointment(actor, now, request, device, slot.start_at, slot.end_at)
        previous = transition(request, RequestStatus.SCHEDULED)
        request.hub_hospital_id = device.hospital_id
        request.updated_at = now
        db.session.flush()
        record(
            actor,
            "appointment.book",
            now,
            entity=appointment,
            hospital_id=device.hospital_id,
            request_id=request.id,
            device=device.ae_title,
            start_at=slot.start_at.isoformat(),
            accession_number=appointment.accession_number,
        )
        announce_booking(actor, now, appointment, request, previous)
        finish(commit)
    return appointment


def announce_booking(
    actor: Actor,
    now: datetime,
    appointment: Appointment,
    request: ImagingRequest,
    previous: RequestStatus,
) -> None:
    """Tell the listeners (HL7 outbound, LINE, notifications) about a new booking and the
    request's move to SCHEDULED; inside the booking's transaction."""
    events.appointment_booked.send(appointment, actor=actor, now=now, appointment=appointment)
    events.request_status_changed.send(
        request, actor=actor, now=now, request=request, previous_status=previous
    )


def announce_status_change(
    actor: Actor,
    now: datetime,
    appointment: Appointment,
    action: str,
    previous: AppointmentStatus,
    previous_request: RequestStatus | None = None,
    /,
    **detail,
) -> None:
    """The end of every change of an appointment's status at the hub: the audit event
    ``action`` (``detail`` added to it), ``appointment_status_changed`` and, when the
    request's status moved too (``previous_request``), ``request_status_changed``."""
    request = appointment.request
    record(
        actor,
        action,
        now,
        entity=appointment,
        hospital_id=appointment.hub_hospital_id,
        request_id=request.id,
        **detail,
    )
    events.appointment_status_changed.send(
        appointment, actor=actor, now=now, appointment=appointment, previous_status=previous
    )
    if previous_request is not None:
        events.request_status_changed.send(
            request, actor=actor, now=now, request=request, previous_status=previous_request
        )


def reschedule(
    actor: Actor,
    now: datetime,
    appointment: Appointment,
    device: Device,
    start_at: datetime,
    reason: str = "",
    commit: bool = True,
) -> Appointment:
    """Move a booking: the old row becomes MOVED, a new row points back to it."""
    check_aware(now, start_at)
    with rollback_on_error(commit):
        lock_appointment(appointment)
        request = appointment.request
        require_party(actor, request, device.hospital_id)
        if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED):
            transition(appointment, AppointmentStatus.MOVED)  # raises the state conflict
        slot = _locked_slot(now, request, device, start_at, moving=appointment)
        transition(appointment, AppointmentStatus.MOVED)
        appointment.status_reason = (reason or "").strip() or None
        appointment.updated_at = now
        new = new_appointment(actor, now, request, device, slot.start_at, slot.end_at)
        new.rescheduled_from_id = appointment.id
        request.hub_hospital_id = device.hospital_id
        request.updated_at = now
        db.session.flush()
        record(
            actor,
            "appointment.reschedule",
            now,
            entity=new,
            hospital_id=device.hospital_id,
            request_id=request.id,
            previous_id=appointment.id,
            previous_start_at=appointment.start_at.isoformat(),
            start_at=slot.start_at.isoformat(),
            device=device.ae_title,
            reason=appointment.status_reason,
        )
        notices.tell_requester(
            actor,
            now,
            request,
            "appointment.moved",
            notices.MOVED,
            reason=appointment.status_reason,
            when=notices.when_of(new),
        )
        events.appointment_rescheduled.send(
            new, actor=actor, now=now, appointment=new, previous=appointment
        )
        finish(commit)
    return new


def cancel_live_appointment(
    actor: Actor, now: datetime, appointment: Appointment, reason: str | None
) -> None:
    """The state change and signal of a cancellation, without audit or commit.

    Shared by ``cancel_appointment`` and ``requests.cancel_request`` (which writes its
    own single audit event).
    """
    transition(appointment, AppointmentStatus.CANCELLED)
    appointment.status_reason = reason
    appointment.updated_at = now
    events.appointment_cancelled.send(appointment, actor=actor, now=now, appointment=appointment)


def cancel_appointment(
    actor: Actor, now: datetime, appointment: Appointment, reason: str, commit: bool = True
) -> Appointment:
    """Cancel the booking; the request goes back to ACCEPTED, ready to be booked again."""
    check_aware(now)
    with rollback_on_error(commit):
        lock_appointment(appointment)
        request = appointment.request
        require_party(actor, request, appointment.hub_hospital_id)
        reason = (reason or "").strip()
        cancel_live_appointment(actor, now, appointment, reason or None)
        previous = None
        if request.status is RequestStatus.SCHEDULED:
            previous = transition(request, RequestStatus.ACCEPTED)
            request.updated_at = now
        record(
            actor,
            "appointment.cancel",
            now,
            entity=appointment,
            hospital_id=appointment.hub_hospital_id,
            request_id=request.id,
            reason=reason,
        )
        notices.tell_requester(
            actor, now, request, "appointment.cancelled", notices.CANCELLED, reason=reason or None
        )
        if previous is not None:
            events.request_status_changed.send(
                request, actor=actor, now=now, request=request, previous_status=previous
            )
        finish(commit)
    return appointment


def _hub_status_change(
    actor: Actor,
    now: datetime,
    appointment: Appointment,
    target: AppointmentStatus,
    action: str,
    commit: bool,
    reason: str | None = None,
    request_target: RequestStatus | None = None,
) -> Appointment:
    check_aware(now)
    with rollback_on_error(commit):
        lock_appointment(appointment)
        require_hub_side(actor, appointment.hub_hospital_id)
        request = appointment.request
        previous = transition(appointment, target)
        appointment.updated_at = now
        if target is AppointmentStatus.ARRIVED:
            appointment.arrived_at = now
        elif target is AppointmentStatus.IN_PROGRESS:
            appointment.started_at = now
            appointment.arrived_at = appointment.arrived_at or now
        elif target in (AppointmentStatus.COMPLETED, AppointmentStatus.DISCONTINUED):
            appointment.completed_at = now
        if reason is not None:
            appointment.status_reason = reason
        previous_request = None
        if request_target is not None and request.status is RequestStatus.SCHEDULED:
            previous_request = transition(request, request_target)
            request.updated_at = now
        announce_status_change(
            actor,
            now,
            appointment,
            action,
            previous,
            previous_request,
            previous=previous.name,
            **({"reason": reason} if reason else {}),
        )
        finish(commit)
    return appointment


def mark_arrived(
    actor: Actor, now: datetime, appointment: Appointment, commit: bool = True
) -> Appointment:
    return _hub_status_change(
        actor, now, appointment, AppointmentStatus.ARRIVED, "appointment.arrive", commit
    )


def mark_no_show(
    actor: Actor, now: datetime, appointment: Appointment, commit: bool = True
) -> Appointment:
    """The patient did not come; the request goes back to ACCEPTED for a new booking."""
    if now < appointment.start_at:
        raise ValidationFailed(
            N_("A patient cannot be a no-show before the appointment time"), code="too-early"
        )
    return _hub_status_change(
        actor,
        now,
        appointment,
        AppointmentStatus.NO_SHOW,
        "appointment.no_show",
        commit,
        request_target=RequestStatus.ACCEPTED,
    )


def start_exam(
    actor: Actor, now: datetime, appointment: Appointment, commit: bool = True
) -> Appointment:
    """MPPS IN PROGRESS (or a click in the web UI)."""
    return _hub_status_change(
        actor, now, appointment, AppointmentStatus.IN_PROGRESS, "appointment.start", commit
    )


def complete_exam(
    actor: Actor, now: datetime, appointment: Appointment, commit: bool = True
) -> Appointment:
    """MPPS COMPLETED / ORC-5 CM: the exam is done and the request with it."""
    return _hub_status_change(
        actor,
        now,
        appointment,
        AppointmentStatus.COMPLETED,
        "appointment.complete",
        commit,
        request_target=RequestStatus.COMPLETED,
    )


def complete_reported_exam(
    actor: Actor, now: datetime, request: ImagingRequest, commit: bool = True
) -> Appointment:
    """A RIS/PACS says the exam is done (HL7 ORC-5 CM, a final FHIR DiagnosticReport):
    complete the request's booking, whether or not anyone marked the patient in.

    Already completed (by MPPS or an earlier message) is not an error: results are
    often sent twice. A booking never started is started first, so the history says
    the exam did take place.
    """
    appointment = request.current_appointment
    if appointment is None:
        raise NotFound(N_("The request has no appointment to complete"), code="no-appointment")
    if appointment.status is AppointmentStatus.COMPLETED:
        return appointment
    with rollback_on_error(commit):
        if appointment.status is AppointmentStatus.BOOKED:
            start_exam(actor, now, appointment, commit=False)
        complete_exam(actor, now, appointment, commit=False)
        finish(commit)
    return appointment


def discontinue_exam(
    actor: Actor, now: datetime, appointment: Appointment, reason: str = "", commit: bool = True
) -> Appointment:
    """MPPS DISCONTINUED: stopped part-way; the request goes back to ACCEPTED."""
    return _hub_status_change(
        actor,
        now,
        appointment,
        AppointmentStatus.DISCONTINUED,
        "appointment.discontinue",
        commit,
        reason=(reason or "").strip() or None,
        request_target=RequestStatus.ACCEPTED,
    )


__all__ = [
    "announce_booking",
    "announce_status_change",
    "book",
    "cancel_appointment",
    "complete_exam",
    "discontinue_exam",
    "mark_arrived",
    "mark_no_show",
    "new_appointment",
    "reschedule",
    "start_exam",
]


def appointment_by_code(code: str) -> Appointment | None:
    return db.session.scalar(
        select(Appointment).where(Appointment.appointment_code == code.strip().upper())
    )
