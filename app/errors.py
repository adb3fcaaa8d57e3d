"""Error pages: Thai first, then English, from one template; never a stack trace.

``register(app)`` installs the handlers. Each status the web UI can answer has a
title and an explanation in ``ERROR_TEXTS`` (msgids, shown in Thai and in English
on the same page whatever the chosen language: the person reading an error page
may not be the one who chose it). ``error_page(status)`` renders one; another
module adds its own case with::

    ERROR_TEXTS[503] = (N_("..."), N_("..."))
    app.register_error_handler(OperationalError, lambda e: error_page(503))

``/fhir`` answers errors as FHIR OperationOutcome JSON (its blueprint handles its
own; a path under ``/fhir`` that matches no route lands here and gets JSON too).

The page is a standalone template (no menu, no ``current_user``): it must render
when the error is the database itself.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from scheduling.i18n import N_

log = logging.getLogger(__name__)

ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: (
        N_("The request could not be understood"),
        N_("Something in what was sent is not valid. Go back, check the form and try again."),
    ),
    403: (
        N_("You do not have access to this page"),
        N_("Your account may not open this page. Ask your administrator if you need it."),
    ),
    404: (
        N_("Page not found"),
        N_("The address may be wrong, or the record is not visible to your hospital."),
    ),
    405: (
        N_("This action is not possible here"),
        N_("The page does not accept this kind of request. Go back and use the buttons on it."),
    ),
    413: (
        N_("What was sent is too large"),
        N_("The data sent is larger than RadBook accepts. Send less at a time."),
    ),
    500: (
        N_("Something went wrong on our side"),
        N_("The error has been recorded. Try again; if it recurs, tell your administrator."),
    ),
}
CSRF_TEXTS = (
    N_("The form has expired"),
    N_("The page was open too long or was opened in another tab. Reload it and submit again."),
)


def _texts(status: int, texts: tuple[str, str] | None) -> list[dict[str, str]]:
    title, text = texts or ERROR_TEXTS.get(status) or ERROR_TEXTS[500]
    out = []
    for lang in ("th", "en"):
        with force_locale(lang):
            out.append(
                {
                    "lang": lang,
                    "title": _(title),
                    "text": _(text),
                    "home": _("Back to the home page"),
                }
            )
    return out


def _plain_fallback(status: int, texts: list[dict[str, str]] | None) -> Response:
    lines = [f"{t['title']}\n{t['text']}" for t in texts] if texts else ["Error"]
    return Response(
        "\n\n".join(lines) + "\n", status=status, content_type="text/plain; charset=utf-8"
    )


def _wants_fhir() -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


def _fhir_error(status: int) -> Response:
    from integrations.fhir.errors import MSG_METHOD, MSG_SERVER, FhirError, operation_outcome
    from integrations.fhir.routes import fhir_response

    # No route under /fhir matched: an interaction RadBook does not offer.
    message = MSG_METHOD if status in (404, 405) else MSG_SERVER
    return fhir_response(
        operation_outcome(FhirError(status, message, code=f"http-{status}")), status
    )


def error_page(status: int, texts: tuple[str, str] | None = None) -> Response:
    """The bilingual error page with ``status``; plain text if even the template fails."""
    try:
        if _wants_fhir():
            return _fhir_error(status)
    except Exception:  # noqa: BLE001 - an error page must not raise
        log.exception("FHIR error answer failed")
    both = None
    try:
        both = _texts(status, texts)
        body = render_template("errors/error.html", status=status, texts=both)
        return Response(body, status=status, content_type="text/html; charset=utf-8")
    except Exception:  # noqa: BLE001
        log.exception("error page %s failed to render", status)
        return _plain_fallback(status, both)


def _rollback() -> None:
    # A failed flush leaves the session unusable (PostgreSQL: "transaction aborted");
    # whatever renders or logs next must not trip over it.
    try:
        from app.extensions import db

        db.session.rollback()
    except Exception:  # noqa: BLE001
        log.exception("rollback after an error failed")


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, CSRFError):
        return error_page(status, CSRF_TEXTS)
    if status >= 500:
        _rollback()
    response = error_page(status if status in ERROR_TEXTS else (500 if status >= 500 else 400))
    response.status_code = status
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unhandled(error: InternalServerError) -> Response:
    # Flask logs the original exception (with its traceback) before calling this;
    # the browser gets the page, never the traceback.
    _rollback()
    return error_page(500)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _unhandled)
