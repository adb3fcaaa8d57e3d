"""The health region office's view: capacity and use per scanner and modality, waiting
time against the office's targets, no-shows, returns and quota use over the region's
hubs, as tables, charts and an .xlsx workbook. Aggregates only (``scheduling.region_stats``)."""

from __future__ import annotations

from flask import Flask

from app.navigation import add_nav_item
from app.region import routes
from scheduling.i18n import N_
from scheduling.models import Role


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    add_nav_item(app, "region.index", N_("Health region"), {Role.REGION_OFFICE}, order=45)
