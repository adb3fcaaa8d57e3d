"""FHIR R5 REST API at ``/fhir`` (docs/fhir.md).

Bearer-token clients (``ApiClient``) read and search RadBook's patients, orders,
bookings and results, and create orders, bookings, studies and reports through the
same ``scheduling`` operations as the web UI.
"""

from __future__ import annotations

import os

from flask import Flask

from integrations.fhir.systems import DEFAULT_CANONICAL_BASE
from scheduling.hosting import AdapterHost


def init_app(app: Flask, host: AdapterHost) -> None:
    from integrations.fhir.cli import api_client_cli
    from integrations.fhir.routes import bp

    app.config.setdefault(
        "FHIR_CANONICAL_BASE", os.environ.get("FHIR_CANONICAL_BASE", DEFAULT_CANONICAL_BASE)
    )
    # Clients authenticate with bearer tokens, never cookies: CSRF cannot apply.
    host.csrf_exempt(bp)
    app.register_blueprint(bp)
    app.cli.add_command(api_client_cli)
