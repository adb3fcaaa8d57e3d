"""Community-hospital staff: find or register a patient, request an exam, book a slot,
print the slip, follow their requests. Thin views over the ``scheduling`` operations."""

from __future__ import annotations

from flask import Blueprint, Flask

from scheduling.i18n import N_

bp = Blueprint("requests", __name__, url_prefix="/requests")


def init_app(app: Flask) -> None:
    from app.navigation import add_nav_item
    from app.requests import routes  # noqa: F401  (registers the views on bp)
    from scheduling.models import Role

    app.register_blueprint(bp)
    add_nav_item(app, "requests.new", N_("New request"), {Role.REQUESTER}, order=10)
