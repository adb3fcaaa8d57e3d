"""The core's declarative base and its handle on the database session.

The core never creates engines or sessions: the composition root (``app``) binds a
session (Flask-SQLAlchemy's scoped session in the web, DICOM, HL7 and job processes)
with :func:`Database.bind`, and every operation reaches it as ``db.session``. Tables of
the core and of each adapter share this base's metadata, so one Alembic history and
one ``create_all`` cover them all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names so Alembic migrations are identical on SQLite and PostgreSQL
# and batch (SQLite) ALTERs can find the constraints they touch.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# What SQLAlchemy raises when the database cannot be reached (refused or broken
# connection, pool timed out, SQLite's "unable to open" or a lock held too long): every
# adapter answers these in its own protocol's "try again later".
OUTAGE_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)
OUTAGE_RETRY_AFTER_SECONDS = 30


class Database:
    """Where the core finds its session; bound once by the process that hosts it."""

    def __init__(self) -> None:
        self._session: Any = None

    def bind(self, session: Any) -> None:
        """``session``: a ``scoped_session`` (or anything with the Session API)."""
        self._session = session

    @property
    def session(self) -> Any:
        if self._session is None:
            raise RuntimeError("scheduling.db is not bound to a session (see Database.bind)")
        return self._session

    @property
    def metadata(self) -> MetaData:
        return Base.metadata

    @property
    def dialect_name(self) -> str:
        return self.session.get_bind().dialect.name


db = Database()
