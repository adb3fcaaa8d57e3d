"""HL7 v2: the inbound journal, the outbound destinations and the outbox."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models import Appointment, Hospital, ReferralStudy
from scheduling.models.types import UTCDateTime


class Hl7Outcome(enum.Enum):
    """What the listener answered (MSA-1, original acknowledgement mode)."""

    ACCEPTED = "AA"
    ERROR = "AE"  # understood, but processing failed (ERR segment says why)
    REJECTED = "AR"  # cannot be accepted at all: unparseable, unsupported type, unknown sender


class Hl7Charset(enum.Enum):
    """Character set of an outbound destination; the value is what goes into MSH-18.

    HL7 table 0211 has no Thai entry. ``TIS-620`` is what Thai HIS and PACS write;
    dcm4chee (common in Thai hospitals) reads Thai from ``CNS 11643-1992`` instead, so
    that spelling is offered for destinations running it.
    """

    UTF8 = "UNICODE UTF-8"
    TIS620 = "TIS-620"
    TIS620_DCM4CHE = "CNS 11643-1992"
    ASCII = "ASCII"  # romanised names only, for receivers that show no Thai


class Hl7OrderFormat(enum.Enum):
    """Which order message a destination takes (IHE SWF: ORM v2.3.1 or OMI v2.5.1)."""

    OMI_O23 = "OMI^O23"
    ORM_O01 = "ORM^O01"


class Hl7OutboundEvent(enum.Enum):
    BOOKED = "booked"  # ORC-1 NW
    RESCHEDULED = "rescheduled"  # ORC-1 XO (same Study Instance UID)
    UPDATED = "updated"  # ORC-1 XO: the radiologist's protocol, after booking
    CANCELLED = "cancelled"  # ORC-1 CA
    # IHE PIR patient update for a referral study the hub confirmed (ADT^A40 / ADT^A47)
    PATIENT_MERGE = "patient_merge"
    PATIENT_ID_CHANGE = "patient_id_change"


class Hl7PatientUpdate(enum.Enum):
    """Whether a destination hears the hub's patient-ID reconciliation of referral
    images, and as which ADT (docs/referral-images.md)."""

    OFF = "off"
    A40 = "A40"  # merge patient: MRG-1 (the requester's ID) into PID-3 (the hub's)
    A47 = "A47"  # change patient identifier list: MRG-1 replaced by PID-3


class OutboxStatus(enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry, or could not be built; an admin may retry


class Hl7InboundMessage(Base):
    """The journal: every message the listener received, with what it answered.

    One processed row per (sender, MSH-10): a repeat is acknowledged again from ``ack``
    and never processed twice. The row is committed in the same transaction as the
    domain change, before the ACK leaves.
    """

    __tablename__ = "hl7_inbound_message"
    __table_args__ = (
        UniqueConstraint("sending_application", "sending_facility", "dedupe_control_id"),
        Index("ix_hl7_inbound_message_received_at", "received_at"),
        Index("ix_hl7_inbound_message_outcome", "outcome", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    # MSH-3 / MSH-4 (first HD component); "" rather than NULL so the unique key holds.
    sending_application: Mapped[str] = mapped_column(String(180), default="")
    sending_facility: Mapped[str] = mapped_column(String(180), default="")
    hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"), index=True)
    message_type: Mapped[str] = mapped_column(String(20), default="")  # e.g. "ORM^O01"
    # MSH-10; NULL when the message was too broken to have one.
    control_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # MSH-10 again, but only for messages that were processed (AA or AE): a repeat of
    # those is answered from ``ack``. Rejected (AR) messages changed nothing, so a
    # corrected resend under the same MSH-10 is processed (NULLs never collide).
    dedupe_control_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(10), default="")
    charset: Mapped[str] = mapped_column(String(30), default="")  # the codec it was read with
    raw: Mapped[str] = mapped_column(Text)
    outcome: Mapped[Hl7Outcome] = mapped_column(Enum(Hl7Outcome, native_enum=False, length=10))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_en: Mapped[str | None] = mapped_column(Text)
    error_th: Mapped[str | None] = mapped_column(Text)
    ack: Mapped[str] = mapped_column(Text, default="")  # exactly what was answered
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    last_duplicate_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What it touched, for the admin page.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("imaging_request.id"), index=True)

    hospital: Mapped[Hospital | None] = relationship()


class Hl7Destination(Base):
    """A PACS / RIS that receives RadBook's bookings as HL7 orders over MLLP."""

    __tablename__ = "hl7_destination"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    # Only bookings at this hub; NULL = every hub.
    hub_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospital.id"), index=True)
    order_format: Mapped[Hl7OrderFormat] = mapped_column(
        Enum(Hl7OrderFormat, native_enum=False, length=10), default=Hl7OrderFormat.OMI_O23
    )
    charset: Mapped[Hl7Charset] = mapped_column(
        Enum(Hl7Charset, native_enum=False, length=20), default=Hl7Charset.UTF8
    )
    receiving_application: Mapped[str] = mapped_column(String(180), default="")  # MSH-5
    receiving_facility: Mapped[str] = mapped_column(String(180), default="")  # MSH-6
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Referral images filed under the requester's ID: which ADT moves them (OFF: none).
    patient_update: Mapped[Hl7PatientUpdate] = mapped_column(
        Enum(Hl7PatientUpdate, native_enum=False, length=10),
        default=Hl7PatientUpdate.OFF,
        server_default=Hl7PatientUpdate.OFF.name,
    )

    hub_hospital: Mapped[Hospital | None] = relationship()


class Hl7OutboxMessage(Base):
    """One order message for one destination, added in the booking's own transaction."""

    __tablename__ = "hl7_outbox_message"
    __table_args__ = (Index("ix_hl7_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    destination_id: Mapped[int] = mapped_column(ForeignKey("hl7_destination.id"), index=True)
    # An order message is about an appointment; a patient update about a referral study.
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    referral_study_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_study.id"), index=True
    )
    event: Mapped[Hl7OutboundEvent] = mapped_column(
        Enum(Hl7OutboundEvent, native_enum=False, length=20)
    )
    control_id: Mapped[str] = mapped_column(String(20), unique=True)  # our MSH-10
    message_type: Mapped[str] = mapped_column(String(20))
    payload: Mapped[str] = mapped_column(Text, default="")  # ER7 text, built when queued
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=10), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_code: Mapped[str | None] = mapped_column(String(2))
    last_error: Mapped[str | None] = mapped_column(Text)

    destination: Mapped[Hl7Destination] = relationship()
    appointment: Mapped[Appointment | None] = relationship()
    referral_study: Mapped[ReferralStudy | None] = relationship()

    @property
    def request_id(self) -> int | None:
        if self.appointment is not None:
            return self.appointment.request_id
        return self.referral_study.request_id if self.referral_study else None

    @property
    def patient_id(self) -> int | None:
        """The patient record the message is about (for the audit of its sending)."""
        if self.appointment is not None:
            return self.appointment.patient_id
        return self.referral_study.request.patient_id if self.referral_study else None


class Hl7Sender(Base):
    """A system allowed to send HL7 to RadBook: one hospital, from listed addresses.

    A message is accepted only from an address of an enabled sender and only when its
    MSH-4 is that sender's hospital: MSH-4 alone is whatever the sender typed.
    """

    __tablename__ = "hl7_sender"

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")  # e.g. "HIS (HOSxP)"
    # Source addresses and networks, space-separated (``scheduling.addresses``).
    addresses: Mapped[str] = mapped_column(Text, default="")
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    hospital: Mapped[Hospital] = relationship()
