"""``flask --app wsgi api-client …``: FHIR API clients for scripts and deployment."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from scheduling.clock import utcnow

api_client_cli = AppGroup(
    "api-client", help="FHIR API clients: the systems that call /fhir with a bearer token."
)


def _actor():
    import getpass

    from scheduling.audit import Actor
    from scheduling.models import Interface

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = "unknown"
    return Actor(interface=Interface.CLI, name=f"api-client:{who}"[:90])


def _run(operation):
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from scheduling.errors import DomainError

    try:
        return operation()
    except DomainError as exc:
        raise click.ClickException(exc.message("en")) from None
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).splitlines()[0][:200] if exc.orig else type(exc).__name__
        raise click.ClickException(
            f"the database is not ready ({reason}): run `flask --app wsgi db upgrade` first"
        ) from None


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
