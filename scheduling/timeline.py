"""A request's timeline: what happened to it, who did it, when and why.

Read from the audit trail (every operation records one event in its own transaction),
so the timeline can never disagree with what was done. Only the actions listed in
``LABELS`` are shown: reads and technical events stay in the audit trail. The same
timeline is shown to the requesting hospital and to the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from scheduling.db import db
from scheduling.i18n import N_
from scheduling.models import AuditEvent, ImagingRequest, User

LABELS: dict[str, str] = {
    "request.create": N_("Request sent"),
    "request.submit": N_("Sent to the hub"),
    "request.accept": N_("Accepted by the hub"),
    "request.reject": N_("Rejected by the hub"),
    "request.change": N_("Request changed"),
    "request.screening": N_("Screening completed"),
    "request.attach": N_("File attached"),
    "request.vet": N_("Vetted by the radiologist"),
    "request.decline": N_("Declined at vetting"),
    "request.cancel": N_("Request cancelled"),
    "appointment.book": N_("Booked"),
    "appointment.reschedule": N_("Appointment moved"),
    "appointment.cancel": N_("Appointment cancelled"),
    "appointment.arrive": N_("Patient arrived"),
    "appointment.no_show": N_("No-show"),
    "appointment.start": N_("Exam started"),
    "appointment.complete": N_("Exam done"),
    "appointment.discontinue": N_("Exam discontinued"),
    "study.link": N_("Study received"),
    "study.confirm": N_("Study received"),
    "request.report": N_("Report arrived"),
    "request.report_amend": N_("Report amended"),
}
IMAGES_IN_PACS = N_("Images in PACS")


@dataclass(frozen=True)
class Entry:
    at: datetime
    action: str
    label: str  # English msgid
    user: User | None  # the person, when a person did it
    actor: str  # otherwise the system or interface ("hl7:HUB_RIS")
    reason: str | None
    start_at: datetime | None  # the slot booked or moved to
    protocol: str | None


def _start(detail: dict) -> datetime | None:
    raw = detail.get("start_at")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except (TypeError, ValueError):
        return None


def timeline(request: ImagingRequest) -> list[Entry]:
    """The request's events, oldest first."""
    parts = [and_(AuditEvent.entity_type == "imaging_request", AuditEvent.entity_id == request.id)]
    appointment_ids = [a.id for a in request.appointments]
    study_ids = [s.id for s in request.studies]
    if appointment_ids:
        parts.append(
            and_(AuditEvent.entity_type == "appointment", AuditEvent.entity_id.in_(appointment_ids))
        )
    if study_ids:
        parts.append(and_(AuditEvent.entity_type == "study", AuditEvent.entity_id.in_(study_ids)))
    rows = db.session.scalars(
        select(AuditEvent)
        .where(or_(*parts), AuditEvent.action.in_(LABELS))
        .options(selectinload(AuditEvent.user).selectinload(User.hospital))
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    return [_entry(row) for row in rows]


def _entry(row: AuditEvent) -> Entry:
    detail = row.detail or {}
    label = LABELS[row.action]
    if row.action.startswith("study.") and detail.get("source") == "PACS_QUERY":
        label = IMAGES_IN_PACS
    return Entry(
        at=row.at,
        action=row.action,
        label=label,
        user=row.user,
        actor=row.actor,
        reason=detail.get("reason") or None,
        start_at=_start(detail),
        protocol=detail.get("protocol"),
    )
