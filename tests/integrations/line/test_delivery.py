"""Sending the outbox to the LINE stand-in through line-bot-sdk: once each, whatever fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db as _db
from integrations.line import delivery
from integrations.line.delivery import send_due
from integrations.line.models import LineMessageKind, LineOutbox, LineOutboxStatus
from integrations.line.standin import ACCEPT_THEN_500, ACCEPT_THEN_DROP
from tests.integrations.line.conftest import book_for, linked_patient

AFTER_ALL = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 08:00 Bangkok: all due


def all_rows() -> list[LineOutbox]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(LineOutbox).order_by(LineOutbox.id)))


@pytest.fixture
def booked(db, now, setup):
    patient, account = linked_patient(now)
    appointment = book_for(now, setup, patient)
    return appointment, account


def test_each_message_is_delivered_once_at_its_time(booked, now, standin):
    appointment, account = booked
    report = send_due(now)
    assert report.sent == 1  # only the confirmation is due yet
    assert [p.to for p in standin.pushes()] == [account.line_user_id]
    confirmation = all_rows()[0]
    assert standin.pushes()[0].retry_key == confirmation.retry_key
    assert confirmation.status is LineOutboxStatus.SENT and confirmation.line_request_id

    assert send_due(datetime(2026, 11, 22, 11, 0, tzinfo=UTC)).sent == 1  # Sun 18:00
    assert send_due(AFTER_ALL).sent == 1  # Mon 07:00
    assert send_due(AFTER_ALL).sent == 0
    assert len(standin.pushes()) == 3 and standin.duplicate_count() == 0
    assert {r.status for r in all_rows()} == {LineOutboxStatus.SENT}
    # One audit event per delivered batch, naming the patient whose appointment went out.
    from scheduling.models import AuditEvent, Interface

    sends = _db.session.scalars(select(AuditEvent).where(AuditEvent.action == "line.send")).all()
    assert len(sends) == 3
    assert {(e.interface, e.patient_id) for e in sends} == {
        (Interface.LINE, appointment.patient_id)
    }
    assert sorted(m for e in sends for m in e.detail["messages"]) == [r.id for r in all_rows()]


def test_without_credentials_messages_stay_in_the_outbox(booked, app, monkeypatch):
    monkeypatch.setitem(app.config, "LINE_CHANNEL_ACCESS_TOKEN", "")
    report = send_due(AFTER_ALL)
    assert report.configured is False
    assert {r.status for r in all_rows()} == {LineOutboxStatus.PENDING}


@pytest.mark.parametrize("fault", [429, 500, 503])
def test_429_and_5xx_back_off_and_retry_with_the_same_key(booked, standin, fault):
    standin.inject(fault)
    report = send_due(AFTER_ALL, workers=1)
    rows = all_rows()
    failed = [r for r in rows if r.status is LineOutboxStatus.PENDING]
    assert len(failed) == 1 and failed[0].attempts == 1
    assert failed[0].next_attempt_at > AFTER_ALL  # backed off
    assert f"HTTP {fault}" in failed[0].last_error
    if fault == 429:
        assert report.rate_limited
    # Nothing goes before the backoff has passed; afterwards, the same key goes again.
    assert send_due(AFTER_ALL).sent == 0
    assert send_due(failed[0].next_attempt_at).sent == 1
    keys = [p.retry_key for p in standin.pushes()]
    assert len(keys) == 3 and failed[0].retry_key in keys
    assert standin.duplicate_count() == 0


def test_backoff_grows(booked, standin):
    standin.inject(500, 500, 500)
    moment = AFTER_ALL
    waits = []
    row_id = all_rows()[0].id
    for _ in range(3):
        send_due(moment, only_ids=[row_id])
        row = _db.session.get(LineOutbox, row_id)
        waits.append(row.next_attempt_at - moment)
        moment = row.next_attempt_at
    assert waits[0] < waits[1] < waits[2]
    assert send_due(moment, only_ids=[row_id]).sent == 1


@pytest.mark.parametrize("fault", [ACCEPT_THEN_500, ACCEPT_THEN_DROP])
def test_accepted_but_answer_lost_is_not_sent_twice(booked, standin, fault):
    """LINE took the push but we never heard: the retry gets 409 and counts as delivered."""
    standin.inject(fault)
    send_due(AFTER_ALL, workers=1)
    lost = [r for r in all_rows() if r.status is LineOutboxStatus.PENDING]
    assert len(lost) == 1
    assert send_due(lost[0].next_attempt_at).sent == 1
    row = _db.session.get(LineOutbox, lost[0].id)
    assert row.status is LineOutboxStatus.SENT and "409" in row.last_error
    assert standin.requests["push 409"] == 1
    assert len(standin.pushes()) == 3 and standin.duplicate_count() == 0


def test_a_refused_message_fails_and_an_admin_can_requeue_it(booked, standin):
    standin.inject(400)
    send_due(AFTER_ALL, workers=1)
    failed = [r for r in all_rows() if r.status is LineOutboxStatus.FAILED]
    assert len(failed) == 1 and "HTTP 400" in failed[0].last_error
    old_key = failed[0].retry_key
    delivery.requeue(failed[0], AFTER_ALL)
    _db.session.commit()
    assert send_due(AFTER_ALL).sent == 1
    assert _db.session.get(LineOutbox, failed[0].id).retry_key != old_key


class Crash(Exception):
    pass


def test_crash_after_sending_before_commit_loses_nothing_and_sends_nothing_twice(
    db, now, setup, standin, monkeypatch
):
    patients = [linked_patient(now)[0] for _ in range(5)]
    for hour, patient in enumerate(patients):
        book_for(now, setup, patient, datetime(2026, 11, 23, 2 + hour, 0, tzinfo=UTC))
    assert len(all_rows()) == 15

    def crash(items):
        raise Crash  # the pushes of this batch reached LINE; our commit never happens

    monkeypatch.setattr(delivery, "after_batch_sent", crash)
    with pytest.raises(Crash):
        send_due(AFTER_ALL, batch_size=4)
    assert len(standin.pushes()) == 4
    assert {r.status for r in all_rows()} == {LineOutboxStatus.PENDING}  # rolled back

    monkeypatch.setattr(delivery, "after_batch_sent", None)  # "restart"
    report = send_due(AFTER_ALL, batch_size=4)
    assert report.sent == 15
    assert standin.requests["push 409"] == 4  # the four LINE already had
    assert len(standin.pushes()) == 15 and standin.duplicate_count() == 0
    assert {r.status for r in all_rows()} == {LineOutboxStatus.SENT}


def test_nothing_is_pushed_after_the_retry_key_window(booked, standin):
    row = all_rows()[0]
    row.first_attempt_at = AFTER_ALL - timedelta(hours=30)
    row.attempts = 1
    _db.session.commit()
    send_due(AFTER_ALL, only_ids=[row.id])
    row = _db.session.get(LineOutbox, row.id)
    assert row.status is LineOutboxStatus.FAILED and "window" in row.last_error
    assert standin.pushes() == []


def test_quiet_hours_defer_notices_but_not_reminders(db, setup, standin, app, monkeypatch):
    monkeypatch.setitem(app.config, "LINE_QUIET_HOURS", "21:00-08:00")
    late = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)  # Saturday 22:30 Bangkok
    patient, _ = linked_patient(late)
    book_for(late, setup, patient)
    report = send_due(late)
    assert report.deferred == 1 and standin.pushes() == []
    confirmation = all_rows()[0]
    assert confirmation.next_attempt_at == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 08:00

    assert send_due(datetime(2026, 11, 22, 0, 30, tzinfo=UTC)).sent == 0  # Sun 07:30
    assert send_due(datetime(2026, 11, 22, 1, 0, tzinfo=UTC)).sent == 1  # Sun 08:00
    assert send_due(datetime(2026, 11, 22, 11, 0, tzinfo=UTC)).sent == 1  # Sun 18:00
    # Monday 07:00 Bangkok is still quiet (until 08:00), but a reminder goes on its time.
    report = send_due(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    assert report.sent == 1 and report.deferred == 0
    assert [r.kind for r in all_rows() if r.status is LineOutboxStatus.SENT] == [
        LineMessageKind.CONFIRMATION,
        LineMessageKind.REMINDER,
        LineMessageKind.REMINDER,
    ]


def test_a_late_reminder_obeys_quiet_hours(db, setup, standin, app, monkeypatch):
    monkeypatch.setitem(app.config, "LINE_QUIET_HOURS", "21:00-07:00")
    now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    patient, _ = linked_patient(now)
    book_for(now, setup, patient)
    send_due(now)  # the confirmation
    # The jobs process was down; it comes back at Sunday 23:00, five hours after 18:00.
    report = send_due(datetime(2026, 11, 22, 16, 0, tzinfo=UTC))
    assert report.sent == 0 and report.deferred == 1


def test_opted_out_unlinked_and_past_messages_are_skipped(booked, standin, now):
    appointment, account = booked
    account.opted_out = True
    _db.session.commit()
    report = send_due(now)
    assert report.skipped == 1 and standin.pushes() == []
    assert all_rows()[0].last_error == "patient opted out"
    # Once the exam has begun, any reminder still queued is pointless.
    account.opted_out = False
    _db.session.commit()
    report = send_due(appointment.start_at + timedelta(minutes=1))
    assert report.skipped == 2


def test_dialogue_answers_use_the_reply_token_then_fall_back_to_push(db, now, standin):
    from integrations.line import linking
    from integrations.line.outbox import queue_dialogue

    account = linking.account_for("U" + "a" * 32, now)
    fresh = queue_dialogue(account, now, "สวัสดี", reply_token="r1")
    failing = queue_dialogue(account, now, "ลองอีกครั้ง", reply_token="r2")
    _db.session.commit()
    send_due(now, only_ids=[fresh.id], workers=1)
    assert [r.reply_token for r in standin.replies()] == ["r1"]

    standin.inject(500)  # the reply fails outright: pushed instead, with the retry key
    send_due(now, only_ids=[failing.id], workers=1)
    row = _db.session.get(LineOutbox, failing.id)
    assert row.status is LineOutboxStatus.SENT
    assert [p.retry_key for p in standin.pushes()] == [row.retry_key]


def test_a_reply_interrupted_midway_is_never_sent_again(db, now, standin):
    from integrations.line import linking
    from integrations.line.outbox import queue_dialogue

    account = linking.account_for("U" + "b" * 32, now)
    row = queue_dialogue(account, now, "สวัสดี", reply_token="r3")
    row.reply_attempted_at = now  # committed before the call; the process died during it
    row.attempts = 1
    _db.session.commit()
    send_due(now + timedelta(seconds=5))
    row = _db.session.get(LineOutbox, row.id)
    assert row.status is LineOutboxStatus.FAILED and standin.accepted == []


def test_no_answer_at_all_is_retried_later(booked, app, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setitem(app.config, "LINE_CHANNEL_ACCESS_TOKEN", "t")
    report = send_due(AFTER_ALL, workers=1)
    assert report.retried == 3 and report.failed == 0
    row = all_rows()[0]
    assert row.status is LineOutboxStatus.PENDING and row.next_attempt_at > AFTER_ALL
