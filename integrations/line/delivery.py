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

from sqlalchemy import or_, select, update

from integrations.line import settings
from integrations.line.models import (
    LineAccount,
    LineMessageKind,
    LineOutbox,
    LineOutboxStatus,
    LinePatientLink,
)
from scheduling.audit import Actor, record_read
from scheduling.clock import local_datetime, to_local, utcnow
from scheduling.db import db
from scheduling.models import Appointment, AppointmentStatus, Interface

log = logging.getLogger(__name__)

RETRY_WINDOW = timedelta(hours=23)  # LINE keeps a retry key for 24 h; keep a margin
REPLY_TOKEN_FRESH = timedelta(seconds=50)  # reply tokens last about a minute
QUIET_GRACE = timedelta(hours=1)  # a reminder late by more than this obeys quiet hours
MAX_ATTEMPTS = 12
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
HTTP_TIMEOUT = (3.0, 10.0)  # connect, read (seconds)


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
        bearer = configuration.auth_settings()["Bearer"]
        self._headers = {
            **self._api_client.default_headers,
            bearer["key"]: bearer["value"],
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        self._push_url = configuration.host + "/v2/bot/message/push"

    def close(self) -> None:
        self._api_client.close()

    def push(self, item: Outgoing) -> Outcome:
        """``POST /v2/bot/message/push`` with the row's retry key.

        Goes out through the SDK's own REST client (its urllib3 pool, its
        ``ApiException`` on errors), with the headers ``ApiClient`` would add (user
        agent, bearer token from ``Configuration.auth_settings``). It skips two SDK
        steps that re-walk the stored message JSON and cost more than the round trip
        itself: parsing it into pydantic models (~2 ms a Flex message) and
        ``sanitize_for_serialization`` (~0.5 ms). The JSON was composed by
        ``messages.py``; the tests check it against LINE's schema.
        """
        headers = {**self._headers, "X-Line-Retry-Key": item.retry_key}
        body = {"to": item.to, "messages": item.messages}
        return self._call(
            lambda: self._api_client.rest_client.request(
                "POST", self._push_url, headers=headers, body=body, _request_timeout=HTTP_TIMEOUT
            )
        )

    def reply(self, item: Outgoing) -> Outcome:
        from linebot.v3.messaging import ReplyMessageRequest

        request = ReplyMessageRequest.from_dict(
            {"replyToken": item.reply_token, "messages": item.messages}
        )
        outcome = self._call(
            lambda: self.api.reply_message_with_http_info(request, _request_timeout=HTTP_TIMEOUT)
        )
        return Outcome(outcome.status, outcome.request_id, outcome.error, via_reply=True)

    @staticmethod
    def _call(send: Callable) -> Outcome:
        from linebot.v3.messaging import ApiException

        try:
            response = send()
        except ApiException as exc:
            if not exc.status:  # the SDK's status 0: TLS failure, no HTTP answer at all
                return Outcome(None, error=f"no answer: {exc.reason}"[:500])
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
            return Outcome(
                exc.status,
                headers.get("x-line-accepted-request-id") or headers.get("x-line-request-id"),
                _error_text(exc.status, body),
            )
        except Exception as exc:  # connection refused, reset, timeout: no answer at all
            return Outcome(None, error=f"{type(exc).__name__}: {exc}"[:500])
        # An ApiResponse (typed SDK calls) or a RESTResponse (push).
        raw = response.headers if hasattr(response, "status_code") else response.getheaders()
        headers = {k.lower(): v for k, v in (raw or {}).items()}
        status = getattr(response, "status_code", None) or response.status
        return Outcome(status, headers.get("x-line-request-id"))


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
    return LineClient(
        settings.setting("LINE_CHANNEL_ACCESS_TOKEN"),
        settings.api_base_url(),
        pool_size=settings.int_setting("LINE_SEND_WORKERS"),
    )


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


# Columns a send needs. Rows are handled as plain values and written back with one
# bulk UPDATE per step: building ORM objects and flushing them one by one cost more
# than the pushes themselves (about 1 ms a row).
_COLUMNS = (
    "id",
    "kind",
    "line_user_id",
    "patient_id",
    "appointment_id",
    "messages",
    "due_at",
    "quiet_exempt",
    "retry_key",
    "reply_token",
    "reply_attempted_at",
    "attempts",
    "first_attempt_at",
    "created_at",
)


class _Row:
    """A claimed outbox row; ``set`` records what the next bulk UPDATE writes."""

    __slots__ = (*_COLUMNS, "changes")

    def __init__(self, values: Iterable) -> None:
        for name, value in zip(_COLUMNS, values, strict=True):
            setattr(self, name, value)
        self.changes: dict = {}

    def set(self, **values) -> None:
        for name, value in values.items():
            if name in _COLUMNS:
                setattr(self, name, value)
        self.changes.update(values)


def _write(rows: list[_Row]) -> None:
    changed = [{"id": row.id, **row.changes} for row in rows if row.changes]
    # Rows with the same set of changed columns go in one executemany.
    groups: dict[tuple, list[dict]] = {}
    for values in changed:
        groups.setdefault(tuple(sorted(values)), []).append(values)
    for group in groups.values():
        db.session.execute(update(LineOutbox), group)
    for row in rows:
        row.changes = {}


@dataclass
class _BatchFacts:
    """What the policy checks need for a batch, in three queries rather than per row."""

    accounts: dict[str, tuple[int, bool, bool]]  # LINE user id -> (id, following, opted out)
    links: set[tuple[int, int]]  # (account id, patient id)
    appointments: dict[int, tuple[datetime, AppointmentStatus]]

    @classmethod
    def load(cls, rows: list[_Row]) -> _BatchFacts:
        user_ids = {row.line_user_id for row in rows}
        accounts = {
            user_id: (account_id, following, opted_out)
            for account_id, user_id, following, opted_out in db.session.execute(
                select(
                    LineAccount.id,
                    LineAccount.line_user_id,
                    LineAccount.is_following,
                    LineAccount.opted_out,
                ).where(LineAccount.line_user_id.in_(user_ids))
            )
        }
        patient_ids = {row.patient_id for row in rows if row.patient_id is not None}
        links = (
            {
                (account_id, patient_id)
                for account_id, patient_id in db.session.execute(
                    select(LinePatientLink.account_id, LinePatientLink.patient_id).where(
                        LinePatientLink.patient_id.in_(patient_ids)
                    )
                )
            }
            if patient_ids
            else set()
        )
        appointment_ids = {row.appointment_id for row in rows if row.appointment_id}
        appointments = (
            {
                appointment_id: (start_at, status)
                for appointment_id, start_at, status in db.session.execute(
                    select(Appointment.id, Appointment.start_at, Appointment.status).where(
                        Appointment.id.in_(appointment_ids)
                    )
                )
            }
            if appointment_ids
            else {}
        )
        return cls(accounts, links, appointments)


def _skip_reason(row: _Row, now: datetime, facts: _BatchFacts) -> str | None:
    """Why a row must not go out any more, checked at send time (things change)."""
    account = facts.accounts.get(row.line_user_id)
    if account is None or not account[1]:
        return "LINE user unfollowed or blocked the account"
    if row.kind is LineMessageKind.DIALOGUE:
        return None
    if account[2]:
        return "patient opted out"
    if row.patient_id is not None and (account[0], row.patient_id) not in facts.links:
        return "patient no longer linked to this LINE user"
    if row.appointment_id is not None and row.appointment_id in facts.appointments:
        start_at, status = facts.appointments[row.appointment_id]
        if start_at <= now:
            return "appointment time has passed"
        if row.kind is not LineMessageKind.CANCELLED and status is not AppointmentStatus.BOOKED:
            return f"appointment is {status.value}"
    return None


# -- the send loop -------------------------------------------------------------------------
def _due_rows(now: datetime, limit: int, only_ids: Iterable[int] | None) -> list[_Row]:
    query = (
        select(*(getattr(LineOutbox, name) for name in _COLUMNS))
        .where(
            LineOutbox.status == LineOutboxStatus.PENDING,
            LineOutbox.due_at <= now,
            or_(LineOutbox.next_attempt_at.is_(None), LineOutbox.next_attempt_at <= now),
        )
        .order_by(LineOutbox.due_at, LineOutbox.id)
        .limit(limit)
    )
    if only_ids is not None:
        query = query.where(LineOutbox.id.in_(list(only_ids)))
    # Two senders (a stray second jobs process) skip each other's rows on PostgreSQL.
    return [_Row(values) for values in db.session.execute(query.with_for_update(skip_locked=True))]


def _record(row: _Row, outcome: Outcome, now: datetime, report: SendReport) -> None:
    report.statuses[outcome.status or "no-answer"] += 1
    if outcome.status in (200, 409):
        # 409: LINE already accepted this retry key, so the patient has the message.
        row.set(
            status=LineOutboxStatus.SENT,
            sent_at=now,
            last_attempt_at=now,
            line_request_id=outcome.request_id,
            last_error=None if outcome.status == 200 else "409: accepted earlier (retry key)",
        )
        report.sent += 1
        return
    row.set(last_attempt_at=now, last_error=outcome.error or f"HTTP {outcome.status}")
    if outcome.via_reply:
        # The reply failed outright; the push path (with the retry key) takes over.
        row.set(reply_token=None, next_attempt_at=now)
        report.reply_fallbacks += 1
        return
    transient = outcome.status is None or outcome.status == 429 or outcome.status >= 500
    if transient and row.attempts < MAX_ATTEMPTS:
        row.set(next_attempt_at=now + backoff(row.attempts))
        report.retried += 1
        if outcome.status == 429:
            report.rate_limited = True
        return
    row.set(status=LineOutboxStatus.FAILED)
    report.failed += 1


def _audit_sent(rows: list[_Row], now: datetime) -> None:
    """One audit event per batch naming the patients whose messages LINE accepted
    (their appointment details left for the LINE platform), in the batch's commit."""
    sent = [row for row in rows if row.changes.get("status") is LineOutboxStatus.SENT]
    record_read(
        Actor(Interface.LINE, name="push"),
        "line.send",
        now,
        (row.patient_id for row in sent),
        messages=[row.id for row in sent],
    )


def _prepare(rows: list[_Row], now: datetime, report: SendReport) -> list[Outgoing]:
    """Apply policy to claimed rows; return what should be sent now."""
    quiet_end = in_quiet_hours(now)
    facts = _BatchFacts.load(rows)
    outgoing = []
    for row in rows:
        if reason := _skip_reason(row, now, facts):
            row.set(status=LineOutboxStatus.SKIPPED, last_error=reason)
            report.skipped += 1
            continue
        if row.first_attempt_at is not None and now - row.first_attempt_at > RETRY_WINDOW:
            row.set(
                status=LineOutboxStatus.FAILED,
                last_error="not delivered within the retry-key window; not sent again",
            )
            report.failed += 1
            continue
        if row.reply_token and row.reply_attempted_at is not None:
            row.set(
                status=LineOutboxStatus.FAILED,
                last_error="stopped during a reply; whether it arrived is unknown",
            )
            report.failed += 1
            continue
        exempt = row.quiet_exempt and now - row.due_at <= QUIET_GRACE
        if quiet_end is not None and not exempt and row.kind is not LineMessageKind.DIALOGUE:
            row.set(next_attempt_at=quiet_end)
            report.deferred += 1
            continue
        use_reply = bool(row.reply_token) and now - row.created_at <= REPLY_TOKEN_FRESH
        if row.reply_token and not use_reply:
            row.set(reply_token=None)  # too old to use; push instead
        if use_reply:
            row.set(reply_attempted_at=now)
        elif row.first_attempt_at is None:
            row.set(first_attempt_at=now)
        row.set(attempts=row.attempts + 1)
        outgoing.append(
            Outgoing(
                row.id,
                row.line_user_id,
                row.messages,
                row.retry_key,
                row.reply_token if use_reply else None,
            )
        )
    return outgoing


def _send_all(
    client: LineClient, items: list[Outgoing], pool: ThreadPoolExecutor | None
) -> list[Outcome]:
    def send(item: Outgoing) -> Outcome:
        return client.reply(item) if item.reply_token else client.push(item)

    if pool is None or len(items) <= 1:
        return [send(item) for item in items]
    return list(pool.map(send, items))


# A test hook: called after each batch's HTTP calls and before its commit, the moment
# a crash costs the most. Tests raise from it to kill the sender there.
after_batch_sent: Callable[[list[Outgoing]], None] | None = None


def send_due(
    now: datetime | None = None,
    *,
    client: LineClient | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    max_batches: int | None = None,
    only_ids: Iterable[int] | None = None,
) -> SendReport:
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
    pool = (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="line-send")
        if workers > 1
        else None
    )
    try:
        while max_batches is None or batches < max_batches:
            now = fixed_now or utcnow()
            rows = _due_rows(now, batch_size, only_ids)
            if not rows:
                break
            batches += 1
            batch = SendReport()
            outgoing = _prepare(rows, now, batch)
            _write(rows)
            # first_attempt_at / reply_attempted_at must be durable before anything leaves.
            db.session.commit()
            if outgoing:
                outcomes = _send_all(client, outgoing, pool)
                if after_batch_sent is not None:
                    after_batch_sent(outgoing)
                by_id = {row.id: row for row in rows}
                for item, outcome in zip(outgoing, outcomes, strict=True):
                    _record(by_id[item.row_id], outcome, now, batch)
                _audit_sent([by_id[item.row_id] for item in outgoing], now)
                _write(rows)
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
        log.info(
            "LINE outbox: %s sent, %s retried, %s failed, %s skipped, %s deferred",
            report.sent,
            report.retried,
            report.failed,
            report.skipped,
            report.deferred,
        )


def outbox_counts() -> dict[LineOutboxStatus, int]:
    from sqlalchemy import func

    counts = dict(
        db.session.execute(
            select(LineOutbox.status, func.count(LineOutbox.id)).group_by(LineOutbox.status)
        ).all()
    )
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
