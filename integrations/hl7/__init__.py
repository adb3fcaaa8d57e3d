"""HL7 v2 adapter: MLLP listener (orders, ADT, results in), booking orders out to PACS/RIS.

``init_app`` wires it into the Flask app: the ``hl7`` CLI group (``hl7 serve``), the
listener as a ``flask serve`` service, the outbox job, the domain-signal receivers that
queue outbound orders, and the admin pages (journal, outbox, destinations).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from flask import Flask

from scheduling.hosting import AdapterHost

DEFAULTS = {
    # Loopback unless told: a deployment names the address the HIS and PACS reach
    # (docs/deploy.md), and only registered senders' addresses are answered anyway.
    "HL7_HOST": os.environ.get("HL7_HOST", "127.0.0.1"),
    "HL7_MAX_MESSAGE_BYTES": int(os.environ.get("HL7_MAX_MESSAGE_BYTES", str(1024 * 1024))),
    "HL7_MAX_CONNECTIONS": int(os.environ.get("HL7_MAX_CONNECTIONS", "32")),
    "HL7_IDLE_TIMEOUT_SECONDS": float(os.environ.get("HL7_IDLE_TIMEOUT_SECONDS", "600")),
    "HL7_BLOCK_TIMEOUT_SECONDS": float(os.environ.get("HL7_BLOCK_TIMEOUT_SECONDS", "60")),
    "HL7_SENDER_REFRESH_SECONDS": float(os.environ.get("HL7_SENDER_REFRESH_SECONDS", "10")),
    "HL7_WORKERS": int(os.environ.get("HL7_WORKERS", "4")),
    # ``flask hl7 serve``: listener processes on one port (SO_REUSEPORT), for more cores.
    "HL7_PROCESSES": int(os.environ.get("HL7_PROCESSES", "1")),
    "HL7_SEND_TIMEOUT": float(os.environ.get("HL7_SEND_TIMEOUT", "30")),
    "HL7_OUTBOX_INTERVAL_SECONDS": int(os.environ.get("HL7_OUTBOX_INTERVAL_SECONDS", "15")),
    "HL7_OUTBOX_MAX_ATTEMPTS": int(os.environ.get("HL7_OUTBOX_MAX_ATTEMPTS", "12")),
}


def make_listener(
    app: Flask, host: str | None = None, port: int | None = None, *, reuse_port: bool = False
):
    """An MllpServer bound to this app's inbound processing (not started); messages that
    arrive together on several connections are committed together (group commit).
    ``reuse_port``: other listener processes may bind the same port (SO_REUSEPORT)."""
    from integrations.hl7.inbound import InboundProcessor
    from integrations.hl7.mllp import MllpServer

    processor = InboundProcessor(app)
    return MllpServer(
        processor,
        batch_handler=processor.process_batch,  # group commit across connections
        reuse_port=reuse_port,
        host=app.config["HL7_HOST"] if host is None else host,
        port=app.config["HL7_PORT"] if port is None else port,
        max_message_bytes=app.config["HL7_MAX_MESSAGE_BYTES"],
        workers=app.config["HL7_WORKERS"],
        max_connections=app.config["HL7_MAX_CONNECTIONS"],
        idle_timeout=app.config["HL7_IDLE_TIMEOUT_SECONDS"],
        block_timeout=app.config["HL7_BLOCK_TIMEOUT_SECONDS"],
    )


def _warm_up() -> None:
    # Loading pythainlp's romanisation takes most of a second: do it before the first
    # message, not while a sender waits for its ACK.
    from scheduling.patients import romanise_thai

    romanise_thai("ทดสอบ")


def start_listener_service(app: Flask) -> Callable[[], None]:
    """``flask serve``: the listener in a background thread."""
    _warm_up()
    server = make_listener(app).start()
    return server.stop


def drain_job(app: Flask) -> None:
    from integrations.hl7.outbound import drain_outbox

    drain_outbox(app)


def init_app(app: Flask, host: AdapterHost) -> None:
    from integrations.hl7.cli import hl7_cli, sender_cli
    from integrations.hl7.outbound import connect_signals

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.cli.add_command(hl7_cli)
    app.cli.add_command(sender_cli)
    host.add_service("hl7", start_listener_service)
    host.add_job(
        "hl7-outbox", drain_job, "interval", seconds=app.config["HL7_OUTBOX_INTERVAL_SECONDS"]
    )
    connect_signals()
