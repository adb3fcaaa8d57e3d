"""Read-side queries behind the hub pages (day, week, exams, inbox).

Reads only; every change goes through a ``scheduling`` operation. Appointments are
fetched by ``device_id IN (...)`` and a start-time range so the
``(device_id, start_at)`` index answers them on a region-sized database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, select
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.hub import capacity_view
from app.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    Modality,
    Priority,
    RequestStatus,
)
from app.timeutil import local_datetime, to_local

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


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The local calendar day as an aware half-open interval."""
    return local_datetime(day, time.min), local_datetime(day + timedelta(days=1), time.min)


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
    if full:
        query = query.options(
            joinedload(Appointment.patient),
            joinedload(Appointment.request).joinedload(ImagingRequest.procedure),
            joinedload(Appointment.request).joinedload(ImagingRequest.requesting_hospital),
            joinedload(Appointment.request).selectinload(ImagingRequest.studies),
        )
    return list(db.session.scalars(query).unique())


@dataclass
class DeviceDay:
    device: Device
    appointments: list[Appointment] = field(default_factory=list)
    booked_minutes: int = 0
    capacity_minutes: int | None = None  # None: no capacity template known for the day

    @property
    def occupancy(self) -> float | None:
        if not self.capacity_minutes:
            return None
        return self.booked_minutes / self.capacity_minutes

    @property
    def count(self) -> int:
        return len(self.appointments)


def _minutes(appointment: Appointment) -> int:
    return int((appointment.end_at - appointment.start_at).total_seconds() // 60)


def day_view(hub: Hospital, day: date, modality: str | None = None) -> list[DeviceDay]:
    devices = hub_devices(hub, modality)
    start, end = day_bounds(day)
    rows = {d.id: DeviceDay(d) for d in devices}
    for appointment in appointments_between(devices, start, end):
        row = rows[appointment.device_id]
        row.appointments.append(appointment)
        row.booked_minutes += _minutes(appointment)
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
    rows = db.session.execute(
        select(Appointment.device_id, Appointment.start_at, Appointment.end_at).where(
            Appointment.device_id.in_([d.id for d in devices] or [-1]),
            Appointment.start_at >= start,
            Appointment.start_at < end,
            Appointment.status.in_(OCCUPYING),
        )
    )
    for device_id, start_at, end_at in rows:
        cell = cells[device_id][index[to_local(start_at).date()]]
        cell.count += 1
        cell.booked_minutes += int((end_at - start_at).total_seconds() // 60)
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
