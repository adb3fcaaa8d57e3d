"""Fixtures of the access matrices."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.extensions import db as _db
from tests.conftest import empty_all_tables
from tests.security.worlds import Worlds, build_worlds


@pytest.fixture(scope="module")
def worlds(app) -> Iterator[Worlds]:
    """The demo plus the four worlds, loaded once for a whole module (the matrices only
    read, or write what they are allowed to; every refused write is checked)."""
    from app.demo import load_demo

    with app.app_context():
        empty_all_tables()
        load_demo()
        built = build_worlds()
        _db.session.remove()
        yield built
        _db.session.rollback()
        _db.session.remove()
        empty_all_tables()
