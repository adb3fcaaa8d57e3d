"""Undoing a no-show marked by mistake, the same day.

A no-show sends the request back to ACCEPTED and frees the slot. Undoing it puts the
booking back as it was (BOOKED, the request SCHEDULED) only while that is still true to
life: on the local day the no-show was recorded, while the request has no other live
booking, and while the device still has a free place at that time (a freed slot may
have been given to someone else from the waiting list meanwhile).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from scheduling.access import require_hub_side
from scheduling.audit import Actor
from scheduling.booking import announce_status_change
from scheduling.db import db
from scheduling.errors import Conflict
from scheduling.i18n import N_
from scheduling.locks import lock_appointment, lock_for_booking
from scheduling.models import Appointment, AppointmentStatus, RequestStatus
from scheduling.states import LIVE_APPOINTMENT_STATUSES, transition
from scheduling.timetable import local_day, pick_template, templates_by_device, window_times
from scheduling.tx import check_aware, finish, rollback_on_error


def can_undo(appointment: Appointment, now: datetime) -> bool:
    return appointment.status is AppointmentStatus.NO_SHOW and local_day(
        appointment.updated_at
    ) == local_day(now)


def _capacity_at(appointment: Appointment) -> int:
    day = local_day(appointment.start_at)
    template = pick_template(
        templates_by_device([appointment.device_id])[appointment.device_id], day
    )
    if template is None:
        return 1
    return max(
        (c for s, e, c in window_times(template, day) if s <= appointment.start_at < e),
        default=1,
    )


def undo_no_show(
    actor: Actor, now: datetime, appointment: Appointment, commit: bool = True
) -> Appointment:
    check_aware(now)
    with rollback_on_error(commit):
        lock_appointment(appointment)
        require_hub_side(actor, appointment.hub_hospital_id)
        if not can_undo(appointment, now):
            raise Conflict(
                N_("A no-show can only be undone on the day it was recorded"), code="undo-late"
            )
        request = appointment.request
        if any(a.status in LIVE_APPOINTMENT_STATUSES for a in request.appointments):
            raise Conflict(
                N_("The request has been booked again; cancel that booking first"),
                code="rebooked",
            )
        lock_for_booking(appointment.patient_id, [appointment.device_id])
        taken = db.session.scalar(
            select(func.count(Appointment.id)).where(
                Appointment.device_id == appointment.device_id,
                Appointment.status.in_(LIVE_APPOINTMENT_STATUSES),
                Appointment.start_at < appointment.end_at,
                Appointment.end_at > appointment.start_at,
            )
        )
        if taken >= _capacity_at(appointment):
            raise Conflict(
                N_("The slot has been given to another patient; book a new slot instead"),
                code="slot-taken",
            )
        # Not a transition of the state machine (NO_SHOW stays terminal there): the
        # status is put back to what it was, under the checks above.
        previous = appointment.status
        appointment.status = AppointmentStatus.BOOKED
        appointment.updated_at = now
        previous_request = None
        if request.status is RequestStatus.ACCEPTED:
            previous_request = transition(request, RequestStatus.SCHEDULED)
            request.updated_at = now
        announce_status_change(
            actor, now, appointment, "appointment.no_show_undo", previous, previous_request
        )
        finish(commit)
    return appointment
