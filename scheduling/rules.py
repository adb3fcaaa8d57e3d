"""What makes a slot bookable, shared by ``availability.find_slots`` and ``booking.book``.

Both call :func:`slot_problem` (or its bulk form) so the search never offers a slot
that booking would refuse, and booking never accepts one the search would hide.
Local wall-clock times (templates, holidays) are turned into aware datetimes in the
hospital time zone (``RADBOOK_TIMEZONE``); everything compared is aware UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import ceil

from sqlalchemy import and_, or_, select

from app.extensions import db
from app.models import (
    Appointment,
    AppointmentStatus,
    CapacityTemplate,
    Closure,
    Device,
    Priority,
    Procedure,
)
from app.timeutil import local_datetime, local_zone
from scheduling.overlap import db_overlaps, overlaps

# Appointments that occupy their slot. Beyond the live ones, a completed or
# discontinued exam used its slot too (it may have finished early; the slot is gone).
OCCUPYING_STATUSES: frozenset[AppointmentStatus] = frozenset({
    AppointmentStatus.BOOKED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.IN_PROGRESS,
    AppointmentStatus.COMPLETED,
    AppointmentStatus.DISCONTINUED,
})


@dataclass(frozen=True)
class GridSlot:
    start_at: datetime
    end_at: datetime
    capacity: int


def template_applies(template: CapacityTemplate, day: date) -> bool:
    return (
        template.is_active
        and (template.valid_from is None or template.valid_from <= day)
        and (template.valid_to is None or day <= template.valid_to)
    )


def pick_template(templates: Iterable[CapacityTemplate], day: date) -> CapacityTemplate | None:
    """The template in force on ``day``: the applicable one that started latest."""
    best = None
    for template in templates:
        if not template_applies(template, day):
            continue
        if best is None or (template.valid_from or date.min, template.id) > (
            best.valid_from or date.min, best.id
        ):
            best = template
    return best


def slot_length(template: CapacityTemplate, procedure: Procedure) -> tuple[timedelta, timedelta]:
    """(grid step, booking length) for this procedure under this template.

    With a fixed slot length a procedure takes as many whole slots as its duration
    needs; without one, the grid steps by the procedure's own duration.
    """
    if template.slot_minutes:
        step = timedelta(minutes=template.slot_minutes)
        cells = max(1, ceil(procedure.duration_minutes / template.slot_minutes))
        return step, step * cells
    length = timedelta(minutes=procedure.duration_minutes)
    return length, length


def day_grid(template: CapacityTemplate, day: date, procedure: Procedure) -> list[GridSlot]:
    """Every slot start the template offers on ``day`` for the procedure, in time order."""
    step, length = slot_length(template, procedure)
    weekday = day.weekday()
    slots: list[GridSlot] = []
    for window in template.windows:
        if window.weekday != weekday:
            continue
        start = local_datetime(day, window.start_time)
        window_end = local_datetime(day, window.end_time)
        while start + length <= window_end:
            slots.append(GridSlot(start, start + length, window.capacity))
            start += step
    slots.sort(key=lambda s: s.start_at)
    return slots


def local_day(value: datetime) -> date:
    return value.astimezone(local_zone()).date()


def earliest_start(template: CapacityTemplate, now: datetime, priority: Priority) -> datetime:
    # Urgent and stat requests skip the lead time (the hub fits them in today).
    if priority is Priority.ROUTINE:
        return now + timedelta(minutes=template.lead_time_minutes)
    return now


def last_day(template: CapacityTemplate, now: datetime) -> date:
    return local_day(now) + timedelta(days=template.horizon_days)


def max_concurrency(intervals: Sequence[tuple[datetime, datetime]], start: datetime,
                    end: datetime) -> int:
    """Most intervals running at one instant within [start, end)."""
    events: list[tuple[datetime, int]] = []
    for a_start, a_end in intervals:
        if overlaps(a_start, a_end, start, end):
            events.append((max(a_start, start), 1))
            events.append((min(a_end, end), -1))
    # Ends sort before starts at the same instant: touching intervals do not overlap.
    events.sort(key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


# ---------------------------------------------------------------- bulk loading


def load_templates(device_ids: Sequence[int]) -> dict[int, list[CapacityTemplate]]:
    from sqlalchemy.orm import selectinload

    rows = db.session.scalars(
        select(CapacityTemplate)
        .where(CapacityTemplate.device_id.in_(device_ids), CapacityTemplate.is_active.is_(True))
        .options(selectinload(CapacityTemplate.windows))
    ).all()
    result: dict[int, list[CapacityTemplate]] = defaultdict(list)
    for row in rows:
        result[row.device_id].append(row)
    return result


def load_closures(devices: Sequence[Device], start: datetime, end: datetime
                  ) -> dict[int, list[tuple[datetime, datetime]]]:
    """Closed periods per device id: nationwide, its hospital's, and its own downtime."""
    device_ids = [d.id for d in devices]
    hospital_ids = sorted({d.hospital_id for d in devices})
    rows = db.session.execute(
        select(Closure.hospital_id, Closure.device_id, Closure.start_at, Closure.end_at).where(
            Closure.is_active.is_(True),
            db_overlaps(Closure.start_at, Closure.end_at, start, end),
            or_(
                and_(Closure.hospital_id.is_(None), Closure.device_id.is_(None)),
                and_(Closure.device_id.is_(None), Closure.hospital_id.in_(hospital_ids)),
                Closure.device_id.in_(device_ids),
            ),
        )
    ).all()
    result: dict[int, list[tuple[datetime, datetime]]] = {d.id: [] for d in devices}
    for hospital_id, device_id, c_start, c_end in rows:
        for device in devices:
            if device_id is not None:
                hit = device.id == device_id
            else:
                hit = hospital_id is None or hospital_id == device.hospital_id
            if hit:
                result[device.id].append((c_start, c_end))
    return result


def load_occupied(device_ids: Sequence[int], start: datetime, end: datetime,
                  exclude_id: int | None = None) -> dict[int, list[tuple[datetime, datetime]]]:
    query = select(Appointment.device_id, Appointment.start_at, Appointment.end_at).where(
        Appointment.device_id.in_(device_ids),
        Appointment.status.in_(OCCUPYING_STATUSES),
        db_overlaps(Appointment.start_at, Appointment.end_at, start, end),
    )
    if exclude_id is not None:
        query = query.where(Appointment.id != exclude_id)
    result: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for device_id, a_start, a_end in db.session.execute(query):
        result[device_id].append((a_start, a_end))
    return result


def patient_busy(patient_id: int, start: datetime, end: datetime,
                 exclude_id: int | None = None) -> list[tuple[datetime, datetime]]:
    query = select(Appointment.start_at, Appointment.end_at).where(
        Appointment.patient_id == patient_id,
        Appointment.status.in_(OCCUPYING_STATUSES),
        db_overlaps(Appointment.start_at, Appointment.end_at, start, end),
    )
    if exclude_id is not None:
        query = query.where(Appointment.id != exclude_id)
    return [(a, b) for a, b in db.session.execute(query)]


@dataclass
class SlotCheck:
    """Why a wanted slot cannot be booked (None when it can)."""

    problem: str | None = None
    end_at: datetime | None = None
    remaining: int = 0
    detail: dict = field(default_factory=dict)


def check_slot(
    now: datetime,
    device: Device,
    procedure: Procedure,
    start_at: datetime,
    *,
    requesting_hospital_id: int,
    priority: Priority,
    patient_id: int | None,
    exclude_appointment_id: int | None = None,
) -> GridSlot:
    """The grid slot starting at ``start_at`` if it is bookable now, else raise Conflict.

    Run by ``book``/``reschedule`` after they hold the booking locks, so what it reads
    cannot change before the commit.
    """
    from scheduling.errors import Conflict, ValidationFailed
    from scheduling.i18n import N_

    if not device.is_active:
        raise Conflict(N_("This device is not taking bookings"), code="device-inactive")
    if device.modality_code != procedure.modality_code:
        raise ValidationFailed(
            N_("This device cannot perform the requested procedure"), code="wrong-modality"
        )
    day = local_day(start_at)
    template = pick_template(load_templates([device.id]).get(device.id, []), day)
    if template is None:
        raise Conflict(N_("The device has no bookable hours on that day"), code="no-capacity")
    slot = next((s for s in day_grid(template, day, procedure) if s.start_at == start_at), None)
    if slot is None:
        raise Conflict(
            N_("That time is not a bookable slot on this device"), code="not-a-slot"
        )
    if start_at < earliest_start(template, now, priority):
        raise Conflict(N_("That slot is too soon to book"), code="lead-time")
    if day > last_day(template, now):
        raise Conflict(N_("That day is beyond the booking horizon"), code="horizon")
    if load_closures([device], slot.start_at, slot.end_at)[device.id]:
        raise Conflict(N_("The hospital or device is closed at that time"), code="closed")
    occupied = load_occupied([device.id], slot.start_at, slot.end_at,
                             exclude_id=exclude_appointment_id).get(device.id, [])
    if max_concurrency(occupied, slot.start_at, slot.end_at) >= slot.capacity:
        raise Conflict(
            N_("Sorry, this slot has just been taken. Please choose another time."),
            code="slot-taken",
        )
    if patient_id is not None and patient_busy(
        patient_id, slot.start_at, slot.end_at, exclude_id=exclude_appointment_id
    ):
        raise Conflict(
            N_("The patient already has another exam at that time"), code="patient-overlap"
        )
    return slot
