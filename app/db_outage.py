"""The database is unreachable: a 503 page in Thai and English, never a stack trace.

Registered for the errors SQLAlchemy raises when it cannot reach the database (a
refused or broken connection, a pool that timed out, SQLite's "unable to open" or a
lock held too long). Nothing here may touch the database: the page is rendered with
an anonymous user and says it in Thai, then in English, whatever language was chosen
(the person reading an error page may not be the one who chose it; the same rule as
the other error pages). Recovery needs nothing: ``pool_pre_ping`` (app/config.py) replaces
the dead pooled connections on the first request after the database is back.

FHIR clients get an OperationOutcome with the issue code ``transient`` instead of HTML.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import force_locale, gettext

from app.extensions import db, login_manager
from scheduling.db import OUTAGE_ERRORS, OUTAGE_RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = OUTAGE_RETRY_AFTER_SECONDS
UNAVAILABLE = OUTAGE_ERRORS


def _texts(locale: str) -> dict[str, str]:
    with force_locale(locale):
        return {
            "lang": locale,
            "title": gettext("RadBook is temporarily unavailable"),
            "body": gettext(
                "RadBook cannot reach its database right now. Anything you did "
                "not see confirmed was not saved. Please try again in a minute."
            ),
            "hint": gettext(
                "If this page stays for more than a few minutes, call the hospital's IT staff."
            ),
            "retry": gettext("Try again"),
        }


def database_unavailable(error: Exception) -> Response:
    # The type and the driver's first line only: the full message may hold SQL parameters
    # (patient data).
    reason = str(getattr(error, "orig", None) or type(error).__name__).splitlines()[0][:200]
    log.error(
        "database unavailable: %s %s: %s: %s",
        request.method,
        request.path,
        type(error).__name__,
        reason,
    )
    with contextlib.suppress(Exception):
        db.session.rollback()
    if "_login_user" not in g:
        # Flask-Login would load the user from the database for the template context.
        g._login_user = login_manager.anonymous_user()
    texts = [_texts("th"), _texts("en")]
    if request.blueprint == "fhir":
        response = jsonify(
            {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "transient",
                        "diagnostics": f"{texts[0]['title']}. {texts[1]['title']}.",
                    }
                ],
            }
        )
        response.content_type = "application/fhir+json; charset=utf-8"
        response.status_code = 503
    else:
        response = Response(
            render_template("errors/database_unavailable.html", texts=texts),
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    for error_class in UNAVAILABLE:
        app.register_error_handler(error_class, database_unavailable)
