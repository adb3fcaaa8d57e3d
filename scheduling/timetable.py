"""Capacity arithmetic, written once: the booking rules, the metrics and the hub's
capacity views all count with these.

- *template rows*: :func:`load_template_rows` reads the active templates and their
  weekly windows as plain values; :func:`pick_template` chooses the one in force on a
  day and :func:`window_times` places its windows on that day;
- *which closures apply to a device*: :func:`closure_applies` (Python) and
  :func:`db_closure_applies` (SQL) say it once each; :func:`device_closures` loads them;
- *interval union and coverage*: :func:`union`, :func:`coverage` and :func:`covers`;
- :func:`device_windows` puts the three together: per device and day, each window
  and how much of it the closures take.

Intervals are half-open, [start, end), like everywhere else (``scheduling.overlap``).
Local wall-clock times (template windows, whole days) become aware datetimes in the
hospital time zone through ``scheduling.clock``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    and_,
    any_,
    bindparam,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY

from scheduling.clock import local_datetime, local_zone
from scheduling.db import db
from scheduling.models import CapacityTemplate, CapacityWindow, Closure, Device
from scheduling.overlap import db_overlaps

# The ORM row or its plain-values copy (``TemplateRow``): the rules read the same fields.
AnyTemplate = "CapacityTemplate | TemplateRow"

Interval = tuple[datetime, datetime]


# -- days and stored datetimes ------------------------------------------------------------


def local_day(value: datetime) -> date:
    return value.astimezone(local_zone()).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The local calendar day as a half-open UTC-comparable interval."""
    return local_datetime(day, time(0)), local_datetime(day + timedelta(days=1), time(0))


def naive(column):
    """The column's value as stored (naive UTC), without the aware-datetime conversion."""
    return type_coerce(column, DateTime())


def to_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


# -- statements built once ----------------------------------------------------------------

_BUILT: dict[tuple[str, bool], Any] = {}


def is_sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def built_once(name: str, build: Callable[[bool], Any]) -> tuple[Any, bool]:
    """(``build(sqlite)``'s statement, sqlite?), built once per process and dialect family:
    building a statement (and its cache key) cost more than running it on the hot paths."""
    sqlite = is_sqlite()
    key = (name, sqlite)
    found = _BUILT.get(key)
    if found is None:
        found = _BUILT[key] = build(sqlite)
    return found, sqlite


def in_list(column, name: str, sqlite: bool, item_type=Integer) -> ColumnElement[bool]:
    """``column`` is one of the list bound as ``name``: an expanding IN on SQLite,
    ``= ANY(array)`` on PostgreSQL, where the SQL text is then the same whatever the
    list's length, so psycopg converts it once and the server prepares it once."""
    if sqlite:
        return column.in_(bindparam(name, expanding=True))
    return column == any_(bindparam(name, type_=ARRAY(item_type)))


# -- template rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowRow:
    weekday: int
    start_time: time
    end_time: time
    capacity: int


@dataclass(frozen=True)
class TemplateRow:
    """A capacity template as plain values: the search reads hundreds per call, and
    building ORM objects for them (and their windows) cost more than the search itself."""

    id: int
    device_id: int
    valid_from: date | None
    valid_to: date | None
    slot_minutes: int | None
    lead_time_minutes: int
    horizon_days: int
    is_active: bool
    windows: tuple[WindowRow, ...]


def _template_statement(sqlite: bool):
    t, w = CapacityTemplate, CapacityWindow
    return (
        select(
            t.id,
            t.device_id,
            t.valid_from,
            t.valid_to,
            t.slot_minutes,
            t.lead_time_minutes,
            t.horizon_days,
            t.is_active,
            w.weekday,
            w.start_time,
            w.end_time,
            w.capacity,
        )
        .outerjoin(w, w.template_id == t.id)
        .where(in_list(t.device_id, "device_ids", sqlite), t.is_active.is_(True))
        .order_by(t.id, w.weekday, w.start_time)
    )


def load_template_rows(device_ids: Sequence[int]) -> list[TemplateRow]:
    """The devices' active templates, each with its windows (by weekday, then start):
    one statement, built once."""
    statement, _ = built_once("templates", _template_statement)
    rows = db.session.connection().execute(statement, {"device_ids": list(device_ids)}).all()
    heads: dict[int, tuple] = {}
    windows: dict[int, list[WindowRow]] = defaultdict(list)
    for row in rows:
        if row[0] not in heads:
            heads[row[0]] = row[:8]
        if row[8] is not None:
            windows[row[0]].append(WindowRow(*row[8:]))
    return [TemplateRow(*head, windows=tuple(windows[t_id])) for t_id, head in heads.items()]


def templates_by_device(device_ids: Sequence[int]) -> dict[int, list[TemplateRow]]:
    """:func:`load_template_rows` per device; every device given has an entry."""
    result: dict[int, list[TemplateRow]] = {device_id: [] for device_id in device_ids}
    for template in load_template_rows(device_ids):
        result[template.device_id].append(template)
    return result


def template_applies(template: AnyTemplate, day: date) -> bool:
    return (
        template.is_active
        and (template.valid_from is None or template.valid_from <= day)
        and (template.valid_to is None or day <= template.valid_to)
    )


def pick_template(templates: Iterable[AnyTemplate], day: date) -> AnyTemplate | None:
    """The template in force on ``day``: of the applicable ones, the one that started latest."""
    best = None
    for template in templates:
        if not template_applies(template, day):
            continue
        if best is None or (template.valid_from or date.min, template.id) > (
            best.valid_from or date.min,
            best.id,
        ):
            best = template
    return best


def window_times(template: AnyTemplate, day: date) -> list[tuple[datetime, datetime, int]]:
    """The template's windows on ``day``: (local start, local end, parallel capacity)."""
    weekday = day.weekday()
    return [
        (local_datetime(day, w.start_time), local_datetime(day, w.end_time), w.capacity)
        for w in template.windows
        if w.weekday == weekday
    ]


# -- which closures apply to a device -------------------------------------------------------


def closure_applies(hospital_id: int | None, device_id: int | None, device: Device) -> bool:
    """Whether a closure (by its hospital and device columns) closes ``device``.

    A device's downtime closes that device only; a hospital's closure every device of
    the hospital; a closure of neither (a public holiday) every device everywhere.
    """
    if device_id is not None:
        return device_id == device.id
    return hospital_id is None or hospital_id == device.hospital_id


def _closure_applies(hospital_ids, device_ids) -> ColumnElement[bool]:
    return or_(
        and_(Closure.hospital_id.is_(None), Closure.device_id.is_(None)),
        and_(Closure.device_id.is_(None), hospital_ids),
        device_ids,
    )


def db_closure_applies(devices: Sequence[Device]) -> ColumnElement[bool]:
    """SQL for "the closure applies to one of ``devices``" (:func:`closure_applies`)."""
    return _closure_applies(
        Closure.hospital_id.in_(sorted({d.hospital_id for d in devices})),
        Closure.device_id.in_([d.id for d in devices]),
    )


def _closures_statement(sqlite: bool):
    c_start, c_end = naive(Closure.start_at), naive(Closure.end_at)
    return select(Closure.hospital_id, Closure.device_id, c_start, c_end).where(
        Closure.is_active.is_(True),
        db_overlaps(c_start, c_end, bindparam("start_n"), bindparam("end_n")),
        _closure_applies(
            in_list(Closure.hospital_id, "hospital_ids", sqlite),
            in_list(Closure.device_id, "device_ids", sqlite),
        ),
    )


def device_closures(
    devices: Sequence[Device], start: datetime, end: datetime
) -> dict[int, list[Interval]]:
    """Per device, the active closures that apply to it and overlap [start, end), as
    (start, end) in naive UTC (as stored: callers compare thousands of values with
    them). Every device given has an entry."""
    result: dict[int, list[Interval]] = {d.id: [] for d in devices}
    if not devices:
        return result
    statement, _ = built_once("closures", _closures_statement)
    params = {
        "start_n": to_naive(start),
        "end_n": to_naive(end),
        "hospital_ids": sorted({d.hospital_id for d in devices}),
        "device_ids": [d.id for d in devices],
    }
    rows = db.session.connection().execute(statement, params).all()
    if not rows:
        return result
    for device in devices:
        result[device.id] = [
            (c_start, c_end)
            for hospital_id, device_id, c_start, c_end in rows
            if closure_applies(hospital_id, device_id, device)
        ]
    return result


# -- interval union and coverage ----------------------------------------------------------


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals merged where they overlap or touch, in time order."""
    merged: list[list[datetime]] = []
    for i_start, i_end in sorted(intervals):
        if i_end <= i_start:
            continue
        if merged and i_start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], i_end)
        else:
            merged.append([i_start, i_end])
    return [(a, b) for a, b in merged]


def coverage(start: datetime, end: datetime, intervals: Iterable[Interval]) -> timedelta:
    """How much of [start, end) the union of ``intervals`` covers."""
    covered = timedelta(0)
    for i_start, i_end in union(intervals):
        lo, hi = max(i_start, start), min(i_end, end)
        if hi > lo:
            covered += hi - lo
    return covered


def covers(start: datetime, end: datetime, intervals: Iterable[Interval]) -> bool:
    """Whether the union of ``intervals`` covers all of [start, end)."""
    return coverage(start, end, intervals) >= end - start


def whole_minutes(length: timedelta) -> int:
    return length // timedelta(minutes=1)


# -- windows per device and day -----------------------------------------------------------


class DayWindow(NamedTuple):
    """One capacity window of a device on a day, and how much of it is closed."""

    start: datetime  # aware, local
    end: datetime
    capacity: int  # bookings at once
    closed: timedelta  # covered by the closures that apply to the device

    @property
    def open(self) -> bool:
        """Some of the window is bookable: the closures do not cover all of it."""
        return self.closed < self.end - self.start

    @property
    def open_minutes(self) -> int:
        """Whole minutes of the window less whole minutes closed."""
        return max(0, whole_minutes(self.end - self.start) - whole_minutes(self.closed))


def device_windows(
    devices: Sequence[Device], first: date, last: date
) -> dict[tuple[int, date], list[DayWindow]]:
    """{(device id, local day): its windows that day} for the days ``first``..``last``;
    a device with no template in force that day is absent (one with a template but no
    window that weekday has an empty list)."""
    if not devices:
        return {}
    templates = templates_by_device([d.id for d in devices])
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    closures = device_closures(devices, start, end)
    result: dict[tuple[int, date], list[DayWindow]] = {}
    for device in devices:
        closed = closures[device.id]
        day = first
        while day <= last:
            template = pick_template(templates[device.id], day)
            if template is not None:
                result[(device.id, day)] = [
                    DayWindow(
                        w_start,
                        w_end,
                        parallel,
                        coverage(to_naive(w_start), to_naive(w_end), closed)
                        if closed
                        else timedelta(0),
                    )
                    for w_start, w_end, parallel in window_times(template, day)
                ]
            day += timedelta(days=1)
    return result
