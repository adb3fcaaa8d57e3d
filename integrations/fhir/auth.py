"""Bearer tokens: one ApiClient per calling system, scoped to its hospital."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Request
from sqlalchemy import Select, select

from integrations.fhir.errors import MSG_BAD_TOKEN, MSG_NO_TOKEN, FhirError
from integrations.fhir.models import ApiClient
from scheduling import access
from scheduling.audit import Actor, record
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.models import Hospital, Interface


@dataclass(frozen=True)
class FhirClient:
    """The calling system: what it may see and in whose name it writes."""

    api_client: ApiClient
    hospital: Hospital
    actor: Actor

    @property
    def hospital_id(self) -> int:
        return self.hospital.id

    @property
    def as_hub(self) -> bool:
        # A hub's system (its PACS/RIS) also serves the requests addressed to the hub.
        return self.hospital.is_hub

    def request_scope(self, query: Select | None = None) -> Select:
        return access.hospital_request_scope(self.hospital_id, as_hub=self.as_hub, query=query)

    def patient_scope(self, query: Select | None = None) -> Select:
        return access.hospital_patient_scope(self.hospital_id, as_hub=self.as_hub, query=query)


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request) -> FhirClient:
    """The client for the request's bearer token; a refused attempt is audited and raised."""
    token = _bearer_token(request)
    if token is None:
        _refuse(request, "missing")
        raise FhirError(401, MSG_NO_TOKEN, code="no-token")
    client = db.session.scalar(
        select(ApiClient).where(ApiClient.token_sha256 == ApiClient.hash_token(token))
    )
    if client is None or not client.is_enabled:
        _refuse(
            request,
            "disabled" if client is not None else "unknown",
            client_name=client.name if client is not None else None,
        )
        raise FhirError(401, MSG_BAD_TOKEN, code="invalid-token")
    actor = Actor(
        interface=Interface.FHIR,
        name=client.name,
        hospital_id=client.hospital_id,
        remote_addr=request.remote_addr,
    )
    return FhirClient(api_client=client, hospital=client.hospital, actor=actor)


def _refuse(request: Request, reason: str, client_name: str | None = None) -> None:
    actor = Actor(
        interface=Interface.FHIR, name=client_name or "anonymous", remote_addr=request.remote_addr
    )
    record(actor, "fhir.auth_failed", utcnow(), reason=reason, path=request.path)
    db.session.commit()
