"""Shared fixtures.

The suite runs once per database: SQLite by default, PostgreSQL when
``TEST_DATABASE_URL`` is set (``make test`` runs both). On PostgreSQL each test
session makes a database of its own on that server and drops it at the end, so two
runs on one machine never share (or drop) a schema. The schema is built by
the Alembic migrations, not ``create_all``, so every run also exercises them.
Between tests every table is emptied, because the code under test commits.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from scheduling import clock

# The instant every test starts at (a Saturday morning in Bangkok, 02:00 UTC = 09:00 ICT:
# the brief's "today"). The one clock is set to it before each test and runs on from
# there, so the suite sees the same dates whatever day the machine thinks it is.
SUITE_NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


# A run's database outlives it only if the run was killed; the next run of the same family
# drops such leftovers once they are this old (by the server's clock, which faketime on
# the test command does not move, so a shifted run cannot take a live one for stale).
STALE_RUN_SECONDS = 24 * 3600


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def database_of_its_own(url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test session, dropped at its end.

    ``url`` names the server and a database there that is only used to issue
    CREATE/DROP DATABASE (in autocommit). The new name is
    ``<that database>_run_<server epoch>_<pid>_<random>``, unique per run and per
    xdist worker, so concurrent runs cannot touch each other's schema.
    """
    base = make_url(url)
    family = f"{(base.database or 'radbook')[:30]}_run_"
    stamped = re.compile(re.escape(family) + r"(\d+)_\d+_[0-9a-f]{8}")
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            started = int(conn.scalar(text("SELECT extract(epoch FROM now())")))
            name = f"{family}{started}_{os.getpid()}_{secrets.token_hex(4)}"
            conn.execute(text(f"CREATE DATABASE {_quoted(name)}"))
            for other in conn.scalars(text("SELECT datname FROM pg_database")).all():
                found = stamped.fullmatch(other)
                if found and started - int(found.group(1)) > STALE_RUN_SECONDS:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {_quoted(other)} WITH (FORCE)"))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # FORCE: a service a test started (tests/faults, e2e) may still hold a
                # connection if its teardown failed.
                conn.execute(text(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)"))
    finally:
        admin.dispose()


def reset_schema(engine) -> None:
    """Drop everything in the test database (a previous run may have died midway)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        _db.drop_all()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


class IsolatedClient(FlaskClient):
    """Each request in its own app context, as in production.

    Tests hold an app context open for the database; without this, requests would
    share its ``g`` (and Flask-Login's cached user) and its SQLAlchemy session.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """SQLAlchemy URL of this session's own database (a temporary SQLite file, or a new
    PostgreSQL database on the server that ``TEST_DATABASE_URL`` names)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'radbook-test.sqlite'}"
    elif make_url(url).get_backend_name() == "postgresql":
        with database_of_its_own(url) as own:
            yield own
    else:
        yield url


@pytest.fixture(scope="session")
def app(database_url):
    from flask_migrate import upgrade

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url

    application = create_app(Config)
    application.test_client_class = IsolatedClient
    with application.app_context():
        reset_schema(_db.engine)
        upgrade()
    yield application
    with application.app_context():
        _db.session.remove()
        _db.engine.dispose()


def empty_all_tables() -> None:
    engine = _db.engine
    tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
    if engine.dialect.name == "postgresql":
        # DELETE, not TRUNCATE: TRUNCATE makes new files for every table and syncs them
        # at commit (about a second a test); DELETE on a test's few rows is one commit.
        # The sequences go back to 1 so ids are the same in every test.
        statements = [f'DELETE FROM "{name}"' for name in tables]
        statements += [f"SELECT setval('{seq}', 1, false)" for seq in _pg_sequences(engine)]
        with engine.begin() as conn:
            conn.exec_driver_sql(";\n".join(statements))
    else:
        with engine.begin() as conn:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
            conn.execute(text("PRAGMA foreign_keys=ON"))


_sequences: list[str] | None = None


def _pg_sequences(engine) -> list[str]:
    global _sequences
    if _sequences is None:
        with engine.connect() as conn:
            _sequences = [
                row[0]
                for row in conn.execute(
                    text(
                        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) "
                        "FROM pg_sequences WHERE schemaname = current_schema()"
                    )
                )
            ]
    return _sequences


@pytest.fixture
def db(app):
    """An app context over empty tables; emptied again afterwards."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        empty_all_tables()


class DemoSnapshot:
    """The demo's rows, loaded through ``load_demo`` once per run and copied back for
    every test that asks for it (an INSERT per table instead of the whole load, whose
    password hashing alone costs half a second a test). Tests then see exactly the rows
    a fresh ``load_demo`` makes at SUITE_NOW: ids, timestamps and all.
    """

    def __init__(self) -> None:
        self._rows: dict[bool, list[tuple[object, list[dict]]]] = {}

    def load(self, with_bookings: bool) -> None:
        rows = self._rows.get(with_bookings)
        if rows is None:
            from app.demo import load_demo

            load_demo(with_bookings=with_bookings)
            _db.session.commit()
            self._rows[with_bookings] = self._capture()
            return
        engine = _db.engine
        with engine.begin() as conn:
            for table, table_rows in rows:
                conn.execute(table.insert(), table_rows)
            if engine.dialect.name == "postgresql":
                _sync_sequences(conn, [table for table, _ in rows])

    @staticmethod
    def _capture() -> list[tuple[object, list[dict]]]:
        captured = []
        with _db.engine.connect() as conn:
            for table in _db.metadata.sorted_tables:
                rows = [dict(r) for r in conn.execute(table.select()).mappings()]
                if rows:
                    captured.append((table, rows))
        return captured


def _sync_sequences(conn, tables) -> None:
    """Rows copied in with their ids leave PostgreSQL's sequences behind: move them on."""
    for table in tables:
        for column in table.primary_key.columns:
            if not column.autoincrement or column.type.python_type is not int:
                continue
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence(:t, :c), "
                    f'(SELECT max("{column.name}") FROM "{table.name}"))'
                ),
                {"t": table.name, "c": column.name},
            )


_demo_snapshot = DemoSnapshot()


@pytest.fixture
def demo(db):
    """The demo network, users and patients, as ``demo load`` makes them."""
    _demo_snapshot.load(with_bookings=False)
    return db


@pytest.fixture
def demo_bookings(db):
    """The demo with its requests and bookings over today and the coming weeks, as
    ``flask demo load`` makes them (the ``demo`` fixture leaves them out)."""
    _demo_snapshot.load(with_bookings=True)
    return db


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def now() -> datetime:
    return SUITE_NOW


@pytest.fixture(autouse=True)
def _suite_clock():
    """Every process-wide "now" (web, DICOM, HL7, LINE, jobs) starts at SUITE_NOW."""
    clock.travel(SUITE_NOW)
    yield
    clock.reset()


def login(client, username: str, password: str = "radbook-demo"):
    return client.post(
        "/login", data={"username": username, "password": password}, follow_redirects=False
    )
