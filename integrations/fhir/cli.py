"""``flask --app wsgi api-client …``: FHIR API clients for scripts and deployment."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from scheduling.clock import utcnow

api_client_cli = AppGroup(
    "api-client", help="FHIR API clients: the systems that call /fhir with a bearer token."
)


def _actor():
    from scheduling.audit import cli_actor

    return cli_actor("api-client")


def _run(operation):
    from scheduling.errors import operator_message

    try:
        return operation()
    except Exception as exc:
        message = operator_message(exc)
        if message is None:
            raise
        raise click.ClickException(message) from None


@api_client_cli.command("add")
@click.option("--hospital", "hospital_code", required=True, help="MOPH code of the hospital.")
@click.option("--name", required=True, help="A name for the system, e.g. 'HIS รพ.กุดรัง'.")
@click.option(
    "--scope",
    "scope_list",
    multiple=True,
    help="SMART system scope, e.g. system/*.rs (read, search) or system/ServiceRequest.c; "
    "may be repeated. Default: system/*.rs system/*.c.",
)
def add(hospital_code: str, name: str, scope_list: tuple[str, ...]) -> None:
    """Create a client and print its bearer token (shown this once only)."""
    from integrations.fhir.clients import create_client

    client, token = _run(
        lambda: create_client(
            _actor(),
            utcnow(),
            name=name,
            hospital_code=hospital_code,
            scopes=" ".join(scope_list) if scope_list else None,
        )
    )
    click.echo(
        f"API client {client.id} ({client.name}, {hospital_code}): {client.scopes}", err=True
    )
    click.echo("Bearer token (shown once; RadBook keeps only its hash):", err=True)
    click.echo(token)


@api_client_cli.command("list")
def list_() -> None:
    """Every client: id, hospital, state, token prefix, scopes, name."""
    from integrations.fhir.clients import list_clients

    for client in _run(list_clients):
        state = "enabled" if client.is_enabled else "revoked"
        click.echo(
            f"{client.id}\t{client.hospital.code}\t{state}\t{client.token_prefix or '-'}\t"
            f"{client.scopes}\t{client.name}"
        )


@api_client_cli.command("revoke")
@click.argument("client_id", type=int)
def revoke(client_id: int) -> None:
    """Stop a client's token now (give it a new one later with ``rotate``)."""
    from integrations.fhir.clients import get_client, revoke_client

    client = _run(lambda: revoke_client(_actor(), utcnow(), get_client(client_id)))
    click.echo(f"API client {client.id} ({client.name}) revoked")


@api_client_cli.command("rotate")
@click.argument("client_id", type=int)
def rotate(client_id: int) -> None:
    """Give a client a new token (printed once); the old token stops at once."""
    from integrations.fhir.clients import get_client, rotate_token

    token = _run(lambda: rotate_token(_actor(), utcnow(), get_client(client_id)))
    click.echo(f"API client {client_id}: new bearer token (shown once):", err=True)
    click.echo(token)
