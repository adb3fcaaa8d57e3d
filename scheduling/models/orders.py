"""Requests, appointments and the studies that come back for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models.clinical import HubProtocol, RequestAttachment
from scheduling.models.enums import (
    AppointmentStatus,
    Interface,
    Priority,
    ReconciliationStatus,
    ReportStatus,
    RequestStatus,
    StudySource,
    TreatmentRight,
    VettingDecision,
)
from scheduling.models.network import Device, Hospital, Procedure, User
from scheduling.models.patients import Patient
from scheduling.models.types import UTCDateTime


class ImagingRequest(Base):
    """An order for one imaging procedure, placed by a (usually community) hospital."""

    __tablename__ = "imaging_request"
    __table_args__ = (
        UniqueConstraint("requesting_hospital_id", "placer_order_number"),
        # The request list (app/requests/listing.py): newest first, whole or by status, read
        # in index order per scope branch (requester, hub, all) so a page costs its 50
        # rows, not the hospital's history. The hub's pair also serves its inbox by status.
        Index("ix_imaging_request_hub_status", "hub_hospital_id", "status", "created_at", "id"),
        Index("ix_imaging_request_hub_created", "hub_hospital_id", "created_at", "id"),
        Index("ix_imaging_request_status_created", "status", "created_at", "id"),
        Index("ix_imaging_request_created", "created_at", "id"),
        Index(
            "ix_imaging_request_requester_status",
            "requesting_hospital_id",
            "status",
            "created_at",
            "id",
        ),
        Index("ix_imaging_request_requester_created", "requesting_hospital_id", "created_at", "id"),
        # ... and its "reported" filter, over the few reported rows only.
        Index(
            "ix_imaging_request_requester_reported",
            "requesting_hospital_id",
            "created_at",
            "id",
            sqlite_where=text("reported_at IS NOT NULL"),
            postgresql_where=text("reported_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    placer_order_number: Mapped[str] = mapped_column(String(40))
    requesting_hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    # The hub that will perform it; set when the request is addressed or booked.
    hub_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"))
    priority: Mapped[Priority] = mapped_column(
        Enum(Priority, native_enum=False, length=10), default=Priority.ROUTINE
    )
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, native_enum=False, length=20), default=RequestStatus.DRAFT
    )
    indication: Mapped[str] = mapped_column(Text, default="")
    icd10_code: Mapped[str | None] = mapped_column(String(10))
    requesting_clinician: Mapped[str] = mapped_column(String(200), default="")
    status_reason: Mapped[str | None] = mapped_column(Text)  # rejection / cancellation reason
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The current report, from HL7 ORU or FHIR DiagnosticReport (every version, with who
    # sent it and when, is kept in ``report_version``).
    report_text: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_by: Mapped[str | None] = mapped_column(String(200))
    report_status: Mapped[ReportStatus | None] = mapped_column(
        Enum(ReportStatus, native_enum=False, length=20)
    )
    # สิทธิการรักษา and the referral (ใบส่งตัว) number; HL7/FHIR orders may lack them.
    treatment_right: Mapped[TreatmentRight | None] = mapped_column(
        Enum(TreatmentRight, native_enum=False, length=20)
    )
    referral_number: Mapped[str | None] = mapped_column(String(40))
    # Safety screening answers, cleaned by scheduling.screening (keys documented there).
    screening: Mapped[dict | None] = mapped_column(JSON)
    # Vetting (scheduling.vetting): the radiologist's decision and protocol.
    vetting_decision: Mapped[VettingDecision | None] = mapped_column(
        Enum(VettingDecision, native_enum=False, length=20)
    )
    vetted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vetted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    protocol_id: Mapped[int | None] = mapped_column(ForeignKey("hub_protocol.id"))
    protocol_contrast: Mapped[bool | None] = mapped_column(Boolean)
    protocol_notes: Mapped[str | None] = mapped_column(Text)

    requesting_hospital: Mapped[Hospital] = relationship(foreign_keys=[requesting_hospital_id])
    hub_hospital: Mapped[Hospital | None] = relationship(foreign_keys=[hub_hospital_id])
    patient: Mapped[Patient] = relationship()
    procedure: Mapped[Procedure] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    vetted_by: Mapped[User | None] = relationship(foreign_keys=[vetted_by_id])
    protocol: Mapped[HubProtocol | None] = relationship()
    attachments: Mapped[list[RequestAttachment]] = relationship(
        back_populates="request", order_by="RequestAttachment.id"
    )
    appointments: Mapped[list[Appointment]] = relationship(
        back_populates="request", order_by="Appointment.id"
    )
    studies: Mapped[list[Study]] = relationship(back_populates="request")
    reports: Mapped[list[ReportVersion]] = relationship(
        back_populates="request", order_by="ReportVersion.version"
    )

    @property
    def current_appointment(self) -> Appointment | None:
        """The live booking, or the last one if none is live."""
        live = [a for a in self.appointments if a.status is not AppointmentStatus.MOVED]
        return live[-1] if live else None


class Appointment(Base):
    """One booked slot on one device. A reschedule closes this row as MOVED and adds a new one."""

    __tablename__ = "appointment"
    __table_args__ = (
        UniqueConstraint("hub_hospital_id", "accession_number"),
        Index("ix_appointment_device_start", "device_id", "start_at"),
        Index("ix_appointment_patient_start", "patient_id", "start_at"),
        Index("ix_appointment_status_start", "status", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"), index=True)
    # Denormalised from the request so that patient-overlap checks need no join.
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    hub_hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[AppointmentStatus] = mapped_column(
        Enum(AppointmentStatus, native_enum=False, length=20), default=AppointmentStatus.BOOKED
    )
    accession_number: Mapped[str] = mapped_column(String(16))
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    requested_procedure_id: Mapped[str] = mapped_column(String(16))
    sps_id: Mapped[str] = mapped_column(String(16))
    # Short code printed on the slip and used to link LINE.
    appointment_code: Mapped[str] = mapped_column(String(12), unique=True)
    rescheduled_from_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"))
    status_reason: Mapped[str | None] = mapped_column(Text)
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Optimistic lock: a scheduler's edit from a stale page fails instead of overwriting.
    version: Mapped[int] = mapped_column(Integer, default=1)

    request: Mapped[ImagingRequest] = relationship(back_populates="appointments")
    patient: Mapped[Patient] = relationship()
    hub_hospital: Mapped[Hospital] = relationship()
    device: Mapped[Device] = relationship()
    booked_by: Mapped[User | None] = relationship()
    rescheduled_from: Mapped[Appointment | None] = relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version}


class Study(Base):
    """A DICOM study linked to a request; one row per Study Instance UID.

    Whichever interface learns of the study first (MPPS, HL7, FHIR, PACS query) creates
    it; the others only confirm and fill in what they know.
    """

    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    accession_number: Mapped[str | None] = mapped_column(String(16))
    first_source: Mapped[StudySource] = mapped_column(
        Enum(StudySource, native_enum=False, length=20)
    )
    # Sources that have confirmed it, comma-separated StudySource values.
    confirmed_by: Mapped[str] = mapped_column(String(100), default="")
    mpps_instance_uid: Mapped[str | None] = mapped_column(String(64), unique=True)
    mpps_status: Mapped[str | None] = mapped_column(String(20))
    performed_series: Mapped[str | None] = mapped_column(Text)  # JSON list from MPPS
    images_in_pacs_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    series_count: Mapped[int | None] = mapped_column(Integer)
    instance_count: Mapped[int | None] = mapped_column(Integer)
    viewer_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    request: Mapped[ImagingRequest] = relationship(back_populates="studies")
    appointment: Mapped[Appointment | None] = relationship()


class ReportVersion(Base):
    """One version of a request's report as it came in; never changed afterwards.

    Only the hub that performs the exam writes or amends a report
    (``scheduling.studies.attach_report``); each version keeps who sent it, when and
    through which interface.
    """

    __tablename__ = "report_version"
    __table_args__ = (UniqueConstraint("request_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReportStatus] = mapped_column(Enum(ReportStatus, native_enum=False, length=20))
    text: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str | None] = mapped_column(String(200))  # the radiologist, as sent
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # as the sender says
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))  # the audit label of who sent it
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # None only for reports stored before versions were kept.
    interface: Mapped[Interface | None] = mapped_column(
        Enum(Interface, native_enum=False, length=10)
    )
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"))

    request: Mapped[ImagingRequest] = relationship(back_populates="reports")


class StudyReconciliation(Base):
    """A study whose patient identity, as its source reported it, did not match its
    request's patient: not linked, but listed for the hub to confirm (then linked) or
    reject, side by side with the request's patient (docs/patient-identity.md)."""

    __tablename__ = "study_reconciliation"
    __table_args__ = (
        UniqueConstraint("request_id", "study_instance_uid"),
        Index("ix_study_reconciliation_hub_status", "hub_hospital_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"))
    hub_hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    study_instance_uid: Mapped[str] = mapped_column(String(64))
    accession_number: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[StudySource] = mapped_column(Enum(StudySource, native_enum=False, length=20))
    # The identity as the source reported it: patient_id, issuer, name, birth_date, sex.
    reported: Mapped[dict] = mapped_column(JSON)
    problems: Mapped[str] = mapped_column(String(100))  # comma-separated: patient-id, name...
    # What linking stores (series and instance counts, viewer URL, MPPS instance...).
    link_values: Mapped[dict] = mapped_column(JSON)
    status: Mapped[ReconciliationStatus] = mapped_column(
        Enum(ReconciliationStatus, native_enum=False, length=20),
        default=ReconciliationStatus.PENDING,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    request: Mapped[ImagingRequest] = relationship()
    appointment: Mapped[Appointment | None] = relationship()
    decided_by: Mapped[User | None] = relationship()
