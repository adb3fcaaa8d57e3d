"""The capacity arithmetic written once (``scheduling.timetable``): interval union and
coverage against a boundary table and a minute-by-minute oracle; which closures apply to
a device, in Python and in SQL, against one table."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db as _db
from scheduling.models import Closure, ClosureKind
from scheduling.timetable import (
    closure_applies,
    coverage,
    covers,
    db_closure_applies,
    device_closures,
    union,
)
from tests.scheduling.factories import create_device, create_hospital

T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def m(minutes: int) -> datetime:
    return T + timedelta(minutes=minutes)


def minute_of(value: datetime) -> int:
    return (value - T) // timedelta(minutes=1)


def spans(*pairs: tuple[int, int]) -> list[tuple[datetime, datetime]]:
    return [(m(a), m(b)) for a, b in pairs]


# The window is always [0, 60). (closures, minutes of it covered, case)
COVERAGE = [
    ([], 0, "nothing closed"),
    ([(0, 60)], 60, "exactly the window"),
    ([(-30, 90)], 60, "more than the window"),
    ([(-30, 0)], 0, "touching the start from before"),
    ([(60, 90)], 0, "touching the end from after"),
    ([(10, 20)], 10, "inside"),
    ([(10, 30), (20, 40)], 30, "two overlapping: counted once"),
    ([(10, 20), (20, 30)], 20, "two touching"),
    ([(0, 20), (40, 60)], 40, "a gap between"),
    ([(0, 30), (30, 60)], 60, "two touching halves cover it"),
    ([(0, 59), (59, 60)], 60, "the last minute closed separately"),
    ([(0, 40), (10, 20)], 40, "one inside another"),
    ([(50, 70), (-10, 10), (5, 55)], 60, "unsorted, together covering it"),
    ([(0, 30), (31, 60)], 59, "one minute open"),
]


@pytest.mark.parametrize("closed, minutes, case", COVERAGE, ids=[c[2] for c in COVERAGE])
def test_coverage_table(closed, minutes, case):
    assert coverage(m(0), m(60), spans(*closed)) == timedelta(minutes=minutes)
    assert covers(m(0), m(60), spans(*closed)) is (minutes == 60)


def test_union_merges_overlapping_and_touching_in_order():
    assert union(spans((30, 40), (0, 10), (10, 20), (15, 25), (50, 60))) == spans(
        (0, 25), (30, 40), (50, 60)
    )
    assert union([]) == []


interval = st.tuples(st.integers(-20, 80), st.integers(1, 40)).map(lambda p: (p[0], p[0] + p[1]))


@given(st.lists(interval, max_size=6), st.integers(-10, 50), st.integers(1, 60))
def test_coverage_matches_minute_by_minute(closed, start, length):
    end = start + length
    closed_minutes = {t for a, b in closed for t in range(a, b)}
    expected = sum(1 for t in range(start, end) if t in closed_minutes)
    assert coverage(m(start), m(end), spans(*closed)) == timedelta(minutes=expected)
    assert covers(m(start), m(end), spans(*closed)) is (expected == length)
    merged = union(spans(*closed))
    assert all(a < b for a, b in merged)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(merged, merged[1:], strict=False))
    assert {t for a, b in merged for t in range(minute_of(a), minute_of(b))} == closed_minutes


def test_which_closures_apply_in_python_and_in_sql(db, now):
    hub = create_hospital(is_hub=True)
    other_hub = create_hospital(is_hub=True)
    device = create_device(hub)
    sibling = create_device(hub)
    elsewhere = create_device(other_hub)
    # (hospital, device, applies to ``device``?, case)
    table = [
        (None, None, True, "nationwide holiday"),
        (hub.id, None, True, "its hospital closed"),
        (other_hub.id, None, False, "another hospital closed"),
        (hub.id, device.id, True, "its downtime"),
        (None, device.id, True, "its downtime, no hospital recorded"),
        (hub.id, sibling.id, False, "another device of its hospital down"),
        (other_hub.id, elsewhere.id, False, "a device elsewhere down"),
    ]
    closures = {}
    for hospital_id, device_id, expected, case in table:
        closure = Closure(
            kind=ClosureKind.DEVICE_DOWNTIME if device_id else ClosureKind.HOSPITAL,
            hospital_id=hospital_id,
            device_id=device_id,
            start_at=m(0),
            end_at=m(60),
            created_at=now,
            updated_at=now,
        )
        _db.session.add(closure)
        _db.session.flush()
        closures[closure.id] = (hospital_id, device_id, expected, case)
    _db.session.commit()
    in_sql = set(_db.session.scalars(select(Closure.id).where(db_closure_applies([device]))))
    for closure_id, (hospital_id, device_id, expected, case) in closures.items():
        assert closure_applies(hospital_id, device_id, device) is expected, case
        assert (closure_id in in_sql) is expected, case
    loaded = device_closures([device, sibling], m(-60), m(120))
    assert len(loaded[device.id]) == sum(1 for row in table if row[2])
    assert len(loaded[sibling.id]) == 3  # the holiday, the hospital, its own downtime
    assert device_closures([device], m(60), m(120)) == {device.id: []}  # touching: none
