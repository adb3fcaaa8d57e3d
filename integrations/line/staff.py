"""Staff notifications pushed to a hospital's staff LINE group.

The core writes ``staff_notification`` rows (``scheduling.notifications``); this job
picks up the new ones of hospitals that have a group (``LineStaffGroup``), adds an
outbox row for each (``LineStaffPush``, with its retry key) and pushes them through
line-bot-sdk's client (``delivery.LineClient``) with the Messaging API's push to the
group. LINE Notify no longer exists: the Official Account must be a member of the group.

Same rules as the patient outbox: a retry key per row, so a lost answer never sends
twice (409 = delivered); 429/5xx back off; other 4xx fail for an admin to look at.
The text names the order number and procedure, never the patient (a group chat is not
a place for patient identity; the app shows the rest to those who may see it).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, select

from integrations.line import delivery
from integrations.line.models import LineOutboxStatus, LineStaffGroup, LineStaffPush
from scheduling.audit import Actor, record
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.errors import ValidationFailed
from scheduling.i18n import N_, translate
from scheduling.models import Interface, StaffNotification
from scheduling.notifications import text_of

log = logging.getLogger(__name__)

GROUP_ID_PREFIXES = ("C", "R")  # group chats, multi-person chats
BATCH = 100


def set_group(
    actor: Actor, now: datetime, hospital_id: int, group_id: str, *, enabled: bool = True
) -> LineStaffGroup | None:
    """Set (or, with an empty id, remove) the hospital's staff group; audited, committed."""
    group_id = (group_id or "").strip()
    row = db.session.get(LineStaffGroup, hospital_id)
    if not group_id:
        if row is not None:
            db.session.delete(row)
            record(actor, "line.staff_group_remove", now, hospital_id=hospital_id)
        db.session.commit()
        return None
    if not group_id.startswith(GROUP_ID_PREFIXES) or len(group_id) > 64 or not group_id.isalnum():
        raise ValidationFailed(
            N_("A LINE group id starts with C and has letters and digits only"), code="group-id"
        )
    if row is None:
        row = LineStaffGroup(hospital_id=hospital_id, since=now)
        db.session.add(row)
    row.group_id = group_id
    row.is_enabled = enabled
    row.updated_at = now
    record(actor, "line.staff_group_set", now, hospital_id=hospital_id, enabled=enabled)
    db.session.commit()
    return row


def queue_new(now: datetime) -> int:
    """Outbox rows for notifications of hospitals with an enabled group, not queued yet."""
    pushed = select(LineStaffPush.notification_id).where(
        LineStaffPush.notification_id == StaffNotification.id
    )
    found = db.session.execute(
        select(StaffNotification.id, StaffNotification.hospital_id, LineStaffGroup.group_id)
        .join(
            LineStaffGroup,
            and_(
                LineStaffGroup.hospital_id == StaffNotification.hospital_id,
                LineStaffGroup.is_enabled.is_(True),
                StaffNotification.created_at >= LineStaffGroup.since,
            ),
        )
        .where(~pushed.exists())
        .order_by(StaffNotification.id)
        .limit(BATCH)
    ).all()
    db.session.add_all(
        LineStaffPush(
            notification_id=notification_id,
            hospital_id=hospital_id,
            group_id=group_id,
            status=LineOutboxStatus.PENDING,
            created_at=now,
            next_attempt_at=now,
        )
        for notification_id, hospital_id, group_id in found
    )
    db.session.commit()
    return len(found)


def message_of(notification: StaffNotification) -> list[dict]:
    """The group's text: Thai first, then English, then the reason (typed by staff, as
    it was typed) under a label in both languages."""
    lines = ["RadBook: " + text_of(notification, "th"), text_of(notification, "en")]
    if notification.reason:
        label = " / ".join(translate(N_("Reason"), locale) for locale in ("th", "en"))
        lines.append(f"{label}: {notification.reason}")
    return [{"type": "text", "text": "\n".join(lines)[:5000]}]


def push_due(now: datetime | None = None, client: delivery.LineClient | None = None) -> dict:
    """Queue the new notifications, then push what is due; returns counts."""
    now = now or utcnow()
    counts = {"queued": queue_new(now), "sent": 0, "retry": 0, "failed": 0}
    own_client = client is None
    client = client or delivery.make_client()
    if client is None:
        return counts  # no LINE credentials: rows wait, as the patient outbox does
    try:
        rows = db.session.scalars(
            select(LineStaffPush)
            .where(
                LineStaffPush.status == LineOutboxStatus.PENDING,
                LineStaffPush.next_attempt_at <= now,
            )
            .order_by(LineStaffPush.id)
            .limit(BATCH)
        ).all()
        for row in rows:
            notification = db.session.get(StaffNotification, row.notification_id)
            outcome = client.push(
                delivery.Outgoing(row.id, row.group_id, message_of(notification), row.retry_key)
            )
            counts[_settle(row, outcome, now)] += 1
        db.session.commit()
    finally:
        if own_client:
            client.close()
    return counts


def _settle(row: LineStaffPush, outcome: delivery.Outcome, now: datetime) -> str:
    row.attempts += 1
    if outcome.status in (200, 409):
        row.status, row.sent_at, row.last_error = LineOutboxStatus.SENT, now, None
        record(
            Actor(interface=Interface.LINE, name="staff-group"),
            "line.staff_push",
            now,
            entity=row,
            hospital_id=row.hospital_id,
            notification=row.notification_id,
        )
        return "sent"
    row.last_error = outcome.error or f"HTTP {outcome.status}"
    retryable = outcome.status is None or outcome.status == 429 or outcome.status >= 500
    if retryable and row.attempts < delivery.MAX_ATTEMPTS:
        row.next_attempt_at = now + delivery.backoff(row.attempts)
        return "retry"
    row.status = LineOutboxStatus.FAILED
    return "failed"


def push_job(app) -> None:
    counts = push_due()
    if counts["sent"] or counts["failed"]:
        log.info("LINE staff groups: %s", counts)
