"""Bookable minutes per device and day, for occupancy bars and the capacity dashboard.

Capacity is defined by ``scheduling`` (templates, windows, closures); this module
only adds it up with the scheduling engine's own rules (``pick_template``,
``window_times``): window length × parallel capacity, less any active closure
(public holiday, hospital closure, device downtime) that overlaps the window.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import CapacityTemplate, Closure, Device
from scheduling.capacity import closures_between
from scheduling.rules import day_bounds, pick_template, window_times


def _overlap_minutes(
    start: datetime, end: datetime, closed: list[tuple[datetime, datetime]]
) -> int:
    """Minutes of [start, end) covered by the union of the closed intervals."""
    covered = 0.0
    cursor = start
    for c_start, c_end in sorted(closed):
        lo, hi = max(c_start, cursor), min(c_end, end)
        if hi > lo:
            covered += (hi - lo).total_seconds()
            cursor = hi
    return int(covered // 60)


def capacity_minutes(devices: list[Device], first: date, last: date) -> dict[tuple[int, date], int]:
    """{(device id, day): bookable minutes}; a device with no template that day is absent."""
    if not devices:
        return {}
    ids = [d.id for d in devices]
    templates: dict[int, list[CapacityTemplate]] = defaultdict(list)
    for template in db.session.scalars(
        select(CapacityTemplate)
        .where(CapacityTemplate.device_id.in_(ids))
        .options(selectinload(CapacityTemplate.windows))
    ):
        templates[template.device_id].append(template)
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    hospitals = {d.hospital_id for d in devices}
    closures: list[Closure] = []
    for hospital_id in hospitals:
        closures.extend(
            c for c in closures_between(start, end, hospital_id=hospital_id) if c not in closures
        )
    result: dict[tuple[int, date], int] = {}
    for device in devices:
        applicable = [
            (c.start_at, c.end_at)
            for c in closures
            if (c.hospital_id is None or c.hospital_id == device.hospital_id)
            and (c.device_id is None or c.device_id == device.id)
        ]
        day = first
        while day <= last:
            template = pick_template(templates.get(device.id, []), day)
            if template is not None:
                total = 0
                for w_start, w_end, parallel in window_times(template, day):
                    minutes = int((w_end - w_start).total_seconds() // 60)
                    minutes -= _overlap_minutes(w_start, w_end, applicable)
                    total += max(0, minutes) * parallel
                result[(device.id, day)] = total
            day += timedelta(days=1)
    return result


def closures_on(hospital_id: int, day: date) -> list[Closure]:
    """Active closures touching the day at this hospital (holidays, closures, downtime)."""
    start, end = day_bounds(day)
    return closures_between(start, end, hospital_id=hospital_id)
