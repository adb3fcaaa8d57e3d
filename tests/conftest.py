"""Shared fixtures.

The suite runs once per database: SQLite by default, PostgreSQL when
``TEST_DATABASE_URL`` is set (``make test`` runs both). The schema is built by
the Alembic migrations, not ``create_all``, so every run also exercises them.
Between tests every table is emptied, because the code under test commits.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from scheduling import clock

# The instant every test starts at (a Saturday morning in Bangkok, 02:00 UTC = 09:00 ICT:
# the brief's "today"). The one clock is set to it before each test and runs on from
# there, so the suite sees the same dates whatever day the machine thinks it is.
SUITE_NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'radbook-test.sqlite'}"


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
def database_url(tmp_path_factory) -> str:
    return _database_url(tmp_path_factory)


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
