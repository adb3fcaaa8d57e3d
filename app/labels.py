"""Human labels for enums, as msgids (translated at render time through ``label``)."""

from __future__ import annotations

from enum import Enum

from flask_babel import gettext

from scheduling.i18n import N_
from scheduling.models import (
    AppointmentStatus,
    HospitalLevel,
    Priority,
    ReferralScope,
    ReportStatus,
    RequestStatus,
    Role,
    Sex,
    TreatmentRight,
    VettingDecision,
)

LABELS: dict[Enum, str] = {
    RequestStatus.DRAFT: N_("Draft"),
    RequestStatus.SUBMITTED: N_("Submitted"),
    RequestStatus.ACCEPTED: N_("Accepted"),
    RequestStatus.REJECTED: N_("Rejected"),
    RequestStatus.SCHEDULED: N_("Scheduled"),
    RequestStatus.COMPLETED: N_("Completed"),
    RequestStatus.CANCELLED: N_("Cancelled"),
    AppointmentStatus.BOOKED: N_("Booked"),
    AppointmentStatus.ARRIVED: N_("Arrived"),
    AppointmentStatus.IN_PROGRESS: N_("In progress"),
    AppointmentStatus.COMPLETED: N_("Completed"),
    AppointmentStatus.CANCELLED: N_("Cancelled"),
    AppointmentStatus.NO_SHOW: N_("No-show"),
    AppointmentStatus.MOVED: N_("Moved"),
    AppointmentStatus.DISCONTINUED: N_("Discontinued"),
    ReportStatus.PRELIMINARY: N_("Preliminary"),
    ReportStatus.FINAL: N_("Final"),
    ReportStatus.AMENDED: N_("Amended"),
    Priority.ROUTINE: N_("Routine"),
    Priority.URGENT: N_("Urgent"),
    Priority.STAT: N_("STAT"),
    Role.REQUESTER: N_("Community-hospital staff"),
    Role.SCHEDULER: N_("Hub scheduler"),
    Role.RADIOLOGIST: N_("Radiologist"),
    Role.ADMIN: N_("Administrator"),
    Sex.MALE: N_("Male"),
    Sex.FEMALE: N_("Female"),
    Sex.OTHER: N_("Other"),
    Sex.UNKNOWN: N_("Unknown"),
    HospitalLevel.REGIONAL: N_("Regional hospital"),
    HospitalLevel.GENERAL: N_("General hospital"),
    HospitalLevel.COMMUNITY: N_("Community hospital"),
    HospitalLevel.SUBDISTRICT: N_("Sub-district health promotion hospital"),
    HospitalLevel.PRIVATE: N_("Private hospital"),
    HospitalLevel.UNIVERSITY: N_("University hospital"),
    Role.REGION_OFFICE: N_("Health region office"),
    ReferralScope.ANY: N_("Accepted from anywhere"),
    ReferralScope.REGION_AND_URGENT: N_("Own region; from outside only urgent or STAT"),
    ReferralScope.REGION_ONLY: N_("Own health region only"),
    TreatmentRight.UC: N_("UC (gold card)"),
    TreatmentRight.SSS: N_("Social security"),
    TreatmentRight.CSMBS: N_("Civil servant (CSMBS)"),
    TreatmentRight.LGO: N_("Local government officer"),
    TreatmentRight.SELF_PAY: N_("Self-pay"),
    TreatmentRight.OTHER: N_("Other / insurance"),
    VettingDecision.APPROVED: N_("Approved"),
    VettingDecision.DECLINED: N_("Declined"),
}


def label(value: Enum | None) -> str:
    if value is None:
        return ""
    msgid = LABELS.get(value)
    return gettext(msgid) if msgid else value.name.replace("_", " ").title()
