"""Notifications to a hospital's staff: what the other side of a referral did.

One row per event and hospital (the requesting hospital hears that the hub moved its
booking; the hub hears that referral images arrived). Each user of that hospital reads
it on their own: ``staff_notification_read`` keeps who has read which, so the unread
count is per person. Text is kept as an English msgid and its parameters, translated
when shown, so a Thai and an English reader each see their own language.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduling.db import Base
from scheduling.models.types import UTCDateTime


class StaffNotification(Base):
    __tablename__ = "staff_notification"
    __table_args__ = (
        Index("ix_staff_notification_hospital_at", "hospital_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The hospital whose staff are told; only its users ever see the row.
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    # e.g. "request.rejected", "appointment.moved", "appointment.cancelled", "report.arrived"
    kind: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("imaging_request.id"), index=True)
    # An English msgid (marked with N_) and its %-parameters; translated when shown.
    message: Mapped[str] = mapped_column(Text)
    params: Mapped[dict | None] = mapped_column(JSON)
    # The other side's reason (a hub's move or cancel reason), shown as typed.
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who caused it ("user:12", "hl7:PACS"), for the reader; not a key.
    actor: Mapped[str | None] = mapped_column(String(100))


class StaffNotificationRead(Base):
    """That ``user_id`` has read ``notification_id`` (absent: unread)."""

    __tablename__ = "staff_notification_read"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("staff_notification.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
