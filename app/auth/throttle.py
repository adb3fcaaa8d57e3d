"""Login throttling and lockout (ASVS 2.2.1), counted in the database.

Two counters per attempt: the account name as typed (lower-cased) and the client
address. ``LOGIN_MAX_FAILURES`` failures of one name within
``LOGIN_FAILURE_WINDOW_MINUTES`` lock that name for ``LOGIN_LOCK_MINUTES``;
``LOGIN_ADDRESS_MAX_FAILURES`` from one address lock the address. While locked, the
password is not even checked, so guessing goes no further; the answer is the same
for a name that exists and one that does not. A lock ends by itself (no permanent
lockout that an attacker could use to keep staff out); an admin who sets a new
password for the account lifts it at once.

Counts are in ``login_throttle`` rather than in Flask-Limiter: Flask-Limiter's
shared storages are Redis, Memcached or MongoDB (none of which a hospital
deployment of RadBook runs), its in-memory storage is per gunicorn worker, and it
limits requests rather than counting failed logins per typed name with an audit
event when a lock starts. Each increment is one ``UPDATE … SET failures =
failures + 1``: concurrent workers cannot lose a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import LoginThrottle
from app.extensions import db
from scheduling.audit import Actor, record
from scheduling.models.types import UTCDateTime

ACCOUNT = "account"
ADDRESS = "address"


@dataclass(frozen=True)
class Lock:
    until: datetime

    def minutes_left(self, now: datetime) -> int:
        return max(1, -(-int((self.until - now).total_seconds()) // 60))


def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
    keys = [(ACCOUNT, username.strip().lower()[:100])]
    if address:
        keys.append((ADDRESS, address[:100]))
    return keys


def _limit(scope: str) -> int:
    config = current_app.config
    return (
        config["LOGIN_MAX_FAILURES"] if scope == ACCOUNT else config["LOGIN_ADDRESS_MAX_FAILURES"]
    )


def current_lock(username: str, address: str | None, now: datetime) -> Lock | None:
    """The lock in force on this name or this address, if any."""
    rows = db.session.scalars(
        select(LoginThrottle).where(
            or_(
                *[
                    (LoginThrottle.scope == s) & (LoginThrottle.key == k)
                    for s, k in _keys(username, address)
                ]
            ),
            LoginThrottle.locked_until > now,
        )
    ).all()
    if not rows:
        return None
    return Lock(max(r.locked_until for r in rows))


def _bump(scope: str, key: str, now: datetime) -> LoginThrottle:
    window = timedelta(minutes=current_app.config["LOGIN_FAILURE_WINDOW_MINUTES"])
    stale = LoginThrottle.window_start <= now - window
    for _attempt in range(3):
        result = db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.scope == scope, LoginThrottle.key == key)
            .values(
                failures=case((stale, 1), else_=LoginThrottle.failures + 1),
                window_start=case(
                    (stale, literal(now, UTCDateTime())), else_=LoginThrottle.window_start
                ),
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            break
        try:
            with db.session.begin_nested():
                db.session.add(LoginThrottle(scope=scope, key=key, failures=1, window_start=now))
            break
        except IntegrityError:
            continue  # another worker inserted it first: count on its row
    row = db.session.scalar(
        select(LoginThrottle)
        .where(LoginThrottle.scope == scope, LoginThrottle.key == key)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def record_failure(
    actor: Actor, username: str, now: datetime, hospital_id: int | None = None
) -> Lock | None:
    """Count a failed login; start a lock (and audit it) when a limit is reached."""
    lock_for = timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    started: Lock | None = None
    for scope, key in _keys(username, actor.remote_addr):
        row = _bump(scope, key, now)
        if row.failures < _limit(scope):
            continue
        # Start the lock once; the counter starts again when the lock ends.
        locked = db.session.execute(
            update(LoginThrottle)
            .where(
                LoginThrottle.id == row.id,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
            )
            .values(locked_until=now + lock_for, failures=0, window_start=now)
            .execution_options(synchronize_session=False)
        )
        if locked.rowcount:
            started = Lock(now + lock_for)
            record(
                actor,
                "auth.login_locked",
                now,
                hospital_id=hospital_id if scope == ACCOUNT else None,
                scope=scope,
                key=key,
                minutes=int(lock_for.total_seconds() // 60),
                failures=row.failures,
            )
    return started


def record_success(username: str) -> None:
    """A correct password clears the account's count (not the address's: one valid
    login must not reset the count of someone guessing other names from there)."""
    db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.scope == ACCOUNT, LoginThrottle.key == username.strip().lower()[:100]
        )
    )


def unlock(username: str) -> int:
    """Lift the lock on an account name (admin); the number of rows cleared."""
    result = db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.scope == ACCOUNT, LoginThrottle.key == username.strip().lower()[:100]
        )
    )
    return result.rowcount


def purge(now: datetime) -> int:
    """Drop rows whose window and lock are both over (the jobs process, hourly)."""
    window = timedelta(minutes=current_app.config["LOGIN_FAILURE_WINDOW_MINUTES"])
    result = db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start <= now - window,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
    )
    return result.rowcount


def purge_job(app) -> None:
    """Registered with ``app.jobs`` (hourly): the table keeps only live counts."""
    from scheduling.clock import utcnow

    purge(utcnow())
    db.session.commit()
