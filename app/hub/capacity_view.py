"""Bookable minutes per device and day for the hub pages: ``scheduling.metrics`` counts
them (one definition for the day view and the capacity dashboard)."""

from __future__ import annotations

from datetime import date

from scheduling.capacity import closures_between
from scheduling.metrics import capacity_minutes
from scheduling.models import Closure
from scheduling.timetable import day_bounds

__all__ = ["capacity_minutes", "closures_on"]


def closures_on(hospital_id: int, day: date) -> list[Closure]:
    """Active closures touching the day at this hospital (holidays, closures, downtime)."""
    start, end = day_bounds(day)
    return closures_between(start, end, hospital_id=hospital_id)
