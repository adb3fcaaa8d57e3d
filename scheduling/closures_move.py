"""Moving the bookings a closure falls on, together: into the next free slots, or onto
the waiting list.

One transaction for the whole batch: either every booking listed is moved (or put on the
waiting list) or none is, so a refusal half-way leaves nothing half-written. Each move
goes through ``booking.reschedule`` or ``booking.cancel_appointment`` (their own audit
event, the patient's LINE message through the booking events), and is also recorded
as ``closure.move``, told to the requesting hospital with the closure's name as the
reason, and signalled as ``events.closure_moved`` (the patient's LINE notice then gives
the closure's name as the reason). A booking with no free slot within the search
horizon goes onto the waiting list instead (its request is then ACCEPTED and first in
line for a freed slot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from scheduling import booking, events, waitlist
from scheduling.access import require_hub_side
from scheduling.audit import Actor, record
from scheduling.availability import find_slots
from scheduling.capacity import bookings_in_closure
from scheduling.clock import to_local
from scheduling.db import db
from scheduling.i18n import N_
from scheduling.models import Appointment, Closure, Device
from scheduling.notifications import notify_hospital
from scheduling.thaidate import thai_date
from scheduling.timetable import local_day
from scheduling.tx import check_aware, finish, rollback_on_error

MOVED = N_(
    "The booking of request %(order)s fell in a closure (%(closure)s) and was moved to "
    "%(date)s %(time)s on %(device)s"
)
WAITLISTED = N_(
    "The booking of request %(order)s fell in a closure (%(closure)s) and was cancelled; "
    "the request is first in line for a freed slot"
)


@dataclass
class MoveOutcome:
    moved: list[tuple[Appointment, Appointment]] = field(default_factory=list)
    waitlisted: list[Appointment] = field(default_factory=list)


def affected(closure: Closure, hub_hospital_id: int) -> list[Appointment]:
    """The hub's live bookings the closure falls on, earliest first."""
    return [a for a in bookings_in_closure(closure) if a.hub_hospital_id == hub_hospital_id]


def freed_devices(closure: Closure, hub_hospital_id: int) -> list[Device]:
    """The hub's devices a closure holds, which lifting it frees: its device, or every
    active device of the hub for a hospital-wide closure or a public holiday."""
    if closure.device is not None:
        return [closure.device] if closure.device.hospital_id == hub_hospital_id else []
    return list(
        db.session.scalars(
            select(Device)
            .where(Device.hospital_id == hub_hospital_id, Device.is_active.is_(True))
            .order_by(Device.modality_code, Device.ae_title)
        )
    )


def _reason(closure: Closure) -> str:
    return closure.name_th or closure.name_en or ""


def _next_slot(now: datetime, appointment: Appointment, closure: Closure):
    request = appointment.request
    slots = find_slots(
        now,
        request.procedure,
        requesting_hospital_id=request.requesting_hospital_id,
        patient=request.patient,
        hub_hospital_id=appointment.hub_hospital_id,
        date_from=max(local_day(closure.end_at), local_day(now)),
        priority=request.priority,
        limit=1,
        exclude_appointment_id=appointment.id,
    )
    return slots[0] if slots else None


def move_out(
    actor: Actor,
    now: datetime,
    closure: Closure,
    hub_hospital_id: int,
    *,
    to_waitlist: bool = False,
    commit: bool = True,
) -> MoveOutcome:
    check_aware(now)
    outcome = MoveOutcome()
    with rollback_on_error(commit):
        require_hub_side(actor, hub_hospital_id)
        reason = _reason(closure)
        for appointment in affected(closure, hub_hospital_id):
            slot = None if to_waitlist else _next_slot(now, appointment, closure)
            request = appointment.request
            if slot is not None:
                device = db.session.get(Device, slot.device_id)
                new = booking.reschedule(
                    actor, now, appointment, device, slot.start_at, reason=reason, commit=False
                )
                outcome.moved.append((appointment, new))
                message, params = (
                    MOVED,
                    {
                        "date": thai_date(new.start_at),
                        "time": to_local(new.start_at).strftime("%H:%M"),
                        "device": device.ae_title,
                    },
                )
            else:
                booking.cancel_appointment(actor, now, appointment, reason, commit=False)
                if waitlist.open_entry(request) is None:
                    waitlist.add(actor, now, request, note=reason, commit=False)
                outcome.waitlisted.append(appointment)
                message, params = WAITLISTED, {}
            events.closure_moved.send(
                closure,
                actor=actor,
                now=now,
                appointment=appointment if slot is None else new,
                closure=closure,
            )
            record(
                actor,
                "closure.move",
                now,
                entity=appointment,
                hospital_id=hub_hospital_id,
                request_id=request.id,
                closure_id=closure.id,
                to="waitlist" if slot is None else "slot",
                reason=reason,
            )
            notify_hospital(
                request.requesting_hospital_id,
                "closure.moved",
                now,
                message=message,
                params={"order": request.placer_order_number, "closure": reason, **params},
                request_id=request.id,
                reason=reason,
                actor=actor,
            )
        finish(commit)
    return outcome
