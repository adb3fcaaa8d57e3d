"""The LINE webhook with the inputs that gave 500s (issue 14): correctly signed events
carrying an appointment id past any integer, a userId longer than the column, JSON
nested 50,000 deep; and a chunked body past the 1 MB limit, sent to a real server."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from integrations.line.models import LineAccount, LineWebhookEvent
from integrations.line.standin import sign
from tests.integrations.line.conftest import (
    SECRET,
    linked_patient,
    new_line_user_id,
    post_webhook,
    postback_event,
    text_event,
    webhook_event,
)


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_postback_with_an_appointment_id_past_any_integer(client, secret, db, now):
    _patient, account = linked_patient(now)
    for appointment in ("9" * 30, "-" + "9" * 30, "2147483648", "1e9", "๑"):
        response = post_webhook(
            client,
            [postback_event(account.line_user_id, f"radbook=confirm&appointment={appointment}")],
        )
        assert response.status_code == 200, appointment


@pytest.mark.parametrize("user_id", ["U" + "a" * 64, "U" + "b" * 5000, "", "ไลน์", "U\x00"])
def test_a_user_id_no_line_account_has_is_ignored(client, secret, db, user_id):
    response = post_webhook(
        client,
        [webhook_event("follow", user_id), text_event(user_id, "สวัสดี")],
    )
    assert response.status_code == 200
    assert _count(db, LineAccount) == 0
    # The other events of the same delivery are still answered.
    good = new_line_user_id()
    response = post_webhook(
        client, [webhook_event("follow", "U" + "c" * 80), webhook_event("follow", good)]
    )
    assert response.status_code == 200
    assert db.session.scalar(select(LineAccount.line_user_id)) == good


def test_json_nested_fifty_thousand_deep_is_a_bad_request(client, secret, db):
    body = '{"destination": "U1", "events": ' + "[" * 50_000 + "]" * 50_000 + "}"
    response = client.post(
        "/line/webhook",
        data=body.encode(),
        content_type="application/json",
        headers={"X-Line-Signature": sign(body, SECRET)},
    )
    assert response.status_code == 400
    assert _count(db, LineWebhookEvent) == 0


def _serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 1_200_000, 5 * 1024 * 1024])
def test_a_chunked_body_past_the_limit_is_413_on_a_real_server(app, secret, db, size):
    """No Content-Length: the limit must hold while the body streams in."""
    event = webhook_event("follow", new_line_user_id())
    padding = " " * (size - 200)
    body = json.dumps({"destination": "U1", "events": [event]})[:-1] + padding + "}"
    server, thread = _serve(app)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)

        def chunks():
            data = body.encode()
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]

        try:
            conn.request(
                "POST",
                "/line/webhook",
                body=chunks(),
                headers={
                    "Content-Type": "application/json",
                    "X-Line-Signature": sign(body, SECRET),
                    "Transfer-Encoding": "chunked",
                },
                encode_chunked=True,
            )
            status = conn.getresponse().status
        except (BrokenPipeError, ConnectionResetError):
            status = 413  # the server answered and closed before the body was all sent
        finally:
            conn.close()
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    assert status == 413
    assert _count(db, LineWebhookEvent) == 0


def test_a_chunked_body_within_the_limit_is_processed(app, secret, db):
    user = new_line_user_id()
    body = json.dumps({"destination": "U1", "events": [webhook_event("follow", user)]})
    server, thread = _serve(app)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        conn.request(
            "POST",
            "/line/webhook",
            body=iter([body.encode()]),
            headers={
                "Content-Type": "application/json",
                "X-Line-Signature": sign(body, SECRET),
                "Transfer-Encoding": "chunked",
            },
            encode_chunked=True,
        )
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    db.session.expire_all()
    assert db.session.scalar(select(LineAccount.line_user_id)) == user
