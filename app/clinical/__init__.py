"""The clinical loop on the web: request attachments, the request's timeline and
screening panel, and staff notifications (the in-app list and the unread badge)."""

from __future__ import annotations

from flask import Flask

from app.clinical import routes
from app.navigation import add_nav_item
from scheduling.i18n import N_
from scheduling.models import Role


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    app.context_processor(routes.nav_badge)
    app.add_template_global(routes.clinical_panel)
    add_nav_item(
        app,
        "clinical.notifications",
        N_("Notifications"),
        {Role.REQUESTER, Role.SCHEDULER, Role.RADIOLOGIST},
        order=5,
    )
