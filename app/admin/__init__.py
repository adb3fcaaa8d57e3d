"""Admin: hospitals, devices, procedures, users and roles, the audit log; wires the help pages."""

from __future__ import annotations

from flask import Flask

from app import help as help_pages
from app.admin import interfaces, pacs, routes  # noqa: F401 (their views join the admin blueprint)
from app.navigation import add_nav_item
from scheduling.i18n import N_
from scheduling.models import Role


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    app.add_template_filter(routes.json_text, "json_text")
    add_nav_item(app, "admin.index", N_("Administration"), {Role.ADMIN}, order=80)
    add_nav_item(app, "admin.audit", N_("Audit log"), {Role.ADMIN}, order=81)
    help_pages.init_app(app)
