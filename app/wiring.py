"""Everything the factory wires in, listed explicitly: the web blueprints and the
adapters (FHIR, HL7, LINE, DICOM). An adapter gets the app and a host through which
it adds its jobs and services; its admin pages are the web adapter's (app/interfaces).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

import integrations.fhir
import integrations.hl7
import integrations.line
import worklist
from app import (
    admin,
    clinical,
    dashboard,
    db_outage,
    hub,
    jobs,
    pdpa,
    referrals,
    region,
    requests,
)
from app.extensions import csrf
from app.interfaces import hl7 as hl7_pages
from app.interfaces import line as line_pages
from app.navigation import add_nav_item
from app.services import add_service
from scheduling.i18n import N_
from scheduling.models import Role


class FlaskAdapterHost:
    """``scheduling.hosting.AdapterHost`` for one Flask app."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def add_job(
        self,
        job_id: str,
        func: Callable[[Any], Any],
        trigger: str = "interval",
        **trigger_args: Any,
    ) -> None:
        jobs.add_job(self.app, job_id, func, trigger, **trigger_args)

    def add_service(self, name: str, starter: Callable[[Any], Callable[[], None]]) -> None:
        add_service(self.app, name, starter)

    def csrf_exempt(self, view: Any) -> None:
        csrf.exempt(view)


def register_all(app: Flask) -> None:
    for module in (
        db_outage,
        jobs,
        requests,
        hub,
        admin,
        pdpa,
        dashboard,
        referrals,
        region,
        clinical,
    ):
        module.init_app(app)

    host = FlaskAdapterHost(app)
    integrations.fhir.init_app(app, host)
    integrations.hl7.init_app(app, host)
    integrations.line.init_app(app, host)
    worklist.init_app(app, host)

    app.register_blueprint(hl7_pages.bp)
    add_nav_item(app, "hl7_admin.journal", N_("HL7 journal"), {Role.ADMIN}, order=900)
    add_nav_item(app, "hl7_admin.outbox", N_("HL7 outbox"), {Role.ADMIN}, order=910)
    app.register_blueprint(line_pages.bp)
    app.jinja_env.globals.setdefault("line_label", line_pages.line_label)
    add_nav_item(app, "line.outbox_page", N_("LINE messages"), {Role.ADMIN}, order=90)
    add_nav_item(app, "line.staff_groups", N_("LINE staff groups"), {Role.ADMIN}, order=91)
