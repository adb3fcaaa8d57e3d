"""Booking changes put LINE messages into the outbox, in the booking's own transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db as _db
from integrations.line.models import LineMessageKind, LineOutbox, LineOutboxStatus
from scheduling.booking import book, cancel_appointment, reschedule
from tests.integrations.line.conftest import MON_0900, book_for, link, linked_patient
from tests.scheduling.factories import SYSTEM, create_patient, create_req


def rows(**filters) -> list[LineOutbox]:
    query = select(LineOutbox).order_by(LineOutbox.due_at, LineOutbox.id)
    for name, value in filters.items():
        query = query.where(getattr(LineOutbox, name) == value)
    return list(_db.session.scalars(query))


def flex_text(row: LineOutbox) -> str:
    return json.dumps(row.messages, ensure_ascii=False)


def test_booking_a_linked_patient_queues_confirmation_and_two_reminders(db, now, setup):
    hub, requester, device, procedure = setup
    patient, account = linked_patient(now)
    appointment = book_for(now, setup, patient)

    queued = rows(appointment_id=appointment.id)
    assert [r.kind for r in queued] == [
        LineMessageKind.CONFIRMATION,
        LineMessageKind.REMINDER,
        LineMessageKind.REMINDER,
    ]
    confirmation, day_before, same_day = queued
    assert confirmation.due_at == now
    # 18:00 the day before and 07:00 on the day, Bangkok time (UTC+7).
    assert day_before.due_at == datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
    assert same_day.due_at == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert all(
        r.status is LineOutboxStatus.PENDING and r.line_user_id == account.line_user_id
        for r in queued
    )
    assert len({r.retry_key for r in queued}) == 3  # each row its own key, from the start


def test_confirmation_is_thai_flex_with_buddhist_era_date_and_everything_needed(db, now, setup):
    hub, requester, device, procedure = setup
    patient, _ = linked_patient(now)
    appointment = book_for(now, setup, patient)
    confirmation = rows(kind=LineMessageKind.CONFIRMATION)[0]

    message = confirmation.messages[0]
    assert message["type"] == "flex"
    assert message["altText"] == confirmation.summary
    assert "2569" in message["altText"] and "09:00 น." in message["altText"]
    body = flex_text(confirmation)
    for expected in (
        "วันจันทร์ที่ 23 พฤศจิกายน 2569",
        "09:00 น.",
        hub.name_th,
        "ห้องอัลตราซาวด์ 1",
        procedure.prep_th,
        appointment.appointment_code,
        "https://maps.google.com/?q=Test+Hub",
        "tel:043740993",
    ):
        assert expected in body
    actions = [b["action"] for b in message["contents"]["footer"]["contents"]]
    assert {a["data"] for a in actions if a["type"] == "postback"} == {
        f"radbook=confirm&appointment={appointment.id}",
        f"radbook=change&appointment={appointment.id}",
    }


def test_reminders_repeat_the_preparation(db, now, setup):
    patient, _ = linked_patient(now)
    book_for(now, setup, patient)
    day_before, same_day = rows(kind=LineMessageKind.REMINDER)
    assert "พรุ่งนี้" in day_before.summary and "วันนี้" in same_day.summary
    for reminder in (day_before, same_day):
        assert setup[3].prep_th in flex_text(reminder)


def test_english_for_a_patient_who_chose_it(db, now, setup):
    patient, _ = linked_patient(now, preferred_language="en", given_name_en="Somchai")
    book_for(now, setup, patient)
    confirmation = rows(kind=LineMessageKind.CONFIRMATION)[0]
    body = flex_text(confirmation)
    assert confirmation.locale == "en"
    assert "Monday, 23 Nov 2026" in body and "2569" not in body
    assert setup[3].prep_en in body and "Ultrasound room 1" in body
    assert confirmation.summary.startswith("Appointment booked")


def test_unlinked_or_opted_out_patients_get_nothing(db, now, setup):
    book_for(now, setup, create_patient())
    patient, account = linked_patient(now)
    account.opted_out = True
    _db.session.commit()
    book_for(now, setup, patient, MON_0900 + timedelta(hours=2))
    assert rows() == []


def test_nothing_is_queued_when_the_booking_rolls_back(db, now, setup):
    hub, requester, device, procedure = setup
    patient, _ = linked_patient(now)
    request = create_req(now, requester, procedure, patient=patient)
    book(SYSTEM, now, request, device, MON_0900, commit=False)
    assert _db.session.scalar(select(func.count(LineOutbox.id))) == 3  # in the transaction
    _db.session.rollback()
    assert _db.session.scalar(select(func.count(LineOutbox.id))) == 0


def test_reminders_already_past_are_not_queued(db, setup):
    # Booked on Sunday 22 Nov at 19:00 for Monday 09:00: the 18:00 reminder has gone by.
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    patient, _ = linked_patient(now)
    book_for(now, setup, patient)
    reminders = rows(kind=LineMessageKind.REMINDER)
    assert [r.dedupe_key.split(":", 3)[3] for r in reminders] == ["0@07:00"]


def test_reminder_times_are_configurable(db, now, setup, app, monkeypatch):
    monkeypatch.setitem(app.config, "LINE_REMINDERS", "-2@10:00,-1@20:00")
    patient, _ = linked_patient(now)
    book_for(now, setup, patient)
    due = [r.due_at for r in rows(kind=LineMessageKind.REMINDER)]
    # Saturday 10:00 and Sunday 20:00 Bangkok time.
    assert due == [
        datetime(2026, 11, 21, 3, 0, tzinfo=UTC),
        datetime(2026, 11, 22, 13, 0, tzinfo=UTC),
    ]


def test_reschedule_withdraws_old_messages_and_queues_new_ones(db, now, setup):
    hub, requester, device, procedure = setup
    patient, _ = linked_patient(now)
    first = book_for(now, setup, patient)
    moved_to = MON_0900 + timedelta(days=1, hours=2)
    second = reschedule(SYSTEM, now, first, device, moved_to, reason="เครื่องเสีย")

    old = rows(appointment_id=first.id)
    assert {r.status for r in old} == {LineOutboxStatus.CANCELLED}
    new = rows(appointment_id=second.id)
    assert [r.kind for r in new] == [
        LineMessageKind.RESCHEDULED,
        LineMessageKind.REMINDER,
        LineMessageKind.REMINDER,
    ]
    notice = flex_text(new[0])
    assert "วันอังคารที่ 24 พฤศจิกายน 2569" in notice and "11:00 น." in notice
    assert "23 พ.ย. 2569" in notice  # where it was before


def test_cancellation_withdraws_reminders_and_sends_a_notice(db, now, setup):
    patient, _ = linked_patient(now)
    appointment = book_for(now, setup, patient)
    cancel_appointment(SYSTEM, now, appointment, "ผู้ป่วยขอยกเลิก")
    statuses = {(r.kind, r.status) for r in rows(appointment_id=appointment.id)}
    assert statuses == {
        (LineMessageKind.CONFIRMATION, LineOutboxStatus.CANCELLED),
        (LineMessageKind.REMINDER, LineOutboxStatus.CANCELLED),
        (LineMessageKind.CANCELLED, LineOutboxStatus.PENDING),
    }
    notice = rows(kind=LineMessageKind.CANCELLED)[0]
    assert "ยกเลิก" in notice.summary


def test_linking_after_booking_queues_once(db, now, setup):
    from integrations.line.outbox import queue_booking_messages

    patient = create_patient()
    appointment = book_for(now, setup, patient)
    assert rows() == []
    link(patient, now)
    queue_booking_messages(appointment, now)
    queue_booking_messages(appointment, now)  # dedupe keys: a repeat adds nothing
    _db.session.commit()
    assert len(rows()) == 3
