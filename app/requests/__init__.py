"""Community-hospital staff: find or register a patient, request an exam, book a slot,
print the slip, follow their requests. Thin views over the ``scheduling`` operations."""

from __future__ import annotations

from flask import Flask

from app.navigation import add_nav_item
from app.requests import routes
from scheduling.i18n import N_
from scheduling.models import Role


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    add_nav_item(app, "requests.new", N_("New request"), {Role.REQUESTER}, order=10)
