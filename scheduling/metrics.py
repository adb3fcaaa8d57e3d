"""The measures the programmes judge themselves by, per hub and modality (CONTEXT.md):
capacity used, waiting time from request to exam, no-shows, quota use.

One module so the dashboard charts and their CSV exports show the same numbers.
Read-only; every function takes the period as local calendar days (inclusive).

- *capacity used per day*: booked minutes / bookable minutes. Bookable minutes are
  the device's template windows that day × parallel capacity, less active closures
  (public holidays, hospital closures, device downtime), counted with the booking
  engine's own template rules. Booked minutes are every booking that holds or held
  its slot (cancelled and moved ones freed it; a no-show still took it).
- *days from request to exam*: for exams that took place (arrived, in progress,
  completed, discontinued), from the request's submission to the appointment start;
  median per ISO week of the exam.
- *no-show rate*: no-shows / (no-shows + exams that took place), per ISO week, for
  appointments that have started.
- *quota use*: per referring hospital, bookings made inside its quotas / bookings
  reserved for it, from ``scheduling.capacity.quota_usage`` (the booking rule's count).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select

from scheduling.capacity import quota_usage
from scheduling.db import db
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
)
from scheduling.timetable import day_bounds, device_windows, local_day

# Holds or held its slot: everything but cancelled and moved.
BOOKED_STATUSES = frozenset(AppointmentStatus) - {
    AppointmentStatus.CANCELLED,
    AppointmentStatus.MOVED,
}
# The patient came: the exam took place (fully or part-way).
PERFORMED_STATUSES = frozenset(
    {
        AppointmentStatus.ARRIVED,
        AppointmentStatus.IN_PROGRESS,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.DISCONTINUED,
    }
)
K = TypeVar("K")
MAX_DAYS = 400  # a dashboard period longer than this is refused by the caller


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def hub_devices(hub_hospital_id: int, modality_code: str | None = None) -> list[Device]:
    query = select(Device).where(Device.hospital_id == hub_hospital_id)
    if modality_code:
        query = query.where(Device.modality_code == modality_code)
    return list(db.session.scalars(query.order_by(Device.id)))


# -- capacity ------------------------------------------------------------------------------


def capacity_minutes(devices: list[Device], first: date, last: date) -> dict[tuple[int, date], int]:
    """{(device id, day): bookable minutes}; a device with no template that day is absent."""
    return {
        key: sum(w.open_minutes * w.capacity for w in windows)
        for key, windows in device_windows(devices, first, last).items()
    }


class CapacityShare:
    """``used``: the share of bookable time booked, None when nothing was bookable."""

    booked_minutes: int
    capacity_minutes: int

    @property
    def used(self) -> float | None:
        return self.booked_minutes / self.capacity_minutes if self.capacity_minutes else None


@dataclass(frozen=True)
class CapacityDay(CapacityShare):
    day: date
    bookings: int
    booked_minutes: int
    capacity_minutes: int


def capacity_use(
    devices: list[Device], first: date, last: date, key: Callable[[int, date], K]
) -> dict[K, list[int]]:
    """{key(device id, day): [bookings, booked minutes, bookable minutes]} over the period,
    e.g. per day (the hub dashboard) or per device (the region office). Booked: the
    bookings that hold or held their slot; bookable: ``capacity_minutes``."""
    totals: dict[K, list[int]] = defaultdict(lambda: [0, 0, 0])
    if devices:
        start, _ = day_bounds(first)
        _, end = day_bounds(last)
        for device_id, start_at, end_at in db.session.execute(
            select(Appointment.device_id, Appointment.start_at, Appointment.end_at).where(
                Appointment.device_id.in_([d.id for d in devices]),
                Appointment.start_at >= start,
                Appointment.start_at < end,
                Appointment.status.in_(BOOKED_STATUSES),
            )
        ):
            cell = totals[key(device_id, local_day(start_at))]
            cell[0] += 1
            cell[1] += int((end_at - start_at).total_seconds() // 60)
    for (device_id, day), minutes in capacity_minutes(devices, first, last).items():
        totals[key(device_id, day)][2] += minutes
    return totals


def capacity_used_per_day(
    hub_hospital_id: int, modality_code: str | None, first: date, last: date
) -> list[CapacityDay]:
    devices = hub_devices(hub_hospital_id, modality_code)
    per_day = capacity_use(devices, first, last, lambda _device_id, day: day)
    days = []
    day = first
    while day <= last:
        days.append(CapacityDay(day, *per_day.get(day, (0, 0, 0))))
        day += timedelta(days=1)
    return days


# -- waiting time and no-shows -------------------------------------------------------------


@dataclass(frozen=True)
class WeekWait:
    week: date  # Monday
    exams: int
    median_days: float | None


def _appointments(
    hub_hospital_id: int,
    modality_code: str | None,
    first: date,
    last: date,
    statuses: Iterable[AppointmentStatus],
    until: datetime | None = None,
):
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    if until is not None:
        end = min(end, until)
    query = (
        select(
            Appointment.start_at,
            Appointment.status,
            ImagingRequest.submitted_at,
            ImagingRequest.created_at,
        )
        .join(ImagingRequest, ImagingRequest.id == Appointment.request_id)
        .where(
            Appointment.hub_hospital_id == hub_hospital_id,
            Appointment.start_at >= start,
            Appointment.start_at < end,
            Appointment.status.in_(list(statuses)),
        )
    )
    if modality_code:
        query = query.join(Device, Device.id == Appointment.device_id).where(
            Device.modality_code == modality_code
        )
    return db.session.execute(query).all()


def _weeks(first: date, last: date) -> list[date]:
    weeks, week = [], week_start(first)
    while week <= last:
        weeks.append(week)
        week += timedelta(days=7)
    return weeks


def days_request_to_exam(
    hub_hospital_id: int, modality_code: str | None, first: date, last: date
) -> list[WeekWait]:
    waits: dict[date, list[float]] = defaultdict(list)
    for start_at, _status, submitted_at, created_at in _appointments(
        hub_hospital_id, modality_code, first, last, PERFORMED_STATUSES
    ):
        asked = submitted_at or created_at
        waits[week_start(local_day(start_at))].append((start_at - asked).total_seconds() / 86400)
    return [
        WeekWait(
            week,
            len(waits.get(week, [])),
            round(statistics.median(waits[week]), 1) if waits.get(week) else None,
        )
        for week in _weeks(first, last)
    ]


@dataclass(frozen=True)
class WeekNoShow:
    week: date
    appointments: int  # no-shows + exams that took place
    no_shows: int

    @property
    def rate(self) -> float | None:
        return self.no_shows / self.appointments if self.appointments else None


def no_show_rate(
    hub_hospital_id: int, modality_code: str | None, first: date, last: date, now: datetime
) -> list[WeekNoShow]:
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for start_at, status, _s, _c in _appointments(
        hub_hospital_id,
        modality_code,
        first,
        last,
        PERFORMED_STATUSES | {AppointmentStatus.NO_SHOW},
        until=now,
    ):
        cell = counts[week_start(local_day(start_at))]
        cell[0] += 1
        cell[1] += status is AppointmentStatus.NO_SHOW
    return [WeekNoShow(week, *counts.get(week, (0, 0))) for week in _weeks(first, last)]


# -- quotas --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HospitalQuotaUse:
    hospital_id: int | None  # None: the hub's own reserve
    hospital_name_th: str
    hospital_name_en: str
    reserved: int
    used: int

    @property
    def share(self) -> float | None:
        return self.used / self.reserved if self.reserved else None


def quota_use_per_hospital(
    hub_hospital_id: int, modality_code: str | None, first: date, last: date
) -> list[HospitalQuotaUse]:
    modality_of = {d.id: d.modality_code for d in hub_devices(hub_hospital_id)}
    totals: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for row in quota_usage(hub_hospital_id, first, last):
        modality = row.modality_code or modality_of.get(row.device_id)
        if modality_code and modality != modality_code:
            continue
        cell = totals[row.referring_hospital_id]
        cell[0] += row.reserved
        cell[1] += row.used
    names = {
        h.id: h
        for h in db.session.scalars(
            select(Hospital).where(Hospital.id.in_([i for i in totals if i is not None]))
        )
    }
    result = [
        HospitalQuotaUse(
            hospital_id,
            names[hospital_id].name_th if hospital_id else "",
            names[hospital_id].name_en if hospital_id else "",
            reserved,
            used,
        )
        for hospital_id, (reserved, used) in totals.items()
    ]
    result.sort(key=lambda r: (r.hospital_id is None, r.hospital_name_th))
    return result
