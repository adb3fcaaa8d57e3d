"""DICOM for the scanners: Modality Worklist, MPPS, echo, and the PACS study query.

``flask --app wsgi worklist serve`` runs the SCP on its own; ``flask serve`` starts
it beside the web app.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from scheduling.hosting import AdapterHost

worklist_cli = AppGroup("worklist", help="DICOM Modality Worklist / MPPS / echo SCP.")

# Settings beyond DESIGN.md's DICOM_AE_TITLE / DICOM_PORT (docs/deploy.md lists them).
DEFAULTS = {
    "DICOM_HOST": "0.0.0.0",
    "DICOM_DEVICE_REFRESH_SECONDS": "10",
    "DICOM_MAX_ASSOCIATIONS": "50",
    "DICOM_LOG_IDENTIFIERS": "",
    "DICOM_FAST_FIND": "1",
}


@worklist_cli.command("serve")
@click.option("--host", default=None, help="Address to listen on (default DICOM_HOST).")
@click.option("--port", type=int, default=None, help="Port (default DICOM_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the DICOM SCP until interrupted."""
    import time

    from worklist.server import start_server

    app = current_app._get_current_object()
    running = start_server(app, host, port)
    click.echo(
        f"DICOM SCP {app.config['DICOM_AE_TITLE']} listening on "
        f"{running.server.server_address[0]}:{running.port} "
        f"({len(running.directory.ae_titles())} devices may associate)"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


def _start_service(app: Flask) -> Callable[[], None]:
    from worklist.server import start_server

    return start_server(app).stop


def init_app(app: Flask, host: AdapterHost) -> None:
    from worklist import pacs_query, referral_watch

    for key, default in DEFAULTS.items():
        app.config.setdefault(key, os.environ.get(key, default))
    app.cli.add_command(worklist_cli)
    host.add_service("dicom", _start_service)
    pacs_query.configure(app, host)
    referral_watch.configure(app, host)
