"""Modality Worklist: a C-FIND identifier → one SQL query → one identifier per step.

Every live appointment is one Requested Procedure with one Scheduled Procedure
Step. The matching keys of PS3.4 Annex K become WHERE clauses on indexed columns
(``ix_appointment_device_start`` for the usual "my station, today" query), so the
cost of a query follows the number of matches, not the size of the schedule.

The answer carries exactly the attributes the query asked for (K.2.2.1.2): known
ones with their values, unknown ones empty with their dictionary VR.
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from sqlalchemy import (
    Select,
    String,
    and_,
    case,
    false,
    func,
    inspect,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import aliased

from scheduling import screening
from scheduling.db import db
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    DicomCharset,
    Hospital,
    HubProtocol,
    ImagingRequest,
    Patient,
    PatientHN,
    PatientIdPolicy,
    Priority,
    Procedure,
)
from scheduling.patients import PREFIXES
from worklist import charsets, encoding
from worklist.devices import DeviceInfo
from worklist.matching import (
    LIKE_ESCAPE,
    MAX_MATCH_CHARS,
    InvalidMatchingValue,
    NamePattern,
    TimeRange,
    combined_range,
    has_wildcard,
    is_universal,
    parse_date_matching,
    parse_name_matching,
    parse_time_matching,
    wildcard_to_like,
)

# Issuer of Patient ID for the national ID: the TH Core identifier system (as FHIR uses).
NATIONAL_ID_ISSUER = "https://terms.sil-th.org/id/th-cid"
# Procedure codes are RadBook's own catalogue codes ("99" = local coding scheme, PS3.16 8.2).
PROCEDURE_CODING_SCHEME = "99RADBOOK"
# The hubs' protocol lists (HubProtocol.code), a local scheme of their own.
PROTOCOL_CODING_SCHEME = "99RBPROTOCOL"

# Scheduled Procedure Step Status (0040,0020) ↔ appointment status.
SPS_STATUS: dict[AppointmentStatus, str] = {
    AppointmentStatus.BOOKED: "SCHEDULED",
    AppointmentStatus.ARRIVED: "ARRIVED",
    AppointmentStatus.IN_PROGRESS: "STARTED",
    AppointmentStatus.COMPLETED: "COMPLETED",
    AppointmentStatus.CANCELLED: "CANCELED",
    AppointmentStatus.DISCONTINUED: "DISCONTINUED",
}
# Steps a scanner should still perform; the others are hidden unless asked for by status.
OPEN_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)

PRIORITY = {Priority.STAT: "STAT", Priority.URGENT: "HIGH", Priority.ROUTINE: "ROUTINE"}

CONTRAST_AGENT = (
    ("gadolinium", "Gadolinium contrast"),
    ("iodinated", "Iodinated contrast"),
    ("barium", "Barium"),
)

# Tags, by keyword, resolved once.
T = {
    kw: Tag(kw)
    for kw in (
        "SpecificCharacterSet",
        "AccessionNumber",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "MedicalAlerts",
        "Allergies",
        "PatientWeight",
        "PregnancyStatus",
        "CommentsOnTheScheduledProcedureStep",
        "StudyInstanceUID",
        "RequestedProcedureID",
        "RequestedProcedureDescription",
        "RequestedProcedureCodeSequence",
        "RequestedProcedurePriority",
        "ReasonForTheRequestedProcedure",
        "PlacerOrderNumberImagingServiceRequest",
        "FillerOrderNumberImagingServiceRequest",
        "RequestingPhysician",
        "RequestingService",
        "ScheduledProcedureStepSequence",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "ScheduledProcedureStepEndDate",
        "ScheduledProcedureStepEndTime",
        "Modality",
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepDescription",
        "ScheduledProtocolCodeSequence",
        "ScheduledProcedureStepID",
        "ScheduledStationName",
        "ScheduledProcedureStepLocation",
        "ScheduledProcedureStepStatus",
        "RequestedContrastAgent",
        "CodeValue",
        "CodingSchemeDesignator",
        "CodeMeaning",
    )
}

_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})


# ---------------------------------------------------------------------------
# The query
# ---------------------------------------------------------------------------

_requester = aliased(Hospital, name="requester")
# The hub's own record of the person, when it keeps one: its HN and the demographics the
# hub decided on (docs/patient-identity.md). Without one, the requester's record.
_hub_record = aliased(Patient, name="hub_record")


def _patient(name: str):
    """A patient attribute from the hub's own record if there is one, else the request's."""
    return case(
        (_hub_record.id.is_not(None), getattr(_hub_record, name)), else_=getattr(Patient, name)
    )


# Records whose ``updated_at`` moves with every change to them, by the label of that stamp.
VERSIONED = {
    "updated_at": Appointment,
    "request_updated_at": ImagingRequest,
    "patient_updated_at": Patient,
    "hub_record_updated_at": _hub_record,
}
VERSIONED_TABLES = frozenset(inspect(table).selectable.name for table in VERSIONED.values())

COLUMNS = (
    Appointment.id.label("appointment_id"),
    Appointment.patient_id,  # for the audit event naming who was disclosed to whom
    Appointment.accession_number,
    Appointment.study_instance_uid,
    Appointment.requested_procedure_id,
    Appointment.sps_id,
    Appointment.start_at,
    Appointment.end_at,
    Appointment.status,
    Device.ae_title,
    Device.name.label("device_name"),
    Device.station_name,
    Device.modality_code,
    Patient.id_value,
    *(
        _patient(name).label(name)
        for name in (
            "prefix",
            "given_name_th",
            "family_name_th",
            "given_name_en",
            "family_name_en",
            "birth_date",
            "sex",
        )
    ),
    # Alerts from both records: a contrast allergy either hospital knows must reach the
    # scanner whichever record the hub chose for the demographics.
    Patient.medical_alerts,
    _hub_record.medical_alerts.label("hub_alerts"),
    PatientHN.hn,
    Procedure.code.label("procedure_code"),
    Procedure.name_en.label("procedure_name_en"),
    Procedure.name_th.label("procedure_name_th"),
    Procedure.prep_tags,
    ImagingRequest.placer_order_number,
    ImagingRequest.priority,
    ImagingRequest.indication,
    ImagingRequest.requesting_clinician,
    _requester.name_th.label("requester_name_th"),
    _requester.name_en.label("requester_name_en"),
    # Screening and the radiologist's protocol (docs/clinical-rules.md).
    ImagingRequest.screening,
    ImagingRequest.protocol_contrast,
    ImagingRequest.protocol_notes,
    HubProtocol.code.label("protocol_code"),
    HubProtocol.name_en.label("protocol_name_en"),
    # What the answer cache keys on (ANSWER_KEY below): compared, never shown, so
    # fetched as the driver gives them (no UTCDateTime conversion per row).
    *(type_coerce(table.updated_at, String()).label(label) for label, table in VERSIONED.items()),
)

_COLUMN_NAMES = [column.name for column in COLUMNS]

# The answer cache (``worklist.prepared``) keys a step's encoded answer on ANSWER_KEY:
# the step's id, the ``updated_at`` of the records in VERSIONED (every change to one of
# them moves it: scheduling.booking, .requests, .vetting, .patients, integrations.hl7's
# merge) and the values of every other column (devices, procedures, hospitals, protocols,
# the HN: reference data without such a stamp). So a column added to COLUMNS is in the
# key by itself unless it comes from a record that moves its ``updated_at``.
ANSWER_KEY: tuple[str, ...] = (
    "appointment_id",
    *VERSIONED,
    *(
        column.name
        for column in COLUMNS
        if not {table.name for table in column._from_objects} <= VERSIONED_TABLES
    ),
)
# The key of a fetched row (the rows have COLUMNS' order).
answer_key = operator.itemgetter(*(_COLUMN_NAMES.index(name) for name in ANSWER_KEY))


def _build_base_statement() -> Select:
    return (
        select(*COLUMNS)
        .select_from(Appointment)
        .join(Device, Device.id == Appointment.device_id)
        .join(Patient, Patient.id == Appointment.patient_id)
        .join(ImagingRequest, ImagingRequest.id == Appointment.request_id)
        .join(Procedure, Procedure.id == ImagingRequest.procedure_id)
        .join(_requester, _requester.id == ImagingRequest.requesting_hospital_id)
        .outerjoin(HubProtocol, HubProtocol.id == ImagingRequest.protocol_id)
        .outerjoin(
            _hub_record,
            and_(
                _hub_record.hospital_id == Appointment.hub_hospital_id,
                _hub_record.id_type == Patient.id_type,
                _hub_record.id_value == Patient.id_value,
            ),
        )
        .outerjoin(
            PatientHN,
            and_(
                PatientHN.patient_id == _hub_record.id,
                PatientHN.hospital_id == Appointment.hub_hospital_id,
            ),
        )
    )


_BASE_STATEMENT: Select | None = None


def _base_statement() -> Select:
    # Built once: a Select is immutable (every .where() makes a new one), and building
    # the joins cost more than running the query.
    global _BASE_STATEMENT
    if _BASE_STATEMENT is None:
        _BASE_STATEMENT = _build_base_statement()
    return _BASE_STATEMENT


def _text_value(ds: Dataset | None, tag: int) -> str | None:
    """A matching key's value as text; None when absent or universal.

    Values are read from the raw bytes where possible: converting an element makes
    pydicom validate it and warn, and a malformed value here is the scanner's error,
    reported back as a failure status rather than logged on every query.
    """
    if ds is None or tag not in ds:
        return None
    elem = ds.get_item(tag)
    if isinstance(elem, RawDataElement) and not _is_pn(tag):
        raw = elem.value or b""
        value = raw.decode("utf-8", "replace").strip("\x00 ")
    else:
        value = ds[tag].value
        if value is None:
            return None
        if not isinstance(value, str):
            # Several values: only UIDs may list them (C.2.2.2.2); keep the whole value
            # as one string so an odd query never matches by accident.
            value = (
                "\\".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
            )
    value = value.strip()
    return None if is_universal(value) else value


def _is_pn(tag: int) -> bool:
    try:
        return dictionary_VR(tag) == "PN"
    except KeyError:
        return False


def _match(column, value: str, *, upper: bool = False):
    if len(value) > MAX_MATCH_CHARS:  # longer than any attribute it is compared with
        raise InvalidMatchingValue(f"matching value longer than {MAX_MATCH_CHARS} characters")
    if upper:
        column = func.upper(column)
        value = value.upper()
    if has_wildcard(value):
        return column.like(wildcard_to_like(value), escape=LIKE_ESCAPE)
    return column == value


def _name_expressions():
    roman = func.rtrim(_patient("family_name_en") + "^" + _patient("given_name_en"), "^")
    thai = func.rtrim(_patient("family_name_th") + "^" + _patient("given_name_th"), "^")
    return roman, thai


def _name_clause(pattern: NamePattern):
    # Person names match case-insensitively (C.2.2.2.1 leaves it to the SCP): people
    # type "somsri" at the console; Thai has no case, so this only concerns the Latin.
    roman, thai = _name_expressions()
    if pattern.any_group:
        assert pattern.alphabetic is not None
        return or_(
            _match(roman, pattern.alphabetic, upper=True),
            _match(thai, pattern.alphabetic, upper=True),
        )
    clauses = []
    if pattern.alphabetic is not None:
        clauses.append(_match(roman, pattern.alphabetic, upper=True))
    if pattern.ideographic is not None:
        clauses.append(_match(thai, pattern.ideographic, upper=True))
    return and_(*clauses)


def _status_clause(value: str | None):
    if value is None:
        return Appointment.status.in_(OPEN_STATUSES)
    wanted = [
        status
        for status, code in SPS_STATUS.items()
        if (code == value.upper() if not has_wildcard(value) else _like_py(code, value.upper()))
    ]
    return Appointment.status.in_(wanted) if wanted else None


def _like_py(text: str, pattern: str) -> bool:
    """DICOM wildcard matching in Python, for the few status codes (no SQL needed)."""
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


@dataclass
class Query:
    statement: Select | None  # None: nothing can match
    time_of_day: TimeRange | None  # applied to the fetched rows (a time with no date)


def build_query(
    identifier: Dataset,
    caller: DeviceInfo,
    directory_get: Callable[[str], DeviceInfo | None],
    zone: tzinfo,
) -> Query:
    """Translate the matching keys of ``identifier`` into one SELECT.

    Raises InvalidMatchingValue for a value that cannot be parsed.
    """
    stmt = _base_statement().where(Appointment.hub_hospital_id == caller.hospital_id)
    sps_seq = identifier.get(T["ScheduledProcedureStepSequence"])
    sps = sps_seq.value[0] if sps_seq is not None and sps_seq.VR == "SQ" and sps_seq.value else None

    # Scheduled Station AE Title, or the caller's own steps when it is left empty.
    station = _text_value(sps, T["ScheduledStationAETitle"])
    if station is not None:
        if has_wildcard(station):
            stmt = stmt.where(_match(Device.ae_title, station))
        else:
            device = directory_get(station)
            # An unknown or other hub's station has no steps here.
            if device is None or device.hospital_id != caller.hospital_id:
                return Query(None, None)
            stmt = stmt.where(Appointment.device_id == device.id)
    elif caller.filter_by_calling_ae and not _station_is_universal_wildcard(sps):
        stmt = stmt.where(Appointment.device_id == caller.id)

    modality = _text_value(sps, T["Modality"])
    if modality is not None:
        stmt = stmt.where(_match(Device.modality_code, modality))

    dates = parse_date_matching(_text_value(sps, T["ScheduledProcedureStepStartDate"]))
    times = parse_time_matching(_text_value(sps, T["ScheduledProcedureStepStartTime"]))
    instants, time_of_day = combined_range(dates, times, zone)
    if instants is not None:
        if instants.low is not None:
            stmt = stmt.where(Appointment.start_at >= instants.low)
        if instants.high is not None:
            stmt = stmt.where(Appointment.start_at < instants.high)

    status_clause = _status_clause(_text_value(sps, T["ScheduledProcedureStepStatus"]))
    if status_clause is None:
        return Query(None, None)
    stmt = stmt.where(status_clause)

    if _text_value(sps, T["ScheduledPerformingPhysicianName"]) is not None:
        # RadBook does not assign performing physicians: every step has an empty value,
        # which only universal matching matches.
        return Query(None, None)

    sps_id = _text_value(sps, T["ScheduledProcedureStepID"])
    if sps_id is not None:
        stmt = stmt.where(_match(Appointment.sps_id, sps_id))

    patient_id = _text_value(identifier, T["PatientID"])
    issuer = _text_value(identifier, T["IssuerOfPatientID"])
    if patient_id is not None or issuer is not None:
        clause = _patient_id_clause(patient_id, issuer, caller)
        if clause is None:
            return Query(None, None)
        stmt = stmt.where(clause)

    name = parse_name_matching(_text_value(identifier, T["PatientName"]))
    if name is not None:
        stmt = stmt.where(_name_clause(name))

    for key, column in (
        ("AccessionNumber", Appointment.accession_number),
        ("RequestedProcedureID", Appointment.requested_procedure_id),
        ("StudyInstanceUID", Appointment.study_instance_uid),
    ):
        value = _text_value(identifier, T[key])
        if value is not None:
            stmt = stmt.where(_match(column, value))

    stmt = stmt.order_by(Appointment.start_at, Appointment.id)
    return Query(stmt, time_of_day)


def _patient_id_clause(patient_id: str | None, issuer: str | None, caller: DeviceInfo):
    """Patient ID (0010,0020) and Issuer of Patient ID (0010,0021) match the pair the
    answer carries for the step (``_patient_id`` and ``_issuer``): the hub's HN with the
    hub's code, or, for a patient without a hub HN (or a device that takes national
    IDs), the national ID with its issuer. So a scanner finds a step again by whichever
    of the two RadBook gave it. None when nothing can match (an issuer of neither)."""
    by_national_id = caller.patient_id_policy is PatientIdPolicy.NATIONAL_ID
    gives_hn = PatientHN.hn.is_not(None) if not by_national_id else false()
    gives_national = PatientHN.hn.is_(None) if not by_national_id else true()
    clauses = []
    if patient_id is not None:
        clauses.append(
            or_(
                and_(gives_hn, _match(PatientHN.hn, patient_id)),
                and_(gives_national, _match(Patient.id_value, patient_id)),
            )
        )
    if issuer is not None:
        wanted = []
        if _value_matches(NATIONAL_ID_ISSUER, issuer):
            wanted.append(gives_national)
        if _value_matches(caller.hospital_code, issuer):
            wanted.append(gives_hn)
        if not wanted:
            return None
        clauses.append(or_(*wanted))
    return and_(*clauses)


def _value_matches(value: str, key: str) -> bool:
    """Single value or wildcard matching of one known string (C.2.2.2.1, C.2.2.2.4)."""
    return _like_py(value, key) if has_wildcard(key) else value == key


def _station_is_universal_wildcard(sps: Dataset | None) -> bool:
    """``*`` asks for every station explicitly; only a *missing or empty* value is narrowed."""
    if sps is None or T["ScheduledStationAETitle"] not in sps:
        return False
    value = sps[T["ScheduledStationAETitle"]].value
    return isinstance(value, str) and value.strip() != "" and set(value.strip()) == {"*"}


def fetch(query: Query, zone: tzinfo) -> list[Any]:
    """Run the one SELECT (needs an app context)."""
    if query.statement is None:
        return []
    # Core execution on the session's connection: the rows are plain columns, and the
    # ORM's per-statement bookkeeping cost as much as the query.
    rows = db.session.connection().execute(query.statement).all()
    if query.time_of_day is not None:
        rows = [r for r in rows if query.time_of_day.contains(r.start_at.astimezone(zone).time())]
    return rows


# ---------------------------------------------------------------------------
# The answer
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    caller: DeviceInfo
    zone: tzinfo

    @property
    def charset(self) -> DicomCharset:
        return self.caller.charset


def _local(value: datetime, zone: tzinfo) -> datetime:
    return value.astimezone(zone)


def _alert_lines(text: str | None) -> list[str]:
    if not text:
        return []
    lines = [line.strip() for line in text.replace(";", "\n").splitlines()]
    return [line[:64] for line in lines if line]


def _alerts_of(row) -> str | None:
    """The hub's record's alerts, then the request's that it does not already list."""
    if not row.hub_alerts or row.hub_alerts == row.medical_alerts:
        return row.medical_alerts
    lines = _alert_lines(row.hub_alerts)
    lines += [line for line in _alert_lines(row.medical_alerts) if line not in lines]
    return "\n".join(lines)


def _allergies(text: str | None) -> list[str]:
    # RadBook keeps one free-text alerts field; the allergy lines (contrast first of all)
    # also go to Allergies (0010,2110), which many consoles show in red.
    return [line for line in _alert_lines(text) if "แพ้" in line or "allerg" in line.lower()]


def _medical_alerts(row, ctx: Context) -> list[str]:
    """The patient's alerts, then the request's screening cautions (LOW EGFR 25, ...)."""
    lines = _alert_lines(_alerts_of(row))
    day = _local(row.start_at, ctx.zone).date()
    return lines + [a for a in screening.alerts_for(row.screening, row, day) if a not in lines]


def _all_allergies(row, ctx: Context) -> list[str]:
    found = _allergies(_alerts_of(row))
    reaction = screening.allergy_text(row.screening)
    return found + [reaction[:64]] if reaction else found


def _weight(row, ctx: Context) -> str:
    weight = (row.screening or {}).get("weight_kg")
    return f"{float(weight):g}" if weight is not None else ""


def _pregnancy(row, ctx: Context) -> int | None:
    answer = (row.screening or {}).get("pregnancy")
    return screening.DICOM_PREGNANCY.get(answer) if answer else None


def _contrast(prep_tags: str | None) -> str:
    tags = prep_tags or ""
    for needle, text in CONTRAST_AGENT:
        if needle in tags:
            return text
    return ""


def _requested_contrast(row, ctx: Context) -> str:
    """The radiologist's decision when there is one, else what the procedure implies."""
    if row.protocol_code is not None and not row.protocol_contrast:
        return ""
    agent = _contrast(row.prep_tags)
    return agent or ("Contrast" if row.protocol_contrast else "")


def _step_description(row, ctx: Context) -> str:
    if row.protocol_code is None:
        return row.procedure_name_en[:64]
    contrast = "WITH CONTRAST" if row.protocol_contrast else "NO CONTRAST"
    return f"{row.protocol_name_en} {contrast}"[:64]


def _patient_name(row, ctx: Context) -> str:
    prefix_th, prefix_en = PREFIXES.get(row.prefix, ("", ""))
    # Registration romanises every name (staff corrections win, Patient.romanised_by_staff);
    # a patient that arrived without one (e.g. an old HL7 feed) is romanised here.
    return charsets.person_name(
        ctx.charset,
        family_en=row.family_name_en or charsets.romanised(row.family_name_th or ""),
        given_en=row.given_name_en or charsets.romanised(row.given_name_th or ""),
        family_th=row.family_name_th,
        given_th=row.given_name_th,
        prefix_en=prefix_en,
        prefix_th=prefix_th,
    )


def _patient_id(row, ctx: Context) -> str:
    if ctx.caller.patient_id_policy is PatientIdPolicy.NATIONAL_ID:
        return row.id_value
    # A patient booked without an HN at the hub still needs an ID on the scanner.
    return row.hn or row.id_value


def _issuer(row, ctx: Context) -> str:
    if ctx.caller.patient_id_policy is PatientIdPolicy.NATIONAL_ID or not row.hn:
        return NATIONAL_ID_ISSUER
    return ctx.caller.hospital_code


def _clinician(row, ctx: Context) -> str:
    return charsets.free_text(ctx.charset, row.requesting_clinician).replace("^", " ")[:64]


CODE_ITEM: dict[int, Callable[[Any, Context], Any]] = {
    T["CodeValue"]: lambda r, c: r.procedure_code,
    T["CodingSchemeDesignator"]: lambda r, c: PROCEDURE_CODING_SCHEME,
    T["CodeMeaning"]: lambda r, c: r.procedure_name_en[:64],
}


# The protocol the radiologist chose (the hub's list), else the requested procedure.
PROTOCOL_ITEM: dict[int, Callable[[Any, Context], Any]] = {
    T["CodeValue"]: lambda r, c: r.protocol_code or r.procedure_code,
    T["CodingSchemeDesignator"]: lambda r, c: (
        PROTOCOL_CODING_SCHEME if r.protocol_code else PROCEDURE_CODING_SCHEME
    ),
    T["CodeMeaning"]: lambda r, c: (r.protocol_name_en or r.procedure_name_en)[:64],
}


# A value getter, or a getter map for a sequence of one item made from the same row.
Getter = Callable[[Any, Context], Any] | dict

SPS_ITEM: dict[int, Getter] = {
    T["ScheduledStationAETitle"]: lambda r, c: r.ae_title,
    T["ScheduledProcedureStepStartDate"]: lambda r, c: _local(r.start_at, c.zone).strftime(
        "%Y%m%d"
    ),
    T["ScheduledProcedureStepStartTime"]: lambda r, c: _local(r.start_at, c.zone).strftime(
        "%H%M%S"
    ),
    T["ScheduledProcedureStepEndDate"]: lambda r, c: _local(r.end_at, c.zone).strftime("%Y%m%d"),
    T["ScheduledProcedureStepEndTime"]: lambda r, c: _local(r.end_at, c.zone).strftime("%H%M%S"),
    T["Modality"]: lambda r, c: r.modality_code,
    T["ScheduledPerformingPhysicianName"]: lambda r, c: "",
    T["ScheduledProcedureStepDescription"]: _step_description,
    T["ScheduledProtocolCodeSequence"]: PROTOCOL_ITEM,
    T["CommentsOnTheScheduledProcedureStep"]: lambda r, c: (r.protocol_notes or "")[:10240],
    T["ScheduledProcedureStepID"]: lambda r, c: r.sps_id,
    T["ScheduledStationName"]: lambda r, c: (r.station_name or r.ae_title)[:16],
    T["ScheduledProcedureStepLocation"]: lambda r, c: charsets.ascii_only(r.device_name)[:16],
    T["ScheduledProcedureStepStatus"]: lambda r, c: SPS_STATUS.get(r.status, ""),
    T["RequestedContrastAgent"]: _requested_contrast,
}

TOP_LEVEL: dict[int, Getter] = {
    T["AccessionNumber"]: lambda r, c: r.accession_number,
    T["ReferringPhysicianName"]: _clinician,
    T["PatientName"]: _patient_name,
    T["PatientID"]: _patient_id,
    T["IssuerOfPatientID"]: _issuer,
    T["PatientBirthDate"]: lambda r, c: r.birth_date.strftime("%Y%m%d") if r.birth_date else "",
    T["PatientSex"]: lambda r, c: r.sex.value if r.sex is not None else "",
    T["MedicalAlerts"]: _medical_alerts,
    T["Allergies"]: _all_allergies,
    T["PatientWeight"]: _weight,
    T["PregnancyStatus"]: _pregnancy,
    T["StudyInstanceUID"]: lambda r, c: r.study_instance_uid,
    T["RequestedProcedureID"]: lambda r, c: r.requested_procedure_id,
    T["RequestedProcedureDescription"]: lambda r, c: r.procedure_name_en[:64],
    T["RequestedProcedureCodeSequence"]: CODE_ITEM,
    T["RequestedProcedurePriority"]: lambda r, c: PRIORITY.get(r.priority, "ROUTINE"),
    T["ReasonForTheRequestedProcedure"]: lambda r, c: charsets.free_text(c.charset, r.indication)[
        :64
    ],
    T["PlacerOrderNumberImagingServiceRequest"]: lambda r, c: r.placer_order_number,
    T["FillerOrderNumberImagingServiceRequest"]: lambda r, c: r.accession_number,
    T["RequestingPhysician"]: _clinician,
    T["RequestingService"]: lambda r, c: charsets.free_text(
        c.charset, r.requester_name_th, r.requester_name_en
    )[:64],
    T["RequestedContrastAgent"]: _requested_contrast,
    T["ScheduledProcedureStepSequence"]: SPS_ITEM,
}


def _fit(value: Any, vr: str, charset: DicomCharset) -> Any:
    """Keep text inside what the scanner's character set can carry."""
    if vr not in _TEXT_VRS or charset is DicomCharset.UTF8:
        return value
    if isinstance(value, list):
        return [_fit(v, vr, charset) for v in value]
    if not isinstance(value, str) or value.isascii():
        return value
    if charset is DicomCharset.ASCII:
        return charsets.ascii_only(value)
    return value.encode("iso8859_11", "replace").decode("iso8859_11")


@dataclass(frozen=True)
class Slot:
    """One attribute of the answer: where its value comes from, or a nested item's slots."""

    tag: int
    vr: str
    getter: Callable[[Any, Context], Any] | None
    item: tuple[Slot, ...] | None = None  # SQ: the slots of its one item


@dataclass(frozen=True)
class ResponsePlan:
    """What a query asks for, worked out once per C-FIND and applied to every row."""

    slots: tuple[Slot, ...]
    wants_charset: bool


def _slots(template: Dataset | None, getters: dict[int, Getter]) -> tuple[Slot, ...]:
    """The attributes ``template`` asks for (all of ``getters`` when it has none)."""
    tags = list(template.keys()) if template is not None and len(template) else list(getters)
    slots = []
    for tag in sorted(Tag(t) for t in tags):
        if tag.is_private or tag.element == 0 or tag == T["SpecificCharacterSet"]:
            continue
        vr = template.get_item(tag).VR if template is not None and tag in template else None
        if vr is None or vr == "UN" or " or " in vr:
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                continue
        getter = getters.get(tag)
        if vr == "SQ":
            nested = None
            if template is not None and tag in template and template[tag].value:
                nested = template[tag].value[0]
            item = _slots(nested, getter) if isinstance(getter, dict) else None
            slots.append(Slot(tag, vr, None, item))
        else:
            slots.append(Slot(tag, vr, getter if callable(getter) else None))
    return tuple(slots)


def response_plan(query: Dataset) -> ResponsePlan:
    return ResponsePlan(_slots(query, TOP_LEVEL), T["SpecificCharacterSet"] in query)


def _values(slots: tuple[Slot, ...], row: Any, ctx: Context) -> list[tuple[int, str, Any]]:
    out = []
    for slot in slots:
        if slot.vr == "SQ":
            items = [] if slot.item is None else [_values(slot.item, row, ctx)]
            out.append((slot.tag, "SQ", items))
        elif slot.getter is None:
            out.append((slot.tag, slot.vr, None))
        else:
            value = slot.getter(row, ctx)
            out.append((slot.tag, slot.vr, _fit(value, slot.vr, ctx.charset) or None))
    return out


def answer_elements(plan: ResponsePlan, row: Any, ctx: Context) -> list[tuple[int, str, Any]]:
    """The answer for one step as (tag, VR, value) in tag order, Specific Character Set first."""
    values = _values(plan.slots, row, ctx)
    charset = charsets.SPECIFIC_CHARACTER_SET[ctx.charset]
    if charset or plan.wants_charset:
        values.insert(0, (T["SpecificCharacterSet"], "CS", charset or None))
    return values


def _to_dataset(elements: list[tuple[int, str, Any]]) -> Dataset:
    ds = Dataset()
    for tag, vr, value in elements:
        if vr == "SQ":
            ds.add(DataElement(tag, vr, Sequence([_to_dataset(item) for item in value])))
        else:
            ds.add(DataElement(tag, vr, value))
    return ds


def identifier_for(query: Dataset, row: Any, ctx: Context) -> Dataset:
    """The answer for one step as a pydicom Dataset (worklist files, tests)."""
    return encoding_free_identifier(response_plan(query), row, ctx)


def encoding_free_identifier(plan: ResponsePlan, row: Any, ctx: Context) -> Dataset:
    """The answer as a plain pydicom Dataset, for pydicom to encode however it must."""
    return _to_dataset(answer_elements(plan, row, ctx))


# A compiled slot: (bytes before the length, length format, VR, getter, compiled item or
# None, the whole element when its value is always empty or None).
_Compiled = tuple[bytes, Any, str, Any, Any, bytes | None]


def _compile(slots: tuple[Slot, ...], implicit: bool) -> tuple[_Compiled, ...]:
    compiled = []
    for slot in slots:
        prefix, length = encoding.header(slot.tag, slot.vr, implicit)
        if slot.vr == "SQ":
            item = None if slot.item is None else _compile(slot.item, implicit)
            empty = prefix + length.pack(0) if item is None else None
            compiled.append((prefix, length, "SQ", None, item, empty))
        else:
            empty = prefix + length.pack(0) if slot.getter is None else None
            compiled.append((prefix, length, slot.vr, slot.getter, None, empty))
    return tuple(compiled)


def _render(compiled: tuple[_Compiled, ...], row: Any, ctx: Context) -> bytes:
    parts = []
    charset = ctx.charset
    for prefix, length, vr, getter, item, empty in compiled:
        if empty is not None:
            parts.append(empty)
            continue
        if item is not None:
            payload = encoding.item_bytes(_render(item, row, ctx))
        else:
            value = getter(row, ctx)
            payload = encoding.value_bytes(vr, _fit(value, vr, charset) or None, charset)
        parts.append(prefix + length.pack(len(payload)) + payload)
    return b"".join(parts)


class AnswerEncoder:
    """A query's answer layout compiled once into element headers; then bytes per row."""

    def __init__(self, plan: ResponsePlan, charset: DicomCharset, implicit: bool):
        self._compiled = _compile(plan.slots, implicit)
        value = charsets.SPECIFIC_CHARACTER_SET[charset]
        self._head = b""
        if value or plan.wants_charset:
            prefix, length = encoding.header(T["SpecificCharacterSet"], "CS", implicit)
            payload = encoding.value_bytes("CS", value or None, charset)
            self._head = prefix + length.pack(len(payload)) + payload

    def encode(self, row: Any, ctx: Context) -> bytes:
        return self._head + _render(self._compiled, row, ctx)


def answer_bytes(plan: ResponsePlan, row: Any, ctx: Context, implicit: bool) -> bytes:
    """The answer for one step as the encoded data set (little endian)."""
    return AnswerEncoder(plan, ctx.charset, implicit).encode(row, ctx)


def encoded_identifier(plan: ResponsePlan, row: Any, ctx: Context, implicit: bool) -> Dataset:
    """The answer for one step, already encoded for a little-endian transfer syntax."""
    return encoding.raw_dataset(answer_elements(plan, row, ctx), ctx.charset, implicit)
