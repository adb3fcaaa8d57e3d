"""The stand-in behaves as LINE's Messaging API description says."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from integrations.line.standin import LineStandIn


def call(server, path, body, token="t", key=None):
    request = urllib.request.Request(
        server.base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    if key:
        request.add_header("X-Line-Retry-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


PUSH = {"to": "U" + "1" * 32, "messages": [{"type": "text", "text": "สวัสดี"}]}


@pytest.fixture(params=[True, "light"], ids=["full-validation", "light-validation"])
def server(request):
    with LineStandIn(access_token="t", validate=request.param) as s:
        yield s


def test_retry_key_is_accepted_once(server):
    key = str(uuid.uuid4())
    status, body, headers = call(server, "/v2/bot/message/push", PUSH, key=key)
    assert status == 200 and body["sentMessages"]
    status, body, headers = call(server, "/v2/bot/message/push", PUSH, key=key)
    assert status == 409 and headers["X-Line-Accepted-Request-Id"]
    assert len(server.pushes()) == 1


def test_refuses_bad_tokens_keys_and_bodies(server):
    assert call(server, "/v2/bot/message/push", PUSH, token="nope")[0] == 401
    assert call(server, "/v2/bot/message/push", PUSH, key="not-a-uuid")[0] == 400
    assert call(server, "/v2/bot/message/push", {"to": "U1", "messages": []})[0] == 400
    assert (
        call(
            server,
            "/v2/bot/message/push",
            {
                "to": "U1",
                "messages": [{"type": "flex", "altText": "", "contents": {"type": "bubble"}}],
            },
        )[0]
        == 400
    )
    assert (
        call(server, "/v2/bot/message/push", {"to": "U1", "messages": [{"type": "nonsense"}]})[0]
        == 400
    )
    assert server.pushes() == [] and len(server.rejected_bodies) == 3


def test_a_reply_token_works_once_and_faults_are_injected_in_order(server):
    body = {"replyToken": "abc", "messages": [{"type": "text", "text": "hi"}]}
    server.inject(429, 500)
    assert call(server, "/v2/bot/message/reply", body)[0] == 429
    assert call(server, "/v2/bot/message/reply", body)[0] == 500
    assert call(server, "/v2/bot/message/reply", body)[0] == 200
    assert call(server, "/v2/bot/message/reply", body)[0] == 400
    assert len(server.replies()) == 1
