"""One patient's data in every table that can hold it (for the export and retention tests)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.extensions import db
from integrations.hl7.models import (
    Hl7Destination,
    Hl7InboundMessage,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7Outcome,
)
from integrations.line.models import (
    LineAccount,
    LineLinkCode,
    LineMessageKind,
    LineOutbox,
    LineOutboxStatus,
    LinePatientLink,
    LinePatientReply,
    LineReplyKind,
    LineWebhookEvent,
)
from scheduling.audit import Actor, record, record_read
from scheduling.models import (
    AppointmentStatus,
    AttachmentKind,
    Interface,
    Patient,
    RequestAttachment,
    RequestStatus,
    StaffNotification,
    Study,
    StudySource,
)
from tests.app.hub.factories import make_appointment, make_request
from worklist.models import MppsStatus, PacsQueryState, PerformedProcedureStep

_n = itertools.count(1)


@dataclass
class Footprint:
    patient: Patient
    request_id: int
    appointment_id: int
    ids: dict[str, int]  # table -> id of the row made for this patient


def footprint(
    patient_name: str,
    at: datetime,
    *,
    start_at: datetime | None = None,
    status: RequestStatus = RequestStatus.COMPLETED,
    appointment_status: AppointmentStatus = AppointmentStatus.COMPLETED,
    others: list[int] = (),
) -> Footprint:
    """A request of ``patient_name`` made at ``at``, and a row in every table about it."""
    n = next(_n)
    req = make_request(now=at, patient_name=patient_name)
    appt = make_appointment(
        req,
        ae_title="MKH_US1",
        start_at=start_at or at + timedelta(days=7),
        status=appointment_status,
    )
    req.status = status
    patient = req.patient
    destination = db.session.query(Hl7Destination).first()
    if destination is None:
        destination = Hl7Destination(name="PACS", host="127.0.0.1", port=1)
        db.session.add(destination)
        db.session.flush()
    account = LineAccount(line_user_id=f"U{n:032d}", created_at=at, updated_at=at)
    db.session.add(account)
    db.session.flush()
    rows = {
        "study": Study(
            request_id=req.id,
            appointment_id=appt.id,
            study_instance_uid=appt.study_instance_uid,
            first_source=StudySource.MPPS,
            created_at=at,
            updated_at=at,
        ),
        "mpps_instance": PerformedProcedureStep(
            sop_instance_uid=f"2.25.{n}9",
            appointment_id=appt.id,
            calling_ae="MKH_US1",
            status=MppsStatus.COMPLETED,
            created_at=at,
            updated_at=at,
        ),
        "line_patient_link": LinePatientLink(
            account_id=account.id, patient_id=patient.id, linked_at=at
        ),
        "line_link_code": LineLinkCode(
            code=f"K{n:07d}",
            patient_id=patient.id,
            appointment_id=appt.id,
            created_at=at,
            expires_at=at + timedelta(days=1),
        ),
        "line_outbox": LineOutbox(
            kind=LineMessageKind.REMINDER,
            status=LineOutboxStatus.SENT,
            line_user_id=account.line_user_id,
            patient_id=patient.id,
            appointment_id=appt.id,
            messages=[{"type": "text", "text": patient_name}],
            summary=patient_name,
            due_at=at,
            created_at=at,
        ),
        "line_patient_reply": LinePatientReply(
            kind=LineReplyKind.CONFIRM,
            appointment_id=appt.id,
            request_id=req.id,
            hub_hospital_id=appt.hub_hospital_id,
            patient_id=patient.id,
            line_user_id=account.line_user_id,
            received_at=at,
            handled=True,
        ),
        "hl7_inbound_message": Hl7InboundMessage(
            received_at=at,
            raw=f"MSH|...\rPID|1||{patient.id_value}\r",
            outcome=Hl7Outcome.ACCEPTED,
            patient_id=patient.id,
            request_id=req.id,
            control_id=f"M{n}",
            dedupe_control_id=f"M{n}",
        ),
        "hl7_outbox_message": Hl7OutboxMessage(
            destination_id=destination.id,
            appointment_id=appt.id,
            event=Hl7OutboundEvent.BOOKED,
            control_id=f"RB{n}",
            message_type="OMI^O23",
            payload=f"PID|1||{patient.id_value}\r",
            status=_sent(),
            created_at=at,
            next_attempt_at=at,
        ),
        # The clinical loop's rows about the request: a file and a staff notification.
        "request_attachment": RequestAttachment(
            request_id=req.id,
            kind=AttachmentKind.LAB_RESULT,
            filename="lab.pdf",
            content_type="application/pdf",
            size_bytes=9,
            sha256="0" * 64,
            data=b"%PDF-1.4 ",
            uploaded_at=at,
        ),
        "staff_notification": StaffNotification(
            hospital_id=req.requesting_hospital_id,
            kind="report.arrived",
            request_id=req.id,
            message="Report arrived",
            created_at=at,
        ),
        "line_webhook_event": LineWebhookEvent(
            webhook_event_id=f"W{n}",
            event_type="message",
            line_user_id=account.line_user_id,
            received_at=at,
        ),
    }
    db.session.add_all(rows.values())
    db.session.add(PacsQueryState(appointment_id=appt.id, last_checked_at=at, next_check_at=at))
    record(Actor(Interface.WEB, name="t"), "request.view", at, entity=req)
    record_read(
        Actor(Interface.DICOM, name="MKH_US1"),
        "worklist.find",
        at,
        [patient.id, *others],
        appointments=[appt.id],
    )
    db.session.commit()
    ids = {table: row.id for table, row in rows.items()}
    ids["line_account"] = account.id
    return Footprint(patient, req.id, appt.id, ids)


def _sent():
    from integrations.hl7.models import OutboxStatus

    return OutboxStatus.SENT
