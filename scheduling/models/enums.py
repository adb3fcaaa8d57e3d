"""Every state and category in RadBook is an enum; never a free-text status string.

Members are stored by *name* (SQLAlchemy's default for ``Enum``), as non-native
VARCHAR + CHECK so adding a member is a plain Alembic revision on both databases.
"""

import enum


class HospitalLevel(enum.Enum):
    REGIONAL = "รพศ."  # regional hospital
    GENERAL = "รพท."  # general hospital
    COMMUNITY = "รพช."  # community hospital
    SUBDISTRICT = "รพ.สต."  # sub-district health promotion hospital
    PRIVATE = "เอกชน"
    UNIVERSITY = "รพ.มหาวิทยาลัย"  # university hospital (outside the MOPH line)


class ReferralScope(enum.Enum):
    """A hub's own rule for requests from hospitals outside its health region."""

    ANY = "any"  # from anywhere
    REGION_AND_URGENT = "region_and_urgent"  # its region; from outside only urgent/stat
    REGION_ONLY = "region_only"  # its region only


class Role(enum.Enum):
    REQUESTER = "requester"  # community-hospital staff
    SCHEDULER = "scheduler"  # hub scheduling / x-ray room staff
    RADIOLOGIST = "radiologist"
    ADMIN = "admin"
    # Health region office: read-only, sees aggregates of one region's hospitals.
    REGION_OFFICE = "region_office"


class IdentifierType(enum.Enum):
    NATIONAL_ID = "national_id"  # 13-digit Thai citizen ID with check digit
    PASSPORT = "passport"
    FOREIGNER_ID = "foreigner_id"  # non-Thai ID issued by DOPA / MOI work permit


class Sex(enum.Enum):
    MALE = "M"
    FEMALE = "F"
    OTHER = "O"
    UNKNOWN = "U"


class Priority(enum.Enum):
    ROUTINE = "routine"
    URGENT = "urgent"
    STAT = "stat"


class RequestStatus(enum.Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class AppointmentStatus(enum.Enum):
    BOOKED = "booked"
    ARRIVED = "arrived"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    # A booking replaced by a reschedule: kept so the history shows where it was.
    MOVED = "moved"
    # The exam was started and stopped part-way (MPPS DISCONTINUED): the slot was used,
    # unlike CANCELLED; the request goes back to ACCEPTED so it can be booked again.
    DISCONTINUED = "discontinued"


class DicomCharset(enum.Enum):
    UTF8 = "ISO_IR 192"  # romanised name + Thai ideographic group (PS3.5 J.5)
    TIS620 = "ISO_IR 166"
    ASCII = "ISO_IR 6"  # romanised only, for scanners that show no Thai


class PatientIdPolicy(enum.Enum):
    """What a hub sends as DICOM Patient ID / HL7 PID-3."""

    HN = "hn"
    NATIONAL_ID = "national_id"


class Interface(enum.Enum):
    """Which door a change or read came in through; recorded on every audit event."""

    WEB = "web"
    FHIR = "fhir"
    HL7 = "hl7"
    DICOM = "dicom"
    LINE = "line"
    JOBS = "jobs"
    CLI = "cli"


class ReportStatus(enum.Enum):
    """Where a request's report stands (HL7 OBR-25 P/F/C, FHIR DiagnosticReport.status)."""

    PRELIMINARY = "preliminary"
    FINAL = "final"
    AMENDED = "amended"


class ReconciliationStatus(enum.Enum):
    """A study whose patient did not match its request: waiting, linked, or refused."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class StudySource(enum.Enum):
    """How a study link was first learnt (the others only confirm it)."""

    MPPS = "mpps"
    HL7 = "hl7"
    FHIR = "fhir"
    PACS_QUERY = "pacs_query"


class TreatmentRight(enum.Enum):
    """สิทธิการรักษา: who pays for the exam (the schemes a Thai referral names)."""

    UC = "uc"  # บัตรทอง / หลักประกันสุขภาพถ้วนหน้า (NHSO)
    SSS = "sss"  # ประกันสังคม (Social Security Office)
    CSMBS = "csmbs"  # ข้าราชการ / เบิกจ่ายตรง (Comptroller General's Department)
    LGO = "lgo"  # ข้าราชการส่วนท้องถิ่น (อปท.)
    SELF_PAY = "self_pay"  # ชำระเงินเอง
    OTHER = "other"  # private insurance, foreign worker insurance, ...


class VettingDecision(enum.Enum):
    """A radiologist's decision on a request that the hub's rules send to vetting."""

    APPROVED = "approved"
    DECLINED = "declined"


class AttachmentKind(enum.Enum):
    REFERRAL_LETTER = "referral_letter"  # ใบส่งตัว
    LAB_RESULT = "lab_result"
    OTHER = "other"
