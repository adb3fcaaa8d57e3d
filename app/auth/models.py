"""Login throttling state, in the database so every gunicorn worker sees the same counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduling.db import Base
from scheduling.models.types import UTCDateTime


class LoginThrottle(Base):
    """Failed logins counted for one account name or one client address.

    Keyed by the name that was *typed*, not by a user row, so a name that does not
    exist is throttled exactly like one that does (the answer reveals nothing).
    """

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "pair" (name|address), "device" (name|device id), "account" (name), "address"
    scope: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(200))
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    # The count is forgotten a window after the last failure, not the first.
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # No attempt counts before this (the growing delay; the name kept from the old lock).
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
