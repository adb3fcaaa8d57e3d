"""LINE test fixtures: the stand-in server, a linked patient, a booking, signed webhooks."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db as _db
from integrations.line import linking
from integrations.line.models import LinePatientLink
from integrations.line.standin import LineStandIn, sign
from scheduling.booking import book
from scheduling.clock import utcnow
from scheduling.models import Procedure
from tests.scheduling.factories import (
    SYSTEM,
    create_patient,
    create_req,
    create_setup,
)

SECRET = "test-channel-secret"
TOKEN = "test-access-token"
# Monday 23 Nov 2026, 09:00 Bangkok (02:00 UTC): inside the factories' 08:00-16:00 template.
MON_0900 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
_users = itertools.count(1)


def new_line_user_id() -> str:
    return "U" + uuid.uuid4().hex


@pytest.fixture
def standin(app, monkeypatch):
    """The LINE stand-in, with the app pointed at it (token and channel secret set)."""
    with LineStandIn(access_token=TOKEN) as server:
        monkeypatch.setitem(app.config, "LINE_API_BASE_URL", server.base_url)
        monkeypatch.setitem(app.config, "LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
        monkeypatch.setitem(app.config, "LINE_CHANNEL_SECRET", SECRET)
        yield server


@pytest.fixture
def secret(app, monkeypatch):
    """Only the channel secret: the webhook works, pushes stay in the outbox."""
    monkeypatch.setitem(app.config, "LINE_CHANNEL_SECRET", SECRET)
    monkeypatch.setitem(app.config, "LINE_CHANNEL_ACCESS_TOKEN", "")
    return SECRET


@pytest.fixture
def setup(db, now):
    hub, requester, device, procedure = create_setup(now)
    hub.map_url = "https://maps.google.com/?q=Test+Hub"
    hub.phone = "043-740-993"
    device.room_th, device.room_en = "ห้องอัลตราซาวด์ 1", "Ultrasound room 1"
    procedure.prep_th = "งดน้ำและอาหาร 6 ชั่วโมงก่อนตรวจ"
    procedure.prep_en = "Nothing to eat or drink for 6 hours before."
    _db.session.commit()
    return hub, requester, device, procedure


def link(patient, now: datetime, line_user_id: str | None = None):
    account = linking.account_for(line_user_id or new_line_user_id(), now)
    _db.session.add(LinePatientLink(account=account, patient=patient, linked_at=now))
    _db.session.commit()
    return account


def linked_patient(now: datetime, **values):
    patient = create_patient(**values)
    account = link(patient, now)
    return patient, account


def book_for(now: datetime, setup, patient, start_at: datetime = MON_0900):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure, patient=patient)
    return book(SYSTEM, now, request, device, start_at)


def event_id() -> str:
    return uuid.uuid4().hex.upper()[:26]


def webhook_event(
    kind: str, user_id: str, *, redelivery: bool = False, event_id_: str | None = None, **extra
) -> dict:
    """A webhook event as LINE's webhook.yml describes it."""
    event = {
        "type": kind,
        "mode": "active",
        "timestamp": int(utcnow().timestamp() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": event_id_ or event_id(),
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if kind != "unfollow":
        event["replyToken"] = uuid.uuid4().hex
    if kind == "follow":
        event["follow"] = {"isUnblocked": False}
    event.update(extra)
    return event


def text_event(user_id: str, text: str, **kw) -> dict:
    return webhook_event(
        "message",
        user_id,
        message={
            "type": "text",
            "id": str(next(_users) + 10**15),
            "quoteToken": uuid.uuid4().hex,
            "text": text,
        },
        **kw,
    )


def postback_event(user_id: str, data: str, **kw) -> dict:
    return webhook_event("postback", user_id, postback={"data": data}, **kw)


def post_webhook(client, events: list[dict], secret: str = SECRET, signature: str | None = None):
    body = json.dumps({"destination": "U" + "f" * 32, "events": events}, ensure_ascii=False)
    return client.post(
        "/line/webhook",
        data=body.encode(),
        content_type="application/json",
        headers={"X-Line-Signature": signature if signature is not None else sign(body, secret)},
    )


def procedure_of(appointment) -> Procedure:
    return appointment.request.procedure


def later(now: datetime, **delta) -> datetime:
    return now + timedelta(**delta)
