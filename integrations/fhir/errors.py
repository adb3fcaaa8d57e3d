"""Errors as OperationOutcome, with the HTTP status FHIR expects.

Language (docs/fhir.md): ``issue.details.text`` is Thai, for the person at the HIS
who will see it; ``issue.diagnostics`` is English, for the integrator reading logs.
``issue.details.coding`` carries RadBook's stable error code (``DomainError.code``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.fhir import systems
from scheduling.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from scheduling.i18n import N_, translate

if TYPE_CHECKING:
    from fhir.resources.operationoutcome import OperationOutcome

# issue.code (http://hl7.org/fhir/issue-type) per HTTP status
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    415: "not-supported",
    422: "business-rule",
    500: "exception",
}


class FhirError(Exception):
    """An error the API answers with an OperationOutcome.

    ``message`` is an English msgid marked with ``N_`` at the raise site, with
    ``%(name)s`` parameters; it is translated to Thai when the outcome is built.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        detail: str | None = None,
        expression: list[str] | None = None,
        issue_type: str | None = None,
        **params: object,
    ):
        self.status = status
        self.issue_type = issue_type or ISSUE_TYPES.get(status, "processing")
        self.msgid = message
        self.code = code
        self.params = params
        self.detail = detail  # extra English diagnostics (e.g. the validator's words)
        self.expression = expression
        # Set by ``as_if_missing``: answered as a missing row, audited as a denial.
        self.denied = False
        super().__init__(message % params if params else message)

    def english(self) -> str:
        text = translate(self.msgid, "en", **self.params)
        return f"{text}: {self.detail}" if self.detail else text

    def thai(self) -> str:
        return translate(self.msgid, "th", **self.params)


def from_domain_error(exc: DomainError) -> FhirError:
    if isinstance(exc, Conflict):
        status = 409
    elif isinstance(exc, NotAllowed):
        status = 403
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, ValidationFailed):
        status = 422
    else:
        status = 422
    return FhirError(status, exc.msgid, code=exc.code, **exc.params)


def _fhir_string(text: str) -> bool:
    return bool(text.strip()) and all(c.isprintable() or c in " \t\r\n" for c in text)


def operation_outcome(error: FhirError) -> OperationOutcome:
    issue: dict = {
        "severity": "error",
        "code": error.issue_type,
        "details": {
            "coding": [{"system": systems.error_system(), "code": error.code}],
            "text": error.thai(),
        },
        "diagnostics": error.english(),
    }
    # An expression names where the client's body was wrong, so it may echo the client's
    # own odd keys; FHIR strings must hold a non-blank character and no control characters.
    expression = [e for e in error.expression or () if _fhir_string(e)]
    if expression:
        issue["expression"] = expression
    from fhir.resources.operationoutcome import OperationOutcome

    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})


# Messages the API raises itself (the domain's own come from scheduling).
MSG_NO_TOKEN = N_("A bearer token is required")
MSG_BAD_TOKEN = N_("The bearer token is not valid")
MSG_UNKNOWN_TYPE = N_("RadBook does not serve the resource type %(type)s")
MSG_METHOD = N_("This interaction is not supported")
MSG_NOT_FOUND = N_("%(type)s/%(id)s was not found")
MSG_BAD_JSON = N_("The request body is not valid JSON")
MSG_BAD_RESOURCE = N_("The resource is not valid FHIR %(type)s")
MSG_WRONG_TYPE = N_("Expected a %(expected)s resource")
MSG_MEDIA_TYPE = N_("Send the resource as application/fhir+json")
MSG_ACCEPT = N_("RadBook answers in application/fhir+json only")
MSG_UNKNOWN_PARAM = N_("Unknown search parameter %(name)s")
MSG_BAD_PARAM = N_("The search parameter %(name)s has an invalid value")
MSG_SERVER = N_("Internal server error")
MSG_RACE = N_("Another request created the same resource at the same moment; search for it")
MSG_SCOPE = {
    "r": N_("This API client may not read %(type)s resources"),
    "s": N_("This API client may not search %(type)s resources"),
    "c": N_("This API client may not create %(type)s resources"),
}


def as_if_missing(missing: FhirError) -> FhirError:
    """Another hospital's row is answered exactly as a row that does not exist (FHIR's
    security page allows 404 for 403, so that an id does not confirm the row is there);
    the route still audits the attempt as ``fhir.denied``."""
    missing.denied = True
    return missing
