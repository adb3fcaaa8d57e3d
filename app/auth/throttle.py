"""Login throttling (ASVS 2.2.1): delays that grow, never a lock an attacker can hold.

Counted in the database (``login_throttle``) so every gunicorn worker shares the counts;
each increment is one ``UPDATE … SET failures = failures + 1``.

Who is counted, and what a count does:

``pair`` (typed name + client address)
    ``LOGIN_MAX_FAILURES`` (5) failures are free; each further one makes the next try
    of that name from that address wait ``LOGIN_DELAY_SECONDS`` (30 s), doubling up to
    ``LOGIN_MAX_DELAY_MINUTES`` (15). Someone guessing elsewhere does not touch it.
``device`` (typed name + a browser that logged in as that name before)
    A successful login leaves a signed "device cookie" (OWASP's device-cookie defence):
    that browser is counted on its own and none of the other delays apply to it, so an
    attacker guessing a known user's password, from anywhere (even the same hospital
    NAT address), cannot keep that user out of their own computer.
``account`` (typed name, every address)
    Past ``LOGIN_ACCOUNT_MAX_FAILURES`` (50 in the window) the name is under attack: the
    admins are notified (``auth.login_attack``, on the admin home page and in the log)
    and browsers without the device cookie wait the growing delay too. So no more than
    about 60 guesses an hour reach one account (ASVS 2.2.1 allows 100).
``address`` (client address, any name)
    Password spraying from one address: past ``LOGIN_ADDRESS_MAX_FAILURES`` (30; a
    hospital is often one NAT address) that address waits, except browsers with a
    device cookie; admins are notified.

A count is forgotten ``LOGIN_FAILURE_WINDOW_MINUTES`` (60) after its last failure; a
correct password clears the pair and device counts (not the account's or address's:
one good login must not reset someone else's guessing). While a delay runs the password
is not checked at all, and the answer is the same for a name that exists and one that
does not. An admin who sets a new password clears every count of the name.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import LoginThrottle
from app.extensions import db
from scheduling.audit import Actor, record
from scheduling.models.types import UTCDateTime

log = logging.getLogger(__name__)

PAIR = "pair"
DEVICE = "device"
ACCOUNT = "account"
ADDRESS = "address"

DEVICE_COOKIE = "radbook_device"
DEVICE_COOKIE_DAYS = 180
DEVICE_COOKIE_ENTRIES = 8  # a shared ward computer remembers this many names


@dataclass(frozen=True)
class Lock:
    """A delay in force: no login attempt counts before ``until``."""

    until: datetime

    def minutes_left(self, now: datetime) -> int:
        return max(1, -(-int((self.until - now).total_seconds()) // 60))


# --- the device cookie ------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="radbook-login-device")


def _devices() -> dict[str, str]:
    """{name: device id} of this browser's cookie; {} when absent or tampered with."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 4096:
        return {}
    try:
        entries = _serializer().loads(raw)
    except BadSignature:
        return {}
    if not isinstance(entries, list):
        return {}
    return {
        str(e[0]): str(e[1])
        for e in entries
        if isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e)
    }


def device_for(username: str) -> str | None:
    """The id under which this browser logged in as ``username`` before, if it did."""
    return _devices().get(_name(username))


def remember_device(response, username: str) -> None:
    """After a successful login: this browser is known for this name from now on."""
    entries = _devices()
    name = _name(username)
    device = entries.pop(name, None) or secrets.token_urlsafe(16)
    kept = [[name, device]] + [[k, v] for k, v in entries.items()][: DEVICE_COOKIE_ENTRIES - 1]
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer().dumps(kept),
        max_age=DEVICE_COOKIE_DAYS * 86400,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
        path="/login",
    )


# --- counting ---------------------------------------------------------------------------------


def _name(username: str) -> str:
    return username.strip().lower()[:100]


def _keys(username: str, address: str | None, device: str | None) -> list[tuple[str, str]]:
    name = _name(username)
    if device is not None:
        return [(DEVICE, f"{name}|{device}"), (ACCOUNT, name)]
    keys = [(PAIR, f"{name}|{(address or '')[:64]}"), (ACCOUNT, name)]
    if address:
        keys.append((ADDRESS, address[:64]))
    return keys


def _threshold(scope: str) -> int:
    config = current_app.config
    return {
        PAIR: config["LOGIN_MAX_FAILURES"],
        DEVICE: config["LOGIN_MAX_FAILURES"],
        ACCOUNT: config["LOGIN_ACCOUNT_MAX_FAILURES"],
        ADDRESS: config["LOGIN_ADDRESS_MAX_FAILURES"],
    }[scope]


def delay_for(excess: int) -> timedelta:
    """The wait after the ``excess``-th failure at or past the threshold (1, 2, 3 …)."""
    config = current_app.config
    base = float(config["LOGIN_DELAY_SECONDS"])
    cap = float(config["LOGIN_MAX_DELAY_MINUTES"]) * 60
    return timedelta(seconds=min(cap, base * 2 ** min(max(excess, 1) - 1, 30)))


def current_lock(
    username: str, address: str | None, now: datetime, device: str | None = None
) -> Lock | None:
    """The delay in force for an attempt with this name, from this address and browser.

    A browser with the device cookie for the name answers to its own count only; the
    account's count delays only browsers without it.
    """
    keys = _keys(username, address, device)
    if device is not None:
        keys = [k for k in keys if k[0] == DEVICE]
    rows = db.session.scalars(
        select(LoginThrottle).where(
            or_(*[(LoginThrottle.scope == s) & (LoginThrottle.key == k) for s, k in keys]),
            LoginThrottle.locked_until > now,
        )
    ).all()
    if not rows:
        return None
    return Lock(max(r.locked_until for r in rows))


def _bump(scope: str, key: str, now: datetime) -> LoginThrottle:
    window = timedelta(minutes=current_app.config["LOGIN_FAILURE_WINDOW_MINUTES"])
    stale = LoginThrottle.last_failure_at <= now - window
    for _attempt in range(3):
        result = db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.scope == scope, LoginThrottle.key == key)
            .values(
                failures=case((stale, 1), else_=LoginThrottle.failures + 1),
                window_start=case(
                    (stale, literal(now, UTCDateTime())), else_=LoginThrottle.window_start
                ),
                last_failure_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            break
        try:
            with db.session.begin_nested():
                db.session.add(
                    LoginThrottle(
                        scope=scope, key=key, failures=1, window_start=now, last_failure_at=now
                    )
                )
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
    actor: Actor,
    username: str,
    now: datetime,
    hospital_id: int | None = None,
    device: str | None = None,
) -> Lock | None:
    """Count a failed login; the delay it starts (for this attempt's browser), if any."""
    started: Lock | None = None
    for scope, key in _keys(username, actor.remote_addr, device):
        row = _bump(scope, key, now)
        threshold = _threshold(scope)
        if row.failures < threshold:
            continue
        wait = delay_for(row.failures - threshold + 1)
        db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.id == row.id)
            .values(locked_until=now + wait)
            .execution_options(synchronize_session=False)
        )
        detail = dict(
            scope=scope, key=key, seconds=int(wait.total_seconds()), failures=row.failures
        )
        account_hospital = hospital_id if scope in (ACCOUNT, PAIR, DEVICE) else None
        if scope in (PAIR, DEVICE) or (scope in (ACCOUNT, ADDRESS) and device is None):
            started = Lock(max(started.until, now + wait) if started else now + wait)
            record(actor, "auth.login_delayed", now, hospital_id=account_hospital, **detail)
        if scope in (ACCOUNT, ADDRESS) and row.failures == threshold:
            # Crossed once per window: worth an admin's attention (admin home page, log).
            record(actor, "auth.login_attack", now, hospital_id=account_hospital, **detail)
            log.warning(
                "login attack suspected: %s failures for %s %s within %s minutes",
                row.failures,
                scope,
                key,
                current_app.config["LOGIN_FAILURE_WINDOW_MINUTES"],
            )
    return started


def record_success(username: str, address: str | None, device: str | None) -> None:
    """A correct password clears this browser's counts for the name (the pair's or the
    device's), not the account's or the address's."""
    for scope, key in _keys(username, address, device):
        if scope in (PAIR, DEVICE):
            db.session.execute(
                delete(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
            )


def unlock(username: str) -> int:
    """Clear every count of a name (admin set a new password); the rows cleared."""
    name = _name(username)
    result = db.session.execute(
        delete(LoginThrottle).where(
            or_(
                (LoginThrottle.scope == ACCOUNT) & (LoginThrottle.key == name),
                LoginThrottle.scope.in_([PAIR, DEVICE]) & LoginThrottle.key.startswith(f"{name}|"),
            )
        )
    )
    return result.rowcount


def purge(now: datetime) -> int:
    """Drop rows whose window and delay are both over (the jobs process, hourly)."""
    window = timedelta(minutes=current_app.config["LOGIN_FAILURE_WINDOW_MINUTES"])
    result = db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at <= now - window,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
    )
    return result.rowcount


def purge_job(app) -> None:
    """Registered with ``app.jobs`` (hourly): the table keeps only live counts."""
    from scheduling.clock import utcnow

    purge(utcnow())
    db.session.commit()


def recent_attacks(now: datetime, hours: int = 24):
    """``auth.login_attack`` events of the last hours, newest first (admin home page)."""
    from scheduling.models import AuditEvent

    return db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == "auth.login_attack", AuditEvent.at >= now - timedelta(hours=hours)
        )
        .order_by(AuditEvent.at.desc())
        .limit(20)
    ).all()
