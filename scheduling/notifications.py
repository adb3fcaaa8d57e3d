"""Tell a hospital's staff what happened to their requests (in-app, and by any adapter).

``notify_hospital`` adds a row to the current session, so a notification exists exactly
when the change it describes is committed (call it inside the operation's transaction,
or from an ``scheduling.events`` subscriber). Adapters that carry notifications further
(the LINE adapter pushing to a hospital's staff group) read ``staff_notification`` rows
from their own outbox job; the core knows nothing of them.

Reading is per user and scoped to the user's own hospital: a user never sees, counts or
marks another hospital's notifications, whatever id they send.

The unread count is shown on every page. The web loads it with the user, in the same
query (``unread_count_column``, kept with ``remember_unread``), so a page runs no
statement of its own for it. That count is the database's at the start of the request:
``unread_count`` returns it unless this session has since written notifications or
reads (``notify_hospital``, ``mark_read``, or any other writer calling
``forget_unread``), in which case it counts again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select

from scheduling.audit import Actor
from scheduling.db import db
from scheduling.i18n import translate
from scheduling.models import User
from scheduling.models.notifications import StaffNotification, StaffNotificationRead
from scheduling.tx import check_aware


def notify_hospital(
    hospital_id: int,
    kind: str,
    now: datetime,
    *,
    message: str,
    params: Mapping[str, object] | None = None,
    request_id: int | None = None,
    reason: str | None = None,
    actor: Actor | None = None,
) -> StaffNotification:
    """Queue a notification for every user of ``hospital_id`` (not committed here).

    ``message`` is an English msgid marked with ``N_``; ``params`` fill its ``%(name)s``
    placeholders when it is shown.
    """
    check_aware(now)
    forget_unread()
    row = StaffNotification(
        hospital_id=hospital_id,
        kind=kind,
        request_id=request_id,
        message=message,
        params=dict(params) if params else None,
        reason=reason,
        created_at=now,
        actor=actor.label if actor is not None else None,
    )
    db.session.add(row)
    return row


def text_of(row: StaffNotification, locale: str = "th") -> str:
    """The notification's message in ``locale``."""
    return translate(row.message, locale, **(row.params or {}))


# The unread count loaded with the user (an attribute of that User object only) and the
# session flag that says this session has changed notifications since.
_PRELOADED = "_radbook_unread_notifications"
_CHANGED = "radbook_notifications_changed"


def _unread_clause(user_id):
    return (
        ~select(StaffNotificationRead.notification_id)
        .where(
            StaffNotificationRead.notification_id == StaffNotification.id,
            StaffNotificationRead.user_id == user_id,
        )
        .exists()
    )


def _count_unread(user_id, hospital_id):
    return (
        select(func.count())
        .select_from(StaffNotification)
        .where(StaffNotification.hospital_id == hospital_id, _unread_clause(user_id))
    )


def unread_count_column() -> ColumnElement[int]:
    """The unread count of the ``User`` row a query selects, as a column to add to it
    (a correlated subquery; 0 for a user without a hospital)."""
    return _count_unread(User.id, User.hospital_id).scalar_subquery()


def remember_unread(user: User, count: int) -> None:
    """Keep the count loaded with ``user`` (``unread_count_column``) for this request."""
    user.__dict__[_PRELOADED] = count


def forget_unread() -> None:
    """This session changes notifications or reads: counts loaded before are stale."""
    db.session.info[_CHANGED] = True


def unread_count(user: User) -> int:
    """How many of the user's hospital's notifications this user has not read."""
    if user.hospital_id is None:
        return 0
    known = user.__dict__.get(_PRELOADED)
    if known is not None and not db.session.info.get(_CHANGED):
        return known
    return db.session.scalar(_count_unread(user.id, user.hospital_id))


def for_user(
    user: User, *, limit: int = 50, offset: int = 0
) -> list[tuple[StaffNotification, bool]]:
    """The user's hospital's notifications, newest first, each with whether it is unread."""
    if user.hospital_id is None:
        return []
    read = StaffNotificationRead
    rows = db.session.execute(
        select(StaffNotification, read.notification_id)
        .outerjoin(
            read,
            and_(read.notification_id == StaffNotification.id, read.user_id == user.id),
        )
        .where(StaffNotification.hospital_id == user.hospital_id)
        .order_by(StaffNotification.created_at.desc(), StaffNotification.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(row, read_id is None) for row, read_id in rows]


def mark_read(user: User, now: datetime, ids: Iterable[int] | None = None) -> int:
    """Mark ``ids`` (or every unread one) read for this user; returns how many changed.

    Ids of another hospital's notifications are ignored, not an error: they are simply
    not the user's to mark.
    """
    check_aware(now)
    if user.hospital_id is None:
        return 0
    forget_unread()
    query = select(StaffNotification.id).where(
        StaffNotification.hospital_id == user.hospital_id, _unread_clause(user.id)
    )
    if ids is not None:
        wanted = [i for i in ids if isinstance(i, int)]
        if not wanted:
            return 0
        query = query.where(StaffNotification.id.in_(wanted))
    todo = list(db.session.scalars(query))
    db.session.add_all(
        StaffNotificationRead(notification_id=i, user_id=user.id, read_at=now) for i in todo
    )
    return len(todo)
