"""Background services (DICOM SCP, HL7 listener, jobs) that ``flask serve`` runs beside the web app.

Adapters register a starter in their ``init_app``; each starter runs its service in
daemon threads and returns a function that stops it. Production runs each service
as its own process instead (docs/deploy.md).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

Starter = Callable[[Flask], Callable[[], None]]


def add_service(app: Flask, name: str, starter: Starter) -> None:
    app.extensions.setdefault("radbook_services", {})[name] = starter


def services(app: Flask) -> dict[str, Starter]:
    return dict(app.extensions.get("radbook_services", {}))
