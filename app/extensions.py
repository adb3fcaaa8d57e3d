"""Flask extensions, created unbound and attached in ``create_app`` (``init_app``)."""

from typing import Any

import click
from flask import Flask
from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from scheduling.db import Base

# Flask-SQLAlchemy over the core's own declarative base: one metadata for every table.
db = SQLAlchemy(model_class=Base)


class LazyMigrate:
    """Flask-Migrate, imported when a migration runs rather than at every process start
    (it imports Alembic: about a quarter of a second of CPU that web, DICOM and HL7
    processes never use). ``init_app`` leaves placeholders that become the real
    extension on first use: ``app.extensions["migrate"]`` (read by flask_migrate's
    functions and migrations/env.py) and the ``flask db`` command group."""

    def init_app(self, app: Flask, db: SQLAlchemy, **options: Any) -> None:
        app.extensions["migrate"] = _PendingMigrate(app, db, options)
        app.cli.add_command(_PendingDbCommands("db", help="Perform database migrations."))


class _PendingMigrate:
    def __init__(self, app: Flask, db: SQLAlchemy, options: dict[str, Any]):
        self._app, self._db, self._options = app, db, options

    def __getattr__(self, name: str) -> Any:
        from flask_migrate import Migrate

        Migrate().init_app(self._app, self._db, **self._options)  # replaces both placeholders
        return getattr(self._app.extensions["migrate"], name)


class _PendingDbCommands(click.Group):
    """Stands for flask_migrate's ``db`` group until it is invoked."""

    def make_context(self, info_name, args, parent=None, **extra):
        from flask_migrate.cli import db as commands

        return commands.make_context(info_name, args, parent=parent, **extra)


migrate = LazyMigrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
