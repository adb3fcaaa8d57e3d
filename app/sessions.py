"""Server-side sessions (ASVS 3.3.1, 3.3.3): a login ends on the server, not only in
the browser.

Flask's session is a signed cookie: on its own, a copy taken before logout would keep
working until it times out. Each login therefore gets a row (``UserSession``) and the
cookie a random id naming it; the user loader accepts the cookie only while that row
is open. Logout ends the row; a password change ends the user's other rows; an admin's
password reset or disable ends them all (``User.end_sessions`` changes the account's
token too, as before). The idle and absolute timeouts (``app.security``) end the row
as well, so a copy of the cookie kept busy elsewhere dies with the original.

Outside the ``app.auth`` package (whose import pulls in its routes) so that
``app.security`` can use it without an import cycle.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, session
from sqlalchemy import ForeignKey, Index, String, delete, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from scheduling.db import Base
from scheduling.models import User
from scheduling.models.types import UTCDateTime
from scheduling.notifications import remember_unread, unread_count_column

SESSION_KEY = "_radbook_sid"


class UserSession(Base):
    """One login: ended on the server at logout, password change, disable or timeout.

    The cookie carries a random session id; only its SHA-256 is kept here, so a copy of
    the database does not let anyone in. A cookie whose row is ended or gone (purged
    after the absolute timeout) is no longer a login, wherever it was copied to.
    """

    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_user_open", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # logout, password-changed, password-reset, disabled, idle, absolute
    end_reason: Mapped[str | None] = mapped_column(String(20))


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def start(user: User, now: datetime, remote_addr: str | None) -> None:
    """A new server-side session for this login; its id goes into the cookie."""
    sid = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            sid_sha256=_digest(sid),
            user_id=user.id,
            created_at=now,
            remote_addr=(remote_addr or "")[:64] or None,
        )
    )
    session[SESSION_KEY] = sid


def load_user(user_id: int, token: str) -> User | None:
    """The user of this cookie, if its session is still open on the server (one query)."""
    sid = session.get(SESSION_KEY)
    if not isinstance(sid, str) or not sid:
        return None
    # The unread-notification count of the menu's badge comes with it: every page shows
    # it, so it costs no statement of its own (scheduling.notifications).
    row = db.session.execute(
        select(User, unread_count_column())
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == user_id,
            UserSession.sid_sha256 == _digest(sid),
            UserSession.ended_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    user, unread = row
    remember_unread(user, unread)
    return user


def end_current(now: datetime, reason: str) -> None:
    """End the session of this cookie (logout, timeout)."""
    sid = session.get(SESSION_KEY)
    if isinstance(sid, str) and sid:
        db.session.execute(
            update(UserSession)
            .where(UserSession.sid_sha256 == _digest(sid), UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason)
        )
    session.pop(SESSION_KEY, None)


def end_all(user_id: int, now: datetime, reason: str, *, keep_current: bool = False) -> int:
    """End every open session of a user (all but this cookie's with ``keep_current``)."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.ended_at.is_(None)
    )
    sid = session.get(SESSION_KEY) if keep_current else None
    if isinstance(sid, str) and sid:
        query = query.where(UserSession.sid_sha256 != _digest(sid))
    return db.session.execute(query.values(ended_at=now, end_reason=reason)).rowcount


def purge(now: datetime) -> int:
    """Drop rows that can no longer be a login: ended a day ago, or started longer ago
    than the absolute session lifetime (their cookies have expired anyway)."""
    hours = current_app.config["SESSION_ABSOLUTE_HOURS"]
    result = db.session.execute(
        delete(UserSession).where(
            or_(
                UserSession.ended_at <= now - timedelta(days=1),
                UserSession.created_at <= now - timedelta(hours=hours + 1),
            )
        )
    )
    return result.rowcount


def purge_job(app) -> None:
    """Registered with ``app.jobs`` (hourly)."""
    from scheduling.clock import utcnow

    purge(utcnow())
    db.session.commit()
