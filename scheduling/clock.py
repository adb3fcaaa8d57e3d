"""The one clock, and the hospital's time zone. Everything stored is UTC; everything
shown is local time.

No other module reads the wall clock: every "now" in every process (web, DICOM, HL7,
jobs, LINE) comes from :func:`utcnow`. Tests and training set it once for the whole
process: :func:`freeze` stops it at an instant, :func:`travel` makes it run on from
an instant. A process started by a test (a server under test) is told with
``RADBOOK_CLOCK_OFFSET_SECONDS``, which :func:`configure` applies.

Elapsed-time measurements (timeouts, back-off between socket reads) use
``time.monotonic`` directly: that is a stopwatch, not a date.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Bangkok"

_lock = threading.Lock()
_offset = timedelta(0)
_frozen: datetime | None = None
_zone = ZoneInfo(DEFAULT_TIMEZONE)


def system_now() -> datetime:
    """The machine's wall clock. Only the clock itself and test set-up may use this."""
    return datetime.now(UTC)  # clock-ok


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    frozen = _frozen
    if frozen is not None:
        return frozen
    return system_now() + _offset


def freeze(at: datetime) -> None:
    """Stop the clock at ``at`` until :func:`travel` or :func:`reset`."""
    global _frozen
    _require_aware(at)
    with _lock:
        _frozen = at.astimezone(UTC)


def travel(to: datetime) -> None:
    """Set the clock to ``to`` and let it run on from there."""
    global _frozen, _offset
    _require_aware(to)
    with _lock:
        _frozen = None
        _offset = to.astimezone(UTC) - system_now()


def advance(by: timedelta) -> None:
    """Move the clock forward (frozen or running)."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + by
        else:
            _offset = _offset + by


def offset_seconds() -> float:
    """How far the clock is from the wall clock now: what a child process is told."""
    return (utcnow() - system_now()).total_seconds()


def reset() -> None:
    global _frozen, _offset
    with _lock:
        _frozen = None
        _offset = timedelta(0)


def configure(timezone: str | None = None, offset_seconds: float | None = None) -> None:
    """Set the hospital's time zone and, for a process a test started, the clock's offset."""
    global _zone, _offset
    with _lock:
        if timezone:
            _zone = ZoneInfo(timezone)
        if offset_seconds:
            _offset = timedelta(seconds=offset_seconds)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError("the clock takes aware datetimes only")


def local_zone() -> ZoneInfo:
    return _zone


def to_local(value: datetime) -> datetime:
    return value.astimezone(_zone)


def local_datetime(day: date, at: time) -> datetime:
    """An aware datetime for a wall-clock time at the hospital."""
    return datetime.combine(day, at, tzinfo=_zone)


def local_today(now: datetime | None = None) -> date:
    return to_local(now or utcnow()).date()
