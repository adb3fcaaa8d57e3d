"""Errors the HL7 adapter raises itself, and how domain errors become ERR segments."""

from __future__ import annotations

from integrations.hl7.ack import AckError
from scheduling.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed


class Hl7DataError(ValidationFailed):
    """The message is readable but a field RadBook needs is missing or unknown (AE).

    ``hl7_code`` is from HL7 table 0357 (101 required field missing, 103 table value
    not found, ...); ``location`` is the ERR-2 error location, e.g. ``"OBR^1^4"``.
    """

    def __init__(
        self,
        message: str,
        *,
        hl7_code: str = "101",
        location: str = "",
        code: str | None = None,
        **params: object,
    ):
        super().__init__(message, code=code, **params)
        self.hl7_code = hl7_code
        self.location = location


def ack_error_for(exc: DomainError) -> AckError:
    """Map a domain error to the ERR segment: Thai for people (ERR-8), English for engineers."""
    if isinstance(exc, Hl7DataError):
        hl7_code, location = exc.hl7_code, exc.location
    elif isinstance(exc, ValidationFailed):
        hl7_code, location = "102", ""
    elif isinstance(exc, NotFound):
        hl7_code, location = "204", ""
    elif isinstance(exc, Conflict | NotAllowed):
        hl7_code, location = "207", ""
    else:
        hl7_code, location = "207", ""
    return AckError(
        hl7_code=hl7_code,
        text_en=exc.message("en"),
        text_th=exc.message("th"),
        location=location,
        app_code=exc.code,
    )
