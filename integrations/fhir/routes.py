"""The REST layer: ``/fhir/<type>``, ``/fhir/<type>/<id>``, ``/fhir/metadata``.

Thin: authenticate, negotiate the format, call a handler, audit, answer. Every
error leaves as an OperationOutcome with its HTTP status.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from integrations.fhir import search
from integrations.fhir.auth import FhirClient, authenticate
from integrations.fhir.built import Built
from integrations.fhir.clients import allows
from integrations.fhir.errors import (
    MSG_ACCEPT,
    MSG_BAD_JSON,
    MSG_MEDIA_TYPE,
    MSG_METHOD,
    MSG_RACE,
    MSG_SCOPE,
    MSG_SERVER,
    MSG_UNKNOWN_TYPE,
    MSG_WRONG_TYPE,
    FhirError,
    from_domain_error,
    operation_outcome,
)
from scheduling.audit import record
from scheduling.clock import utcnow
from scheduling.db import OUTAGE_ERRORS, OUTAGE_RETRY_AFTER_SECONDS, db
from scheduling.errors import DomainError
from scheduling.i18n import N_, translate

if TYPE_CHECKING:
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

# fhir.resources (the models, the resource registry) is imported on the first FHIR
# request, not at start-up: a process that never answers FHIR never loads it.

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = {"application/fhir+json", "application/json", "json", "application/*", "*/*"}

bp = Blueprint("fhir", __name__, url_prefix="/fhir")


def fhir_response(
    resource: Built | FHIRAbstractModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if isinstance(resource, Built):
        body = resource.json()
    else:
        body = resource.model_dump_json(exclude_none=True)
    return Response(
        body, status=status, headers=headers, content_type=f"{FHIR_JSON}; charset=utf-8"
    )


def base_url() -> str:
    return request.url_root.rstrip("/") + bp.url_prefix


def _client() -> FhirClient:
    return g.fhir_client


@bp.before_request
def _negotiate_and_authenticate() -> None:
    fmt = request.args.get("_format")
    if fmt is not None and fmt not in _JSON_TYPES:
        raise FhirError(406, MSG_ACCEPT, code="format")
    if request.accept_mimetypes and not any(
        request.accept_mimetypes[m] for m in (FHIR_JSON, "application/json")
    ):
        raise FhirError(406, MSG_ACCEPT, code="format")
    if request.endpoint == "fhir.metadata":
        return  # the CapabilityStatement is public, as FHIR clients expect
    g.fhir_client = authenticate(request)


@bp.errorhandler(FhirError)
def _fhir_error(error: FhirError) -> Response:
    db.session.rollback()
    client = g.get("fhir_client")
    if client is not None and (error.status == 403 or error.denied):
        # Reaching for another hospital's rows is worth a line in the audit trail (the
        # client was answered as if the row did not exist).
        record(
            client.actor,
            "fhir.denied",
            utcnow(),
            path=request.path,
            code="out-of-scope" if error.denied else error.code,
        )
        db.session.commit()
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="RadBook FHIR"' + (
            ', error="invalid_token"' if error.code == "invalid-token" else ""
        )
    return fhir_response(operation_outcome(error), error.status, headers)


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    return _fhir_error(from_domain_error(error))


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    message = MSG_METHOD if status == 405 else MSG_SERVER
    return _fhir_error(FhirError(status, message, code=f"http-{status}", detail=error.description))


def _database_unavailable(error: Exception) -> Response:
    """503 with a "transient" OperationOutcome, Thai then English (the web's page is
    app/db_outage.py); the driver's first line only is logged: the rest may hold SQL
    parameters (patient data)."""
    reason = str(getattr(error, "orig", None) or type(error).__name__).splitlines()[0][:200]
    log.error(
        "database unavailable: %s %s: %s: %s",
        request.method,
        request.path,
        type(error).__name__,
        reason,
    )
    with contextlib.suppress(Exception):
        db.session.rollback()
    title = N_("RadBook is temporarily unavailable")
    response = jsonify(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "transient",
                    "diagnostics": f"{translate(title, 'th')}. {translate(title, 'en')}.",
                }
            ],
        }
    )
    response.content_type = "application/fhir+json; charset=utf-8"
    response.status_code = 503
    response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    return response


# Found before the catch-all below because Flask looks for the most specific class.
for _error_class in OUTAGE_ERRORS:
    bp.register_error_handler(_error_class, _database_unavailable)


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    if current_app.testing:
        raise error
    log.exception("FHIR request failed: %s %s", request.method, request.path)
    return _fhir_error(FhirError(500, MSG_SERVER, code="exception"))


@bp.get("/metadata")
def metadata() -> Response:
    from integrations.fhir.capability import capability_statement

    return fhir_response(capability_statement(base_url()))


def _reader(resource_type: str):
    from integrations.fhir.registry import READERS

    reader = READERS.get(resource_type)
    if reader is None:
        raise FhirError(
            404,
            MSG_UNKNOWN_TYPE,
            code="unknown-type",
            type=resource_type,
            issue_type="not-supported",
        )
    return reader


def _require(resource_type: str, permission: str) -> None:
    """The client's scopes must grant this interaction (403, audited as a denial)."""
    if not allows(_client().api_client.scopes, resource_type, permission):
        raise FhirError(403, MSG_SCOPE[permission], code="insufficient-scope", type=resource_type)


@bp.route("/<resource_type>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def type_level(resource_type: str) -> Response:
    reader = _reader(resource_type)
    if request.method == "GET":
        _require(resource_type, "s")
        return _search(reader, request.args)
    if request.method == "POST":
        _require(resource_type, "c")
        return _create(resource_type)
    raise FhirError(405, MSG_METHOD, code="not-supported")


@bp.route("/<resource_type>/_search", methods=["GET", "POST"])
def search_endpoint(resource_type: str) -> Response:
    reader = _reader(resource_type)
    _require(resource_type, "s")
    args = MultiDict(request.args)
    for key, value in request.form.items(multi=True):
        args.add(key, value)
    return _search(reader, args)


@bp.route("/<resource_type>/<id_>", methods=["GET", "PUT", "PATCH", "DELETE"])
def instance_level(resource_type: str, id_: str) -> Response:
    reader = _reader(resource_type)
    if request.method != "GET":
        # Updates and deletes go through the workflow (cancel, reschedule), not raw PUTs.
        raise FhirError(405, MSG_METHOD, code="not-supported")
    _require(resource_type, "r")
    client = _client()
    now = utcnow()
    resource, row = reader.read(client, id_, now)
    record(
        client.actor,
        "fhir.read",
        now,
        entity=row if _is_row(row) else None,
        resource=f"{resource_type}/{id_}",
    )
    db.session.commit()
    return fhir_response(resource)


@bp.route("/", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unsupported(rest: str = "") -> Response:
    raise FhirError(404, MSG_METHOD, code="not-supported", issue_type="not-supported")


def _is_row(row) -> bool:
    return hasattr(row, "__tablename__")


def _search(reader, args: MultiDict) -> Response:
    client = _client()
    params = search.parse(args, reader.all_params())
    now = utcnow()
    resources, total = reader.search(client, params, now)
    # One event naming every patient of the page.
    record(
        client.actor,
        "fhir.search",
        now,
        resource=reader.resource_type,
        query=urlencode(list(args.items(multi=True))),
        total=total,
        patient_ids=[r.patient_id for r in resources],
    )
    db.session.commit()
    return fhir_response(_bundle(reader.resource_type, args, params, resources, total))


def _bundle(
    resource_type: str,
    args: MultiDict,
    params: search.Params,
    resources: list[Built],
    total: int | None,
) -> Built:
    base = base_url()

    def page_url(offset: int) -> str:
        pairs = [(k, v) for k, v in args.items(multi=True) if k not in ("_offset", "_count")]
        pairs += [("_count", str(params.count)), ("_offset", str(offset))]
        return f"{base}/{resource_type}?{urlencode(pairs)}"

    links = [{"relation": "self", "url": page_url(params.offset)}]
    more = (total is None and len(resources) == params.count) or (
        total is not None and params.offset + len(resources) < total
    )
    if more:
        links.append({"relation": "next", "url": page_url(params.offset + params.count)})
    if params.offset > 0:
        links.append(
            {"relation": "previous", "url": page_url(max(params.offset - params.count, 0))}
        )

    def bundle(resource_of) -> dict:
        data: dict = {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": utcnow().isoformat(timespec="seconds"),
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{base}/{r.resource_type}/{r.id}",
                    "resource": resource_of(r),
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
        if total is not None:
            data["total"] = total
        if not resources:
            del data["entry"]
        return data

    # The entries were each checked when built; the Bundle is checked around those models.
    from fhir.resources.bundle import Bundle

    checked = Bundle.model_validate(bundle(lambda r: r.model))
    return Built(checked, bundle(lambda r: r.data))


def _create(resource_type: str) -> Response:
    from integrations.fhir.registry import CREATORS

    creator = CREATORS.get(resource_type)
    if creator is None:
        raise FhirError(405, MSG_METHOD, code="not-supported")
    mimetype = request.mimetype
    if mimetype not in ("application/fhir+json", "application/json"):
        raise FhirError(415, MSG_MEDIA_TYPE, code="media-type")
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except (ValueError, RecursionError) as exc:  # nesting too deep is not JSON we take
        raise FhirError(400, MSG_BAD_JSON, code="json", detail=str(exc)) from exc
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise FhirError(400, MSG_WRONG_TYPE, code="resource-type", expected=resource_type)
    client = _client()
    try:
        resource, row, created = creator(client, body, utcnow())
    except IntegrityError:
        # Two creates raced (the same If-None-Exist, the same national ID or placer
        # number): the other one committed first. Once more, the conditional now finds
        # its row (200); otherwise the clash is a 409, never a 500 (found by tests/fuzz).
        db.session.rollback()
        try:
            resource, row, created = creator(client, body, utcnow())
        except IntegrityError as exc:
            db.session.rollback()
            raise FhirError(409, MSG_RACE, code="conflict", issue_type="conflict") from exc
    location = f"{base_url()}/{resource_type}/{resource.id}"
    status = 201 if created else 200
    return fhir_response(resource, status, {"Location": location})
