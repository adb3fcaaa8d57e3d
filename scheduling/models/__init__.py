"""The core's tables: the network, patients, orders, capacity and the audit trail.

Adapters keep their own tables in their own packages (``worklist.models``,
``integrations.hl7.models``, ``integrations.line.models``, ``integrations.fhir.models``);
``app.tables`` imports every one of them for Alembic and ``create_all``.
"""

from scheduling.models.audit import AuditEvent, AuditEventPatient
from scheduling.models.capacity import (
    AccessionCounter,
    CapacityTemplate,
    CapacityWindow,
    Closure,
    ClosureKind,
    Quota,
)
from scheduling.models.clinical import HubProtocol, RequestAttachment, VettingRule
from scheduling.models.enums import (
    AppointmentStatus,
    AttachmentKind,
    DicomCharset,
    HospitalLevel,
    IdentifierType,
    Interface,
    PatientIdPolicy,
    Priority,
    ReconciliationStatus,
    ReferralScope,
    ReportStatus,
    RequestStatus,
    Role,
    Sex,
    StudySource,
    TreatmentRight,
    VettingDecision,
)
from scheduling.models.extra import ExtraBooking, ExtraKind
from scheduling.models.network import Device, Hospital, Modality, Procedure, User
from scheduling.models.notifications import StaffNotification, StaffNotificationRead
from scheduling.models.orders import (
    Appointment,
    ImagingRequest,
    ReportVersion,
    Study,
    StudyReconciliation,
)
from scheduling.models.patients import Patient, PatientHN
from scheduling.models.referrals import PriorIdentity, ReferralStudy
from scheduling.models.regions import RegionWaitTarget
from scheduling.models.waitlist import WaitlistEntry, WaitlistOutcome

__all__ = [
    "VettingRule",
    "VettingDecision",
    "TreatmentRight",
    "RequestAttachment",
    "HubProtocol",
    "AttachmentKind",
    "AccessionCounter",
    "Appointment",
    "AppointmentStatus",
    "AuditEvent",
    "AuditEventPatient",
    "CapacityTemplate",
    "CapacityWindow",
    "Closure",
    "ClosureKind",
    "Device",
    "DicomCharset",
    "ExtraBooking",
    "ExtraKind",
    "Hospital",
    "HospitalLevel",
    "IdentifierType",
    "ImagingRequest",
    "Interface",
    "Modality",
    "Patient",
    "PatientHN",
    "PatientIdPolicy",
    "Priority",
    "PriorIdentity",
    "Procedure",
    "Quota",
    "ReferralStudy",
    "ReconciliationStatus",
    "ReferralScope",
    "RegionWaitTarget",
    "ReportStatus",
    "ReportVersion",
    "RequestStatus",
    "Role",
    "Sex",
    "StaffNotification",
    "StaffNotificationRead",
    "Study",
    "StudyReconciliation",
    "StudySource",
    "User",
    "WaitlistEntry",
    "WaitlistOutcome",
]
