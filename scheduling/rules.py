"""What makes a slot bookable: the one set of rules behind ``find_slots`` and ``book``.

:class:`SlotRules` loads what the rules need for some devices and days (templates,
closures, occupying appointments, quotas, the patient's own exams) and judges grid
slots. ``availability.find_slots`` walks the grid with it; ``booking.book`` asks it
about the one slot wanted (after taking its locks), so the search never offers a
slot that booking would refuse and booking never accepts one the search would hide.

Rules, in the order they are checked (the first that fails names the problem):

1. *grid*: the start is on the device's template grid for that local day (weekday
   window, slot length or procedure duration, validity dates);
2. *lead-time*: not sooner than now + the template's lead time (urgent and stat:
   not in the past);
3. *horizon*: not later than today + the template's horizon in days;
4. *closed*: no active closure (nationwide public holiday, hospital closure, device
   downtime) overlaps it;
5. *slot-taken*: fewer occupying appointments run at any instant of it than the
   window's parallel capacity;
6. *quota*: see :meth:`SlotRules.quota_problem`;
7. *patient-overlap*: the patient has no occupying appointment overlapping it.

Local wall-clock times (templates, holidays) become aware datetimes in the hospital
time zone (``RADBOOK_TIMEZONE``); everything compared is aware UTC.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from math import ceil
from operator import itemgetter, sub

from sqlalchemy import Select, String, bindparam, not_, null, or_, select, type_coerce

from scheduling.db import db
from scheduling.errors import NotAllowed
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    Priority,
    Procedure,
    Quota,
)
from scheduling.overlap import overlaps
from scheduling.patients import same_person
from scheduling.regions import REFERRAL_REFUSED, accepts_referral
from scheduling.timetable import (
    AnyTemplate,
    TemplateRow,
    built_once,
    day_bounds,
    device_closures,
    in_list,
    local_day,
    naive,
    pick_template,
    templates_by_device,
    to_naive,
    window_times,
)

# Appointments that occupy their slot. Beyond the live ones, a completed or
# discontinued exam used its slot too (it may have finished early; the slot is gone).
OCCUPYING_STATUSES: frozenset[AppointmentStatus] = frozenset(
    {
        AppointmentStatus.BOOKED,
        AppointmentStatus.ARRIVED,
        AppointmentStatus.IN_PROGRESS,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.DISCONTINUED,
    }
)

PROBLEM_ORDER = (
    "not-a-slot",
    "lead-time",
    "horizon",
    "closed",
    "slot-taken",
    "quota",
    "patient-overlap",
)


@dataclass(frozen=True)
class GridSlot:
    start_at: datetime
    end_at: datetime
    capacity: int


# No capacity window spans midnight, so no booking is longer than a day; queries use
# this as a lower bound on start_at so the (device_id, start_at) index does the work.
MAX_BOOKING_LENGTH = timedelta(days=1)


@dataclass(frozen=True)
class _DayStatements:
    with_bookers: Select
    without_bookers: Select
    patient: Select


def _day_statements(sqlite: bool) -> _DayStatements:
    """``load_days``'s three SELECTs, built once (per dialect family, ``built_once``) with
    bind parameters: building them cost about a quarter of a search's CPU."""
    # Naive UTC straight from the column (no per-row time-zone conversion: the search
    # reads thousands of rows); everything the timelines hold is naive UTC.
    a_start, a_end = naive(Appointment.start_at), naive(Appointment.end_at)
    out_start = type_coerce(Appointment.start_at, String()) if sqlite else a_start
    out_end = type_coerce(Appointment.end_at, String()) if sqlite else a_end
    in_range = (
        Appointment.status.in_(OCCUPYING_STATUSES),
        a_start < bindparam("end_n"),
        a_end > bindparam("start_n"),
        # A lower bound on start_at, so the (device_id, start_at) index is scanned for
        # this range only, not for every earlier appointment of the device.
        a_start > bindparam("floor_n"),
        Appointment.id != bindparam("exclude_id"),  # 0 when nothing is excluded
    )
    live = (in_list(Appointment.device_id, "device_ids", sqlite), *in_range)
    in_quota_hubs = in_list(Appointment.hub_hospital_id, "quota_hubs", sqlite)
    # Rows as the rules keep them: (start, end, requesting hospital, priority, device),
    # by device, then start (see load_days).
    order = (Appointment.device_id, Appointment.start_at)
    return _DayStatements(
        with_bookers=select(
            out_start,
            out_end,
            ImagingRequest.requesting_hospital_id,
            ImagingRequest.priority,
            Appointment.device_id,
        )
        .join(ImagingRequest, ImagingRequest.id == Appointment.request_id)
        .where(*live, in_quota_hubs)
        .order_by(*order),
        without_bookers=select(out_start, out_end, null(), null(), Appointment.device_id)
        .where(*live, not_(in_quota_hubs))
        .order_by(*order),
        patient=select(a_start, a_end, ImagingRequest.procedure_id)
        .join(ImagingRequest, ImagingRequest.id == Appointment.request_id)
        .where(
            # The person, whichever hospital's record booked the other exam.
            Appointment.patient_id.in_(same_person(bindparam("patient_id"))),
            *in_range,
        ),
    )


def _quota_statement(sqlite: bool):
    return select(Quota).where(
        in_list(Quota.hub_hospital_id, "hubs", sqlite), Quota.is_active.is_(True)
    )


def _hub_modality_devices_statement(sqlite: bool):
    # Every active device of these hubs and modalities (the caller keeps the pairs it wants).
    return select(Device).where(
        Device.is_active.is_(True),
        in_list(Device.hospital_id, "hubs", sqlite),
        in_list(Device.modality_code, "modalities", sqlite, String),
    )


def slot_length(template: AnyTemplate, procedure: Procedure) -> tuple[timedelta, timedelta]:
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


def iter_grid(template: AnyTemplate, day: date, procedure: Procedure) -> Iterator[GridSlot]:
    """The template's slots on ``day`` for the procedure, in time order, made as needed
    (the search stops early on most devices)."""
    step, length = slot_length(template, procedure)
    windows = sorted(window_times(template, day))
    for start, window_end, capacity in windows:
        # UTC, like everything stored: callers compare and serialise one kind of value.
        start = start.astimezone(UTC)
        last_start = window_end.astimezone(UTC) - length
        while start <= last_start:
            yield GridSlot(start, start + length, capacity)
            start += step


def day_grid(template: AnyTemplate, day: date, procedure: Procedure) -> list[GridSlot]:
    """Every slot the template offers on ``day`` for the procedure, in time order."""
    return list(iter_grid(template, day, procedure))


def grid_slot_at(
    template: AnyTemplate, procedure: Procedure, start_at: datetime
) -> GridSlot | None:
    """The slot starting exactly at ``start_at``, if the template's grid has one."""
    step, length = slot_length(template, procedure)
    for start, window_end, capacity in window_times(template, local_day(start_at)):
        offset = start_at - start
        if (
            offset >= timedelta(0)
            and offset % step == timedelta(0)
            and (start_at + length <= window_end)
        ):
            return GridSlot(start_at.astimezone(UTC), start_at.astimezone(UTC) + length, capacity)
    return None


def earliest_start(template: AnyTemplate, now: datetime, priority: Priority) -> datetime:
    # Urgent and stat requests skip the lead time (the hub fits them in today).
    if priority is Priority.ROUTINE:
        return now + timedelta(minutes=template.lead_time_minutes)
    return now


def last_day(template: AnyTemplate, now: datetime) -> date:
    return local_day(now) + timedelta(days=template.horizon_days)


def max_concurrency(intervals: Sequence[tuple], start: datetime, end: datetime) -> int:
    """Most intervals (tuples starting with start, end) running at one instant within
    [start, end)."""
    events: list[tuple[datetime, int]] = []
    for a_start, a_end, *_ in intervals:
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


class _Timeline:
    """Intervals sorted by start, for quick "what overlaps [s, e)" lookups."""

    __slots__ = ("intervals", "starts", "longest")

    def __init__(self, intervals: Iterable[tuple], presorted: bool = False):
        # Only the first two items of each tuple count (start, end); rows carrying more
        # (who booked) are used as they are rather than copied.
        self.intervals = list(intervals) if presorted else sorted(intervals)
        self.starts = [i[0] for i in self.intervals]
        self.longest = max(
            map(sub, [i[1] for i in self.intervals], self.starts), default=timedelta(0)
        )

    def overlapping(self, start: datetime, end: datetime) -> list[tuple]:
        hi = bisect_left(self.starts, end)  # everything from here on starts at or after end
        lo = bisect_left(self.starts, start - self.longest)
        return [i for i in self.intervals[lo:hi] if i[1] > start]


# ---------------------------------------------------------------- quotas


def quota_applies(quota: Quota, day: date) -> bool:
    if not quota.is_active:
        return False
    if quota.valid_from is not None and day < quota.valid_from:
        return False
    if quota.valid_to is not None and day > quota.valid_to:
        return False
    if quota.on_date is not None:
        return quota.on_date == day
    return quota.weekday is None or quota.weekday == day.weekday()


def quota_scope(quota: Quota) -> tuple:
    if quota.device_id is not None:
        return ("device", quota.device_id)
    return ("modality", quota.hub_hospital_id, quota.modality_code)


def quota_covers(quota: Quota, device_id: int, modality_code: str | None) -> bool:
    """Whether bookings on this device count against ``quota``: its own device quota,
    or its hub's quota for the device's modality."""
    if quota.device_id is not None:
        return quota.device_id == device_id
    return quota.modality_code == modality_code


def quotas_in_force(quotas: Iterable[Quota], day: date) -> list[Quota]:
    """Per holder and scope, the most specific quota for the day (date > weekday > daily)."""
    best: dict[tuple, tuple[int, Quota]] = {}
    for quota in quotas:
        if not quota_applies(quota, day):
            continue
        rank = 2 if quota.on_date is not None else 1 if quota.weekday is not None else 0
        key = (quota.referring_hospital_id, quota_scope(quota))
        if key not in best or (rank, quota.id) > (best[key][0], best[key][1].id):
            best[key] = (rank, quota)
    return [q for _, q in best.values()]


def counts_for_holder(quota: Quota, booking_hospital_id: int, priority: Priority) -> bool:
    """Whether a booking by this hospital at this priority draws on ``quota``.

    The hub's own reserve (no referring hospital) serves the hub's own requests and
    every urgent or stat request.
    """
    if quota.referring_hospital_id is None:
        return booking_hospital_id == quota.hub_hospital_id or priority is not Priority.ROUTINE
    return quota.referring_hospital_id == booking_hospital_id


def is_released(quota: Quota, start_at: datetime, now: datetime) -> bool:
    return now >= start_at - timedelta(hours=quota.release_hours)


# ---------------------------------------------------------------- the rules


class SlotRules:
    """The rules for one booking question (who books what, at which priority, when)."""

    def __init__(
        self,
        now: datetime,
        procedure: Procedure,
        *,
        requesting_hospital_id: int,
        priority: Priority = Priority.ROUTINE,
        patient_id: int | None = None,
        exclude_appointment_id: int | None = None,
    ):
        self.now = now
        self.procedure = procedure
        self.requesting_hospital_id = requesting_hospital_id
        self.priority = priority
        self.patient_id = patient_id
        self.exclude_id = exclude_appointment_id
        self.devices: dict[int, Device] = {}
        self.templates: dict[int, list[TemplateRow]] = {}
        self.quotas: dict[int, list[Quota]] = defaultdict(list)  # by hub
        self.closures: dict[int, _Timeline] = {}
        # (device, local day) -> [(start, end, requesting hospital, priority)], naive UTC
        self.occupied: dict[tuple[int, date], list[tuple]] = defaultdict(list)
        self.timelines: dict[tuple[int, date], _Timeline] = {}
        self.patient_busy = _Timeline([])
        self.patient_day: dict[date, list[tuple[datetime, Procedure]]] = defaultdict(list)
        self._template_cache: dict[tuple[int, date], TemplateRow | None] = {}
        self._units_cache: dict[tuple[int, date], int] = {}
        self._scope_cache: dict[tuple, tuple[int, dict[int, int], int]] = {}
        self._quota_scope_cache: dict[tuple[int, date], list[tuple[tuple, list[Quota]]]] = {}
        self._limits: dict[int, tuple[datetime, date]] = {}
        self._loaded_days: set[date] = set()

    # -- loading ---------------------------------------------------------

    def add_devices(self, devices: Sequence[Device]) -> None:
        new = [d for d in devices if d.id not in self.devices]
        if not new:
            return
        for device in new:
            self.devices[device.id] = device
        self.templates.update(templates_by_device([d.id for d in new]))
        hubs = sorted({d.hospital_id for d in new} - set(self.quotas))
        if hubs:
            statement, _ = built_once("quotas", _quota_statement)
            for quota in db.session.scalars(statement, {"hubs": hubs}):
                self.quotas[quota.hub_hospital_id].append(quota)
            for hub in hubs:
                self.quotas.setdefault(hub, [])
        # Devices that share a modality quota with these must be known too.
        scope_devices = self._modality_scope_devices(new)
        if scope_devices:
            self.add_devices(scope_devices)

    def _modality_scope_devices(self, devices: Sequence[Device]) -> list[Device]:
        wanted = {
            (q.hub_hospital_id, q.modality_code)
            for d in devices
            for q in self.quotas.get(d.hospital_id, [])
            if q.device_id is None and q.modality_code == d.modality_code
        }
        if not wanted:
            return []
        statement, _ = built_once("hub_modality_devices", _hub_modality_devices_statement)
        rows = db.session.scalars(
            statement,
            {
                "hubs": sorted({h for h, _ in wanted}),
                "modalities": sorted({m for _, m in wanted}),
            },
        ).all()
        return [
            d
            for d in rows
            if (d.hospital_id, d.modality_code) in wanted and d.id not in self.devices
        ]

    def load_days(self, day_from: date, day_to: date) -> None:
        """Closures, occupying appointments and the patient's exams for these days."""
        days = [day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)]
        days = [d for d in days if d not in self._loaded_days]
        if not days or not self.devices:
            return
        start, _ = day_bounds(days[0])
        _, end = day_bounds(days[-1])
        devices = list(self.devices.values())
        device_ids = [d.id for d in devices]
        self._load_closures(devices, start, end)

        new_days = set(days)
        connection = db.session.connection()
        start_n, end_n = to_naive(start), to_naive(end)
        quota_hubs = {d.hospital_id for d in devices if self.quotas.get(d.hospital_id)}
        statements, sqlite = built_once("slot_days", _day_statements)
        params = {
            "device_ids": device_ids,
            "start_n": start_n,
            "end_n": end_n,
            "floor_n": start_n - MAX_BOOKING_LENGTH,
            "exclude_id": self.exclude_id or 0,
            "quota_hubs": sorted(quota_hubs),
        }
        # A device's rows all come from one of the two statements (its hub holds quotas
        # or not), each ordered by device, then start. Where there are no quotas nobody
        # needs to know who booked: no join (the search's hot path).
        # fetchall: iterating a result fetches row by row, much slower.
        results = [connection.execute(statements.without_bookers, params).all()]
        if quota_hubs:
            results.append(connection.execute(statements.with_bookers, params).all())
        # Each day's bounds in naive UTC: a row belongs to the local day its start is in.
        bounds = [(day, *map(to_naive, day_bounds(day))) for day in days]
        for rows in results:
            if sqlite:
                # SQLite hands back text; datetime.fromisoformat (in C) is several times
                # faster than SQLAlchemy's parsing for the thousands of rows a search reads.
                parse = datetime.fromisoformat
                rows = [(parse(a), parse(b), h, p, d) for a, b, h, p, d in rows]
            for device_id, group in groupby(rows, itemgetter(4)):
                mine = list(group)
                starts = [r[0] for r in mine]
                for day, day_start, day_end in bounds:
                    lo, hi = bisect_left(starts, day_start), bisect_left(starts, day_end)
                    if lo < hi:
                        key = (device_id, day)
                        self.occupied[key].extend(mine[lo:hi])
                        self.timelines.pop(key, None)

        if self.patient_id is not None:
            rows = connection.execute(
                statements.patient, {**params, "patient_id": self.patient_id}
            ).all()
            rows = [r for r in rows if local_day(r[0].replace(tzinfo=UTC)) in new_days]
            busy = list(self.patient_busy.intervals) + [(a, b) for a, b, _ in rows]
            self.patient_busy = _Timeline(busy)
            for begin, _, procedure_id in rows:
                aware = begin.replace(tzinfo=UTC)
                self.patient_day[local_day(aware)].append(
                    (aware, db.session.get(Procedure, procedure_id))
                )
        self._loaded_days.update(days)

    def _load_closures(self, devices: Sequence[Device], start: datetime, end: datetime) -> None:
        for device_id, mine in device_closures(devices, start, end).items():
            previous = self.closures.get(device_id)
            if previous is not None:
                mine += previous.intervals
            self.closures[device_id] = _Timeline(mine)

    # -- per device and day -------------------------------------------------

    def template(self, device_id: int, day: date) -> TemplateRow | None:
        key = (device_id, day)
        if key not in self._template_cache:
            self._template_cache[key] = pick_template(self.templates.get(device_id, []), day)
        return self._template_cache[key]

    def timeline(self, device_id: int, day: date) -> _Timeline:
        key = (device_id, day)
        line = self.timelines.get(key)
        if line is None:
            # Rows arrive ordered by start (see load_days).
            line = self.timelines[key] = _Timeline(self.occupied.get(key, ()), presorted=True)
        return line

    def day_units(self, device_id: int, day: date) -> int:
        """Bookings of this procedure the device can take on the day, closures aside."""
        key = (device_id, day)
        if key not in self._units_cache:
            template = self.template(device_id, day)
            units = 0
            if template is not None:
                _, length = slot_length(template, self.procedure)
                closed = self.closures.get(device_id, _Timeline([]))
                for start, window_end, capacity in window_times(template, day):
                    start, window_end = to_naive(start), to_naive(window_end)
                    while start + length <= window_end:
                        if not closed.overlapping(start, start + length):
                            units += capacity
                        start += length
            self._units_cache[key] = units
        return self._units_cache[key]

    # -- judging ----------------------------------------------------------

    def judge(
        self, device: Device, slot: GridSlot, day: date | None = None
    ) -> tuple[str | None, int]:
        """(problem or None, remaining parallel capacity) for a slot on the device's grid
        (``day``: the slot's local day, when the caller knows it)."""
        if day is None:
            day = local_day(slot.start_at)
        template = self.template(device.id, day)
        if template is None:
            return "not-a-slot", 0
        limits = self._limits.get(template.id)
        if limits is None:
            limits = self._limits[template.id] = (
                earliest_start(template, self.now, self.priority),
                last_day(template, self.now),
            )
        if slot.start_at < limits[0]:
            return "lead-time", 0
        if day > limits[1]:
            return "horizon", 0
        # Grid slots are UTC already: dropping the zone is all "naive UTC" needs.
        begin, finish = slot.start_at.replace(tzinfo=None), slot.end_at.replace(tzinfo=None)
        closures = self.closures.get(device.id)
        if closures is not None and closures.overlapping(begin, finish):
            return "closed", 0
        taken = self.timeline(device.id, day).overlapping(begin, finish)
        used = len(taken) if len(taken) <= 1 else max_concurrency(taken, begin, finish)
        if used >= slot.capacity:
            return "slot-taken", 0
        if self.quotas.get(device.hospital_id) and self.quota_problem(device, slot, day):
            return "quota", 0
        if self.patient_busy.overlapping(begin, finish):
            return "patient-overlap", 0
        return None, slot.capacity - used

    def quota_problem(self, device: Device, slot: GridSlot, day: date) -> bool:
        """Whether booking this slot would eat into capacity held for someone else.

        For each scope (this device; all the hub's devices of this modality) with quotas
        in force that day: a booking that can draw on one of its own quotas with
        bookings left passes. Any other booking passes only if, after it, the scope's
        day still has room for every other holder's unused, unreleased bookings:
        ``booked + 1 + held_by_others <= day capacity``. A quota counts as released
        for a slot once ``now`` is within its ``release_hours`` of the slot's start.
        """
        for scope, quotas in self._quota_scopes(device, day):
            booked, used_by_quota, units = self._scope_day(scope, device.id, day, quotas)
            own_left = False
            held_by_others = 0
            for quota in quotas:
                left = max(0, quota.slots - used_by_quota[quota.id])
                if counts_for_holder(quota, self.requesting_hospital_id, self.priority):
                    own_left = own_left or left > 0
                elif not is_released(quota, slot.start_at, self.now):
                    held_by_others += left
            if own_left:
                continue
            if booked + 1 + held_by_others > units:
                return True
        return False

    def _quota_scopes(self, device: Device, day: date) -> list[tuple[tuple, list[Quota]]]:
        """[(scope, its quotas in force)] covering the device on the day; once per search."""
        key = (device.id, day)
        found = self._quota_scope_cache.get(key)
        if found is None:
            by_scope: dict[tuple, list[Quota]] = defaultdict(list)
            for quota in quotas_in_force(self.quotas[device.hospital_id], day):
                if quota_covers(quota, device.id, device.modality_code):
                    by_scope[quota_scope(quota)].append(quota)
            found = self._quota_scope_cache[key] = list(by_scope.items())
        return found

    def _scope_day(
        self, scope: tuple, device_id: int, day: date, quotas: list[Quota]
    ) -> tuple[int, dict[int, int], int]:
        """(bookings, bookings per quota's holder, day capacity) for a quota scope and day;
        computed once per search, not once per slot judged."""
        key = (scope, day)
        cached = self._scope_cache.get(key)
        if cached is None:
            if scope[0] == "device":
                scope_devices = [device_id]
            else:
                scope_devices = [
                    d.id
                    for d in self.devices.values()
                    if d.hospital_id == scope[1] and d.modality_code == scope[2] and d.is_active
                ]
            booked = [o for d in scope_devices for o in self.occupied.get((d, day), ())]
            used = {
                q.id: sum(
                    1 for o in booked if o[2] is not None and counts_for_holder(q, o[2], o[3])
                )
                for q in quotas
            }
            units = sum(self.day_units(d, day) for d in scope_devices)
            cached = self._scope_cache[key] = (len(booked), used, units)
        return cached

    def judge_start(
        self, device: Device, start_at: datetime
    ) -> tuple[GridSlot | None, str | None, int]:
        """Judge the slot of ``device`` that starts at ``start_at`` (for ``book``)."""
        day = local_day(start_at)
        self.add_devices([device])
        self.load_days(day, day)
        template = self.template(device.id, day)
        slot = grid_slot_at(template, self.procedure, start_at) if template else None
        if slot is None:
            return None, "not-a-slot", 0
        problem, remaining = self.judge(device, slot)
        return slot, problem, remaining


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
    _require_referral_accepted(device, requesting_hospital_id, priority)
    rules = SlotRules(
        now,
        procedure,
        requesting_hospital_id=requesting_hospital_id,
        priority=priority,
        patient_id=patient_id,
        exclude_appointment_id=exclude_appointment_id,
    )
    slot, problem, _ = rules.judge_start(device, start_at)
    if problem is None and slot is not None:
        return slot
    messages = {
        "not-a-slot": N_("That time is not a bookable slot on this device"),
        "lead-time": N_("That slot is too soon to book"),
        "horizon": N_("That day is beyond the booking horizon"),
        "closed": N_("The hospital or device is closed at that time"),
        "slot-taken": N_("Sorry, this slot has just been taken. Please choose another time."),
        "quota": N_(
            "The remaining places on that day are reserved for other hospitals. "
            "Please choose another day."
        ),
        "patient-overlap": N_("The patient already has another exam at that time"),
    }
    assert problem is not None
    raise Conflict(messages[problem], code=problem)


def _require_referral_accepted(
    device: Device, requesting_hospital_id: int, priority: Priority
) -> None:
    requester = db.session.get(Hospital, requesting_hospital_id)
    if not accepts_referral(device.hospital, requester, priority):
        raise NotAllowed(REFERRAL_REFUSED, code="out-of-region")


def _quota_devices_statement(sqlite: bool):
    same_modality = (
        Device.hospital_id == bindparam("hub"),
        Device.modality_code == bindparam("modality"),
    )
    modality_quota = (
        select(Quota.id)
        .where(
            Quota.hub_hospital_id == bindparam("hub"),
            Quota.is_active.is_(True),
            Quota.device_id.is_(None),
            Quota.modality_code == bindparam("modality"),
        )
        .exists()
    )
    return select(Device.id).where(
        *same_modality, or_(Device.id == bindparam("device"), modality_quota)
    )


def modality_quota_devices(device: Device) -> list[int]:
    """Devices whose bookings share a modality quota with ``device`` (lock them all):
    the device alone unless its hub has a quota for its whole modality."""
    statement, _ = built_once("modality_quota_devices", _quota_devices_statement)
    params = {"hub": device.hospital_id, "modality": device.modality_code, "device": device.id}
    return list(db.session.scalars(statement, params)) or [device.id]
