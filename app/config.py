"""Configuration from the environment (DESIGN.md, "Runtime contract")."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one kept in instance/ so sessions survive restarts."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    INSTANCE_DIR.mkdir(exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'radbook.sqlite'}"
    )
    # hide_parameters: a database error's text (logged, or shown by a debugger) would
    # otherwise carry the bound values: national IDs, names, birth dates.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True, "hide_parameters": True}

    RADBOOK_HOST = os.environ.get("RADBOOK_HOST", "127.0.0.1")
    RADBOOK_PORT = int(os.environ.get("RADBOOK_PORT", "5000"))
    RADBOOK_TIMEZONE = os.environ.get("RADBOOK_TIMEZONE", "Asia/Bangkok")
    # Seconds added to the machine's clock (scheduling.clock): set by the test suite for
    # the servers it starts, and usable for a training copy that lives on another day.
    RADBOOK_CLOCK_OFFSET_SECONDS = float(os.environ.get("RADBOOK_CLOCK_OFFSET_SECONDS", "0"))

    DICOM_AE_TITLE = os.environ.get("DICOM_AE_TITLE", "RADBOOK")
    DICOM_PORT = int(os.environ.get("DICOM_PORT", "11112"))
    HL7_PORT = int(os.environ.get("HL7_PORT", "2575"))

    LINE_CHANNEL_SECRET = os.environ.get("LINE_CHANNEL_SECRET", "")
    LINE_CHANNEL_ACCESS_TOKEN = os.environ.get("LINE_CHANNEL_ACCESS_TOKEN", "")
    LINE_API_BASE_URL = os.environ.get("LINE_API_BASE_URL", "")

    BABEL_DEFAULT_LOCALE = "th"
    BABEL_DEFAULT_TIMEZONE = RADBOOK_TIMEZONE
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "translations")
    LANGUAGES = ("th", "en")

    # Cookies: HttpOnly and SameSite always; Secure unless explicitly turned off for
    # plain-http local runs (`make run` sets RADBOOK_INSECURE_COOKIES=1).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = not _bool("RADBOOK_INSECURE_COOKIES", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    PERMANENT_SESSION_LIFETIME = 8 * 3600  # one working shift

    WTF_CSRF_TIME_LIMIT = 8 * 3600

    # PDPA retention (docs/pdpa.md, "Retention"): closed requests and their bookings,
    # the audit trail, transport copies (HL7 journal and outbox, LINE logs), unsent drafts.
    RADBOOK_RETENTION_YEARS = int(os.environ.get("RADBOOK_RETENTION_YEARS", "10"))
    RADBOOK_AUDIT_RETENTION_YEARS = int(os.environ.get("RADBOOK_AUDIT_RETENTION_YEARS", "12"))
    RADBOOK_MESSAGE_RETENTION_DAYS = int(os.environ.get("RADBOOK_MESSAGE_RETENTION_DAYS", "365"))
    RADBOOK_DRAFT_RETENTION_DAYS = int(os.environ.get("RADBOOK_DRAFT_RETENTION_DAYS", "90"))

    # Session timeouts (ASVS 3.3): logged out after this long without a request, and
    # this long after logging in whatever happens.
    SESSION_IDLE_MINUTES = int(os.environ.get("RADBOOK_SESSION_IDLE_MINUTES", "30"))
    SESSION_ABSOLUTE_HOURS = int(os.environ.get("RADBOOK_SESSION_ABSOLUTE_HOURS", "8"))

    # Login throttling (ASVS 2.2.1, app/auth/throttle.py): after LOGIN_MAX_FAILURES
    # failures of one name from one address (or one known browser), each further one
    # makes the next try wait LOGIN_DELAY_SECONDS, doubling up to LOGIN_MAX_DELAY_MINUTES.
    # Past the account's or the address's limit the admins are notified and browsers
    # that never logged in as that name wait too. Counts last a window past the last
    # failure. The per-address limit is high: a hospital is often one NAT address.
    LOGIN_MAX_FAILURES = int(os.environ.get("RADBOOK_LOGIN_MAX_FAILURES", "5"))
    LOGIN_ACCOUNT_MAX_FAILURES = int(os.environ.get("RADBOOK_LOGIN_ACCOUNT_MAX_FAILURES", "50"))
    LOGIN_ADDRESS_MAX_FAILURES = int(os.environ.get("RADBOOK_LOGIN_ADDRESS_MAX_FAILURES", "30"))
    LOGIN_FAILURE_WINDOW_MINUTES = int(os.environ.get("RADBOOK_LOGIN_WINDOW_MINUTES", "60"))
    LOGIN_DELAY_SECONDS = int(os.environ.get("RADBOOK_LOGIN_DELAY_SECONDS", "30"))
    LOGIN_MAX_DELAY_MINUTES = int(
        os.environ.get(
            "RADBOOK_LOGIN_MAX_DELAY_MINUTES", os.environ.get("RADBOOK_LOGIN_LOCK_MINUTES", "15")
        )
    )

    # Number of reverse proxies (nginx = 1) whose X-Forwarded-For/-Proto/-Host to trust.
    # 0 = none: the app is reached directly (never trust the headers then).
    RADBOOK_PROXY_COUNT = int(os.environ.get("RADBOOK_PROXY_COUNT", "0"))

    # Largest request body accepted (answered 413 beyond): forms and FHIR JSON are small.
    MAX_CONTENT_LENGTH = int(os.environ.get("RADBOOK_MAX_CONTENT_LENGTH", str(4 * 1024 * 1024)))


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    WTF_CSRF_ENABLED = False  # the browser tests exercise CSRF for real
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
