"""The webhook: signatures, redeliveries, the linking dialogue, unlinking, button answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from integrations.line.inbox import mark_reply_handled, pending_patient_replies
from integrations.line.linking import code_for_appointment
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
from scheduling.audit import Actor
from scheduling.models import AuditEvent, Interface
from tests.conftest import login
from tests.integrations.line.conftest import (
    book_for,
    linked_patient,
    new_line_user_id,
    post_webhook,
    postback_event,
    text_event,
    webhook_event,
)
from tests.scheduling.factories import create_patient, create_user


def count(model) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


def replies_to(standin) -> list[str]:
    return [m["text"] for r in standin.replies() for m in r.messages]


@pytest.fixture
def booked(db, now, setup):
    """A patient born 14 Mar 1968 (14/03/2511), booked but not yet on LINE."""
    from datetime import date

    patient = create_patient(birth_date=date(1968, 3, 14))
    appointment = book_for(now, setup, patient)
    return appointment, code_for_appointment(appointment, now)


# -- signatures ------------------------------------------------------------------------
def test_bad_signature_gets_400_and_nothing_is_processed(client, secret):
    user = new_line_user_id()
    response = post_webhook(client, [webhook_event("follow", user)], secret="wrong-secret")
    assert response.status_code == 400
    response = post_webhook(client, [webhook_event("follow", user)], signature="")
    assert response.status_code == 400
    assert count(LineAccount) == 0 and count(LineWebhookEvent) == 0 and count(LineOutbox) == 0


def test_without_a_channel_secret_everything_is_refused(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LINE_CHANNEL_SECRET", "")
    response = post_webhook(client, [webhook_event("follow", new_line_user_id())], secret="x")
    assert response.status_code == 400 and count(LineAccount) == 0


def test_line_console_verify_call_with_no_events_is_ok(client, secret):
    assert post_webhook(client, []).status_code == 200


def test_webhook_is_exempt_from_csrf_but_the_admin_page_is_not(
    client, secret, app, monkeypatch, demo
):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert post_webhook(client, []).status_code == 200
    login(client, "admin")  # the login form itself needs a token, so log in first
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/line/outbox/1/requeue").status_code == 400


# -- follow, redelivery ----------------------------------------------------------------
def test_follow_greets_in_thai_once_even_when_redelivered(client, standin):
    user = new_line_user_id()
    event = webhook_event("follow", user)
    assert post_webhook(client, [event]).status_code == 200
    redelivered = dict(event, deliveryContext={"isRedelivery": True})
    assert post_webhook(client, [redelivered]).status_code == 200
    assert count(LineWebhookEvent) == 1
    texts = replies_to(standin)
    assert len(texts) == 1 and "รหัสเชื่อมต่อ" in texts[0]
    assert standin.replies()[0].reply_token == event["replyToken"]


def test_answers_stay_in_the_outbox_without_an_access_token(client, secret):
    post_webhook(client, [webhook_event("follow", new_line_user_id())])
    row = _db.session.scalar(select(LineOutbox))
    assert row.kind is LineMessageKind.DIALOGUE and row.status is LineOutboxStatus.PENDING


# -- linking ---------------------------------------------------------------------------
@pytest.mark.parametrize("birth_date", ["14/03/2511", "14/3/1968", "14 มี.ค. 2511", "๑๔/๐๓/๒๕๑๑"])
def test_link_with_code_and_birth_date_then_confirmation_and_reminders(
    client, standin, booked, birth_date
):
    appointment, code = booked
    user = new_line_user_id()
    post_webhook(client, [webhook_event("follow", user)])
    post_webhook(client, [text_event(user, f"RB-{code.code} เชื่อมต่อการแจ้งนัด")])
    assert "วันเดือนปีเกิด" in replies_to(standin)[-1]
    assert count(LinePatientLink) == 0  # the code alone links nothing

    post_webhook(client, [text_event(user, birth_date)])
    assert "เชื่อมต่อเรียบร้อยแล้ว" in replies_to(standin)[-1]
    link = _db.session.scalar(select(LinePatientLink))
    assert link.patient_id == appointment.patient_id and link.account.line_user_id == user
    _db.session.refresh(code)
    assert code.used_at is not None
    queued = _db.session.scalars(
        select(LineOutbox.kind).where(LineOutbox.appointment_id == appointment.id)
    ).all()
    assert sorted(k.value for k in queued) == ["confirmation", "reminder", "reminder"]
    assert _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "line.link"))


def test_a_code_works_once(client, standin, booked):
    appointment, code = booked
    first, second = new_line_user_id(), new_line_user_id()
    post_webhook(client, [text_event(first, f"RB-{code.code}")])
    post_webhook(client, [text_event(first, "14/03/2511")])
    post_webhook(client, [text_event(second, code.code)])
    assert "ไม่ถูกต้องหรือหมดอายุ" in replies_to(standin)[-1]
    assert _db.session.scalar(select(LinePatientLink)).account.line_user_id == first


def test_wrong_birth_dates_revoke_the_code(client, standin, booked):
    appointment, code = booked
    user = new_line_user_id()
    post_webhook(client, [text_event(user, f"RB-{code.code}")])
    post_webhook(client, [text_event(user, "15/03/2511")])
    assert "ไม่ตรง" in replies_to(standin)[-1]
    post_webhook(client, [text_event(user, "hello")])
    assert "วัน/เดือน/ปี" in replies_to(standin)[-1]  # not a date: asked again, not counted
    post_webhook(client, [text_event(user, "14/03/2512")])
    post_webhook(client, [text_event(user, "14/03/1969")])
    assert "ขอใบนัดใหม่" in replies_to(standin)[-1]
    _db.session.refresh(code)
    assert code.revoked and code.failed_checks == 3
    post_webhook(client, [text_event(user, f"RB-{code.code}")])
    post_webhook(client, [text_event(user, "14/03/2511")])  # even the right date, too late
    assert count(LinePatientLink) == 0


def test_guessing_codes_locks_the_account(client, standin, db):
    user = new_line_user_id()
    for guess in ("AB2CDE", "AB3CDE", "AB4CDE", "AB5CDE", "AB6CDE"):
        post_webhook(client, [text_event(user, guess)])
    post_webhook(client, [text_event(user, "AB7CDE")])
    assert "1 ชั่วโมง" in replies_to(standin)[-1]
    account = _db.session.scalar(select(LineAccount))
    assert account.locked_until is not None


def test_expired_code_is_refused(client, standin, booked, now):
    appointment, code = booked
    code.expires_at = now - timedelta(minutes=1)
    _db.session.commit()
    post_webhook(client, [text_event(new_line_user_id(), f"RB-{code.code}")])
    assert "หมดอายุ" in replies_to(standin)[-1]


# -- unlinking, opt-out, language ----------------------------------------------------------
def test_unlink_on_request_cancels_pending_messages(client, standin, db, now, setup):
    patient, account = linked_patient(now)
    appointment = book_for(now, setup, patient)
    post_webhook(client, [text_event(account.line_user_id, "ยกเลิกการเชื่อมต่อ")])
    assert "ยกเลิกการเชื่อมต่อแล้ว" in replies_to(standin)[-1]
    assert count(LinePatientLink) == 0
    statuses = set(
        _db.session.scalars(
            select(LineOutbox.status).where(LineOutbox.appointment_id == appointment.id)
        )
    )
    assert statuses == {LineOutboxStatus.CANCELLED}


def test_unfollow_unlinks(client, standin, db, now, setup):
    patient, account = linked_patient(now)
    book_for(now, setup, patient)
    post_webhook(client, [webhook_event("unfollow", account.line_user_id)])
    _db.session.expire_all()
    assert count(LinePatientLink) == 0
    assert _db.session.get(LineAccount, account.id).is_following is False
    assert standin.accepted == []  # no reply to an unfollow, and nothing pushed


def test_stop_and_start_and_english(client, standin, db, now, setup):
    patient, account = linked_patient(now)
    post_webhook(client, [text_event(account.line_user_id, "หยุดแจ้งเตือน")])
    _db.session.expire_all()
    assert _db.session.get(LineAccount, account.id).opted_out is True
    post_webhook(client, [text_event(account.line_user_id, "รับแจ้งเตือน")])
    post_webhook(client, [text_event(account.line_user_id, "English")])
    _db.session.expire_all()
    assert _db.session.get(LineAccount, account.id).opted_out is False
    assert patient.preferred_language == "en"
    assert replies_to(standin)[-1] == "Messages will now be sent in English."


# -- button answers ----------------------------------------------------------------------
def test_confirm_and_change_reach_the_hub_inbox_once(client, standin, db, now, setup):
    hub = setup[0]
    patient, account = linked_patient(now)
    appointment = book_for(now, setup, patient)
    data = f"radbook=confirm&appointment={appointment.id}"
    post_webhook(client, [postback_event(account.line_user_id, data)])
    post_webhook(client, [postback_event(account.line_user_id, data)])  # a second tap
    post_webhook(
        client,
        [postback_event(account.line_user_id, f"radbook=change&appointment={appointment.id}")],
    )
    inbox = pending_patient_replies(hub.id)
    assert [(r.kind, r.appointment_id, r.request_id) for r in inbox] == [
        (LineReplyKind.CONFIRM, appointment.id, appointment.request_id),
        (LineReplyKind.CHANGE, appointment.id, appointment.request_id),
    ]
    assert pending_patient_replies(setup[1].id) == []
    assert "มาตามนัด" in replies_to(standin)[0] and "ติดต่อกลับ" in replies_to(standin)[-1]
    actions = set(
        _db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("line.reply_%")))
    )
    assert actions == {"line.reply_confirm", "line.reply_change"}

    scheduler = create_user(hub)
    mark_reply_handled(Actor(interface=Interface.WEB, user=scheduler), now, inbox[1])
    assert [r.kind for r in pending_patient_replies(hub.id)] == [LineReplyKind.CONFIRM]


def test_postback_for_someone_elses_appointment_is_ignored(client, standin, db, now, setup):
    patient, _ = linked_patient(now)
    appointment = book_for(now, setup, patient)
    stranger = new_line_user_id()
    post_webhook(client, [postback_event(stranger, f"radbook=change&appointment={appointment.id}")])
    assert count(LinePatientReply) == 0
    assert "ไม่มีผลแล้ว" in replies_to(standin)[-1]


def test_unknown_event_types_are_acknowledged(client, standin):
    event = webhook_event(
        "beacon", new_line_user_id(), beacon={"hwid": "d41d8cd98f", "type": "enter"}
    )
    assert post_webhook(client, [event]).status_code == 200


def test_code_is_reused_until_used(db, now, booked):
    appointment, code = booked
    assert code_for_appointment(appointment, now).id == code.id
    code.used_at = now
    _db.session.commit()
    assert code_for_appointment(appointment, now).id != code.id
    assert count(LineLinkCode) == 2
