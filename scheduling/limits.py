"""Text that a column cannot hold is a ValidationFailed, before the database sees it.

SQLite ignores ``VARCHAR(n)`` and stores NUL characters; PostgreSQL refuses both with a
``DataError`` that no adapter expects (the HL7 listener then answers "not stored, send
again", a form or the FHIR API a 500). Checked once, here, on every flush: every
adapter gets the same Thai message through its usual DomainError path, on both
databases. Found by the bad-input fuzz (tests/fuzz).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Mapper, Session

from scheduling.errors import ValidationFailed
from scheduling.i18n import N_

_TEXT_COLUMNS: dict[Mapper, list[tuple[str, int | None]]] = {}


def _text_columns(mapper: Mapper) -> list[tuple[str, int | None]]:
    found = _TEXT_COLUMNS.get(mapper)
    if found is None:
        found = []
        for prop in mapper.column_attrs:
            for column in prop.columns:
                if isinstance(column.type, String):  # also Text (length None) and Enum
                    found.append((prop.key, column.type.length))
                    break
        _TEXT_COLUMNS[mapper] = found
    return found


def check_text(obj: object) -> None:
    """Raise ValidationFailed when a string attribute is too long or holds a NUL."""
    state = inspect(obj)
    values = state.dict
    for key, length in _text_columns(state.mapper):
        value = values.get(key)
        if not isinstance(value, str):
            continue
        if length is not None and len(value) > length:
            raise ValidationFailed(
                N_("A value is too long: at most %(limit)s characters (%(field)s)"),
                code="too-long",
                limit=length,
                field=key,
            )
        if "\x00" in value:
            raise ValidationFailed(
                N_("A value contains a NUL character, which cannot be stored (%(field)s)"),
                code="nul-character",
                field=key,
            )


@event.listens_for(Session, "before_flush")
def _check_before_flush(session: Session, flush_context, instances) -> None:
    for obj in session.new:
        check_text(obj)
    for obj in session.dirty:
        check_text(obj)


# Dates a person can mean in RadBook: births from 1900 on, bookings and searches up to
# 2200. Beyond them arithmetic overflows (date.max + 1 day, a year-1 date moved to UTC)
# and the databases disagree; a date outside is a bad input, answered as such.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2200, 12, 31)


def date_in_range(value: date | datetime | None) -> bool:
    """Whether a date (or a datetime's date) lies within [EARLIEST_DATE, LATEST_DATE]."""
    if value is None:
        return False
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST_DATE <= day <= LATEST_DATE
