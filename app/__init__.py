"""RadBook Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, abort, g, request, session
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from app.config import INSTANCE_DIR, Config
from app.extensions import babel, csrf, db, login_manager, migrate
from scheduling import clock
from scheduling.db import db as core_db
from scheduling.models.types import MAX_ROW_ID

log = logging.getLogger(__name__)


def select_locale() -> str:
    """Thai unless the user (or the session, before login) chose English."""
    chosen = session.get("locale")
    if chosen in ("th", "en"):
        return chosen
    if current_user and current_user.is_authenticated:
        return current_user.locale
    return "th"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # WAL lets the web, DICOM, HL7 and jobs processes read while one writes;
    # foreign keys are off by default in SQLite; the busy timeout turns a brief
    # writer collision into a short wait rather than "database is locked".
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: an id the database's INTEGER can hold, else 404.

    Without the bound, ``/hub/exams/99999999999999999999`` reached the query and was an
    OverflowError (SQLite) or "integer out of range" (PostgreSQL): a 500 instead of a
    404 (found by tests/fuzz/web).
    """

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)


def create_app(config_class: type[Config] = Config) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.url_map.converters["int"] = RowIdConverter  # before any route is registered
    app.config.from_object(config_class)
    INSTANCE_DIR.mkdir(exist_ok=True)

    clock.configure(
        timezone=app.config["RADBOOK_TIMEZONE"],
        offset_seconds=app.config["RADBOOK_CLOCK_OFFSET_SECONDS"],
    )
    from app import tables  # noqa: F401  (every package's tables, before the mappers are used)

    db.init_app(app)
    core_db.bind(db.session)
    # Batch mode so column changes work on SQLite; compare types so drift is caught.
    migrate.init_app(
        app,
        db,
        directory=str(INSTANCE_DIR.parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the login page says why on its own
    login_manager.session_protection = "strong"

    from app import errors, filters, navigation, security

    security.register(app)
    errors.register(app)
    filters.register(app)
    navigation.register(app)

    from app.auth import bp as auth_bp
    from app.main import bp as main_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(main_bp)

    from app import sessions
    from app.auth.throttle import purge_job
    from app.jobs import add_job

    add_job(app, "login-throttle-purge", purge_job, "interval", hours=1)
    add_job(app, "session-purge", sessions.purge_job, "interval", hours=1)

    from app.wiring import register_all

    register_all(app)

    from app import cli

    cli.register(app)

    @app.before_request
    def _refuse_nul() -> None:
        # No web form, query or FHIR search has a use for NUL, and PostgreSQL refuses it
        # in any text comparison: ?q=%00 on a search page was a 500 (found by tests/fuzz).
        form = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
        pairs = list(request.args.items(multi=True))
        if form:
            pairs += list(request.form.items(multi=True))
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in pairs):
            abort(400, description=gettext("The request contains a NUL character."))

    @app.before_request
    def _remember_locale_choice() -> None:
        if (lang := request.args.get("lang")) in ("th", "en"):
            session["locale"] = lang
        g.locale = select_locale()

    return app
