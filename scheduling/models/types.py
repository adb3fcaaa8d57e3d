"""Column types shared by the models."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

MAX_ROW_ID = 2**31 - 1  # INTEGER primary keys on both databases


def row_id(text: str | None) -> int | None:
    """The row id in ``text`` if RadBook could have issued it, else None.

    ``str.isdigit`` alone lets through ``"²"`` (int() refuses it) and ids beyond the
    database's INTEGER: both were 500s (found by tests/fuzz).
    """
    if text and text.isascii() and text.isdigit() and len(text) <= 10:
        value = int(text)
        if value <= MAX_ROW_ID:
            return value
    return None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as naive UTC.

    SQLite has no time zone type, and PostgreSQL's ``timestamptz`` would give back
    aware values in the session zone; storing naive UTC on both keeps comparisons
    and indexes identical across the two databases. Naive input is rejected, because
    a naive datetime in this codebase is always a bug (Bangkok or UTC?).
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
