"""RadBook's domain core.

Plain functions that take the acting ``user`` (or an actor description for
machines) and ``now`` as arguments and never touch Flask request state, so the
web UI, FHIR, HL7, DICOM and LINE adapters all run the same code path: one
operation, one transaction, one audit event.
"""

from scheduling import limits as _limits  # noqa: F401  (registers the flush check)
from scheduling.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed

__all__ = ["Conflict", "DomainError", "NotAllowed", "NotFound", "ValidationFailed"]
