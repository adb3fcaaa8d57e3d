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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from sqlalchemy import select

from scheduling.capacity import closures_between, quota_usage
from scheduling.db import db
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    CapacityTemplate,
    CapacityWindow,
    Closure,
    Device,
    Hospital,
    ImagingRequest,
)
from scheduling.rules import day_bounds, local_day, pick_template, window_times

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
MAX_DAYS = 400  # a dashboard period longer than this is refused by the caller


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def hub_devices(hub_hospital_id: int, modality_code: str | None = None) -> list[Device]:
    query = select(Device).where(Device.hospital_id == hub_hospital_id)
    if modality_code:
        query = query.where(Device.modality_code == modality_code)
    return list(db.session.scalars(query.order_by(Device.id)))


# -- capacity ------------------------------------------------------------------------------


def _closed_minutes(
    start: datetime, end: datetime, closed: Iterable[tuple[datetime, datetime]]
) -> int:
    """Minutes of [start, end) covered by the union of the closed intervals."""
    covered, cursor = 0.0, start
    for c_start, c_end in sorted(closed):
        lo, hi = max(c_start, cursor), min(c_end, end)
        if hi > lo:
            covered += (hi - lo).total_seconds()
            cursor = hi
    return int(covered // 60)


class _Template(NamedTuple):
    """A capacity template as plain values: what ``pick_template``/``window_times`` read.

    Loaded with Core rather than the ORM: a hub with fifty devices has hundreds of
    windows, and building ORM objects for them dominated the day view's time.
    """

    id: int
    is_active: bool
    valid_from: date | None
    valid_to: date | None
    windows: list


class _Window(NamedTuple):
    weekday: int
    start_time: time
    end_time: time
    capacity: int


def _templates(device_ids: list[int]) -> dict[int, list[_Template]]:
    by_id: dict[int, _Template] = {}
    by_device: dict[int, list[_Template]] = defaultdict(list)
    for tid, device_id, active, valid_from, valid_to in db.session.execute(
        select(
            CapacityTemplate.id,
            CapacityTemplate.device_id,
            CapacityTemplate.is_active,
            CapacityTemplate.valid_from,
            CapacityTemplate.valid_to,
        ).where(CapacityTemplate.device_id.in_(device_ids))
    ):
        template = _Template(tid, active, valid_from, valid_to, [])
        by_id[tid] = template
        by_device[device_id].append(template)
    if by_id:
        for template_id, weekday, start, end, capacity in db.session.execute(
            select(
                CapacityWindow.template_id,
                CapacityWindow.weekday,
                CapacityWindow.start_time,
                CapacityWindow.end_time,
                CapacityWindow.capacity,
            )
            .where(CapacityWindow.template_id.in_(list(by_id)))
            .order_by(CapacityWindow.weekday, CapacityWindow.start_time)
        ):
            by_id[template_id].windows.append(_Window(weekday, start, end, capacity))
    return by_device


def capacity_minutes(devices: list[Device], first: date, last: date) -> dict[tuple[int, date], int]:
    """{(device id, day): bookable minutes}; a device with no template that day is absent."""
    if not devices:
        return {}
    templates = _templates([d.id for d in devices])
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    closures: dict[int, Closure] = {}
    for hospital_id in {d.hospital_id for d in devices}:
        for closure in closures_between(start, end, hospital_id=hospital_id):
            closures[closure.id] = closure
    result: dict[tuple[int, date], int] = {}
    for device in devices:
        closed = [
            (c.start_at, c.end_at)
            for c in closures.values()
            if c.hospital_id in (None, device.hospital_id) and c.device_id in (None, device.id)
        ]
        day = first
        while day <= last:
            template = pick_template(templates.get(device.id, []), day)
            if template is not None:
                total = 0
                for w_start, w_end, parallel in window_times(template, day):
                    open_minutes = int((w_end - w_start).total_seconds() // 60)
                    if closed:
                        open_minutes -= _closed_minutes(w_start, w_end, closed)
                    total += max(0, open_minutes) * parallel
                result[(device.id, day)] = total
            day += timedelta(days=1)
    return result


@dataclass(frozen=True)
class CapacityDay:
    day: date
    bookings: int
    booked_minutes: int
    capacity_minutes: int

    @property
    def used(self) -> float | None:
        """Share of bookable time booked; None on a day with no bookable time."""
        return self.booked_minutes / self.capacity_minutes if self.capacity_minutes else None


def capacity_used_per_day(
    hub_hospital_id: int, modality_code: str | None, first: date, last: date
) -> list[CapacityDay]:
    devices = hub_devices(hub_hospital_id, modality_code)
    booked: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    if devices:
        start, _ = day_bounds(first)
        _, end = day_bounds(last)
        for start_at, end_at in db.session.execute(
            select(Appointment.start_at, Appointment.end_at).where(
                Appointment.device_id.in_([d.id for d in devices]),
                Appointment.start_at >= start,
                Appointment.start_at < end,
                Appointment.status.in_(BOOKED_STATUSES),
            )
        ):
            cell = booked[local_day(start_at)]
            cell[0] += 1
            cell[1] += int((end_at - start_at).total_seconds() // 60)
    capacity: dict[date, int] = defaultdict(int)
    for (_device_id, day), minutes in capacity_minutes(devices, first, last).items():
        capacity[day] += minutes
    days = []
    day = first
    while day <= last:
        count, minutes = booked.get(day, (0, 0))
        days.append(CapacityDay(day, count, minutes, capacity.get(day, 0)))
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
