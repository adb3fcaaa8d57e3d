"""LINE: linked accounts, one-time link codes, the outbox, webhook dedupe, patient replies.

The outbox is the source of truth for what patients are told: a row is added in the
same transaction as the booking change it describes, and each row carries the
``X-Line-Retry-Key`` it will always be pushed with, so a retry after a crash can
never reach the patient twice.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduling.db import Base
from scheduling.models import Appointment, Hospital, ImagingRequest, Patient, User
from scheduling.models.types import UTCDateTime


class LineOutboxStatus(enum.Enum):
    PENDING = "pending"  # waiting for its time, a retry, or LINE credentials
    SENT = "sent"  # LINE accepted it (200, or 409 for our own retry key)
    FAILED = "failed"  # LINE refused it, or its retry window ran out; an admin may requeue
    CANCELLED = "cancelled"  # superseded before sending (appointment moved or cancelled)
    SKIPPED = "skipped"  # not sent: unlinked, opted out, blocked, or the appointment passed


class LineMessageKind(enum.Enum):
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    DIALOGUE = "dialogue"  # answers in the linking chat, sent as replies when fresh


class LineReplyKind(enum.Enum):
    """What a patient answered with the buttons of a booking message."""

    CONFIRM = "confirm"
    CHANGE = "change"  # asks to cancel or move the appointment


class LineAccount(Base):
    """A LINE user who has talked to the hospital's Official Account."""

    __tablename__ = "line_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    is_following: Mapped[bool] = mapped_column(Boolean, default=True)
    # The patient said "stop" in the chat: no reminders until they say "start".
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Linking dialogue: a valid code was sent, the birth date is awaited.
    pending_code_id: Mapped[int | None] = mapped_column(ForeignKey("line_link_code.id"))
    # Wrong codes and birth dates count here, so guessing from one account stops early.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    pending_code: Mapped[LineLinkCode | None] = relationship(foreign_keys=[pending_code_id])
    links: Mapped[list[LinePatientLink]] = relationship(
        back_populates="account", cascade="all, delete-orphan"
    )


class LinePatientLink(Base):
    """A patient whose messages go to a LINE account; one account may serve a family."""

    __tablename__ = "line_patient_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("line_account.id"), index=True)
    # One LINE account per patient: messages must not fan out to several phones.
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)

    account: Mapped[LineAccount] = relationship(back_populates="links")
    patient: Mapped[Patient] = relationship()


class LineLinkCode(Base):
    """The one-time code behind the slip's QR code: short, expiring, single use."""

    __tablename__ = "line_link_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Wrong birth dates given for this code; a few of them void it.
    failed_checks: Mapped[int] = mapped_column(Integer, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    patient: Mapped[Patient] = relationship()
    appointment: Mapped[Appointment | None] = relationship()


def _new_retry_key() -> str:
    return str(uuid.uuid4())


class LineOutbox(Base):
    """One push (or reply) to one LINE user."""

    __tablename__ = "line_outbox"
    __table_args__ = (Index("ix_line_outbox_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[LineMessageKind] = mapped_column(
        Enum(LineMessageKind, native_enum=False, length=20)
    )
    status: Mapped[LineOutboxStatus] = mapped_column(
        Enum(LineOutboxStatus, native_enum=False, length=20), default=LineOutboxStatus.PENDING
    )
    line_user_id: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    locale: Mapped[str] = mapped_column(String(5), default="th")
    # LINE message objects, as sent (up to five).
    messages: Mapped[list] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(String(400))  # alt text, for the admin page
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Reminders are sent at their configured time even inside quiet hours.
    quiet_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    # Stored before the first attempt and never changed: LINE answers 409 instead of
    # delivering again when it has already accepted this key (valid for 24 hours).
    retry_key: Mapped[str] = mapped_column(String(36), unique=True, default=_new_retry_key)
    # "appt:12:reminder:-1@18:00": one row per purpose, however often an event repeats.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    reply_token: Mapped[str | None] = mapped_column(String(255))
    reply_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    patient: Mapped[Patient | None] = relationship()
    appointment: Mapped[Appointment | None] = relationship()


class LineWebhookEvent(Base):
    """Webhook events already processed, by ``webhookEventId``: LINE redelivers."""

    __tablename__ = "line_webhook_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    line_user_id: Mapped[str | None] = mapped_column(String(64))
    is_redelivery: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LinePatientReply(Base):
    """A patient's answer from a LINE button, waiting in the hub scheduler's inbox."""

    __tablename__ = "line_patient_reply"
    __table_args__ = (Index("ix_line_patient_reply_hub_handled", "hub_hospital_id", "handled"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[LineReplyKind] = mapped_column(Enum(LineReplyKind, native_enum=False, length=20))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("imaging_request.id"), index=True)
    hub_hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    line_user_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handled: Mapped[bool] = mapped_column(Boolean, default=False)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    appointment: Mapped[Appointment] = relationship()
    request: Mapped[ImagingRequest] = relationship()
    hub_hospital: Mapped[Hospital] = relationship()
    patient: Mapped[Patient] = relationship()
    handled_by: Mapped[User | None] = relationship()


class LineStaffGroup(Base):
    """A hospital's staff LINE group: the Official Account was added to it, and its
    group id (from the webhook's ``join`` event, ``C...``) set here by an admin."""

    __tablename__ = "line_staff_group"

    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(64))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Notifications before this are not pushed: setting a group up does not replay history.
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    hospital: Mapped[Hospital] = relationship()


class LineStaffPush(Base):
    """One staff notification pushed (or to be pushed) to its hospital's staff group."""

    __tablename__ = "line_staff_push"
    __table_args__ = (Index("ix_line_staff_push_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("staff_notification.id", ondelete="CASCADE"), unique=True
    )
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id"))
    group_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[LineOutboxStatus] = mapped_column(
        Enum(LineOutboxStatus, native_enum=False, length=20), default=LineOutboxStatus.PENDING
    )
    # Every push of this row carries it: LINE delivers a key once (409 for a repeat).
    retry_key: Mapped[str] = mapped_column(String(36), default=lambda: str(uuid.uuid4()))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
