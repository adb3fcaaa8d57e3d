"""Fixtures for the fault tests: real service processes over the suite's database.

The services read the same database as the test (the SQLite file of the run, or
``TEST_DATABASE_URL``); they are killed in the fixture's teardown, before the ``db``
fixture empties the tables.
"""

from __future__ import annotations

import pytest

from tests.faults import harness


@pytest.fixture
def services(db, database_url, tmp_path):
    """``services(factory, **env)`` → a started ``Service``; all stopped afterwards."""
    started: list[harness.Service] = []

    def start(factory, **env) -> harness.Service:
        service = factory(database_url, tmp_path, **env)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()
    db.session.rollback()
