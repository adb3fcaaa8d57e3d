"""Managing FHIR API clients: create, change scopes, rotate the token, revoke.

A token is shown once, when it is made (``create_client``, ``rotate_token`` return it);
only its SHA-256 and its first characters are kept. Revoking stops the token at once
and for good: to let the system in again, rotate (a new token, the old one stays dead).
Every change writes one audit event (never the token).

Scopes are SMART on FHIR v2 *system* scopes, ``system/<type or *>.<c r u d s>``:
``system/*.rs`` reads and searches everything, ``system/*.c`` creates, and
``system/ServiceRequest.c`` creates orders only. The v1 spellings ``.read``, ``.write``
and ``.*`` are accepted and stored in v2 form. The hospital the client acts for limits
what the scopes reach (docs/access-control.md).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import func, select

from integrations.fhir.models import DEFAULT_SCOPES, ApiClient
from scheduling.audit import Actor, record, update_recorded
from scheduling.db import db
from scheduling.errors import FieldRefused, NotFound
from scheduling.hospitals import hospital_by_id_or_code
from scheduling.i18n import N_
from scheduling.models import Hospital

TOKEN_PREFIX = "rbk_"
SHOWN_PREFIX = 8  # characters of the token kept to recognise it ("rbk_Ab3x")

_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_ORDER = "cruds"


def new_token() -> str:
    """A bearer token: 256 random bits, URL-safe, recognisable by its prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(text: str | None, known_types: set[str] | None = None) -> str:
    """Scopes as stored: v2 spelling, one per (type), permissions in c-r-u-d-s order."""
    merged: dict[str, set[str]] = {}
    for word in (text or "").replace(",", " ").split():
        match = _SCOPE.match(word.strip())
        perms = match and _V1.get(match.group(2), match.group(2))
        if not match or not perms or any(p not in _ORDER for p in perms):
            raise FieldRefused(
                "scopes",
                N_("%(scope)s is not a scope such as system/*.rs or system/ServiceRequest.c"),
                code="bad-scope",
                scope=word[:80],
            )
        resource = match.group(1)
        if known_types is not None and resource != "*" and resource not in known_types:
            raise FieldRefused(
                "scopes",
                N_("RadBook does not serve the resource type %(type)s"),
                code="bad-scope",
                type=resource[:64],
            )
        merged.setdefault(resource, set()).update(perms)
    if not merged:
        raise FieldRefused("scopes", N_("Give the client at least one scope"), code="no-scope")
    return " ".join(
        f"system/{resource}.{''.join(p for p in _ORDER if p in perms)}"
        for resource, perms in sorted(merged.items(), key=lambda kv: (kv[0] != "*", kv[0]))
    )


def allows(scopes: str, resource_type: str, permission: str) -> bool:
    """Whether stored scopes grant ``permission`` (one of c r u d s) on ``resource_type``."""
    for word in scopes.split():
        match = _SCOPE.match(word)
        if not match:
            continue
        if match.group(1) in ("*", resource_type) and permission in match.group(2):
            return True
    return False


def _name(name: str | None, own_id: int | None = None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise FieldRefused("name", N_("Give the client a name of 1 to 100 characters"))
    query = select(func.count()).select_from(ApiClient).where(ApiClient.name == name)
    if own_id is not None:
        query = query.where(ApiClient.id != own_id)
    if db.session.scalar(query):
        raise FieldRefused("name", N_("Another API client already has this name"), code="duplicate")
    return name


def _known_types() -> set[str]:
    from integrations.fhir.registry import READERS

    return set(READERS)


def _issue(client: ApiClient, now: datetime) -> str:
    token = new_token()
    client.token_sha256 = ApiClient.hash_token(token)
    client.token_prefix = token[:SHOWN_PREFIX]
    client.token_issued_at = now
    return token


def create_client(
    actor: Actor,
    now: datetime,
    *,
    name: str,
    hospital_id: int | None = None,
    hospital_code: str | None = None,
    scopes: str | None = None,
) -> tuple[ApiClient, str]:
    """A new client and its token (the only time the token is seen). Committed, audited."""
    hospital = hospital_by_id_or_code(hospital_id, hospital_code)
    client = ApiClient(
        name=_name(name),
        hospital_id=hospital.id,
        scopes=parse_scopes(DEFAULT_SCOPES if scopes is None else scopes, _known_types()),
        is_enabled=True,
        created_at=now,
    )
    token = _issue(client, now)
    db.session.add(client)
    db.session.flush()
    record(
        actor,
        "fhir.client.create",
        now,
        entity=client,
        hospital_id=hospital.id,
        name=client.name,
        scopes=client.scopes,
        token_prefix=client.token_prefix,
    )
    db.session.commit()
    return client, token


def update_client(
    actor: Actor,
    now: datetime,
    client: ApiClient,
    *,
    name: str | None = None,
    scopes: str | None = None,
) -> ApiClient:
    """Rename a client or change its scopes (the hospital stays: make a new client)."""
    new: dict[str, str] = {}
    if name is not None:
        new["name"] = _name(name, client.id)
    if scopes is not None:
        new["scopes"] = parse_scopes(scopes, _known_types())
    update_recorded(actor, "fhir.client.update", now, client, new, hospital_id=client.hospital_id)
    db.session.commit()
    return client


def rotate_token(actor: Actor, now: datetime, client: ApiClient) -> str:
    """A new token for the client; the old one stops at once. A revoked client is
    enabled again with the new token."""
    old_prefix = client.token_prefix
    token = _issue(client, now)
    client.is_enabled, client.revoked_at = True, None
    record(
        actor,
        "fhir.client.rotate",
        now,
        entity=client,
        hospital_id=client.hospital_id,
        old_token_prefix=old_prefix,
        token_prefix=client.token_prefix,
    )
    db.session.commit()
    return token


def revoke_client(actor: Actor, now: datetime, client: ApiClient) -> ApiClient:
    """The client's token stops working now (the breach procedure's first step)."""
    if client.is_enabled:
        client.is_enabled, client.revoked_at = False, now
        record(
            actor,
            "fhir.client.revoke",
            now,
            entity=client,
            hospital_id=client.hospital_id,
            token_prefix=client.token_prefix,
        )
    db.session.commit()
    return client


def get_client(client_id: int) -> ApiClient:
    client = db.session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(N_("No API client has the number %(id)s"), code="no-client", id=client_id)
    return client


def list_clients() -> list[ApiClient]:
    return list(
        db.session.scalars(
            select(ApiClient).join(ApiClient.hospital).order_by(Hospital.code, ApiClient.name)
        )
    )
