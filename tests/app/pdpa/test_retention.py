"""The retention job, with ``now`` injected: what is past its period goes, nothing else.

Periods in the test: records 10 years, audit 12 years, transport copies 365 days,
drafts 90 days (the defaults).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.pdpa.retention import purge, purge_with_config, years_before
from integrations.hl7.models import Hl7InboundMessage
from integrations.line.models import LineOutbox
from scheduling.audit import Actor, record_read
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    AuditEventPatient,
    ImagingRequest,
    Interface,
    Patient,
    RequestStatus,
)
from tests.app.hub.factories import make_request
from tests.app.pdpa.conftest import footprint

NOW = datetime(2037, 6, 1, 3, 0, tzinfo=UTC)
PERIODS = dict(retention_years=10, audit_years=12, message_days=365, draft_days=90)


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_years_before_keeps_the_calendar_date():
    assert years_before(datetime(2036, 2, 29, tzinfo=UTC), 10) == datetime(2026, 2, 28, tzinfo=UTC)


def test_purge_drops_old_records_copies_drafts_and_audit_and_keeps_the_rest(app, demo):
    db = demo
    old = NOW - timedelta(days=11 * 366)  # closed 11 years ago: past the 10 years
    ancient = footprint("กัญญารัตน์", old)  # her only request
    recent = footprint("บุญเลิศ", NOW - timedelta(days=200))  # within every period
    # A future booking made long ago for a patient whose request is still open.
    future = footprint(
        "ประเสริฐ",
        old,
        start_at=NOW + timedelta(days=3),
        status=RequestStatus.SCHEDULED,
        appointment_status=AppointmentStatus.BOOKED,
    )
    # A closed request 11 years old whose last booking is within the period stays too.
    late = footprint("จันทร์เพ็ญ", old, start_at=NOW - timedelta(days=5 * 365))
    draft = make_request(
        now=NOW - timedelta(days=100), patient_name="ปิยะดา", status=RequestStatus.DRAFT
    )
    fresh_draft = make_request(
        now=NOW - timedelta(days=10), patient_name="ปิยะดา", status=RequestStatus.DRAFT
    )
    ancient_audit = record_read(
        Actor(Interface.JOBS, name="t"),
        "x.old",
        NOW - timedelta(days=13 * 366),
        [ancient.patient.id, recent.patient.id],
    )
    db.session.commit()
    draft_id, fresh_draft_id = draft.id, fresh_draft.id
    ancient_patient_id = ancient.patient.id

    counts = purge(NOW, **PERIODS)
    db.session.expire_all()

    # The old closed request, everything hanging off it, and the patient left with nothing.
    assert db.session.get(ImagingRequest, ancient.request_id) is None
    assert db.session.get(Appointment, ancient.appointment_id) is None
    assert db.session.get(Patient, ancient_patient_id) is None
    for table, row_id in ancient.ids.items():
        if table == "line_account":
            continue  # the LINE user may have other patients; only the link goes
        model = db.metadata.tables[table]
        assert db.session.execute(select(model).where(model.c.id == row_id)).first() is None, table
    # The old transport copies of the others went too (365 days); their records stayed.
    assert db.session.get(ImagingRequest, future.request_id) is not None
    assert db.session.get(Appointment, future.appointment_id).status is AppointmentStatus.BOOKED
    assert db.session.get(ImagingRequest, late.request_id) is not None
    assert db.session.get(Hl7InboundMessage, future.ids["hl7_inbound_message"]) is None
    assert db.session.get(LineOutbox, future.ids["line_outbox"]) is None
    # Recent things all stay.
    assert db.session.get(ImagingRequest, recent.request_id) is not None
    assert db.session.get(Hl7InboundMessage, recent.ids["hl7_inbound_message"]) is not None
    assert db.session.get(LineOutbox, recent.ids["line_outbox"]) is not None
    # The stale draft goes, the fresh one stays.
    assert db.session.get(ImagingRequest, draft_id) is None
    assert db.session.get(ImagingRequest, fresh_draft_id) is not None
    # Audit: past 12 years gone with its patient links; 11-year-old events stay.
    # (By action: SQLite may hand a deleted last id to the next event.)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "x.old")) is None
    assert _count(db, AuditEventPatient, AuditEventPatient.audit_event_id == ancient_audit) == 0
    assert _count(db, AuditEvent, AuditEvent.patient_id == ancient_patient_id) >= 1

    for kept in (recent, future, late):
        assert db.session.get(Patient, kept.patient.id) is not None
    # (Demo patients registered on the real clock with no request may go too.)
    assert counts["imaging_request"] == 2 and counts["patient"] >= 1
    assert counts["audit_event"] == 1
    job = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.purge"))
    assert job.interface is Interface.JOBS and job.detail["deleted"]["imaging_request"] == 2

    # Nothing more to do at the same moment: a second run deletes nothing.
    assert purge(NOW, **PERIODS) == {}


def test_the_job_reads_its_periods_from_the_configuration(app, demo):
    db = demo
    footprint("กัญญารัตน์", NOW - timedelta(days=3 * 366))
    app.config["RADBOOK_RETENTION_YEARS"] = 2
    try:
        counts = purge_with_config(NOW)
    finally:
        app.config["RADBOOK_RETENTION_YEARS"] = 10
    assert counts["imaging_request"] == 1
    assert _count(db, Patient, Patient.given_name_th == "กัญญารัตน์") == 0


def test_the_job_is_registered(app):
    from app.jobs import registered_jobs

    assert "pdpa_retention" in registered_jobs(app)
