"""Login throttling as ASVS 2.2.1 asks (issue 14): delays that grow per name and address
(or per known browser), never a lock an attacker can use to keep a user out, at most
about 60 guesses an hour on one account, admins notified; and passwords checked against
what attackers try first (zxcvbn, offline).

Time is moved with the one clock (``scheduling.clock``), never slept. Addresses are set
per request with ``environ_base``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.auth.models import LoginThrottle
from app.auth.throttle import DEVICE_COOKIE, delay_for, purge
from app.passwords import password_problems
from scheduling import clock as one_clock
from scheduling.models import AuditEvent, User
from tests.conftest import login

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
DELAY_MESSAGE = "เข้าสู่ระบบไม่สำเร็จหลายครั้งเกินไป"
USER_ADDR = "10.7.1.50"  # the ward computer at Kud Rang
ATTACKER = "203.0.113.9"


class Clock:
    """The one clock, stopped at ``start`` and moved by hand (the suite's fixture sets
    it running again after the test)."""

    def __init__(self, start: datetime) -> None:
        one_clock.freeze(start)

    @property
    def now(self) -> datetime:
        return one_clock.utcnow()

    def advance(self, **delta) -> None:
        one_clock.advance(timedelta(**delta))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def _try(client, username: str, password: str = "wrong-password", addr: str = ATTACKER):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": addr},
    )


def _fail(client, username: str, times: int, addr: str = ATTACKER) -> list[int]:
    return [_try(client, username, addr=addr).status_code for _ in range(times)]


def _events(db, action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


def test_the_delay_grows_and_ends_by_itself(app, client, demo, clock):
    assert _fail(client, "staff.kudrang", 5) == [401, 401, 401, 401, 429]
    page = _try(client, "staff.kudrang", "radbook-demo")
    assert page.status_code == 429 and "30 วินาที" in page.get_data(as_text=True)
    clock.advance(seconds=31)
    assert _fail(client, "staff.kudrang", 1) == [429]  # 6th failure: now 60 s
    clock.advance(seconds=61)
    assert _fail(client, "staff.kudrang", 1) == [429]  # 7th: 120 s
    clock.advance(seconds=119)
    assert _try(client, "staff.kudrang", "radbook-demo").status_code == 429
    clock.advance(seconds=2)
    assert _try(client, "staff.kudrang", "radbook-demo").status_code == 302
    delays = [e.detail["seconds"] for e in _events(demo, "auth.login_delayed")]
    assert delays == [30, 60, 120]


def test_delays_are_capped(app):
    with app.app_context():
        assert [int(delay_for(n).total_seconds()) for n in range(1, 9)] == [
            30, 60, 120, 240, 480, 900, 900, 900,
        ]  # fmt: skip


def test_an_attacker_elsewhere_cannot_keep_the_user_out(app, demo, clock):
    """The attacker fails 40 times over an hour from another address: the user, at the
    ward computer, logs in at once."""
    attacker = app.test_client()
    for _ in range(8):
        _fail(attacker, "staff.kudrang", 5)
        clock.advance(minutes=8)
    user = app.test_client()
    assert _try(user, "staff.kudrang", "radbook-demo", addr=USER_ADDR).status_code == 302


def test_a_known_browser_gets_in_even_from_the_attackers_address(app, demo, clock, monkeypatch):
    """Same hospital NAT address, account under attack: the browser that logged in as
    this name before (device cookie) is not slowed by anyone else's failures."""
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_MAX_FAILURES", 12)
    ward = app.test_client()
    assert _try(ward, "staff.kudrang", "radbook-demo", addr=USER_ADDR).status_code == 302
    assert ward.get_cookie(DEVICE_COOKIE, path="/login") is not None
    ward.post("/logout")
    attacker = app.test_client()
    codes = _fail(attacker, "staff.kudrang", 15, addr=USER_ADDR)
    assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}
    # A new browser at that address waits; the known one does not.
    assert (
        _try(app.test_client(), "staff.kudrang", "radbook-demo", addr=USER_ADDR).status_code == 429
    )
    assert _try(ward, "staff.kudrang", "radbook-demo", addr=USER_ADDR).status_code == 302
    # The known browser's own mistakes are counted on their own.
    ward.post("/logout")
    assert _fail(ward, "staff.kudrang", 5, addr=USER_ADDR) == [401] * 4 + [429]


def test_a_forged_device_cookie_is_ignored(app, demo, clock):
    attacker = app.test_client()
    attacker.set_cookie(DEVICE_COOKIE, "W1sic3RhZmYua3VkcmFuZyIsIngiXV0.forged", path="/login")
    assert _fail(attacker, "staff.kudrang", 5) == [401] * 4 + [429]


def test_many_addresses_reach_the_account_limit_then_wait_and_admins_hear(app, demo, clock):
    """A botnet: 5 tries from each of many addresses. Past 50 failures in the window the
    account delays every browser that never logged in as it; the admins are told."""
    admin = app.test_client()
    login(admin, "admin")
    codes = []
    for n in range(14):
        codes += _fail(app.test_client(), "staff.kudrang", 4, addr=f"198.51.100.{n}")
    assert codes[:49] == [401] * 49 and codes[49:] == [429] * 7  # the 50th starts the wait
    [attack] = _events(demo, "auth.login_attack")
    assert attack.detail["scope"] == "account" and attack.detail["key"] == "staff.kudrang"
    home = admin.get("/admin/").get_data(as_text=True)
    assert "มีการเข้าสู่ระบบไม่สำเร็จจำนวนมาก" in home and "staff.kudrang" in home
    # An hour of it: the account sees about 60 guesses, not thousands.
    for n in range(60):
        clock.advance(minutes=1)
        _fail(app.test_client(), "staff.kudrang", 2, addr=f"198.51.101.{n}")
    guesses = demo.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "auth.login_failed",
            AuditEvent.detail.is_(None),
        )
    )
    assert guesses <= 100, guesses


def test_spraying_from_one_address_delays_that_address(app, client, demo, clock):
    for n in range(29):
        assert _fail(client, f"guess{n}", 1) == [401]
    assert _fail(client, "guess29", 1) == [429]
    assert _try(client, "staff.kosum", "radbook-demo").status_code == 429
    assert _try(client, "staff.kosum", "radbook-demo", addr="10.9.9.10").status_code == 302
    [attack] = _events(demo, "auth.login_attack")
    assert (attack.detail["scope"], attack.detail["key"]) == ("address", ATTACKER)


def test_the_answer_does_not_reveal_whether_the_name_exists(client, demo, clock):
    import re

    flash = re.compile(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', re.S)
    known = [_try(client, "staff.kudrang") for _ in range(6)]
    unknown = [_try(client, "no.such.person") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown]
    for a, b in zip(known, unknown, strict=True):
        assert flash.findall(a.get_data(as_text=True)) == flash.findall(b.get_data(as_text=True))


def test_counts_are_forgotten_an_hour_after_the_last_failure(client, demo, clock):
    _fail(client, "staff.kudrang", 4)
    clock.advance(minutes=59)
    assert _fail(client, "staff.kudrang", 1) == [429]  # still counting
    clock.advance(minutes=61)
    assert _fail(client, "staff.kudrang", 4) == [401] * 4


def test_the_count_is_shared_by_every_worker(app, demo, clock, database_url):
    """Two app instances with their own engines (two gunicorn workers) count together."""
    from app import create_app
    from app.config import TestConfig

    class Other(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url

    other = create_app(Other)
    codes = [
        _try((app if n % 2 else other).test_client(), "staff.kudrang").status_code for n in range(5)
    ]
    assert codes == [401, 401, 401, 401, 429]
    with other.app_context():
        from app.extensions import db

        db.engine.dispose()


def test_an_admins_new_password_clears_the_counts_and_purge_empties_the_table(
    app, client, demo, clock
):
    _fail(client, "staff.kudrang", 6)
    user = demo.session.scalar(select(User).where(User.username == "staff.kudrang"))
    admin = app.test_client()
    login(admin, "admin")
    data = {
        "username": "staff.kudrang",
        "full_name": user.full_name,
        "role": user.role.name,
        "hospital_id": user.hospital_id,
        "locale": "th",
        "is_active_account": "y",
        "password": "ฝนตกที่มหาสารคาม",
        "password_again": "ฝนตกที่มหาสารคาม",
    }
    assert admin.post(f"/admin/users/{user.id}", data=data).status_code == 302
    assert _try(client, "staff.kudrang", "ฝนตกที่มหาสารคาม").status_code == 302
    assert demo.session.scalar(select(func.count(LoginThrottle.id))) == 1  # the address row
    assert purge(clock.now + timedelta(minutes=61)) == 1
    demo.session.commit()
    assert demo.session.scalar(select(func.count(LoginThrottle.id))) == 0


def test_wrong_current_passwords_on_the_password_page_count_too(app, demo, clock):
    client = app.test_client()
    login(client, "staff.kudrang")

    def change(current: str):
        return client.post(
            "/account/password",
            data={
                "current_password": current,
                "new_password": "ฝนตกที่มหาสารคาม",
                "new_password_again": "ฝนตกที่มหาสารคาม",
            },
        ).get_data(as_text=True)

    for _ in range(4):
        assert "รหัสผ่านปัจจุบันไม่ถูกต้อง" in change("not-my-password")
    assert DELAY_MESSAGE in change("not-my-password")
    assert DELAY_MESSAGE in change("radbook-demo")


# --- passwords --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["password1234", "qwerty123456", "Password123!", "P@ssw0rd2026", "admin12345678",
     "radbook-demo", "mahasarakham2026", "staffkudrang1", "1234567890123"],
)  # fmt: skip
def test_weak_and_breached_passwords_are_refused(password):
    assert password_problems(password, "staff.kudrang", "มาลี ศรีสุข")


@pytest.mark.parametrize(
    "password",
    ["ฝนตกที่มหาสารคาม", "ห้องเอกซเรย์-2569", "correct horse battery staple",
     "nurse-kudrang-2569", "Somsri-Thongdee-01", "x" * 5 + "Lq9-mmT2p"],
)  # fmt: skip
def test_long_unusual_passwords_pass(password):
    assert password_problems(password, "staff.kudrang", "มาลี ศรีสุข") == []


def test_the_rules_hold_on_every_form(app, demo, clock):
    """The five passwords of the report, on the admin's user form and the user's own
    password page: refused in Thai, nothing changed."""
    admin = app.test_client()
    login(admin, "admin")
    user = demo.session.scalar(select(User).where(User.username == "staff.kosum"))
    own = app.test_client()
    login(own, "staff.kosum")
    for weak in ("password1234", "qwerty123456", "Password123!", "P@ssw0rd2026", "admin12345678"):
        data = {
            "username": "staff.kosum",
            "full_name": user.full_name,
            "role": user.role.name,
            "hospital_id": user.hospital_id,
            "locale": "th",
            "is_active_account": "y",
            "password": weak,
            "password_again": weak,
        }
        html = admin.post(f"/admin/users/{user.id}", data=data).get_data(as_text=True)
        assert "เดาง่าย" in html
        html = own.post(
            "/account/password",
            data={"current_password": "radbook-demo", "new_password": weak,
                  "new_password_again": weak},
        ).get_data(as_text=True)  # fmt: skip
        assert "เดาง่าย" in html
    assert login(app.test_client(), "staff.kosum").status_code == 302  # unchanged


def test_an_unknown_name_is_checked_against_a_hash_as_costly_as_a_users():
    """The literal dummy hash has the method (and cost) werkzeug gives users' passwords,
    and is a real hash of its password."""
    from werkzeug.security import check_password_hash, generate_password_hash

    from app.auth.routes import DUMMY_HASH

    method = DUMMY_HASH.split("$", 1)[0]
    assert generate_password_hash("x").split("$", 1)[0] == method
    assert User(password_hash=generate_password_hash("y")).password_hash.startswith(method)
    assert check_password_hash(DUMMY_HASH, "radbook-no-such-user")
