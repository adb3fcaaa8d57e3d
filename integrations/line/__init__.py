"""LINE for patients: link by slip QR code, confirm, remind and notify through an outbox.

``init_app`` wires the webhook (``/line/webhook``, CSRF-exempt: LINE's signature
protects it), the send job, the receivers of the scheduling
events, the ``flask line`` commands and the demo link.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from scheduling.hosting import AdapterHost

line_cli = AppGroup("line", help="LINE messages: send the outbox, show it, run a stand-in.")


@line_cli.command("send")
def send_command() -> None:
    """Send every due message now (the jobs process does this every half minute)."""
    from integrations.line.delivery import send_due

    report = send_due()
    if not report.configured:
        click.echo("LINE is not configured (LINE_CHANNEL_ACCESS_TOKEN): messages stay queued.")
        return
    click.echo(
        f"sent {report.sent}, retried {report.retried}, failed {report.failed}, "
        f"skipped {report.skipped}, deferred {report.deferred}"
    )


@line_cli.command("status")
def status_command() -> None:
    """Count outbox rows by status."""
    from integrations.line.delivery import outbox_counts

    for status, count in outbox_counts().items():
        click.echo(f"{status.value}: {count}")


@line_cli.command("standin")
@click.option("--port", default=8090, show_default=True)
@click.option("--token", default="standin-token", show_default=True)
def standin_command(port: int, token: str) -> None:
    """Run the local LINE stand-in (for demos without a real channel)."""
    from integrations.line.standin import main

    main(["--port", str(port), "--token", token])


def housekeeping_job(app: Flask) -> None:
    """Forget webhook event IDs after 30 days: LINE redelivers within hours, not months."""
    from datetime import timedelta

    from sqlalchemy import delete

    from integrations.line.models import LineWebhookEvent
    from scheduling.clock import utcnow
    from scheduling.db import db

    db.session.execute(
        delete(LineWebhookEvent).where(LineWebhookEvent.received_at < utcnow() - timedelta(days=30))
    )
    db.session.commit()


def init_app(app: Flask, host: AdapterHost) -> None:
    from integrations.line import delivery, outbox, settings, webhook

    settings.init_settings(app)
    app.register_blueprint(webhook.bp)
    host.csrf_exempt(webhook.bp)
    host.add_job(
        "line-send",
        delivery.send_job,
        "interval",
        seconds=settings.int_setting_from(app, "LINE_SEND_INTERVAL"),
    )
    host.add_job("line-housekeeping", housekeeping_job, "interval", hours=6)
    from integrations.line import staff

    host.add_job(
        "line-staff-groups",
        staff.push_job,
        "interval",
        seconds=settings.int_setting_from(app, "LINE_SEND_INTERVAL"),
    )
    app.cli.add_command(line_cli)
    outbox.connect_receivers()
