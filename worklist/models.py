"""DICOM-side state: MPPS instances, PACS study-query bookkeeping, worklist indexes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models import Appointment, Patient
from scheduling.models.types import UTCDateTime


class MppsStatus(enum.Enum):
    """Performed Procedure Step Status (0040,0252), by its DICOM defined term."""

    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


class PerformedProcedureStep(Base):
    """One MPPS SOP instance a scanner created, and what it last said."""

    __tablename__ = "mpps_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    # None for an unscheduled procedure step RadBook could not match to a booking.
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    calling_ae: Mapped[str] = mapped_column(String(16))
    status: Mapped[MppsStatus] = mapped_column(Enum(MppsStatus, native_enum=False, length=20))
    study_instance_uid: Mapped[str | None] = mapped_column(String(64))
    performed_series: Mapped[list | None] = mapped_column(JSON)
    # The patient as the scanner named them in the N-CREATE (checked before the study is
    # linked to the booking: scheduling.studies.link_or_hold).
    patient_identity: Mapped[dict | None] = mapped_column(JSON)
    # SHA-256 of the last N-SET applied: the same N-SET sent again is answered, not re-applied.
    last_set_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    appointment: Mapped[Appointment | None] = relationship()


class PacsQueryState(Base):
    """When RadBook last asked the PACS about a completed appointment's images.

    The images-in-PACS job backs off per appointment, so a study that never arrives
    is not queried every minute forever.
    """

    __tablename__ = "pacs_query_state"

    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)


# Indexes the worklist's matching keys need on tables owned elsewhere. Each C-FIND is
# one query; these keep the optional keys (Requested Procedure ID, SPS ID, Patient ID
# as the national ID) to index lookups instead of a scan of the hub's appointments.
Index(
    "ix_appointment_hub_requested_procedure",
    Appointment.hub_hospital_id,
    Appointment.requested_procedure_id,
)
Index("ix_appointment_hub_sps", Appointment.hub_hospital_id, Appointment.sps_id)
Index("ix_patient_id_value", Patient.id_value)


class HospitalPacs(Base):
    """A requesting hospital's own PACS, for picking the studies it sends with a referral
    (Study Root C-FIND from RadBook); registered by an admin."""

    __tablename__ = "hospital_pacs"

    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    ae_title: Mapped[str] = mapped_column(String(16))  # the PACS's (called AE title)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
