"""The one overlap rule: half-open intervals [start, end).

An exam from 09:00 to 09:20 and one from 09:20 to 09:40 *touch* but do not
overlap, so back-to-back bookings are allowed. Written once for Python
(:func:`overlaps`) and once for SQL (:func:`db_overlaps`); both are tested against
the same boundary table in ``tests/scheduling/test_overlap.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import InstrumentedAttribute


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def db_overlaps(
    start_column: InstrumentedAttribute,
    end_column: InstrumentedAttribute,
    start: datetime,
    end: datetime,
) -> ColumnElement[bool]:
    """SQL for "the row's [start_column, end_column) overlaps [start, end)"."""
    return and_(start_column < end, end_column > start)
