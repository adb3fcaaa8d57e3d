"""The hub's waiting list: requests whose patients would take an earlier date.

One open entry per request at most (``closed_at`` is NULL while it waits); an entry is
closed when the request is booked from it or the scheduler takes it off the list.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.orders import ImagingRequest
from scheduling.models.types import UTCDateTime


class WaitlistOutcome(enum.Enum):
    BOOKED = "booked"  # booked into a freed slot from the list
    REMOVED = "removed"  # taken off the list by a scheduler


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entry"
    __table_args__ = (Index("ix_waitlist_entry_hub_open", "hub_hospital_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"), index=True)
    hub_hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    # Denormalised from the request, so that the audit trail names the patient.
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[WaitlistOutcome | None] = mapped_column(
        Enum(WaitlistOutcome, native_enum=False, length=10)
    )

    request: Mapped[ImagingRequest] = relationship()
