"""Web hardening that applies to every response (OWASP ASVS L2, V3 and V14).

- security headers: a Content-Security-Policy without ``'unsafe-inline'`` (the
  templates carry no inline script, no ``on*`` handler and no ``style`` attribute;
  ``tests/app/test_security.py`` keeps it that way), ``nosniff``, framing refused,
  a same-origin referrer, and HSTS only on a request that arrived over TLS;
- ``Cache-Control: no-store`` on everything but the static files: pages, CSV
  exports and FHIR answers all carry patient data or a CSRF token;
- session timeouts: idle (no request for ``SESSION_IDLE_MINUTES``) and absolute
  (``SESSION_ABSOLUTE_HOURS`` after login), checked against the one clock
  (``scheduling.clock``) so tests move time instead of sleeping;
- ``ProxyFix`` behind nginx, by ``RADBOOK_PROXY_COUNT``, so ``request.is_secure``
  and ``remote_addr`` (login throttling, audit) are the client's, not the proxy's.

Written here rather than with flask-talisman: talisman's core is a forced HTTPS
redirect (nginx does that here) and it rewrites the session cookie settings that
``app.config`` owns; what is left is a dozen header lines that are clearer in one
function, with the JSON policy for ``/fhir`` beside the HTML one.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.serving import WSGIRequestHandler

from app import sessions
from app.extensions import db
from app.webkit.views import web_actor
from scheduling.audit import record
from scheduling.clock import utcnow

# Pages: everything from our own origin, nothing inline, no plugins, no framing.
# ``img-src data:`` is not needed (QR codes and charts are inline <svg>).
HTML_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# JSON, CSV and anything else that is not a page: it may load nothing at all.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

HSTS = "max-age=31536000; includeSubDomains"

# Session keys (Flask-Login's own keys start with "_" too; these are ours).
LOGIN_AT = "_radbook_login_at"
SEEN_AT = "_radbook_seen_at"
EXPIRED = "_radbook_expired"


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def start_session_clock() -> None:
    """Called at login: the absolute and idle timeouts count from now."""
    now = _epoch(utcnow())
    session[LOGIN_AT] = now
    session[SEEN_AT] = now


def fresh_session() -> None:
    """An empty session that keeps only the chosen language (at login: no fixation;
    at logout and timeout: nothing of the old session is left)."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def _expired_reason(now: int) -> str | None:
    config = current_app.config
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if not isinstance(login_at, int) or not isinstance(seen_at, int):
        return "absolute"  # a session from before timeouts existed: start afresh
    if now - login_at >= config["SESSION_ABSOLUTE_HOURS"] * 3600:
        return "absolute"
    if now - seen_at >= config["SESSION_IDLE_MINUTES"] * 60:
        return "idle"
    return None


def _enforce_session_timeouts() -> Response | None:
    if request.endpoint == "static" or "_user_id" not in session:
        return None
    now = utcnow()
    reason = _expired_reason(_epoch(now))
    if reason is None:
        session[SEEN_AT] = _epoch(now)
        return None
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        record(web_actor(user), "auth.session_expired", now, entity=user, reason=reason)
    sessions.end_current(now, reason)  # a copy of the cookie ends with it
    db.session.commit()
    logout_user()
    fresh_session()
    session[EXPIRED] = reason
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


def session_expired_message() -> str | None:
    """The login page's explanation after a timeout (once)."""
    reason = session.pop(EXPIRED, None)
    config = current_app.config
    if reason == "idle":
        return _(
            "You were logged out after %(minutes)s minutes without activity. Please log in again.",
            minutes=config["SESSION_IDLE_MINUTES"],
        )
    if reason == "absolute":
        return _(
            "You were logged out because %(hours)s hours have passed since you logged in. "
            "Please log in again.",
            hours=config["SESSION_ABSOLUTE_HOURS"],
        )
    return None


def _is_static() -> bool:
    return request.endpoint == "static"


def _security_headers(response: Response) -> Response:
    headers = response.headers
    is_page = response.mimetype == "text/html"
    headers.setdefault("Content-Security-Policy", HTML_CSP if is_page else DATA_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")  # the language switch reads it
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if not _is_static():
        # Pages, exports and API answers hold patient data or a CSRF token: never
        # kept by the browser or a shared proxy (back button after logout, kiosk PCs).
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    return response


class PathOnlyRequestHandler(WSGIRequestHandler):
    """``flask serve``'s access log: method, path and status, never the query string or
    the Referer (either could carry what someone searched for). gunicorn's equivalent
    is ``access_log_format`` in ``gunicorn.conf.py``."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path
        self.log(
            "info",
            '"%s %s %s" %s %s',
            self.command,
            path,
            self.request_version,
            getattr(code, "value", code),
            size,
        )


def _redact_database_error(context) -> None:
    """Strip DETAIL lines from a database error's text.

    ``hide_parameters`` keeps bound values out of SQLAlchemy's message, but PostgreSQL
    repeats the offending values in its DETAIL ("Key (id_type, id_value)=(NATIONAL_ID,
    1101…) already exists", "Failing row contains (…)"), and a logged traceback would
    carry them. The structured diagnostics (``orig.diag``) stay for code that needs them.
    """
    orig = context.original_exception
    text = orig.args[0] if orig.args and isinstance(orig.args[0], str) else ""
    if "DETAIL:" not in text:
        return
    kept = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("DETAIL:"))
    orig.args = (kept, *orig.args[1:])
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args and isinstance(wrapped.args[0], str):
        wrapped.args = (wrapped.args[0].replace(text, kept), *wrapped.args[1:])


def register(app: Flask) -> None:
    if not event.contains(Engine, "handle_error", _redact_database_error):
        event.listen(Engine, "handle_error", _redact_database_error)
    proxies = app.config.get("RADBOOK_PROXY_COUNT", 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.before_request(_enforce_session_timeouts)
    app.after_request(_security_headers)
