"""Errors raised by domain operations.

Each carries an English msgid (marked with ``N_`` where raised, translated when
shown: Thai by default) and a stable ``code`` that protocol adapters map to their
own errors (HL7 ACK AE/AR, DICOM status, FHIR OperationOutcome).
"""

from __future__ import annotations

from scheduling.i18n import translate


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **params: object):
        self.msgid = message
        self.params = params
        super().__init__(message % params if params else message)
        if code:
            self.code = code

    def message(self, locale: str = "th") -> str:
        return translate(self.msgid, locale, **self.params)

    @property
    def message_th(self) -> str:
        return self.message("th")


class ValidationFailed(DomainError):
    code = "invalid"


class NotFound(DomainError):
    code = "not-found"


class NotAllowed(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    """The state changed under us: a slot was taken, a transition is no longer valid."""

    code = "conflict"


class FieldRefused(ValidationFailed):
    """A validation failure that belongs to one field of the form that sent the value."""

    def __init__(self, field: str, message: str, *, code: str = "invalid", **params: object):
        super().__init__(message, code=code, **params)
        self.field = field


def operator_message(exc: Exception) -> str | None:
    """What a command-line tool tells its operator about ``exc`` (English), or None when
    it is not a refusal or a database that is not set up yet (then it is a bug)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if isinstance(exc, DomainError):
        return exc.message("en")
    if isinstance(exc, OperationalError | ProgrammingError):
        reason = str(exc.orig).splitlines()[0][:200] if exc.orig else type(exc).__name__
        return f"the database is not ready ({reason}): run `flask --app wsgi db upgrade` first"
    return None
