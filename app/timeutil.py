"""Clock and time-zone helpers. Everything stored is UTC; everything shown is local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def local_zone() -> ZoneInfo:
    name = current_app.config["RADBOOK_TIMEZONE"] if has_app_context() else "Asia/Bangkok"
    return ZoneInfo(name)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(value: datetime) -> datetime:
    return value.astimezone(local_zone())


def local_datetime(day: date, at: time) -> datetime:
    """An aware datetime for a wall-clock time at the hospital."""
    return datetime.combine(day, at, tzinfo=local_zone())


def local_today(now: datetime | None = None) -> date:
    return to_local(now or utcnow()).date()
