"""Every web page that shows a patient records a read event naming that patient.

Generated from the app's URL map: every GET route (FHIR has its own audit, tested
there) is opened as the admin, who may open them all, with ids from the demo
bookings. Wherever a patient's name appears in the answer, an event recorded by that
very request must name the patient; and no page writes more than one event.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from integrations.hl7.models import (
    Hl7Destination,
    Hl7InboundMessage,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7Outcome,
)
from scheduling.audit import about_patients
from scheduling.clock import local_today, local_zone
from scheduling.models import (
    AuditEvent,
    CapacityTemplate,
    Hospital,
    Patient,
    Procedure,
    Quota,
    User,
)
from tests.app.hub.factories import make_appointment, make_request
from tests.conftest import login

# region.export: a binary .xlsx of aggregates (no patient: tests/app/test_region_office.py).
SKIP = {"static", "main.healthz", "auth.login", "main.index", "region.export"}
# Pages that must show a patient here (so the test cannot pass vacuously).
MUST_SHOW = {
    "main.request_list",
    "main.request_detail",
    "requests.edit_patient",
    "requests.create",
    "requests.slip",
    "requests.cancel",
    "requests.reschedule",
    "hub.day",
    "hub.exams",
    "hub.exam",
    "hub.inbox",
    "hub.request_view",
    "hub.appointment_cancel",
    "hub.appointment_move",
    "hub.day_xlsx",
    "hub.week_xlsx",
    "hub.day_print",
    "hub.calls",
    "hub.appointment_slip",
    "hl7_admin.journal_entry",
    "hl7_admin.outbox_entry",
}


@pytest.fixture
def world(demo):
    """Three patients' requests at the MKH hub: two booked tomorrow, one waiting."""
    db = demo
    now = datetime.now(UTC)
    tomorrow = datetime.combine(local_today() + timedelta(days=1), time(9), tzinfo=local_zone())
    appointment = make_appointment(
        make_request(now=now, patient_name="สมศรี"), ae_title="MKH_US1", start_at=tomorrow
    )
    make_appointment(
        make_request(now=now, patient_name="กัญญารัตน์"),
        ae_title="MKH_US1",
        start_at=tomorrow + timedelta(hours=1),
    )
    make_request(now=now, patient_name="บุญเลิศ")
    pid = f"PID|1||{appointment.patient.id_value}^^^^CID\r"
    db.session.add(
        Hl7InboundMessage(
            received_at=now,
            raw="MSH|^~\\&|HIS|11008|RADBOOK|10707|||ADT^A08|1|P|2.5\r" + pid,
            outcome=Hl7Outcome.ACCEPTED,
            patient_id=appointment.patient_id,
            request_id=appointment.request_id,
            message_type="ADT^A08",
            control_id="1",
        )
    )
    destination = Hl7Destination(name="PACS", host="127.0.0.1", port=1)
    db.session.add(destination)
    db.session.flush()
    db.session.add(
        Hl7OutboxMessage(
            destination_id=destination.id,
            appointment_id=appointment.id,
            event=Hl7OutboundEvent.BOOKED,
            control_id="RB1",
            message_type="OMI^O23",
            payload="MSH|...\r" + pid,
            created_at=now,
            next_attempt_at=now,
        )
    )
    db.session.commit()
    first = lambda model: db.session.scalar(select(model.id).order_by(model.id))  # noqa: E731
    args = {
        "request_id": appointment.request_id,
        "appointment_id": appointment.id,
        "patient_id": appointment.patient_id,
        "entry_id": first(Hl7InboundMessage),
        "row_id": first(Hl7OutboxMessage),
        "device_id": appointment.device_id,
        "hospital_id": first(Hospital),
        "procedure_id": first(Procedure),
        "user_id": first(User),
        "template_id": first(CapacityTemplate),
        "quota_id": first(Quota),
        "metric": "capacity",
        "slug": "admin",
    }
    return db, appointment, args


def _url(app, rule, args, hub_id, day) -> str:
    with app.test_request_context():
        from flask import url_for

        values = {
            k: args[k] for k in rule.arguments if k in args and k not in (rule.defaults or {})
        }
        extra = {"hub": hub_id}
        if rule.endpoint in ("hub.day", "hub.exams", "hub.day_print", "hub.day_xlsx"):
            extra["date"] = day
        return url_for(rule.endpoint, **values, **extra)


def _text_of(response) -> str:
    """The page's text; a spreadsheet's cells (the hub's .xlsx lists show patients too)."""
    if response.mimetype.endswith("spreadsheetml.sheet"):
        from io import BytesIO

        from openpyxl import load_workbook

        book = load_workbook(BytesIO(response.data), read_only=True)
        return "\n".join(
            str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v
        )
    return response.get_data(as_text=True)


def test_every_page_showing_a_patient_records_one_read_naming_them(app, client, world):
    db, appointment, args = world
    login(client, "admin")
    # A patient is on a page when their full Thai name or their full national ID is.
    patients = {
        p.id: (f"{p.given_name_th} {p.family_name_th}", p.id_value)
        for p in db.session.scalars(select(Patient))
    }
    from scheduling.clock import to_local

    local_start = to_local(appointment.start_at).date()  # as the hub's BE date field reads it
    day = f"{local_start.day:02d}/{local_start.month:02d}/{local_start.year + 543}"
    shown_on: dict[str, set[int]] = {}
    tried = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in SKIP or rule.endpoint.startswith("fhir."):
            continue
        if any(args.get(a) is None for a in rule.arguments if a not in (rule.defaults or {})):
            continue
        url = _url(app, rule, args, appointment.hub_hospital_id, day)
        before = db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
        response = client.get(url)
        tried += 1
        assert response.status_code < 500, url
        body = _text_of(response)
        shown = {pid for pid, marks in patients.items() if any(m in body for m in marks)}
        db.session.rollback()
        new = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
        reads = [e for e in new if not e.action.startswith(("auth.", "retention."))]
        assert len(reads) <= 1, (url, [e.action for e in reads])
        for pid in shown:
            named = db.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.id > before, about_patients([pid]))
            )
            assert named == 1, f"{url} shows patient {pid} without an audit event naming them"
        if shown:
            shown_on[rule.endpoint] = shown
    assert tried > 40
    missing = MUST_SHOW - set(shown_on)
    assert not missing, f"pages expected to show a patient but did not: {sorted(missing)}"


def test_the_patient_search_records_one_read_naming_the_patients_found(app, client, world):
    # A POST (patient identifiers stay out of URLs), so not among the GET pages above.
    db, appointment, args = world
    login(client, "admin")
    target = db.session.get(Patient, appointment.patient_id)
    before = db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
    response = client.post("/requests/new", data={"q": target.given_name_th})
    assert f"{target.given_name_th} {target.family_name_th}" in response.get_data(as_text=True)
    db.session.rollback()
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    assert event.action == "patient.search"
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.id == event.id, about_patients([target.id]))
        )
        == 1
    )


def test_a_list_is_one_event_naming_every_patient_on_it(app, client, world):
    db, appointment, args = world
    login(client, "admin")
    before = db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
    assert client.get("/requests").status_code == 200
    db.session.rollback()
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    assert event.action == "request.list" and event.interface.name == "WEB"
    assert event.actor == "admin" and event.user_id is not None
    from scheduling.models import AuditEventPatient, ImagingRequest

    listed = set(
        db.session.scalars(
            select(AuditEventPatient.patient_id).where(AuditEventPatient.audit_event_id == event.id)
        )
    )
    shown = set(
        db.session.scalars(
            select(ImagingRequest.patient_id).where(ImagingRequest.id.in_(event.detail["requests"]))
        )
    )
    assert listed == shown and len(listed) > 1


def test_a_redirect_or_a_refused_page_records_no_read(app, client, world):
    db, appointment, args = world
    login(client, "staff.kosum")  # another hospital's staff
    before = db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
    assert client.get(f"/requests/{appointment.request_id}").status_code == 404
    db.session.rollback()
    assert db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > before)).all() == []
