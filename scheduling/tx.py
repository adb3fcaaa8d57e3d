"""How every operation ends its transaction, and the guard on the datetimes it is given.

An operation runs ``check_aware(now, ...)`` first, does its work inside
``with rollback_on_error(commit):`` and calls ``finish(commit)`` last: with
``commit=True`` it owns the transaction (commit, or roll back at once on a failure);
with ``commit=False`` the caller owns it (the operation only flushes), e.g. an HL7
message whose journal row is committed together with the change.
"""

from __future__ import annotations

from datetime import datetime

from scheduling.db import db


def check_aware(*values: datetime | None) -> None:
    for value in values:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a scheduling operation")


def finish(commit: bool) -> None:
    """Commit, or only flush when the caller owns the transaction."""
    if commit:
        db.session.commit()
    else:
        db.session.flush()


class rollback_on_error:
    """With ``commit=True`` a failed operation rolls back at once, releasing its locks
    (on SQLite the database-wide write lock) instead of waiting for the caller."""

    def __init__(self, commit: bool):
        self.commit = commit

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and self.commit:
            db.session.rollback()
        return False
