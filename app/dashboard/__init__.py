"""Dashboards: capacity used, waiting time, no-shows and quota use, drawn as SVG charts
with a CSV export of each (the numbers come from ``scheduling.metrics``)."""

from __future__ import annotations

from flask import Flask

from app.dashboard import routes
from app.navigation import add_nav_item
from scheduling.i18n import N_
from scheduling.models import Role


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    add_nav_item(app, "dashboard.index", N_("Dashboards"), {Role.SCHEDULER}, order=40)
