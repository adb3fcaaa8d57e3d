"""Flask CLI: ``flask --app wsgi demo load`` and friends. Adapters add their own groups."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="Demo data (never in production).")


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo network, users and bookings. Running it twice changes nothing."""
    from app.demo import load_demo

    summary = load_demo(with_bookings=True)
    for key, value in summary.items():
        click.echo(f"{key}: {value}")


@click.command("serve")
@click.option("--no-services", is_flag=True, help="Only the web app.")
def serve(no_services: bool) -> None:
    """Everything in one process for a single machine: web UI and APIs, plus every
    registered service (DICOM, HL7, jobs)."""
    from flask import current_app
    from werkzeug.serving import run_simple

    from app.demo import DEMO_USERS
    from app.demo_data import DEMO_PASSWORD
    from app.security import PathOnlyRequestHandler
    from app.services import services

    app = current_app._get_current_object()
    stoppers = []
    if not no_services:
        for name, starter in services(app).items():
            stoppers.append(starter(app))
            click.echo(f"started {name}")
    host, port = app.config["RADBOOK_HOST"], app.config["RADBOOK_PORT"]
    click.echo(f"\nRadBook: http://{host}:{port}/  (ภาษาไทย; English from the top bar)")
    click.echo(f"Demo logins (password {DEMO_PASSWORD}): " + ", ".join(u[0] for u in DEMO_USERS))
    try:
        run_simple(
            host,
            port,
            app,
            threaded=True,
            use_reloader=False,
            request_handler=PathOnlyRequestHandler,
        )
    finally:
        for stop in stoppers:
            stop()


@click.command("db-is-empty")
def db_is_empty() -> None:
    """Exit 0 when no hospital exists yet (``make run`` loads the demo then)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from scheduling.models import Hospital

    raise SystemExit(0 if not db.session.scalar(select(func.count(Hospital.id))) else 1)


def register(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(serve)
    app.cli.add_command(db_is_empty)
