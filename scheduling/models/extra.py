"""Bookings a scheduler adds beyond the template's capacity, on purpose: a walk-in (the
patient is here without a booking) or an overbooking (one more in a full slot).

The appointment itself is an ordinary row; this marks it, so the board draws it apart
and the day's counts show it apart from the template's capacity.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduling.db import Base
from scheduling.models.types import UTCDateTime


class ExtraKind(enum.Enum):
    WALK_IN = "walk_in"
    OVERBOOK = "overbook"


class ExtraBooking(Base):
    __tablename__ = "extra_booking"

    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), primary_key=True)
    kind: Mapped[ExtraKind] = mapped_column(Enum(ExtraKind, native_enum=False, length=10))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
