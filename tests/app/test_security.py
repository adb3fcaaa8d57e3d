"""Web hardening (issue 8, part 2): cookies, timeouts, lockout, passwords, headers, errors.

Time is moved with the one clock (``scheduling.clock``), never slept.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import abort
from sqlalchemy import select

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from app.security import HTML_CSP
from scheduling import clock as one_clock
from scheduling.models import AuditEvent, User
from tests.conftest import IsolatedClient, login

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 08:00 in Bangkok

IDLE_MESSAGE = "ระบบออกจากระบบให้แล้ว เนื่องจากไม่มีการใช้งาน 30 นาที"
ABSOLUTE_MESSAGE = "ระบบออกจากระบบให้แล้ว เนื่องจากเข้าสู่ระบบมาครบ 8 ชั่วโมง"
LOCKED_MESSAGE = "เข้าสู่ระบบไม่สำเร็จหลายครั้งเกินไป"
WRONG_MESSAGE = "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"


class Clock:
    """The one clock, stopped at ``start`` and moved by hand (the suite's fixture
    sets it running again after the test)."""

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


def _html(response) -> str:
    return response.get_data(as_text=True)


def _actions(db) -> list[str]:
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


# --- a second app, configured as in production --------------------------------------


@pytest.fixture(scope="module")
def prod_app(app, database_url):
    """Secure cookies, CSRF on, TESTING and exception propagation off, one proxy trusted,
    over the same test database; with a few routes that fail on purpose."""

    class ProdLike(TestConfig):
        TESTING = False
        PROPAGATE_EXCEPTIONS = False
        SQLALCHEMY_DATABASE_URI = database_url
        SESSION_COOKIE_SECURE = True
        REMEMBER_COOKIE_SECURE = True
        WTF_CSRF_ENABLED = True
        RADBOOK_PROXY_COUNT = 1
        MAX_CONTENT_LENGTH = 1024

    application = create_app(ProdLike)
    application.test_client_class = IsolatedClient

    @application.route("/_test/boom")
    def boom():
        raise RuntimeError("secret-internal-detail in a traceback")

    @application.route("/_test/forbidden")
    def forbidden():
        abort(403)

    @application.route("/_test/upload", methods=["POST"])
    def upload():
        from flask import request

        return str(len(request.get_data()))

    yield application
    with application.app_context():
        _db.engine.dispose()


# --- cookies ------------------------------------------------------------------------


def test_session_cookie_is_secure_httponly_samesite(prod_app, demo):
    client = prod_app.test_client()
    page = client.get("/login", base_url="https://radbook.example")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', _html(page)).group(1)
    response = client.post(
        "/login",
        base_url="https://radbook.example",
        headers={"Referer": "https://radbook.example/login"},  # CSRF checks it over TLS
        data={"username": "staff.kudrang", "password": "radbook-demo", "csrf_token": token},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    attributes = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")}
    assert {"secure", "httponly", "samesite"} <= attributes
    assert "SameSite=Lax" in session_cookie


# --- session timeouts ---------------------------------------------------------------


def test_idle_timeout_logs_out_with_a_thai_message(client, demo, clock):
    assert login(client, "staff.kudrang").status_code == 302
    clock.advance(minutes=29)
    assert client.get("/requests").status_code == 200
    clock.advance(minutes=29)  # 29 minutes since the last request: still in
    assert client.get("/requests").status_code == 200
    clock.advance(minutes=30)
    response = client.get("/requests?status=open")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get(response.headers["Location"])
    assert IDLE_MESSAGE in _html(page)
    assert client.get("/requests").status_code == 302  # really logged out
    events = demo.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.session_expired")
    ).all()
    assert [e.detail["reason"] for e in events] == ["idle"]
    # The message is shown once, not on every later visit to the login page.
    assert IDLE_MESSAGE not in _html(client.get("/login"))


def test_absolute_timeout_after_eight_hours_despite_activity(client, demo, clock):
    assert login(client, "staff.kudrang").status_code == 302
    for _ in range(19):  # every 25 minutes for 7 h 55 min
        clock.advance(minutes=25)
        assert client.get("/requests").status_code == 200
    clock.advance(minutes=5)  # 8 h after login
    response = client.get("/requests")
    assert response.status_code == 302
    assert ABSOLUTE_MESSAGE in _html(client.get(response.headers["Location"]))
    assert login(client, "staff.kudrang").status_code == 302  # a new login starts afresh
    assert client.get("/requests").status_code == 200


def test_timeouts_are_configurable(app, client, demo, clock, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 5)
    login(client, "staff.kudrang")
    clock.advance(minutes=6)
    response = client.get("/requests")
    assert response.status_code == 302
    assert "5 นาที" in _html(client.get(response.headers["Location"]))


# --- login throttling: tests/app/test_login_throttle.py ---------------------------------


# --- passwords --------------------------------------------------------------------------


def _change(client, current: str, new: str, again: str | None = None):
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
        },
    )


def test_change_password_page_applies_the_rules_and_ends_other_sessions(app, demo, clock):
    here, elsewhere = app.test_client(), app.test_client()
    login(here, "staff.kudrang")
    login(elsewhere, "staff.kudrang")
    page = here.get("/account/password")
    assert page.status_code == 200 and "เปลี่ยนรหัสผ่าน" in _html(page)
    assert 'href="/account/password"' in _html(here.get("/requests"))

    assert "รหัสผ่านปัจจุบันไม่ถูกต้อง" in _html(_change(here, "not-my-password", "ฝนตกที่มหาสารคาม"))
    assert "อย่างน้อย 12 ตัวอักษร" in _html(_change(here, "radbook-demo", "short-pw"))
    assert "ใช้กันทั่วไปเกินไป" in _html(_change(here, "radbook-demo", "password123"))
    assert "ไม่ตรงกัน" in _html(_change(here, "radbook-demo", "ฝนตกที่มหาสารคาม", "อื่น"))
    assert "ต้องไม่ซ้ำกับรหัสผ่านปัจจุบัน" in _html(_change(here, "radbook-demo", "radbook-demo"))

    assert _change(here, "radbook-demo", "ฝนตกที่มหาสารคาม").status_code == 302
    assert here.get("/requests").status_code == 200  # this session carries on
    assert elsewhere.get("/requests").status_code == 302  # the other one is over
    assert login(app.test_client(), "staff.kudrang").status_code == 401
    assert login(app.test_client(), "staff.kudrang", "ฝนตกที่มหาสารคาม").status_code == 302
    actions = _actions(demo)
    assert actions.count("auth.password_change") == 1
    assert actions.count("auth.password_change_failed") == 1


def test_disabling_an_account_ends_its_open_sessions(app, demo, clock):
    staff, admin = app.test_client(), app.test_client()
    login(staff, "staff.kosum")
    login(admin, "admin")
    user = demo.session.scalar(select(User).where(User.username == "staff.kosum"))
    data = {
        "username": "staff.kosum",
        "full_name": user.full_name,
        "role": user.role.name,
        "hospital_id": user.hospital_id,
        "locale": "th",
        "password": "",
        "password_again": "",
    }
    assert staff.get("/requests").status_code == 200
    assert admin.post(f"/admin/users/{user.id}", data=data).status_code == 302
    assert staff.get("/requests").status_code == 302


# --- headers ----------------------------------------------------------------------------


def test_pages_carry_the_security_headers(client, demo):
    login(client, "staff.kudrang")
    response = client.get("/requests")
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert csp == HTML_CSP
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers  # plain http: no HSTS


def test_hsts_only_over_tls(client, demo):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://radbook.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_behind_the_proxy_forwarded_proto_and_address_are_honoured(prod_app, demo):
    client = prod_app.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    response = client.get("/login", headers=forwarded)
    assert "Strict-Transport-Security" in response.headers
    assert "Strict-Transport-Security" not in client.get("/login").headers
    client.application.config["WTF_CSRF_ENABLED"] = False
    try:
        client.post("/login", data={"username": "nobody", "password": "x"}, headers=forwarded)
    finally:
        client.application.config["WTF_CSRF_ENABLED"] = True
    event = demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
    assert event.remote_addr == "203.0.113.7"


def test_fhir_json_gets_a_data_policy_and_no_store(client, demo):
    response = client.get("/fhir/metadata", headers={"Accept": "application/fhir+json"})
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    search = client.get("/fhir/Patient", headers={"Authorization": "Bearer demo-his-token"})
    assert search.headers["Cache-Control"] == "no-store"


def test_csv_export_is_not_stored(client, demo):
    login(client, "admin")
    response = client.get("/admin/audit.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(client):
    response = client.get("/static/css/radbook.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


# --- error pages ------------------------------------------------------------------------


def _thai_then_english(html: str, thai: str, english: str) -> None:
    assert thai in html and english in html
    assert html.index(thai) < html.index(english)


def test_an_exception_gives_the_thai_page_without_a_traceback(prod_app, db):
    response = prod_app.test_client().get("/_test/boom")
    assert response.status_code == 500
    html = _html(response)
    _thai_then_english(html, "เกิดข้อผิดพลาดในระบบ", "Something went wrong on our side")
    for leak in ("Traceback", "RuntimeError", "secret-internal-detail", 'File "'):
        assert leak not in html
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == HTML_CSP


@pytest.mark.parametrize(
    ("method", "path", "status", "thai", "english"),
    [
        ("get", "/no/such/page", 404, "ไม่พบหน้าที่ต้องการ", "Page not found"),
        ("get", "/_test/forbidden", 403, "คุณไม่มีสิทธิ์เข้าหน้านี้", "You do not have access"),
        ("get", "/logout", 405, "ทำรายการนี้ที่หน้านี้ไม่ได้", "This action is not possible"),
        ("post", "/login", 400, "แบบฟอร์มหมดอายุแล้ว", "The form has expired"),
        ("post", "/_test/upload", 413, "ข้อมูลที่ส่งมีขนาดใหญ่เกินไป", "What was sent is too large"),
    ],
)
def test_error_pages_are_thai_first_then_english(prod_app, db, method, path, status, thai, english):
    client = prod_app.test_client()
    kwargs = {"data": "x" * 5000} if status == 413 else {}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    _thai_then_english(_html(response), thai, english)
    assert "Traceback" not in _html(response)


def test_a_bad_request_in_english_mode_still_starts_in_thai(app, client, db):
    client.post("/language/en")
    html = _html(client.get("/no/such/page"))
    _thai_then_english(html, "ไม่พบหน้าที่ต้องการ", "Page not found")


def test_unknown_fhir_path_answers_json(prod_app, demo):
    response = prod_app.test_client().get(
        "/fhir/Patient/1/_history/2/x", headers={"Authorization": "Bearer demo-his-token"}
    )
    assert response.status_code == 404
    assert response.mimetype == "application/fhir+json"
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_database_errors_do_not_carry_patient_values(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["hide_parameters"] is True


def test_templates_have_no_inline_script_handlers_or_styles():
    """The CSP allows neither inline script nor inline style: keep the templates so."""
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "app" / "templates"
    rules = {
        "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
        "on* handler": re.compile(r"\son[a-z]+\s*=", re.I),
        "style attribute": re.compile(r"\sstyle\s*=", re.I),
        "<style> element": re.compile(r"<style\b", re.I),
        "javascript: URL": re.compile(r"javascript:", re.I),
    }
    found = [
        f"{path.relative_to(templates)}: {what}"
        for path in sorted(templates.rglob("*.html"))
        for what, rule in rules.items()
        if rule.search(path.read_text(encoding="utf-8"))
    ]
    assert len(list(templates.rglob("*.html"))) > 40
    assert not found, found
