"""Read-side queries behind the hub pages (day, week, exams, inbox).

Reads only; every change goes through a ``scheduling`` operation. Appointments are
fetched by ``device_id IN (...)`` and a start-time range so the
``(device_id, start_at)`` index answers them on a region-sized database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Date, Interval, case, cast, func, literal, select
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.hub import capacity_view
from scheduling.clock import to_local
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    Modality,
    Priority,
    RequestStatus,
)
from scheduling.timetable import day_bounds

# Bookings a day view shows and counts: every one that holds or held its slot. A
# no-show counts as booked time (the slot was lost); cancelled and moved ones freed it.
OCCUPYING = tuple(
    s for s in AppointmentStatus if s not in (AppointmentStatus.CANCELLED, AppointmentStatus.MOVED)
)

PRIORITY_ORDER = case(
    (ImagingRequest.priority == Priority.STAT, 0),
    (ImagingRequest.priority == Priority.URGENT, 1),
    else_=2,
)


def hub_devices(
    hub: Hospital, modality: str | None = None, active_only: bool = True
) -> list[Device]:
    query = select(Device).where(Device.hospital_id == hub.id)
    if active_only:
        query = query.where(Device.is_active.is_(True))
    if modality:
        query = query.where(Device.modality_code == modality)
    return list(db.session.scalars(query.order_by(Device.modality_code, Device.ae_title)))


def hub_modalities(hub: Hospital) -> list[Modality]:
    return list(
        db.session.scalars(
            select(Modality)
            .where(
                Modality.code.in_(
                    select(Device.modality_code).where(
                        Device.hospital_id == hub.id, Device.is_active.is_(True)
                    )
                )
            )
            .order_by(Modality.code)
        )
    )


def appointments_between(
    devices: list[Device],
    start: datetime,
    end: datetime,
    *,
    full: bool = True,
    statuses: tuple[AppointmentStatus, ...] = OCCUPYING,
    limit: int | None = None,
    offset: int = 0,
    studies: bool = True,
) -> list[Appointment]:
    if not devices:
        return []
    query = (
        select(Appointment)
        .where(
            Appointment.device_id.in_([d.id for d in devices]),
            Appointment.start_at >= start,
            Appointment.start_at < end,
            Appointment.status.in_(statuses),
        )
        .order_by(Appointment.start_at, Appointment.id)
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    if full:
        query = query.options(
            joinedload(Appointment.patient),
            joinedload(Appointment.request).joinedload(ImagingRequest.procedure),
            joinedload(Appointment.request).joinedload(ImagingRequest.requesting_hospital),
        )
        if studies:
            query = query.options(
                joinedload(Appointment.request).selectinload(ImagingRequest.studies)
            )
    return list(db.session.scalars(query).unique())


@dataclass
class DeviceDay:
    device: Device
    appointments: list[Appointment] = field(default_factory=list)
    booked_minutes: int = 0
    capacity_minutes: int | None = None  # None: no capacity template known for the day
    booking_count: int = 0

    @property
    def occupancy(self) -> float | None:
        if not self.capacity_minutes:
            return None
        return self.booked_minutes / self.capacity_minutes

    @property
    def count(self) -> int:
        return self.booking_count


def _minutes_sum():
    """SUM of booking lengths in minutes, in each database's own date arithmetic."""
    if db.engine.dialect.name == "postgresql":
        return func.sum(func.extract("epoch", Appointment.end_at - Appointment.start_at)) / 60
    return func.sum(
        (func.julianday(Appointment.end_at) - func.julianday(Appointment.start_at)) * 1440
    )


def day_counts(hub: Hospital, day: date, modality: str | None = None) -> list[DeviceDay]:
    """Every device of the hub (and modality) with its bookings, booked and bookable
    minutes that day; counted in SQL (a big hub's day has thousands of bookings)."""
    devices = hub_devices(hub, modality)
    start, end = day_bounds(day)
    rows = {d.id: DeviceDay(d) for d in devices}
    for dev_id, count, minutes in db.session.execute(
        select(Appointment.device_id, func.count(Appointment.id), _minutes_sum())
        .where(
            Appointment.device_id.in_(list(rows) or [-1]),
            Appointment.start_at >= start,
            Appointment.start_at < end,
            Appointment.status.in_(OCCUPYING),
        )
        .group_by(Appointment.device_id)
    ):
        rows[dev_id].booking_count = count
        rows[dev_id].booked_minutes = int(round(minutes or 0))
    capacity = capacity_view.capacity_minutes(devices, day, day)
    for row in rows.values():
        row.capacity_minutes = capacity.get((row.device.id, day))
    return list(rows.values())


@dataclass
class WeekCell:
    count: int = 0
    booked_minutes: int = 0
    capacity_minutes: int | None = None

    @property
    def occupancy(self) -> float | None:
        if not self.capacity_minutes:
            return None
        return self.booked_minutes / self.capacity_minutes


@dataclass
class WeekRow:
    label: str
    device: Device | None  # None for a modality total
    cells: list[WeekCell]


def week_view(
    hub: Hospital, first_day: date, modality: str | None = None
) -> tuple[list[date], list[WeekRow], list[WeekRow]]:
    """Per device and per modality, for seven days: bookings, booked and available minutes."""
    days = [first_day + timedelta(days=i) for i in range(7)]
    devices = hub_devices(hub, modality)
    start, _ = day_bounds(days[0])
    _, end = day_bounds(days[-1])
    index = {d: i for i, d in enumerate(days)}
    cells: dict[int, list[WeekCell]] = {d.id: [WeekCell() for _ in days] for d in devices}
    for (device_id, day), (count, minutes) in per_device_day(devices, start, end).items():
        cell = cells[device_id][index[day]]
        cell.count += count
        cell.booked_minutes += minutes
    capacity = capacity_view.capacity_minutes(devices, days[0], days[-1])
    for device in devices:
        for i, day in enumerate(days):
            cells[device.id][i].capacity_minutes = capacity.get((device.id, day))
    device_rows = [WeekRow(f"{d.name} ({d.ae_title})", d, cells[d.id]) for d in devices]
    totals: dict[str, list[WeekCell]] = defaultdict(lambda: [WeekCell() for _ in days])
    for device in devices:
        for i, cell in enumerate(cells[device.id]):
            total = totals[device.modality_code][i]
            total.count += cell.count
            total.booked_minutes += cell.booked_minutes
            if cell.capacity_minutes is not None:
                total.capacity_minutes = (total.capacity_minutes or 0) + cell.capacity_minutes
    modality_rows = [WeekRow(code, None, row) for code, row in sorted(totals.items())]
    return days, device_rows, modality_rows


def inbox(hub: Hospital, statuses: tuple[RequestStatus, ...]) -> list[ImagingRequest]:
    return list(
        db.session.scalars(
            select(ImagingRequest)
            .where(ImagingRequest.hub_hospital_id == hub.id, ImagingRequest.status.in_(statuses))
            .options(
                selectinload(ImagingRequest.patient),
                selectinload(ImagingRequest.procedure),
                selectinload(ImagingRequest.requesting_hospital),
                selectinload(ImagingRequest.appointments),
            )
            .order_by(PRIORITY_ORDER, ImagingRequest.submitted_at, ImagingRequest.id)
            .limit(500)
        )
    )


def inbox_counts(hub: Hospital) -> dict[RequestStatus, int]:
    """How many of the hub's requests wait in each inbox tab."""
    rows = db.session.execute(
        select(ImagingRequest.status, func.count(ImagingRequest.id))
        .where(
            ImagingRequest.hub_hospital_id == hub.id,
            ImagingRequest.status.in_((RequestStatus.SUBMITTED, RequestStatus.ACCEPTED)),
        )
        .group_by(ImagingRequest.status)
    )
    return {status: count for status, count in rows}


def bookings_per_day(devices: list[Device], first: date, days: int) -> dict[date, int]:
    """How many bookings each local day holds, for a strip of day links."""
    start, _ = day_bounds(first)
    _, end = day_bounds(first + timedelta(days=days - 1))
    counts: dict[date, int] = {first + timedelta(days=i): 0 for i in range(days)}
    for (_device_id, day), (count, _minutes) in per_device_day(devices, start, end).items():
        counts[day] += count
    return counts


def per_device_day(
    devices: list[Device], start: datetime, end: datetime
) -> dict[tuple[int, date], tuple[int, int]]:
    """{(device id, local day): (bookings, booked minutes)} for bookings starting in
    [start, end).

    Grouped in SQL when the zone's UTC offset is the same over the whole period (always
    so for Asia/Bangkok): a week of a big hub is tens of thousands of bookings. Across
    a daylight-saving change the rows are fetched and bucketed here instead.
    """
    ids = [d.id for d in devices] or [-1]
    where = (
        Appointment.device_id.in_(ids),
        Appointment.start_at >= start,
        Appointment.start_at < end,
        Appointment.status.in_(OCCUPYING),
    )
    offset = to_local(start).utcoffset()
    result: dict[tuple[int, date], tuple[int, int]] = {}
    if offset == to_local(end).utcoffset():
        minutes = int(offset.total_seconds() // 60)
        if db.engine.dialect.name == "postgresql":
            local_day = cast(
                Appointment.start_at + literal(timedelta(minutes=minutes), Interval()), Date
            )
        else:
            local_day = func.date(Appointment.start_at, f"{minutes:+d} minutes")
        for device_id, day, count, booked in db.session.execute(
            select(Appointment.device_id, local_day, func.count(Appointment.id), _minutes_sum())
            .where(*where)
            .group_by(Appointment.device_id, local_day)
        ):
            day = day if isinstance(day, date) else date.fromisoformat(day)
            result[(device_id, day)] = (count, int(round(booked or 0)))
        return result
    for device_id, start_at, end_at in db.session.execute(
        select(Appointment.device_id, Appointment.start_at, Appointment.end_at).where(*where)
    ):
        key = (device_id, to_local(start_at).date())
        count, booked = result.get(key, (0, 0))
        result[key] = (count + 1, booked + int((end_at - start_at).total_seconds() // 60))
    return result
