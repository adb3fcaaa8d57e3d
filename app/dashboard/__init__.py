"""Dashboards: capacity used, waiting time, no-shows and quota use, drawn as SVG charts
with a CSV export of each (the numbers come from ``scheduling.metrics``)."""

from __future__ import annotations

from flask import Blueprint, Flask

from scheduling.i18n import N_
from scheduling.models import Role

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

from app.dashboard import routes  # noqa: E402,F401


def init_app(app: Flask) -> None:
    from app.navigation import add_nav_item

    app.register_blueprint(bp)
    add_nav_item(app, "dashboard.index", N_("Dashboards"), {Role.SCHEDULER}, order=40)
