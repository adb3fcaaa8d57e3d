"""Fixtures of the statement-count guards (helpers in ``tests.perf_guards.counting``)."""

from __future__ import annotations

import pytest

from tests.perf_guards.counting import add_bookings


@pytest.fixture
def grow(demo, now):
    """``grow(count, ae_title=..., start_at=...)``: more bookings where an operation looks."""

    def _grow(count: int, **where):
        return add_bookings(now, count, **where)

    return _grow
