"""The half-open overlap rule, in Python and in SQL, against one boundary table."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db as _db
from scheduling.models import Closure, ClosureKind
from scheduling.overlap import db_overlaps, overlaps

T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def m(minutes: int) -> datetime:
    return T + timedelta(minutes=minutes)


# The existing interval is always [0, 20). The candidate:
BOUNDARIES = [
    # (candidate start, candidate end, overlaps?, case)
    (-30, -10, False, "entirely before"),
    (-20, 0, False, "touching: ends exactly when it starts"),
    (-10, 1, True, "overlaps the start by one minute"),
    (0, 20, True, "identical"),
    (5, 15, True, "inside"),
    (-5, 25, True, "contains it"),
    (19, 40, True, "overlaps the end by one minute"),
    (20, 40, False, "touching: starts exactly when it ends"),
    (30, 50, False, "entirely after"),
]


@pytest.mark.parametrize("start, end, expected, case", BOUNDARIES, ids=[b[3] for b in BOUNDARIES])
def test_python_rule(start, end, expected, case):
    assert overlaps(m(0), m(20), m(start), m(end)) is expected
    assert overlaps(m(start), m(end), m(0), m(20)) is expected  # symmetric


def test_sql_rule_matches_the_table(db, now):
    _db.session.add(
        Closure(
            kind=ClosureKind.PUBLIC_HOLIDAY,
            start_at=m(0),
            end_at=m(20),
            created_at=now,
            updated_at=now,
        )
    )
    _db.session.commit()
    for start, end, expected, case in BOUNDARIES:
        hit = _db.session.scalar(
            select(Closure.id).where(
                db_overlaps(Closure.start_at, Closure.end_at, m(start), m(end))
            )
        )
        assert (hit is not None) is expected, case
