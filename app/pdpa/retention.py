"""The retention job: delete what is past its retention period (docs/pdpa.md).

What goes, oldest first, each with its own period (``app.config``):

* transport copies, after ``RADBOOK_MESSAGE_RETENTION_DAYS``: the HL7 inbound journal,
  HL7 outbox messages no longer pending, LINE webhook event ids, LINE messages no
  longer pending, expired LINE link codes, handled LINE replies. What they carried
  lives on in the requests and bookings; the copies were kept to diagnose interfaces.
* requests never submitted (drafts), after ``RADBOOK_DRAFT_RETENTION_DAYS``.
* closed requests (completed, cancelled, rejected) with everything hanging off them
  (bookings, studies, MPPS, PACS checks, their HL7 and LINE messages), after
  ``RADBOOK_RETENTION_YEARS`` counted from the request's last change, the last
  booking's start and the last study update, whichever is latest; then patients with
  nothing left, their HNs and LINE links.
* audit events, after ``RADBOOK_AUDIT_RETENTION_YEARS``.

Never a booking of the future, nor a live one: a request goes only when it is closed
and every appointment of it started before the cutoff and is no longer live. Plain
DELETE statements by id, in batches, one transaction per batch; the job writes one
audit event with the counts.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import and_, delete, exists, func, or_, select, update

from app.extensions import db
from integrations.hl7.models import Hl7InboundMessage, Hl7OutboxMessage, OutboxStatus
from integrations.line.models import (
    LineAccount,
    LineLinkCode,
    LineOutbox,
    LineOutboxStatus,
    LinePatientLink,
    LinePatientReply,
    LineStaffPush,
    LineWebhookEvent,
)
from scheduling.audit import Actor, record
from scheduling.clock import utcnow
from scheduling.models import (
    Appointment,
    AuditEvent,
    AuditEventPatient,
    ImagingRequest,
    Interface,
    Patient,
    PatientHN,
    ReportVersion,
    RequestAttachment,
    RequestStatus,
    StaffNotification,
    StaffNotificationRead,
    Study,
    StudyReconciliation,
)
from scheduling.notifications import forget_unread
from scheduling.states import LIVE_APPOINTMENT_STATUSES
from worklist.models import PacsQueryState, PerformedProcedureStep

BATCH = 500
CLOSED = (RequestStatus.COMPLETED, RequestStatus.CANCELLED, RequestStatus.REJECTED)


def years_before(now: datetime, years: int) -> datetime:
    """The same calendar date ``years`` earlier (29 February becomes 28 February)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def _ids(query) -> list[int]:
    return list(db.session.scalars(query.limit(BATCH)))


def _delete_requests(request_ids: list[int], counts: Counter) -> None:
    """Delete requests and everything that hangs off them (the caller chose them)."""
    appointment_ids = list(
        db.session.scalars(select(Appointment.id).where(Appointment.request_id.in_(request_ids)))
    )
    if appointment_ids:
        _delete_link_codes(LineLinkCode.appointment_id.in_(appointment_ids), counts)
        for model, column in (
            (LineOutbox, LineOutbox.appointment_id),
            (Hl7OutboxMessage, Hl7OutboxMessage.appointment_id),
            (PacsQueryState, PacsQueryState.appointment_id),
            (PerformedProcedureStep, PerformedProcedureStep.appointment_id),
        ):
            counts[model.__tablename__] += _delete(model, column.in_(appointment_ids))
    counts["line_patient_reply"] += _delete(
        LinePatientReply,
        or_(
            LinePatientReply.request_id.in_(request_ids),
            LinePatientReply.appointment_id.in_(appointment_ids or [-1]),
        ),
    )
    counts["report_version"] += _delete(ReportVersion, ReportVersion.request_id.in_(request_ids))
    counts["study_reconciliation"] += _delete(
        StudyReconciliation, StudyReconciliation.request_id.in_(request_ids)
    )
    counts["study"] += _delete(Study, Study.request_id.in_(request_ids))
    # The files sent with the request go with it; so do the staff notifications about it
    # (their read marks and LINE group pushes are deleted by ON DELETE CASCADE).
    counts["request_attachment"] += _delete(
        RequestAttachment, RequestAttachment.request_id.in_(request_ids)
    )
    notification_ids = list(
        db.session.scalars(
            select(StaffNotification.id).where(StaffNotification.request_id.in_(request_ids))
        )
    )
    if notification_ids:
        forget_unread()  # a badge loaded with the user would count them
        for model, column in (
            (LineStaffPush, LineStaffPush.notification_id),
            (StaffNotificationRead, StaffNotificationRead.notification_id),
        ):
            counts[model.__tablename__] += _delete(model, column.in_(notification_ids))
        counts["staff_notification"] += _delete(
            StaffNotification, StaffNotification.id.in_(notification_ids)
        )
    # The journal keeps its own (shorter) period; it only forgets which request it was.
    db.session.execute(
        update(Hl7InboundMessage)
        .where(Hl7InboundMessage.request_id.in_(request_ids))
        .values(request_id=None)
    )
    if appointment_ids:
        db.session.execute(
            update(Appointment)
            .where(Appointment.id.in_(appointment_ids))
            .values(rescheduled_from_id=None)
        )
        counts["appointment"] += _delete(Appointment, Appointment.id.in_(appointment_ids))
    counts["imaging_request"] += _delete(ImagingRequest, ImagingRequest.id.in_(request_ids))


def _delete(model, where) -> int:
    return (
        db.session.execute(
            delete(model).where(where).execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def _delete_link_codes(where, counts: Counter) -> None:
    codes = select(LineLinkCode.id).where(where)
    db.session.execute(
        update(LineAccount)
        .where(LineAccount.pending_code_id.in_(codes))
        .values(pending_code_id=None)
    )
    counts["line_link_code"] += _delete(LineLinkCode, LineLinkCode.id.in_(codes))


def _purge_patients(patient_ids: list[int], counts: Counter) -> None:
    _delete_link_codes(LineLinkCode.patient_id.in_(patient_ids), counts)
    for model, column in (
        (LineOutbox, LineOutbox.patient_id),
        (LinePatientReply, LinePatientReply.patient_id),
        (LinePatientLink, LinePatientLink.patient_id),
        (PatientHN, PatientHN.patient_id),
    ):
        counts[model.__tablename__] += _delete(model, column.in_(patient_ids))
    db.session.execute(
        update(Hl7InboundMessage)
        .where(Hl7InboundMessage.patient_id.in_(patient_ids))
        .values(patient_id=None)
    )
    counts["patient"] += _delete(Patient, Patient.id.in_(patient_ids))


def _batches(find, act, counts: Counter) -> None:
    """Find a batch of ids, act on it, commit; until nothing is found."""
    while ids := find():
        act(ids, counts)
        db.session.commit()
        if len(ids) < BATCH:
            break


def purge(
    now: datetime, *, retention_years: int, audit_years: int, message_days: int, draft_days: int
) -> Counter:
    """Delete what is past retention at ``now``; returns rows deleted per table."""
    counts: Counter = Counter()
    message_cutoff = now - timedelta(days=message_days)

    # Transport copies.
    simple = (
        (Hl7InboundMessage, Hl7InboundMessage.received_at < message_cutoff),
        (
            Hl7OutboxMessage,
            and_(
                Hl7OutboxMessage.status != OutboxStatus.PENDING,
                Hl7OutboxMessage.created_at < message_cutoff,
            ),
        ),
        (LineWebhookEvent, LineWebhookEvent.received_at < message_cutoff),
        (
            LineOutbox,
            and_(
                LineOutbox.status != LineOutboxStatus.PENDING,
                LineOutbox.created_at < message_cutoff,
            ),
        ),
        (
            LinePatientReply,
            and_(LinePatientReply.handled.is_(True), LinePatientReply.received_at < message_cutoff),
        ),
    )
    for model, where in simple:
        _batches(
            lambda m=model, w=where: _ids(select(m.id).where(w)),
            lambda ids, c, m=model: c.update({m.__tablename__: _delete(m, m.id.in_(ids))}),
            counts,
        )
    _batches(
        lambda: _ids(select(LineLinkCode.id).where(LineLinkCode.expires_at < message_cutoff)),
        lambda ids, c: _delete_link_codes(LineLinkCode.id.in_(ids), c),
        counts,
    )

    # Drafts never sent: nothing was booked for them.
    draft_cutoff = now - timedelta(days=draft_days)
    _batches(
        lambda: _ids(
            select(ImagingRequest.id).where(
                ImagingRequest.status == RequestStatus.DRAFT,
                ImagingRequest.updated_at < draft_cutoff,
                ~exists().where(Appointment.request_id == ImagingRequest.id),
            )
        ),
        _delete_requests,
        counts,
    )

    # Closed requests past the records' retention, never one with a recent or live booking.
    cutoff = years_before(now, retention_years)
    recent_booking = exists().where(
        Appointment.request_id == ImagingRequest.id,
        or_(
            Appointment.start_at >= cutoff, Appointment.status.in_(list(LIVE_APPOINTMENT_STATUSES))
        ),
    )
    recent_study = exists().where(Study.request_id == ImagingRequest.id, Study.updated_at >= cutoff)
    _batches(
        lambda: _ids(
            select(ImagingRequest.id).where(
                ImagingRequest.status.in_(CLOSED),
                ImagingRequest.updated_at < cutoff,
                ~recent_booking,
                ~recent_study,
            )
        ),
        _delete_requests,
        counts,
    )
    # Patients with nothing left, unchanged for as long.
    _batches(
        lambda: _ids(
            select(Patient.id).where(
                func.coalesce(Patient.updated_at, Patient.created_at) < cutoff,
                ~exists().where(ImagingRequest.patient_id == Patient.id),
                ~exists().where(Appointment.patient_id == Patient.id),
            )
        ),
        _purge_patients,
        counts,
    )

    # The audit trail.
    audit_cutoff = years_before(now, audit_years)

    def drop_events(ids: list[int], c: Counter) -> None:
        _delete(AuditEventPatient, AuditEventPatient.audit_event_id.in_(ids))
        c["audit_event"] += _delete(AuditEvent, AuditEvent.id.in_(ids))

    _batches(
        lambda: _ids(select(AuditEvent.id).where(AuditEvent.at < audit_cutoff)), drop_events, counts
    )

    counts = Counter({k: v for k, v in counts.items() if v})
    record(
        Actor(Interface.JOBS, name="retention"),
        "retention.purge",
        now,
        deleted=dict(sorted(counts.items())),
        cutoff=cutoff.isoformat(),
        audit_cutoff=audit_cutoff.isoformat(),
        message_cutoff=message_cutoff.isoformat(),
    )
    db.session.commit()
    return counts


def purge_with_config(now: datetime) -> Counter:
    config = current_app.config
    return purge(
        now,
        retention_years=int(config["RADBOOK_RETENTION_YEARS"]),
        audit_years=int(config["RADBOOK_AUDIT_RETENTION_YEARS"]),
        message_days=int(config["RADBOOK_MESSAGE_RETENTION_DAYS"]),
        draft_days=int(config["RADBOOK_DRAFT_RETENTION_DAYS"]),
    )


def purge_job(app: Flask) -> None:
    purge_with_config(utcnow())
