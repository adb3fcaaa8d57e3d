"""What a health region office sets for its region: waiting-time targets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduling.db import Base
from scheduling.models.types import UTCDateTime


class RegionWaitTarget(Base):
    """Days from request to exam the office aims at, per modality, in its region."""

    __tablename__ = "region_wait_target"
    __table_args__ = (UniqueConstraint("region", "modality_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[int] = mapped_column(Integer)
    modality_code: Mapped[str] = mapped_column(ForeignKey("modality.code"))
    target_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
