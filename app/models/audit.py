"""The audit trail: who did what, when, through which interface."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.enums import Interface
from app.models.network import User
from app.models.types import UTCDateTime


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # For non-human actors: "hl7:HOSXP_KUDRANG", "dicom:MKH_US1", "fhir:client-name".
    actor: Mapped[str] = mapped_column(String(100))
    interface: Mapped[Interface] = mapped_column(Enum(Interface, native_enum=False, length=10))
    action: Mapped[str] = mapped_column(String(60))  # e.g. "appointment.book", "auth.login_failed"
    entity_type: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[int | None]
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"))
    detail: Mapped[dict | None] = mapped_column(JSON)
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User | None] = relationship()
