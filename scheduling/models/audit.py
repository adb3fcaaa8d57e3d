"""The audit trail: who did what, when, through which interface, to which patient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.enums import Interface
from scheduling.models.network import User
from scheduling.models.types import UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_at", "at"),
        # "Everything that happened to patient X", newest first (with audit_event_patient).
        Index("ix_audit_event_patient", "patient_id", "at"),
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
    # The one patient the event is about. Deliberately no foreign key: the trail must
    # outlive a merge or a purge of the patient it names. An event naming several
    # patients (a list page, a worklist answer) leaves this empty and names them in
    # ``audit_event_patient`` instead.
    patient_id: Mapped[int | None]

    user: Mapped[User | None] = relationship()


class AuditEventPatient(Base):
    """The patients of an event that names more than one (one row per patient).

    Keyed patient first, so "every event about patient X" is an index range.
    """

    __tablename__ = "audit_event_patient"
    __table_args__ = (Index("ix_audit_event_patient_event", "audit_event_id"),)

    patient_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    audit_event_id: Mapped[int] = mapped_column(
        ForeignKey("audit_event.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
