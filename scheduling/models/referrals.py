"""Prior images that travel with a referral (ภาพที่ส่งมาพร้อมใบส่งตัว).

One row per study the requesting hospital lists on its request: what it is (modality,
date, description, accession number or Study Instance UID), whether it goes on CD, and
what RadBook has since learnt of it in the hub's PACS: arrival (series and image counts),
the patient the PACS files it under, the hub's confirmation of who that is, and whether
the PACS then reports it under the hub's own patient ID (docs/referral-images.md).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.network import User
from scheduling.models.orders import ImagingRequest
from scheduling.models.types import UTCDateTime


class PriorIdentity(enum.Enum):
    """Whose patient ID the arrived study carries in the hub's PACS (IHE PIR)."""

    UNCHECKED = "unchecked"  # not arrived yet
    HUB_ID = "hub_id"  # already filed under the hub's own Patient ID: nothing to do
    PENDING = "pending"  # under the requester's ID: a hub user must confirm the match
    CONFIRMED = "confirmed"  # confirmed; the patient update was queued to the PACS
    VERIFIED = "verified"  # the PACS now reports it under the hub's Patient ID
    REJECTED = "rejected"  # the hub says it is another patient's study


class ReferralStudy(Base):
    __tablename__ = "referral_study"
    __table_args__ = (
        # The watcher's work list: not on CD, not settled, due.
        Index("ix_referral_study_due", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"), index=True)
    modality_code: Mapped[str] = mapped_column(ForeignKey("modality.code"))
    study_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(200), default="")
    accession_number: Mapped[str | None] = mapped_column(String(16))
    study_instance_uid: Mapped[str | None] = mapped_column(String(64))
    # The requester says the study travels on a disc instead (not watched in PACS).
    sent_on_cd: Mapped[bool] = mapped_column(Boolean, default=False)
    # Picked from the requester's own PACS (C-FIND) rather than typed.
    picked_from_pacs: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    # --- arrival in the hub's PACS ---------------------------------------------------------
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    found_study_uid: Mapped[str | None] = mapped_column(String(64))
    series_count: Mapped[int | None] = mapped_column(Integer)
    instance_count: Mapped[int | None] = mapped_column(Integer)
    # The patient as the hub's PACS files the study (ReportedIdentity.as_dict()).
    reported: Mapped[dict | None] = mapped_column(JSON)
    # None: nothing to ask the PACS (on CD, settled, request closed).
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    missing_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # --- patient ID reconciliation ---------------------------------------------------------
    identity: Mapped[PriorIdentity] = mapped_column(
        Enum(PriorIdentity, native_enum=False, length=20), default=PriorIdentity.UNCHECKED
    )
    problems: Mapped[str] = mapped_column(String(100), default="")  # as identity_problems
    # The hub's Patient ID (and issuer) the study is to be filed under.
    hub_patient_id: Mapped[str | None] = mapped_column(String(64))
    hub_issuer: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    request: Mapped[ImagingRequest] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def awaited_online(self) -> bool:
        return not self.sent_on_cd
