"""Query-string numbers the views hand to the database."""

from __future__ import annotations

from flask import request

from scheduling.models.types import MAX_ROW_ID, row_id

__all__ = ["int_arg", "row_id"]


def int_arg(name: str, default: int | None = None, source=None) -> int | None:
    """``request.args[name]`` (or ``source[name]``) as an int the database can compare
    with, else ``default``.

    ``request.args.get(name, type=int)`` alone lets ``?page=99999999999999999999``
    through to the query: an OverflowError (SQLite) or "integer out of range"
    (PostgreSQL), a 500 (found by tests/fuzz/web).
    """
    value = (request.args if source is None else source).get(name, type=int)
    if value is None or not -MAX_ROW_ID <= value <= MAX_ROW_ID:
        return default
    return value
