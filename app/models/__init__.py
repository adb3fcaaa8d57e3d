"""All models, importable from one place (``from app.models import Appointment``).

Each area keeps its own module; a new module must be imported here so that
Alembic autogenerate and ``db.create_all`` see it.
"""

from app.models.audit import AuditEvent, AuditEventPatient
from app.models.capacity import (
    AccessionCounter,
    CapacityTemplate,
    CapacityWindow,
    Closure,
    ClosureKind,
    Quota,
)
from app.models.enums import (
    AppointmentStatus,
    DicomCharset,
    HospitalLevel,
    IdentifierType,
    Interface,
    PatientIdPolicy,
    Priority,
    RequestStatus,
    Role,
    Sex,
    StudySource,
)
from app.models.hl7 import (
    Hl7Charset,
    Hl7Destination,
    Hl7InboundMessage,
    Hl7OrderFormat,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7Outcome,
    OutboxStatus,
)
from app.models.line import (
    LineAccount,
    LineLinkCode,
    LineMessageKind,
    LineOutbox,
    LineOutboxStatus,
    LinePatientLink,
    LinePatientReply,
    LineReplyKind,
    LineWebhookEvent,
)
from app.models.network import ApiClient, Device, Hospital, Modality, Procedure, User
from app.models.orders import Appointment, ImagingRequest, Study
from app.models.patients import Patient, PatientHN
from app.models.security import LoginThrottle
from app.models.worklist import MppsStatus, PacsQueryState, PerformedProcedureStep

__all__ = [
    "AccessionCounter",
    "CapacityTemplate",
    "CapacityWindow",
    "Closure",
    "ClosureKind",
    "Quota",
    "ApiClient",
    "Appointment",
    "AppointmentStatus",
    "AuditEvent",
    "AuditEventPatient",
    "Device",
    "DicomCharset",
    "Hospital",
    "Hl7Charset",
    "Hl7Destination",
    "Hl7InboundMessage",
    "Hl7OrderFormat",
    "Hl7OutboundEvent",
    "Hl7OutboxMessage",
    "Hl7Outcome",
    "HospitalLevel",
    "IdentifierType",
    "ImagingRequest",
    "Interface",
    "LineAccount",
    "LineLinkCode",
    "LineMessageKind",
    "LineOutbox",
    "LineOutboxStatus",
    "LinePatientLink",
    "LinePatientReply",
    "LineReplyKind",
    "LineWebhookEvent",
    "LoginThrottle",
    "Modality",
    "MppsStatus",
    "PacsQueryState",
    "OutboxStatus",
    "Patient",
    "PatientHN",
    "PatientIdPolicy",
    "PerformedProcedureStep",
    "Priority",
    "Procedure",
    "RequestStatus",
    "Role",
    "Sex",
    "Study",
    "StudySource",
    "User",
]
