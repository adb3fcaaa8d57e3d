"""The admin outbox page, the menu entry, the slip's link URL, and the demo link."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

from sqlalchemy import func, select

from app.extensions import db as _db
from integrations.line.demo import DEMO_LINE_USER_ID
from integrations.line.linking import link_url_for_appointment
from integrations.line.models import LineMessageKind, LineOutbox, LineOutboxStatus, LinePatientLink
from scheduling.availability import find_slots
from scheduling.booking import book
from scheduling.models import Device, Patient
from scheduling.requests import create_request
from tests.conftest import login
from tests.integrations.line.conftest import book_for, linked_patient
from tests.scheduling.factories import SYSTEM


def test_admin_sees_the_outbox_and_that_line_is_not_connected(client, demo, now, setup):
    patient, _ = linked_patient(now)
    book_for(now, setup, patient)
    login(client, "admin")
    page = client.get("/line/outbox").get_data(as_text=True)
    assert "ยังไม่ได้เชื่อมต่อ LINE" in page
    assert "ยืนยันการนัดตรวจ" in page  # the confirmation's alt text
    assert 'data-status="PENDING">3<' in page
    home = client.get("/requests").get_data(as_text=True)
    assert "/line/outbox" in home and "ข้อความ LINE" in home


def test_others_may_not_see_the_outbox(client, demo):
    login(client, "scheduler.mkh")
    assert client.get("/line/outbox").status_code == 403
    assert "/line/outbox" not in client.get("/requests").get_data(as_text=True)


def test_admin_requeues_a_failed_message(client, demo, now, setup):
    patient, _ = linked_patient(now)
    book_for(now, setup, patient)
    row = _db.session.scalar(
        select(LineOutbox).where(LineOutbox.kind == LineMessageKind.CONFIRMATION)
    )
    row.status, row.last_error = LineOutboxStatus.FAILED, "HTTP 400: bad"
    _db.session.commit()
    old_key = row.retry_key
    login(client, "admin")
    response = client.post(f"/line/outbox/{row.id}/requeue")
    assert response.status_code == 302
    _db.session.expire_all()
    row = _db.session.get(LineOutbox, row.id)
    assert row.status is LineOutboxStatus.PENDING and row.retry_key != old_key


def test_slip_link_url_opens_the_official_account_with_the_code(db, now, setup, app, monkeypatch):
    monkeypatch.setitem(app.config, "LINE_OA_BASIC_ID", "@mkh-radiology")
    patient, _ = linked_patient(now)
    appointment = book_for(now, setup, patient)
    url = link_url_for_appointment(appointment, now)
    assert url.startswith("https://line.me/R/oaMessage/%40mkh-radiology/?")
    assert link_url_for_appointment(appointment, now) == url  # reused, not a new code
    text = unquote(url.split("?", 1)[1])
    assert text.startswith("RB-") and len(text.split()[0]) == 9


def somsri() -> Patient:
    from integrations.line.demo import DEMO_PATIENT_ID_STEM

    return _db.session.scalar(
        select(Patient).where(Patient.id_value.startswith(DEMO_PATIENT_ID_STEM))
    )


def test_demo_links_somsri_idempotently(demo):
    from app.demo import load_demo

    load_demo()
    links = _db.session.scalars(select(LinePatientLink)).all()
    assert len(links) == 1 and links[0].patient_id == somsri().id
    assert links[0].account.line_user_id == DEMO_LINE_USER_ID


def test_booking_somsri_puts_a_thai_confirmation_and_two_reminders_in_the_outbox(demo, now):
    from scheduling.models import Hospital, Procedure

    patient = somsri()
    kudrang = _db.session.scalar(select(Hospital).where(Hospital.code == "11008"))
    procedure = _db.session.scalar(select(Procedure).where(Procedure.code == "US-UPABD"))
    request = create_request(
        SYSTEM, now, patient=patient, procedure=procedure, requesting_hospital_id=kudrang.id
    )
    slot = find_slots(
        now,
        procedure,
        requesting_hospital_id=kudrang.id,
        date_from=(now + timedelta(days=2)).date(),
        limit=1,
    )[0]
    before = _db.session.scalar(select(func.count(LineOutbox.id)))
    appointment = book(SYSTEM, now, request, _db.session.get(Device, slot.device_id), slot.start_at)
    rows = _db.session.scalars(
        select(LineOutbox)
        .where(LineOutbox.appointment_id == appointment.id)
        .order_by(LineOutbox.due_at)
    ).all()
    assert before == 0 and len(rows) == 3
    assert [r.kind for r in rows] == [
        LineMessageKind.CONFIRMATION,
        LineMessageKind.REMINDER,
        LineMessageKind.REMINDER,
    ]
    assert all(r.locale == "th" and r.line_user_id == DEMO_LINE_USER_ID for r in rows)
    assert "สมศรี" in str(rows[0].messages) and "งดน้ำและอาหาร" in str(rows[0].messages)
