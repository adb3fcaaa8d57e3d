"""Fixtures for the fault tests: real service processes over the suite's database.

The services read the same database as the test (the SQLite file of the run, or
``TEST_DATABASE_URL``); they are killed in the fixture's teardown, before the ``db``
fixture empties the tables.
"""

from __future__ import annotations

import gc
from pathlib import Path

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
    # Clients whose server was killed under them leave sockets to the collector: collect
    # now, inside this test (where the warning is filtered below), not in a later one.
    gc.collect()


HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """A kill -9 leaves the test's own clients (requests, pynetdicom, MLLP) with sockets
    their dead peer never closed; Python reports them as unraisable ResourceWarnings,
    which ``filterwarnings = error`` would turn into failures that say nothing about
    RadBook. Ignored for the fault tests only."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
            )
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
