"""Sending the outbox to LINE with line-bot-sdk 3, at most once per row.

Exactly-once toward the patient rests on two facts:
- every row has its ``X-Line-Retry-Key`` from the moment it is queued, and every push of
  that row carries it; LINE delivers a key once and answers 409 to a repeat (treated as
  delivered). A crash after LINE accepted a push but before our commit therefore ends,
  on the next run, in a 409 instead of a second message;
- LINE keeps retry keys for 24 hours, so a row whose first attempt is older than
  ``RETRY_WINDOW`` is never pushed again (``first_attempt_at`` is committed *before*
  the first push), it is marked failed for an admin to look at.

Replies in the linking chat use the free reply API while their token is fresh. A
reply token works once, so a reply can never arrive twice either; if a reply failed
outright, the row falls back to a push with its retry key. If the process stopped
*during* a reply, whether it arrived is unknown and the row is not sent again.

Rows are claimed in batches; the HTTP calls of a batch run in a small thread pool
(only plain data crosses into the threads), results are written back and committed
once per batch. 429 and 5xx back off exponentially; a 429 also ends the run.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import defer, selectinload

from app.extensions import db
from app.models import (
    AppointmentStatus,
    LineAccount,
    LineMessageKind,
    LineOutbox,
    LineOutboxStatus,
    LinePatientLink,
)
from app.timeutil import local_datetime, to_local, utcnow
from integrations.line import settings

log = logging.getLogger(__name__)

RETRY_WINDOW = timedelta(hours=23)  # LINE keeps a retry key for 24 h; keep a margin
REPLY_TOKEN_FRESH = timedelta(seconds=50)  # reply tokens last about a minute
QUIET_GRACE = timedelta(hours=1)  # a reminder late by more than this obeys quiet hours
MAX_ATTEMPTS = 12
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
HTTP_TIMEOUT = (3.0, 10.0)  # connect, read (seconds)
PUSH_RESPONSE_TYPES = {  # as in MessagingApi.push_message_with_http_info
    "200": "PushMessageResponse", "400": "ErrorResponse", "403": "ErrorResponse",
    "409": "ErrorResponse", "429": "ErrorResponse",
}


@dataclass(frozen=True)
class Outgoing:
    """What a worker thread needs to send one row; no ORM objects cross threads."""

    row_id: int
    to: str
    messages: list[dict]
    retry_key: str
    reply_token: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: int | None  # HTTP status, None when no answer came
    request_id: str | None = None
    error: str | None = None
    via_reply: bool = False


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    reply_fallbacks: int = 0
    rate_limited: bool = False
    configured: bool = True
    statuses: Counter = field(default_factory=Counter)

    def merge(self, other: SendReport) -> None:
        for name in ("sent", "retried", "failed", "skipped", "deferred", "reply_fallbacks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rate_limited |= other.rate_limited
        self.statuses.update(other.statuses)


# -- the real client ---------------------------------------------------------------------
class LineClient:
    """line-bot-sdk 3 ``MessagingApi``, pointed at ``LINE_API_BASE_URL``."""

    def __init__(self, access_token: str, base_url: str, pool_size: int = 8):
        from linebot.v3.messaging import ApiClient, Configuration, MessagingApi

        configuration = Configuration(host=base_url, access_token=access_token)
        configuration.retries = False  # retries are ours: the outbox decides when and whether
        configuration.connection_pool_maxsize = max(pool_size, 1)
        self._api_client = ApiClient(configuration)
        self.api = MessagingApi(self._api_client)

    def close(self) -> None:
        self._api_client.close()

    def push(self, item: Outgoing) -> Outcome:
        """``POST /v2/bot/message/push`` with the row's retry key.

        Sent through the SDK's own ``ApiClient`` (host, bearer token, urllib3 pool,
        ``ApiException`` on errors) exactly as ``MessagingApi.push_message_with_http_info``
        does, but with the stored message JSON as the body: re-parsing every Flex
        message into the SDK's pydantic-v1 models costs about 2 ms, more than the
        round trip, and the JSON was composed by ``messages.py`` (whose output the
        tests check against LINE's schema).
        """
        headers = {"X-Line-Retry-Key": item.retry_key, "Accept": "application/json",
                   "Content-Type": "application/json"}
        return self._call(lambda: self._api_client.call_api(
            "/v2/bot/message/push", "POST", {}, [], headers,
            body={"to": item.to, "messages": item.messages}, post_params=[], files={},
            response_types_map=PUSH_RESPONSE_TYPES, auth_settings=["Bearer"],
            _request_timeout=HTTP_TIMEOUT, collection_formats={}))

    def reply(self, item: Outgoing) -> Outcome:
        from linebot.v3.messaging import ReplyMessageRequest

        request = ReplyMessageRequest.from_dict(
            {"replyToken": item.reply_token, "messages": item.messages}
        )
        outcome = self._call(lambda: self.api.reply_message_with_http_info(
            request, _request_timeout=HTTP_TIMEOUT))
        return Outcome(outcome.status, outcome.request_id, outcome.error, via_reply=True)

    @staticmethod
    def _call(send: Callable) -> Outcome:
        from linebot.v3.messaging import ApiException

        try:
            response = send()
        except ApiException as exc:
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
            return Outcome(exc.status, headers.get("x-line-accepted-request-id")
                           or headers.get("x-line-request-id"), _error_text(exc.status, body))
        except Exception as exc:  # connection refused, reset, timeout: no answer at all
            return Outcome(None, error=f"{type(exc).__name__}: {exc}"[:500])
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return Outcome(response.status_code, headers.get("x-line-request-id"))


def _error_text(status: int | None, body: str | None) -> str:
    try:
        message = json.loads(body or "{}").get("message", "")
        details = json.loads(body or "{}").get("details") or []
        if details:
            message += " " + "; ".join(d.get("message", "") for d in details)
    except (ValueError, AttributeError):
        message = (body or "")[:200]
    return f"HTTP {status}: {message}".strip()[:500]


def make_client() -> LineClient | None:
    if not settings.push_configured():
        return None
    return LineClient(settings.setting("LINE_CHANNEL_ACCESS_TOKEN"), settings.api_base_url(),
                      pool_size=settings.int_setting("LINE_SEND_WORKERS"))


# -- policy --------------------------------------------------------------------------------
def in_quiet_hours(now: datetime, window: tuple[time, time] | None = None) -> datetime | None:
    """The end of the quiet period ``now`` falls in, or None outside it."""
    window = window if window is not None else settings.quiet_hours()
    if window is None:
        return None
    start, end = window
    local = to_local(now)
    clock = local.time()
    if start <= end:
        inside = start <= clock < end
    else:  # runs past midnight, e.g. 21:00-07:00
        inside = clock >= start or clock < end
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return local_datetime(end_day, end)


def backoff(attempts: int) -> timedelta:
    delay = min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)
    # Jitter so that rows pushed back together do not all come back together.
    return delay * (0.8 + 0.4 * random.random())


@dataclass
class _BatchFacts:
    """Accounts and links for a batch, read in two queries rather than two per row."""

    accounts: dict[str, LineAccount]
    links: set[tuple[int, int]]  # (account id, patient id)

    @classmethod
    def load(cls, rows: list[LineOutbox]) -> _BatchFacts:
        user_ids = {row.line_user_id for row in rows}
        accounts = {a.line_user_id: a for a in db.session.scalars(
            select(LineAccount).where(LineAccount.line_user_id.in_(user_ids)))}
        patient_ids = {row.patient_id for row in rows if row.patient_id is not None}
        links = {(account_id, patient_id) for account_id, patient_id in db.session.execute(
            select(LinePatientLink.account_id, LinePatientLink.patient_id)
            .where(LinePatientLink.patient_id.in_(patient_ids))
        )} if patient_ids else set()
        return cls(accounts, links)


def _skip_reason(row: LineOutbox, now: datetime, facts: _BatchFacts) -> str | None:
    """Why a row must not go out any more, checked at send time (things change)."""
    account = facts.accounts.get(row.line_user_id)
    if account is None or not account.is_following:
        return "LINE user unfollowed or blocked the account"
    if row.kind is LineMessageKind.DIALOGUE:
        return None
    if account.opted_out:
        return "patient opted out"
    if row.patient_id is not None and (account.id, row.patient_id) not in facts.links:
        return "patient no longer linked to this LINE user"
    appointment = row.appointment
    if appointment is not None:
        if appointment.start_at <= now:
            return "appointment time has passed"
        if row.kind is not LineMessageKind.CANCELLED and appointment.status is not (
            AppointmentStatus.BOOKED
        ):
            return f"appointment is {appointment.status.value}"
    return None


# -- the send loop -------------------------------------------------------------------------
def _due_rows(now: datetime, limit: int, only_ids: Iterable[int] | None) -> list[LineOutbox]:
    query = (
        select(LineOutbox)
        .where(LineOutbox.status == LineOutboxStatus.PENDING, LineOutbox.due_at <= now,
               or_(LineOutbox.next_attempt_at.is_(None), LineOutbox.next_attempt_at <= now))
        .order_by(LineOutbox.due_at, LineOutbox.id)
        .limit(limit)
        .options(selectinload(LineOutbox.appointment))
    )
    if only_ids is not None:
        query = query.where(LineOutbox.id.in_(list(only_ids)))
    # Two senders (a stray second jobs process) skip each other's rows on PostgreSQL.
    return list(db.session.scalars(query.with_for_update(skip_locked=True)))


def _record(row: LineOutbox, outcome: Outcome, now: datetime, report: SendReport) -> None:
    report.statuses[outcome.status or "no-answer"] += 1
    row.last_attempt_at = now
    if outcome.status in (200, 409):
        # 409: LINE already accepted this retry key, so the patient has the message.
        row.status = LineOutboxStatus.SENT
        row.sent_at = now
        row.line_request_id = outcome.request_id
        row.last_error = None if outcome.status == 200 else "409: accepted earlier (retry key)"
        report.sent += 1
        return
    row.last_error = outcome.error or f"HTTP {outcome.status}"
    if outcome.via_reply:
        # The reply failed outright; the push path (with the retry key) takes over.
        row.reply_token = None
        row.next_attempt_at = now
        report.reply_fallbacks += 1
        return
    transient = outcome.status is None or outcome.status == 429 or outcome.status >= 500
    if transient and row.attempts < MAX_ATTEMPTS:
        row.next_attempt_at = now + backoff(row.attempts)
        report.retried += 1
        if outcome.status == 429:
            report.rate_limited = True
        return
    row.status = LineOutboxStatus.FAILED
    report.failed += 1


def _prepare(rows: list[LineOutbox], now: datetime, report: SendReport) -> list[Outgoing]:
    """Apply policy to claimed rows; return what should be sent now."""
    quiet_end = in_quiet_hours(now)
    facts = _BatchFacts.load(rows)
    outgoing = []
    for row in rows:
        if reason := _skip_reason(row, now, facts):
            row.status, row.last_error = LineOutboxStatus.SKIPPED, reason
            report.skipped += 1
            continue
        if row.first_attempt_at is not None and now - row.first_attempt_at > RETRY_WINDOW:
            row.status = LineOutboxStatus.FAILED
            row.last_error = "not delivered within the retry-key window; not sent again"
            report.failed += 1
            continue
        if row.reply_token and row.reply_attempted_at is not None:
            row.status = LineOutboxStatus.FAILED
            row.last_error = "stopped during a reply; whether it arrived is unknown"
            report.failed += 1
            continue
        exempt = row.quiet_exempt and now - row.due_at <= QUIET_GRACE
        if quiet_end is not None and not exempt and row.kind is not LineMessageKind.DIALOGUE:
            row.next_attempt_at = quiet_end
            report.deferred += 1
            continue
        use_reply = bool(row.reply_token) and now - row.created_at <= REPLY_TOKEN_FRESH
        if row.reply_token and not use_reply:
            row.reply_token = None  # too old to use; push instead
        if use_reply:
            row.reply_attempted_at = now
        else:
            row.first_attempt_at = row.first_attempt_at or now
        row.attempts += 1
        outgoing.append(Outgoing(row.id, row.line_user_id, row.messages, row.retry_key,
                                 row.reply_token if use_reply else None))
    return outgoing


def _send_all(client: LineClient, items: list[Outgoing],
              pool: ThreadPoolExecutor | None) -> list[Outcome]:
    def send(item: Outgoing) -> Outcome:
        return client.reply(item) if item.reply_token else client.push(item)

    if pool is None or len(items) <= 1:
        return [send(item) for item in items]
    return list(pool.map(send, items))


# A test hook: called after each batch's HTTP calls and before its commit, the moment
# a crash costs the most. Tests raise from it to kill the sender there.
after_batch_sent: Callable[[list[Outgoing]], None] | None = None


def send_due(now: datetime | None = None, *, client: LineClient | None = None,
             batch_size: int | None = None, workers: int | None = None,
             max_batches: int | None = None, only_ids: Iterable[int] | None = None) -> SendReport:
    """Send every due row, batch by batch; returns what happened. Commits per batch."""
    report = SendReport()
    own_client = client is None
    client = client or make_client()
    if client is None:
        report.configured = False
        return report
    batch_size = batch_size or settings.int_setting("LINE_SEND_BATCH")
    workers = workers or settings.int_setting("LINE_SEND_WORKERS")
    fixed_now = now
    batches = 0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="line-send") \
        if workers > 1 else None
    try:
        while max_batches is None or batches < max_batches:
            now = fixed_now or utcnow()
            rows = _due_rows(now, batch_size, only_ids)
            if not rows:
                break
            batches += 1
            batch = SendReport()
            outgoing = _prepare(rows, now, batch)
            # first_attempt_at / reply_attempted_at must be durable before anything leaves.
            db.session.commit()
            if outgoing:
                outcomes = _send_all(client, outgoing, pool)
                if after_batch_sent is not None:
                    after_batch_sent(outgoing)
                by_id = {row.id: row for row in db.session.scalars(
                    select(LineOutbox).where(LineOutbox.id.in_([o.row_id for o in outgoing]))
                    .options(defer(LineOutbox.messages))  # big JSON, not needed to record
                )}
                for item, outcome in zip(outgoing, outcomes, strict=True):
                    _record(by_id[item.row_id], outcome, now, batch)
                db.session.commit()
            report.merge(batch)
            # Every claimed row has left the due set (sent, skipped, failed, or given a
            # later next_attempt_at), so the loop always moves on.
            if batch.rate_limited:
                break  # LINE wants us slower: the next run continues
            if len(rows) < batch_size and not batch.reply_fallbacks:
                break
    except Exception:
        db.session.rollback()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        if own_client:
            client.close()
    return report


def send_rows_now(row_ids: Iterable[int]) -> SendReport:
    """Send particular rows at once (the webhook's replies), if LINE is configured."""
    ids = list(row_ids)
    if not ids:
        return SendReport()
    return send_due(only_ids=ids, workers=1)


def send_job(app) -> None:
    """The periodic job (``app/jobs.py`` registry): send what is due, log the figures."""
    report = send_due()
    if report.configured and (report.sent or report.failed or report.retried):
        log.info("LINE outbox: %s sent, %s retried, %s failed, %s skipped, %s deferred",
                 report.sent, report.retried, report.failed, report.skipped, report.deferred)


def outbox_counts() -> dict[LineOutboxStatus, int]:
    from sqlalchemy import func

    counts = dict(db.session.execute(
        select(LineOutbox.status, func.count(LineOutbox.id)).group_by(LineOutbox.status)
    ).all())
    return {status: counts.get(status, 0) for status in LineOutboxStatus}


def requeue(row: LineOutbox, now: datetime) -> None:
    """An admin sends a failed row again: a new retry key, because the old one may be spent."""
    import uuid

    row.status = LineOutboxStatus.PENDING
    row.retry_key = str(uuid.uuid4())
    row.attempts = 0
    row.first_attempt_at = None
    row.next_attempt_at = now
    row.reply_token = None
    row.reply_attempted_at = None
