"""``flask --app wsgi hl7 …``: the listener, the outbox, and a sender for trying things."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from scheduling.clock import utcnow

hl7_cli = AppGroup("hl7", help="HL7 v2: MLLP listener and outbound orders.")


@hl7_cli.command("serve")
@click.option("--host", default=None, help="Address to listen on (default HL7_HOST).")
@click.option("--port", type=int, default=None, help="Port (default HL7_PORT, 2575).")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="Listener processes sharing the port with SO_REUSEPORT (default HL7_PROCESSES, 1).",
)
def serve(host: str | None, port: int | None, processes: int | None) -> None:
    """Run the MLLP listener until interrupted.

    With several processes the kernel spreads the connections over them; each
    connection stays with one process (its messages in order), the duplicate check is
    the journal's unique key, and every process commits before it answers. The extra
    processes are forked from this one and die with it (``kill -9`` included).
    """
    from integrations.hl7 import _warm_up, make_listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = current_app._get_current_object()
    processes = processes or app.config["HL7_PROCESSES"]
    _warm_up()
    if processes > 1:
        _fork_listeners(processes - 1)
    server = make_listener(app, host, port, reuse_port=processes > 1)
    click.echo(f"HL7 MLLP listener on {server.host}:{server.port or app.config['HL7_PORT']}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def _fork_listeners(count: int) -> None:
    """Fork ``count`` children that return here to run a listener of their own; each is
    killed when this process dies (PR_SET_PDEATHSIG), so none outlives a ``kill -9``."""
    import ctypes
    import os
    import signal

    from scheduling.db import db

    db.session.remove()
    db.session.get_bind().dispose()  # no pooled connection is shared across a fork
    for _ in range(count):
        if os.fork() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            return


@hl7_cli.command("drain")
def drain() -> None:
    """Send the due outbox messages now (the jobs process does this every few seconds)."""
    from integrations.hl7.outbound import drain_outbox

    counts = drain_outbox(current_app._get_current_object())
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


@hl7_cli.command("send")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=None)
def send(path: Path, host: str, port: int | None) -> None:
    """Send one message from a file (segments on lines) and print the answer."""
    from integrations.hl7.mllp import send_block

    data = path.read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    answer = send_block(host, port or current_app.config["HL7_PORT"], data)
    click.echo(answer.replace(b"\r", b"\n").decode("utf-8", "replace"))


@hl7_cli.command("stand-in")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=2576)
@click.option("--answer", type=click.Choice(["AA", "AE", "AR"]), default="AA")
def stand_in(host: str, port: int, answer: str) -> None:
    """A PACS/RIS stand-in for trying outbound orders: prints each message, answers AA.

    Add a destination at /admin/hl7/destinations pointing at it (127.0.0.1:2576).
    """

    from integrations.hl7.ack import AckContext, AckError, build_ack
    from integrations.hl7.message import Hl7Message, Hl7ParseError, decode_message
    from integrations.hl7.mllp import MllpServer

    def handle(block, peer):
        try:
            text, codec, msh18 = decode_message(block.data)
            msg = Hl7Message(text)
        except Hl7ParseError as exc:
            click.echo(f"unreadable block from {peer}: {exc}")
            return None
        click.echo(f"--- {msg.message_type} {msg.control_id} from {peer}")
        click.echo(text.replace("\r", "\n"))
        error = None if answer == "AA" else AckError("207", "stand-in refused", "ทดสอบการปฏิเสธ")
        return build_ack(AckContext.from_message(msg, msh18), answer, utcnow(), error=error).encode(
            codec
        )

    server = MllpServer(handle, host, port)
    click.echo(f"HL7 stand-in receiver on {host}:{port}, answering {answer}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


# --- registered senders -----------------------------------------------------------------------

sender_cli = AppGroup(
    "hl7-sender", help="Systems allowed to send HL7 to RadBook (hospital + source addresses)."
)

_CLI_ACTOR_NAME = "hl7-sender"


def _cli_actor():
    from scheduling.audit import cli_actor

    return cli_actor(_CLI_ACTOR_NAME)


def _run(operation):
    from scheduling.errors import operator_message

    try:
        return operation()
    except Exception as exc:
        message = operator_message(exc)
        if message is None:
            raise
        raise click.ClickException(message) from None


@sender_cli.command("add")
@click.option("--hospital", "hospital_code", required=True, help="MOPH code of the hospital.")
@click.option(
    "--address",
    "address_list",
    required=True,
    multiple=True,
    help="Source IP address or network (e.g. 10.7.1.20 or 10.7.1.0/24); may be repeated.",
)
@click.option("--name", default="", help="What the system is, e.g. 'HIS (HOSxP)'.")
def sender_add(hospital_code: str, address_list: tuple[str, ...], name: str) -> None:
    """Register a sender: messages from these addresses may name this hospital in MSH-4."""
    from integrations.hl7.senders import add_sender

    sender = _run(
        lambda: add_sender(
            _cli_actor(),
            utcnow(),
            hospital_code=hospital_code,
            addresses_text=" ".join(address_list),
            name=name,
        )
    )
    click.echo(f"HL7 sender {sender.id}: {hospital_code} from {sender.addresses}")


@sender_cli.command("list")
def sender_list() -> None:
    """Every registered sender: id, hospital, enabled, addresses, name."""
    from integrations.hl7.senders import list_senders

    for sender in _run(list_senders):
        state = "enabled" if sender.is_enabled else "disabled"
        click.echo(
            f"{sender.id}\t{sender.hospital.code}\t{state}\t{sender.addresses}\t{sender.name}"
        )


@sender_cli.command("remove")
@click.argument("sender_id", type=int)
def sender_remove(sender_id: int) -> None:
    """Remove a sender: its addresses may no longer send (within HL7_SENDER_REFRESH_SECONDS)."""
    from integrations.hl7.senders import remove_sender

    _run(lambda: remove_sender(_cli_actor(), utcnow(), sender_id))
    click.echo(f"HL7 sender {sender_id} removed")
