"""The hub's day board: free capacity per device as gaps, and where a booking fits in one.

A *gap* is a stretch of a device's capacity window in which at least one more booking
could run at the same time: the window's parallel capacity less the live bookings that
overlap it, outside every closure that applies to the device. Stretches with the same
number of free places are merged, so a device with capacity 1 shows one gap between
two bookings however many grid slots it holds.

Gaps are computed with the capacity arithmetic of ``scheduling.timetable`` (windows,
closures, half-open intervals); whether a given procedure may be booked in a gap is
decided by ``scheduling.rules`` through :func:`slot_in_gap` and, at booking time, by
``booking.book``/``booking.reschedule`` as for any booking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from scheduling.models import Device, Procedure
from scheduling.rules import iter_grid
from scheduling.timetable import (
    day_bounds,
    device_closures,
    device_windows,
    local_day,
    pick_template,
    templates_by_device,
    to_naive,
)

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Gap:
    device_id: int
    start: datetime  # aware, UTC
    end: datetime
    free: int  # bookings that could still run at once throughout the gap
    capacity: int  # the window's parallel capacity

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


def _segments(start: datetime, end: datetime, cuts: Sequence[Span]) -> list[Span]:
    """[start, end) cut at every boundary of ``cuts`` that falls inside it."""
    points = {start, end}
    for a, b in cuts:
        for p in (a, b):
            if start < p < end:
                points.add(p)
    ordered = sorted(points)
    return list(zip(ordered, ordered[1:], strict=False))


def _free_runs(
    w_start: datetime,
    w_end: datetime,
    capacity: int,
    booked: Sequence[Span],
    closed: Sequence[Span],
) -> list[tuple[datetime, datetime, int]]:
    """(start, end, free places) runs of one window, naive UTC, merged when equal."""
    runs: list[list] = []
    for a, b in _segments(w_start, w_end, [*booked, *closed]):
        if any(c0 < b and a < c1 for c0, c1 in closed):
            continue
        free = capacity - sum(1 for s, e in booked if s < b and a < e)
        if free <= 0:
            continue
        if runs and runs[-1][1] == a and runs[-1][2] == free:
            runs[-1][1] = b
        else:
            runs.append([a, b, free])
    return [(a, b, f) for a, b, f in runs]


def device_gaps(
    devices: Sequence[Device],
    day: date,
    booked: Mapping[int, Sequence[Span]],
    windows: Mapping[tuple[int, date], list] | None = None,
) -> dict[int, list[Gap]]:
    """Per device (every one given has an entry), its gaps on the local ``day``.

    ``booked``: per device id, the (start, end) of its live bookings that day (aware);
    ``windows``: ``timetable.device_windows`` for that day, when the caller has it.
    """
    result: dict[int, list[Gap]] = {d.id: [] for d in devices}
    if not devices:
        return result
    if windows is None:
        windows = device_windows(devices, day, day)
    start, end = day_bounds(day)
    closures = device_closures(devices, start, end)
    for device in devices:
        spans = [(to_naive(s), to_naive(e)) for s, e in booked.get(device.id, ())]
        for window in windows.get((device.id, day), []):
            if not window.open:
                continue
            for a, b, free in _free_runs(
                to_naive(window.start),
                to_naive(window.end),
                window.capacity,
                spans,
                closures[device.id],
            ):
                result[device.id].append(
                    Gap(
                        device.id,
                        a.replace(tzinfo=UTC),
                        b.replace(tzinfo=UTC),
                        free,
                        window.capacity,
                    )
                )
    return result


class GapFitter:
    """Where a procedure's booking would start inside a gap: the first slot of the
    device's grid that lies wholly in it (templates read once per fitter)."""

    def __init__(self, devices: Sequence[Device]):
        self._templates = templates_by_device([d.id for d in devices])

    def first_start(self, gap: Gap, procedure: Procedure) -> datetime | None:
        day = local_day(gap.start)
        template = pick_template(self._templates.get(gap.device_id, []), day)
        if template is None:
            return None
        for slot in iter_grid(template, day, procedure):
            if slot.start_at >= gap.end:
                return None
            if slot.start_at >= gap.start and slot.end_at <= gap.end:
                return slot.start_at
        return None
