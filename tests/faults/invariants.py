"""What must hold in the database whatever was killed, and when.

Each check is one SQL query over the whole database and returns the offending rows
as readable strings; ``violations()`` runs them all. An empty list is a consistent
database: nothing half-written, nothing in a state the state machines cannot reach.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from integrations.hl7.models import (
    Hl7Destination,
    Hl7InboundMessage,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7Outcome,
    OutboxStatus,
)
from integrations.line.models import LineOutbox, LineOutboxStatus
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    ImagingRequest,
    RequestStatus,
    Study,
)
from worklist.models import MppsStatus, PerformedProcedureStep

# A request holds at most one of these at a time (a reschedule closes the old one as MOVED).
HOLDING = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.IN_PROGRESS,
    AppointmentStatus.COMPLETED,
)
LIVE = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.IN_PROGRESS)


def _rows(statement, label: str) -> list[str]:
    return [f"{label}: {tuple(row)}" for row in db.session.execute(statement).all()]


def _audited(action_prefix: str, entity_type: str, entity_id):
    return exists().where(
        AuditEvent.entity_type == entity_type,
        AuditEvent.entity_id == entity_id,
        AuditEvent.action.startswith(action_prefix),
    )


def booking_violations() -> list[str]:
    found: list[str] = []
    holding = (
        select(Appointment.request_id, func.count())
        .where(Appointment.status.in_(HOLDING))
        .group_by(Appointment.request_id)
        .having(func.count() > 1)
    )
    found += _rows(holding, "request with more than one appointment")
    live = exists().where(Appointment.request_id == ImagingRequest.id, Appointment.status.in_(LIVE))
    found += _rows(
        select(ImagingRequest.id).where(ImagingRequest.status == RequestStatus.SCHEDULED, ~live),
        "scheduled request without a live appointment",
    )
    found += _rows(
        select(Appointment.id, ImagingRequest.status)
        .join(ImagingRequest, ImagingRequest.id == Appointment.request_id)
        .where(Appointment.status.in_(LIVE), ImagingRequest.status != RequestStatus.SCHEDULED),
        "live appointment whose request is not scheduled",
    )
    found += _rows(
        select(Appointment.id).where(
            (func.coalesce(Appointment.accession_number, "") == "")
            | (func.coalesce(Appointment.study_instance_uid, "") == "")
            | (func.coalesce(Appointment.sps_id, "") == "")
        ),
        "appointment without accession number, Study UID or SPS ID",
    )
    found += _rows(
        select(Appointment.id).where(
            Appointment.rescheduled_from_id.is_(None),
            ~_audited("appointment.book", "appointment", Appointment.id),
        ),
        "appointment without its booking audit event",
    )
    found += _rows(
        select(ImagingRequest.id).where(
            ~_audited("request.create", "imaging_request", ImagingRequest.id)
        ),
        "request without its creation audit event",
    )
    other = aliased(Appointment)
    found += _rows(
        select(Appointment.id, other.id)
        .join(
            other,
            and_(
                other.device_id == Appointment.device_id,
                other.id > Appointment.id,
                other.start_at < Appointment.end_at,
                Appointment.start_at < other.end_at,
            ),
        )
        .where(
            Appointment.status.in_(HOLDING),
            other.status.in_(HOLDING),
            Appointment.patient_id == other.patient_id,
        ),
        "the same patient twice in one device slot",
    )
    return found


def hl7_outbox_violations() -> list[str]:
    """Each booking has its order message for each destination enabled when it was made."""
    found: list[str] = []
    per_destination = (
        select(Hl7OutboxMessage.appointment_id, Hl7OutboxMessage.destination_id, func.count())
        .where(Hl7OutboxMessage.event == Hl7OutboundEvent.BOOKED)
        .group_by(Hl7OutboxMessage.appointment_id, Hl7OutboxMessage.destination_id)
        .having(func.count() > 1)
    )
    found += _rows(per_destination, "booking queued twice for one destination")
    missing = (
        select(Appointment.id, Hl7Destination.id)
        .join(Hl7Destination, Hl7Destination.is_enabled.is_(True))
        .where(
            Appointment.rescheduled_from_id.is_(None),
            ~exists().where(
                Hl7OutboxMessage.appointment_id == Appointment.id,
                Hl7OutboxMessage.destination_id == Hl7Destination.id,
            ),
        )
    )
    found += _rows(missing, "booking without its order message")
    found += _rows(
        select(Hl7OutboxMessage.id).where(
            Hl7OutboxMessage.status == OutboxStatus.SENT,
            Hl7OutboxMessage.sent_at.is_(None) | Hl7OutboxMessage.ack_code.is_(None),
        ),
        "HL7 message marked sent without its ACK",
    )
    return found


def line_outbox_violations() -> list[str]:
    return _rows(
        select(LineOutbox.id).where(
            LineOutbox.status == LineOutboxStatus.SENT, LineOutbox.sent_at.is_(None)
        ),
        "LINE message marked sent without a time",
    )


def mpps_violations() -> list[str]:
    found: list[str] = []
    found += _rows(
        select(PerformedProcedureStep.appointment_id, func.count())
        .where(PerformedProcedureStep.appointment_id.is_not(None))
        .group_by(PerformedProcedureStep.appointment_id)
        .having(func.count() > 1),
        "appointment with more than one MPPS instance",
    )
    step = PerformedProcedureStep
    found += _rows(
        select(step.sop_instance_uid, Appointment.status)
        .join(Appointment, Appointment.id == step.appointment_id)
        .where(
            step.status == MppsStatus.IN_PROGRESS,
            Appointment.status != AppointmentStatus.IN_PROGRESS,
        ),
        "MPPS in progress but its appointment is not",
    )
    found += _rows(
        select(step.sop_instance_uid, Appointment.status)
        .join(Appointment, Appointment.id == step.appointment_id)
        .where(
            step.status == MppsStatus.COMPLETED, Appointment.status != AppointmentStatus.COMPLETED
        ),
        "MPPS completed but its appointment is not",
    )
    found += _rows(
        select(Appointment.id).where(
            Appointment.status.in_((AppointmentStatus.IN_PROGRESS, AppointmentStatus.COMPLETED)),
            ~exists().where(step.appointment_id == Appointment.id),
        ),
        "appointment started without its MPPS instance",
    )
    found += _rows(
        select(step.sop_instance_uid).where(
            step.status == MppsStatus.COMPLETED,
            step.appointment_id.is_not(None),
            ~exists().where(Study.mpps_instance_uid == step.sop_instance_uid),
        ),
        "completed MPPS without its study link",
    )
    found += _rows(
        select(Appointment.id).where(
            Appointment.status.in_((AppointmentStatus.IN_PROGRESS, AppointmentStatus.COMPLETED)),
            ~_audited("appointment.start", "appointment", Appointment.id),
        ),
        "started appointment without its audit event",
    )
    return found


def hl7_inbound_violations() -> list[str]:
    journal = Hl7InboundMessage
    found = _rows(
        select(journal.control_id).where(
            journal.outcome == Hl7Outcome.ACCEPTED,
            journal.request_id.is_not(None),
            ~exists().where(ImagingRequest.id == journal.request_id),
        ),
        "accepted order whose request is missing",
    )
    found += _rows(
        select(journal.sending_facility, journal.dedupe_control_id, func.count())
        .where(journal.dedupe_control_id.is_not(None))
        .group_by(journal.sending_application, journal.sending_facility, journal.dedupe_control_id)
        .having(func.count() > 1),
        "one message processed twice",
    )
    return found


def violations() -> list[str]:
    db.session.rollback()  # read what is committed now
    return (
        booking_violations()
        + hl7_outbox_violations()
        + line_outbox_violations()
        + mpps_violations()
        + hl7_inbound_violations()
    )
