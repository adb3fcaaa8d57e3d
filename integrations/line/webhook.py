"""The webhook LINE calls: its signature is the authentication (no CSRF token, no login)."""

from __future__ import annotations

import logging

from flask import Blueprint, request

from integrations.line import delivery, settings
from scheduling.clock import utcnow

log = logging.getLogger(__name__)

bp = Blueprint("line_webhook", __name__, url_prefix="/line")

MAX_WEBHOOK_BODY = 1024 * 1024


@bp.post("/webhook")
def webhook():
    """LINE's webhook: the signature is the authentication, so no CSRF token and no login."""
    # The LINE SDK (and the dialogue built on its event models) loads on the first
    # webhook, not when a process starts: half a second that most processes never need.
    from linebot.v3.exceptions import InvalidSignatureError
    from linebot.v3.webhook import WebhookParser

    from integrations.line import dialogue

    secret = settings.setting("LINE_CHANNEL_SECRET")
    signature = request.headers.get("X-Line-Signature", "")
    if not secret or not signature:
        return {"message": "signature required"}, 400
    if (request.content_length or 0) > MAX_WEBHOOK_BODY:
        return {"message": "too large"}, 413
    # A chunked body has no Content-Length: read at most one byte past the limit.
    raw = request.stream.read(MAX_WEBHOOK_BODY + 1)
    if len(raw) > MAX_WEBHOOK_BODY:
        return {"message": "too large"}, 413
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"message": "invalid body"}, 400
    try:
        events = WebhookParser(secret).parse(body, signature)
    except InvalidSignatureError:
        log.warning("LINE webhook with a bad signature from %s", request.remote_addr)
        return {"message": "invalid signature"}, 400
    except (ValueError, KeyError, TypeError, RecursionError):
        # RecursionError: JSON nested thousands deep (found by tests/fuzz).
        return {"message": "invalid body"}, 400
    now = utcnow()
    row_ids = dialogue.handle_events(events, now)
    if row_ids and settings.push_configured():
        try:
            delivery.send_rows_now(row_ids)
        except Exception:  # the rows stay in the outbox; the job sends them
            log.exception("sending LINE replies failed")
    return {}, 200
