"""Everything RadBook holds about one patient, for a data-subject request (PDPA s. 30).

One JSON document: the patient, their HNs, requests, appointments, studies, MPPS
steps, PACS checks, LINE links (with the LINE accounts), link codes, LINE messages
and replies, the HL7 messages received about them and sent for their bookings, and
the audit events naming them. Every section is a list of rows with all columns, so
nothing held is left out by a forgotten field; rows of other patients never appear
(an audit event that named them in a list shows who, when and what, not the list).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect, or_, select

from app.extensions import db
from integrations.hl7.models import Hl7InboundMessage, Hl7OutboxMessage
from integrations.line.models import (
    LineAccount,
    LineLinkCode,
    LineOutbox,
    LinePatientLink,
    LinePatientReply,
)
from scheduling.audit import about_patients
from scheduling.models import (
    Appointment,
    AuditEvent,
    ImagingRequest,
    Patient,
    PatientHN,
    ReportVersion,
    Study,
)
from worklist.models import PacsQueryState, PerformedProcedureStep

FORMAT = "radbook-data-subject-export/1"


def _value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_dict(row: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every mapped column of a row, JSON-ready."""
    return {
        attr.key: _value(getattr(row, attr.key))
        for attr in inspect(row).mapper.column_attrs
        if attr.key not in skip
    }


def _rows(query, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [row_dict(r, skip) for r in db.session.scalars(query)]


def patient_export(patient: Patient, now: datetime, generated_by: str) -> dict[str, Any]:
    pid = patient.id
    request_ids = list(
        db.session.scalars(select(ImagingRequest.id).where(ImagingRequest.patient_id == pid))
    )
    appointment_ids = list(
        db.session.scalars(select(Appointment.id).where(Appointment.patient_id == pid))
    )
    none = [-1]
    links = db.session.scalars(select(LinePatientLink).where(LinePatientLink.patient_id == pid))
    links = list(links)
    audit = []
    for event in db.session.scalars(
        select(AuditEvent).where(about_patients([pid])).order_by(AuditEvent.at, AuditEvent.id)
    ):
        data = row_dict(event)
        if event.patient_id != pid:
            # A list event: it named this patient among others; what it showed of the
            # others is theirs, not this patient's.
            data["detail"] = None
            data["entity_type"] = data["entity_id"] = None
        audit.append(data)
    return {
        "format": FORMAT,
        "generated_at": now.isoformat(),
        "generated_by": generated_by,
        "patient": row_dict(patient),
        "hospital_numbers": [
            {
                **row_dict(hn),
                "hospital_code": hn.hospital.code,
                "hospital_name_th": hn.hospital.name_th,
            }
            for hn in db.session.scalars(select(PatientHN).where(PatientHN.patient_id == pid))
        ],
        "requests": _rows(
            select(ImagingRequest)
            .where(ImagingRequest.id.in_(request_ids or none))
            .order_by(ImagingRequest.id)
        ),
        "appointments": _rows(
            select(Appointment)
            .where(Appointment.id.in_(appointment_ids or none))
            .order_by(Appointment.id)
        ),
        "studies": _rows(
            select(Study).where(Study.request_id.in_(request_ids or none)).order_by(Study.id)
        ),
        "report_versions": _rows(
            select(ReportVersion)
            .where(ReportVersion.request_id.in_(request_ids or none))
            .order_by(ReportVersion.request_id, ReportVersion.version)
        ),
        "mpps": _rows(
            select(PerformedProcedureStep)
            .where(PerformedProcedureStep.appointment_id.in_(appointment_ids or none))
            .order_by(PerformedProcedureStep.id)
        ),
        "pacs_checks": _rows(
            select(PacsQueryState).where(PacsQueryState.appointment_id.in_(appointment_ids or none))
        ),
        "line_links": [row_dict(link) for link in links],
        # The account's LINE user id is personal data too; its other patients are not
        # this patient's data, so only the account row itself is given.
        "line_accounts": _rows(
            select(LineAccount).where(
                LineAccount.id.in_([link.account_id for link in links] or none)
            )
        ),
        "line_link_codes": _rows(
            select(LineLinkCode).where(LineLinkCode.patient_id == pid).order_by(LineLinkCode.id)
        ),
        "line_messages": _rows(
            select(LineOutbox)
            .where(
                or_(
                    LineOutbox.patient_id == pid,
                    LineOutbox.appointment_id.in_(appointment_ids or none),
                )
            )
            .order_by(LineOutbox.id),
            skip=("reply_token",),
        ),
        "line_replies": _rows(
            select(LinePatientReply)
            .where(LinePatientReply.patient_id == pid)
            .order_by(LinePatientReply.id)
        ),
        "hl7_received": _rows(
            select(Hl7InboundMessage)
            .where(
                or_(
                    Hl7InboundMessage.patient_id == pid,
                    Hl7InboundMessage.request_id.in_(request_ids or none),
                )
            )
            .order_by(Hl7InboundMessage.id)
        ),
        "hl7_sent": _rows(
            select(Hl7OutboxMessage)
            .where(Hl7OutboxMessage.appointment_id.in_(appointment_ids or none))
            .order_by(Hl7OutboxMessage.id)
        ),
        "audit_events": audit,
    }
