"""A local stand-in for the LINE Messaging API, for tests, the benchmark and demos.

It answers the endpoints RadBook calls, the way LINE's published OpenAPI description
(line/line-openapi ``messaging-api.yml``) says they behave:

- ``POST /v2/bot/message/push`` — bearer token, ``X-Line-Retry-Key`` (a UUID; a key it
  has already accepted gets 409 with ``X-Line-Accepted-Request-Id``, and the message
  is *not* delivered again), body checked against the SDK's models of the spec;
- ``POST /v2/bot/message/reply`` — a reply token works once;
- ``GET /v2/bot/profile/{userId}``.

Faults are injected per request (``inject(429, 500, ...)``) to exercise backoff,
including "accepted, then the answer was lost" (``ACCEPT_THEN_500``), the case the
retry key exists for. Every accepted message is recorded.

Run it on its own: ``python -m integrations.line.standin --port 8090 --token demo``;
then ``LINE_API_BASE_URL=http://127.0.0.1:8090 LINE_CHANNEL_ACCESS_TOKEN=demo``.
Its ``/_standin/...`` endpoints let another process read what was delivered.
"""

from __future__ import annotations

import argparse
import hmac
import json
import re
import socket
import threading
import uuid
from base64 import b64encode
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scheduling.clock import utcnow

# Fault codes for ``inject``: an HTTP status, or this one, which records the message as
# accepted and then answers 500 (LINE took it, the answer never reached us).
ACCEPT_THEN_500 = -500
# Accept the message, then close the connection without an answer.
ACCEPT_THEN_DROP = -1

_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
MAX_BODY = 2 * 1024 * 1024


@dataclass(frozen=True)
class Accepted:
    """One push or reply LINE would have delivered."""

    endpoint: str  # "push" or "reply"
    to: str | None  # user ID (push) or None (reply)
    reply_token: str | None
    retry_key: str | None
    request_id: str
    messages: list[dict[str, Any]]
    at: datetime
    body: dict[str, Any] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "to": self.to,
            "replyToken": self.reply_token,
            "retryKey": self.retry_key,
            "requestId": self.request_id,
            "messages": self.messages,
            "at": self.at.isoformat(),
        }


def _validate_light(kind: str, body: dict[str, Any]) -> str | None:
    """Required fields and LINE's documented limits, without the schema models (fast)."""
    messages = body.get("messages")
    if kind == "push" and not isinstance(body.get("to"), str):
        return "to is required"
    if kind == "reply" and not isinstance(body.get("replyToken"), str):
        return "replyToken is required"
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return "messages must hold 1-5 message objects"
    for message in messages:
        if not isinstance(message, dict) or message.get("type") not in (
            "text",
            "textV2",
            "sticker",
            "image",
            "video",
            "audio",
            "location",
            "imagemap",
            "template",
            "flex",
            "coupon",
        ):
            return "messages[].type is not a message type"
        if error := _check_message(message):
            return error
    return None


def _validate_with_sdk(kind: str, body: dict[str, Any]) -> str | None:
    """Check a request body against the SDK's models of LINE's OpenAPI schemas.

    Returns an error text, or None. The models are generated from the same
    ``messaging-api.yml``; the stricter JSON-schema check against the YAML itself
    runs in the conformance test when the spec folder is present.
    """
    from linebot.v3.messaging import PushMessageRequest, ReplyMessageRequest

    model = PushMessageRequest if kind == "push" else ReplyMessageRequest
    try:
        parsed = model.from_dict(body)
    except Exception as exc:  # pydantic ValidationError or an unknown discriminator
        return str(exc).splitlines()[0]
    if parsed is None:
        return "empty body"
    for message in body.get("messages", []):
        error = _check_message(message)
        if error:
            return error
    return None


def _check_message(message: dict[str, Any]) -> str | None:
    """Limits LINE documents in prose rather than in the schema."""
    kind = message.get("type")
    if kind == "text" and not (1 <= len(message.get("text", "")) <= 5000):
        return "messages[].text must be 1-5000 characters"
    if kind == "flex":
        alt = message.get("altText", "")
        if not (1 <= len(alt) <= 1500):
            return "messages[].altText must be 1-1500 characters"
        if message.get("contents", {}).get("type") not in ("bubble", "carousel"):
            return "messages[].contents.type must be bubble or carousel"
        for action in _actions(message["contents"]):
            if action.get("type") == "postback" and len(action.get("data", "")) > 300:
                return "postback data longer than 300 characters"
            if "label" in action and len(action["label"]) > 40:
                return "action label longer than 40 characters"
            if action.get("type") == "uri" and not re.match(
                r"^(https?|line|tel):", action.get("uri", "")
            ):
                return "uri action must be http, https, line or tel"
    return None


def _actions(node: Any):
    if isinstance(node, dict):
        if "action" in node and isinstance(node["action"], dict):
            yield node["action"]
        for value in node.values():
            yield from _actions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _actions(item)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A sender killed mid-request (the benchmark's SIGKILL) resets its connections.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LineStandIn:
    """The server and its record. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        access_token: str = "standin-token",
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool | str = True,
    ):
        # validate: True/"full" (the SDK's schema models), "light" (required fields and
        # documented limits only: what the benchmark uses, at ~50x less CPU), False.
        self.access_token = access_token
        self.validate = validate
        self._lock = threading.Lock()
        self._faults: deque[int] = deque()
        self._accepted: list[Accepted] = []
        self._keys: dict[str, str] = {}  # retry key -> request id that accepted it
        self._reply_tokens_used: set[str] = set()
        self.requests = Counter()  # "push 200", "push 409", "push 429", ...
        self.rejected_bodies: list[tuple[str, str]] = []  # (error, raw body)
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LineStandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="line-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LineStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------
    def inject(self, *faults: int) -> None:
        """The next requests (push or reply) get these answers, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    @property
    def accepted(self) -> list[Accepted]:
        with self._lock:
            return list(self._accepted)

    def pushes(self) -> list[Accepted]:
        return [a for a in self.accepted if a.endpoint == "push"]

    def replies(self) -> list[Accepted]:
        return [a for a in self.accepted if a.endpoint == "reply"]

    def messages_to(self, user_id: str) -> list[dict[str, Any]]:
        return [m for a in self.accepted if a.to == user_id for m in a.messages]

    def duplicate_count(self) -> int:
        """Accepted bodies seen more than once (what a patient would see twice)."""
        seen = Counter(
            json.dumps([a.to, a.messages], sort_keys=True, ensure_ascii=False)
            for a in self.accepted
        )
        return sum(n - 1 for n in seen.values() if n > 1)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._accepted.clear()
            self._keys.clear()
            self._reply_tokens_used.clear()
            self.requests.clear()
            self.rejected_bodies.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accepted": len(self._accepted),
                "requests": dict(self.requests),
                "rejected": len(self.rejected_bodies),
            }

    # -- request handling -------------------------------------------------------
    def _take_fault(self) -> int | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _handle_push(self, headers, body: dict[str, Any]) -> tuple[int, dict, dict]:
        key = headers.get("X-Line-Retry-Key")
        if key is not None and not _UUID_RE.match(key):
            return 400, {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}, {}
        fault = self._take_fault()
        if fault is not None and fault > 0:
            return fault, _fault_body(fault), {}
        request_id = uuid.uuid4().hex
        with self._lock:
            if key is not None and key in self._keys:
                return (
                    409,
                    {"message": "The retry key is already accepted"},
                    {"X-Line-Accepted-Request-Id": self._keys[key]},
                )
            if key is not None:
                self._keys[key] = request_id
            self._accepted.append(
                Accepted(
                    "push",
                    body["to"],
                    None,
                    key,
                    request_id,
                    body["messages"],
                    utcnow(),
                    body,
                )
            )
        if fault is not None:
            return fault, {}, {}
        return (
            200,
            {
                "sentMessages": [
                    {"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex}
                    for _ in body["messages"]
                ]
            },
            {"X-Line-Request-Id": request_id},
        )

    def _handle_reply(self, headers, body: dict[str, Any]) -> tuple[int, dict, dict]:
        fault = self._take_fault()
        if fault is not None and fault > 0:
            return fault, _fault_body(fault), {}
        token = body["replyToken"]
        request_id = uuid.uuid4().hex
        with self._lock:
            if token in self._reply_tokens_used:
                return 400, {"message": "Invalid reply token"}, {}
            self._reply_tokens_used.add(token)
            self._accepted.append(
                Accepted(
                    "reply",
                    None,
                    token,
                    None,
                    request_id,
                    body["messages"],
                    utcnow(),
                    body,
                )
            )
        if fault is not None:
            return fault, {}, {}
        return (
            200,
            {"sentMessages": [{"id": str(uuid.uuid4().int)[:18]} for _ in body["messages"]]},
            {"X-Line-Request-Id": request_id},
        )

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's urllib3 pool expects

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes; without this, Nagle's
                # algorithm and the client's delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format, *args):  # noqa: A002 - quiet in tests
                pass

            def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                expected = f"Bearer {standin.access_token}"
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), expected.encode()):
                    self._send(
                        401,
                        {
                            "message": "Authentication failed. Confirm that the "
                            "access token in the authorization header "
                            "is valid."
                        },
                    )
                    return False
                return True

            def _body(self) -> dict | None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(413, {"message": "Request entity too large"})
                    return None
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    self._send(400, {"message": "The request body has 1 error(s)"})
                    return None
                if not isinstance(body, dict):
                    self._send(400, {"message": "The request body has 1 error(s)"})
                    return None
                return body

            def do_POST(self):  # noqa: N802
                path = self.path.split("?")[0]
                if path.startswith("/_standin/"):
                    return self._control_post(path)
                kind = {"/v2/bot/message/push": "push", "/v2/bot/message/reply": "reply"}.get(path)
                if kind is None:
                    return self._send(404, {"message": "Not found"})
                if not self._authorised():
                    return
                body = self._body()
                if body is None:
                    return
                check = _validate_light if standin.validate == "light" else _validate_with_sdk
                if standin.validate and (error := check(kind, body)):
                    with standin._lock:
                        standin.rejected_bodies.append((error, json.dumps(body)))
                        standin.requests[f"{kind} 400"] += 1
                    return self._send(
                        400,
                        {
                            "message": "The request body has 1 error(s)",
                            "details": [{"message": error}],
                        },
                    )
                handler = standin._handle_push if kind == "push" else standin._handle_reply
                status, payload, headers = handler(self.headers, body)
                with standin._lock:
                    standin.requests[f"{kind} {status}"] += 1
                if status == ACCEPT_THEN_DROP:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if status == ACCEPT_THEN_500:
                    status, payload = 500, _fault_body(500)
                self._send(status, payload, headers)

            def do_GET(self):  # noqa: N802
                path = self.path.split("?")[0]
                if path == "/_standin/accepted":
                    return self._send(200, [a.to_json() for a in standin.accepted])
                if path == "/_standin/stats":
                    return self._send(
                        200, {**standin.stats(), "duplicates": standin.duplicate_count()}
                    )
                match = re.fullmatch(r"/v2/bot/profile/(U[0-9a-f]{32})", path)
                if match:
                    if not self._authorised():
                        return
                    return self._send(
                        200,
                        {"userId": match.group(1), "displayName": "LINE user", "language": "th"},
                    )
                self._send(404, {"message": "Not found"})

            def _control_post(self, path: str):
                body = self._body() if path == "/_standin/faults" else {}
                if path == "/_standin/faults" and body is not None:
                    standin.inject(*body.get("faults", []))
                    return self._send(200, {"pending": standin.pending_faults()})
                if path == "/_standin/reset":
                    standin.reset()
                    return self._send(200, {})
                self._send(404, {"message": "Not found"})

        return Handler


def _fault_body(status: int) -> dict[str, str]:
    if status == 429:
        return {"message": "The API rate limit has been exceeded. Try again later."}
    if status >= 500:
        return {"message": "An error occurred on the server."}
    return {"message": "Error"}


def sign(body: bytes | str, channel_secret: str) -> str:
    """The ``X-Line-Signature`` LINE puts on a webhook request."""
    data = body.encode() if isinstance(body, str) else body
    return b64encode(hmac.new(channel_secret.encode(), data, sha256).digest()).decode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local stand-in for the LINE Messaging API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", default="standin-token", help="expected channel access token")
    parser.add_argument(
        "--validate",
        choices=["full", "light", "none"],
        default="full",
        help="full: the SDK's models of LINE's schema; light: required fields "
        "and documented limits",
    )
    args = parser.parse_args(argv)
    standin = LineStandIn(
        access_token=args.token,
        host=args.host,
        port=args.port,
        validate={"full": True, "light": "light", "none": False}[args.validate],
    )
    print(f"LINE stand-in on {standin.base_url} (token {args.token!r})", flush=True)
    try:
        standin._server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
