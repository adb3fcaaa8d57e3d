"""Bookings out to PACS / RIS: OMI^O23 (v2.5.1) or ORM^O01 (v2.3.1) from a persistent outbox.

- The domain signals (``scheduling/events.py``) arrive inside the booking's own
  transaction; the receivers here only add outbox rows (one per enabled destination),
  so a message exists exactly when the booking it describes is committed.
- The message is built then, with hl7apy, so it says what was true at that moment.
  A build failure must never undo a booking: the row is stored as FAILED with the
  reason, for the admin page.
- ``drain_outbox`` (a job) sends due rows over MLLP in order per destination, checks
  that the ACK is AA/CA for our MSH-10, and retries with exponential backoff.

Content follows IHE Scheduled Workflow (RAD-4 Procedure Scheduled, RAD-13 Procedure
Update): ORC-2 placer order number (namespace: the requesting hospital's MOPH code),
ORC-3 our filler order number (``<request id>^RADBOOK``), the accession number and the
Study Instance UID in IPC-1/IPC-3 (OMI) or OBR-18 and ZDS-1 (ORM), requested procedure
and scheduled procedure step IDs, modality and the scanner's AE title.
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import bindparam, or_, select

from integrations.hl7.ack import APPLICATION
from integrations.hl7.message import (
    Hl7Message,
    Hl7ParseError,
    decode_message,
    escape,
    format_datetime,
    peek_msh,
)
from integrations.hl7.mllp import MllpSendError, send_block
from integrations.hl7.models import (
    Hl7Charset,
    Hl7Destination,
    Hl7OrderFormat,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7PatientUpdate,
    OutboxStatus,
)
from integrations.hl7.patients import TH_CID_SYSTEM
from scheduling import screening
from scheduling.audit import Actor, record
from scheduling.clock import local_today, utcnow
from scheduling.db import db
from scheduling.models import (
    Appointment,
    Hospital,
    IdentifierType,
    Interface,
    PatientIdPolicy,
    Priority,
    ReferralStudy,
)
from scheduling.patients import PREFIXES, record_at
from scheduling.referrals import hub_of
from scheduling.states import LIVE_APPOINTMENT_STATUSES

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
DEFAULT_MAX_ATTEMPTS = 12  # 30 s, 1, 2, 4 ... min, then hourly: about 7 hours in all

# What each charset encodes with: strict TIS-620 (not cp874) so that a receiver
# decoding TIS-620 never meets a Windows-only byte.
CODECS = {
    Hl7Charset.UTF8: "utf-8",
    Hl7Charset.TIS620: "tis_620",
    Hl7Charset.TIS620_DCM4CHE: "tis_620",
    Hl7Charset.ASCII: "ascii",
}
_MSH18_CODECS = {c.value: codec for c, codec in CODECS.items()}

_ORDER_CONTROL = {
    Hl7OutboundEvent.BOOKED: ("NW", "SC"),
    Hl7OutboundEvent.RESCHEDULED: ("XO", "SC"),
    Hl7OutboundEvent.UPDATED: ("XO", "SC"),
    Hl7OutboundEvent.CANCELLED: ("CA", "CA"),
}
_PRIORITY_CODE = {Priority.STAT: "S", Priority.URGENT: "A", Priority.ROUTINE: "R"}
_SEX_CODE = {"MALE": "M", "FEMALE": "F", "OTHER": "O", "UNKNOWN": "U"}


def new_outbox_control_id() -> str:
    return "RB" + uuid.uuid4().hex[:18].upper()


# --- building ---------------------------------------------------------------------------------


def build_order_message(
    destination: Hl7Destination,
    appointment: Appointment,
    event: Hl7OutboundEvent,
    control_id: str,
    now: datetime,
    timezone: str = "Asia/Bangkok",
) -> str:
    """The ER7 text of one order message for one destination (segments end with CR)."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message

    omi = destination.order_format is Hl7OrderFormat.OMI_O23
    version = "2.5.1" if omi else "2.3.1"
    structure = "OMI_O23" if omi else "ORM_O01"
    thai = destination.charset is not Hl7Charset.ASCII
    request = appointment.request
    hub = appointment.hub_hospital
    # The hub's own record of the person when it keeps one (its HN, the demographics it
    # decided on), else the requester's record as the request carries it: what the
    # worklist hands the scanner too.
    patient = record_at(appointment.patient, hub.id) or appointment.patient
    device = appointment.device
    procedure = request.procedure
    order_control, order_status = _ORDER_CONTROL[event]

    msg = Message(structure, version=version, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = msg.msh
    msh.msh_3 = APPLICATION
    msh.msh_4 = escape(hub.code)
    if destination.receiving_application:
        msh.msh_5 = escape(destination.receiving_application)
    if destination.receiving_facility:
        msh.msh_6 = escape(destination.receiving_facility)
    msh.msh_7 = format_datetime(now, timezone)
    msh.msh_9 = f"{structure[:3]}^{structure[4:]}^{structure}"
    msh.msh_10 = control_id
    msh.msh_11 = "P"
    msh.msh_12 = version
    if destination.charset is not Hl7Charset.ASCII:
        msh.msh_18 = destination.charset.value

    patient_group = msg.add_group(f"{structure}_PATIENT")
    pid = patient_group.pid
    pid.pid_1 = "1"
    identifiers = _patient_identifiers(patient, hub)
    pid.pid_3 = identifiers[0]
    for extra in identifiers[1:]:
        pid.add_field("PID_3").value = extra
    names = _patient_names(patient, thai)
    pid.pid_5 = names[0]
    for extra in names[1:]:
        pid.add_field("PID_5").value = extra
    if patient.birth_date:
        pid.pid_7 = patient.birth_date.strftime("%Y%m%d")
    pid.pid_8 = _SEX_CODE.get(patient.sex.name, "U")
    if patient.phone:
        pid.pid_13 = escape(patient.phone)
    visit = patient_group.add_group(f"{structure}_PATIENT_VISIT")
    visit.pv1.pv1_1 = "1"
    visit.pv1.pv1_2 = "O"
    _allergy(patient_group, request)

    order = msg.add_group(f"{structure}_ORDER")
    orc = order.orc
    placer = f"{escape(request.placer_order_number)}^{escape(request.requesting_hospital.code)}"
    filler = f"{request.id}^{APPLICATION}"
    start = format_datetime(appointment.start_at, timezone)
    end = format_datetime(appointment.end_at, timezone)
    priority = _PRIORITY_CODE.get(request.priority, "R")
    orc.orc_1 = order_control
    orc.orc_2 = placer
    orc.orc_3 = filler
    orc.orc_5 = order_status
    orc.orc_9 = format_datetime(now, timezone)
    if request.requesting_clinician:
        orc.orc_12 = "^" + escape(request.requesting_clinician[:100])
    if omi:
        tq1 = order.add_group("OMI_O23_TIMING").tq1
        tq1.tq1_1 = "1"
        tq1.tq1_7 = start
        tq1.tq1_8 = end
        tq1.tq1_9 = priority
        obr = order.obr
    else:
        orc.orc_7 = f"^^^{start}^{end}^{priority}"
        detail = order.add_group("ORM_O01_ORDER_DETAIL")
        obr = detail.add_group("ORM_O01_CHOICE").obr
    procedure_name = procedure.name_th if thai else procedure.name_en
    obr.obr_1 = "1"
    obr.obr_2 = placer
    obr.obr_3 = filler
    obr.obr_4 = f"{escape(procedure.code)}^{escape(procedure_name)}^{APPLICATION}"
    if request.indication:
        obr.obr_13 = escape(request.indication[:300] if thai else _ascii(request.indication))
    obr.obr_19 = escape(appointment.requested_procedure_id)
    obr.obr_20 = escape(appointment.sps_id)
    obr.obr_24 = escape(procedure.modality_code)
    if request.icd10_code:
        obr.obr_31 = f"{escape(request.icd10_code)}^^I10"
    # NTE and OBX follow the OBR (and come before IPC in OMI): hl7apy writes in order.
    _notes_and_observations(order if omi else detail, structure, request, appointment, thai)
    if omi:
        ipc = order.ipc
        ipc.ipc_1 = escape(appointment.accession_number)
        ipc.ipc_2 = escape(appointment.requested_procedure_id)
        ipc.ipc_3 = f"{appointment.study_instance_uid}^{APPLICATION}^Application^DICOM"
        ipc.ipc_4 = escape(appointment.sps_id)
        ipc.ipc_5 = escape(procedure.modality_code)
        if device is not None:
            ipc.ipc_9 = escape(device.ae_title)
    else:
        obr.obr_18 = escape(appointment.accession_number)
        obr.obr_27 = f"^^^{start}^{end}^{priority}"
        if device is not None:
            obr.obr_21 = escape(device.ae_title)
    text = msg.to_er7()
    if not omi:
        # ZDS is an IHE Z-segment (not in the v2.3.1 structures hl7apy knows).
        text += f"\rZDS|{appointment.study_instance_uid}^{APPLICATION}^Application^DICOM"
    return text + "\r"


# Screening answers as observations, coded in LOINC (docs/clinical-rules.md).
_LOINC_CREATININE = "2160-0^Creatinine [Mass/volume] in Serum or Plasma^LN"
_LOINC_EGFR = "98979-8^eGFR CKD-EPI 2021^LN"
_LOINC_WEIGHT = "29463-7^Body weight^LN"
_LOINC_PREGNANCY = "82810-3^Pregnancy status^LN"
_SNOMED_PREGNANCY = {
    "not_pregnant": "60001007^Not pregnant^SCT",
    "possible": "102874004^Possible pregnancy^SCT",
    "pregnant": "77386006^Pregnant^SCT",
}


def _allergy(patient_group, request) -> None:
    """AL1 for a contrast reaction the requester reported."""
    answers = request.screening or {}
    if answers.get("contrast_allergy") != "yes":
        return
    al1 = patient_group.add_segment("AL1")
    al1.al1_1 = "1"
    al1.al1_2 = "DA"
    al1.al1_3 = f"CONTRAST^Contrast media^{APPLICATION}"
    al1.al1_5 = _ascii(str(answers.get("contrast_allergy_detail") or "")[:200])


def _notes_and_observations(parent, structure: str, request, appointment, thai: bool) -> None:
    """NTE: the protocol and the cautions; OBX: creatinine, eGFR, weight, pregnancy."""
    notes = []
    if request.protocol is not None:
        contrast = "with contrast" if request.protocol_contrast else "no contrast"
        notes.append(f"Protocol {request.protocol.code}: {request.protocol.name_en}, {contrast}")
        if request.protocol_notes:
            notes.append(f"Protocol notes: {request.protocol_notes}")
    day = local_today(appointment.start_at)
    cautions = screening.alerts(request, day)
    if cautions:
        notes.append("Alerts: " + "; ".join(cautions))
    for n, text in enumerate(notes, 1):
        nte = parent.add_segment("NTE")
        nte.nte_1 = str(n)
        nte.nte_2 = "L"
        nte.nte_3 = escape(text[:500]) if thai else _ascii(text[:500])
    answers = request.screening or {}
    lab_day = (answers.get("lab_date") or "").replace("-", "")
    observations = [
        ("NM", _LOINC_CREATININE, answers.get("creatinine"), "mg/dL^mg/dL^UCUM", lab_day),
        ("NM", _LOINC_EGFR, answers.get("egfr"), "mL/min/{1.73_m2}^mL/min/1.73m2^UCUM", lab_day),
        ("NM", _LOINC_WEIGHT, answers.get("weight_kg"), "kg^kg^UCUM", ""),
        ("CWE" if structure == "OMI_O23" else "CE", _LOINC_PREGNANCY,
         _SNOMED_PREGNANCY.get(answers.get("pregnancy") or ""), "", ""),
    ]  # fmt: skip
    n = 0
    for value_type, code, value, units, observed in observations:
        if value is None:
            continue
        n += 1
        obx = parent.add_group(f"{structure}_OBSERVATION").obx
        obx.obx_1 = str(n)
        obx.obx_2 = value_type
        obx.obx_3 = code
        obx.obx_5 = f"{value:g}" if isinstance(value, float | int) else str(value)
        if units:
            obx.obx_6 = units
        obx.obx_11 = "F"
        if observed:
            obx.obx_14 = observed


def _patient_identifiers(patient, hub) -> list[str]:
    national = None
    if patient.id_type is IdentifierType.NATIONAL_ID:
        national = f"{escape(patient.id_value)}^^^TH-CID&{TH_CID_SYSTEM}&URI^NI"
    elif patient.id_type is IdentifierType.PASSPORT:
        national = f"{escape(patient.id_value)}^^^^PPN"
    else:
        national = f"{escape(patient.id_value)}^^^^PI"
    hn = patient.hn_at(hub.id)  # only the hub's own record has one there
    hn_cx = f"{escape(hn)}^^^{escape(hub.code)}^MR" if hn else None
    if hub.patient_id_policy is PatientIdPolicy.NATIONAL_ID or hn_cx is None:
        return [national] + ([hn_cx] if hn_cx else [])
    return [hn_cx, national]


def _patient_names(patient, thai: bool) -> list[str]:
    prefix_th, prefix_en = PREFIXES.get(patient.prefix, ("", ""))
    latin = (
        f"{escape(patient.family_name_en.upper())}^{escape(patient.given_name_en.upper())}"
        f"^^^{escape(prefix_en)}"
    )
    if not thai:
        return [latin if patient.given_name_en else _ascii(patient.given_name_th)]
    names = [
        f"{escape(patient.family_name_th)}^{escape(patient.given_name_th)}^^^{escape(prefix_th)}^^L"
    ]
    if patient.given_name_en:
        names.append(latin)
    return names


def _ascii(text: str) -> str:
    return escape(text.encode("ascii", "replace").decode("ascii"))


# --- queueing (signal receivers) --------------------------------------------------------------


@functools.cache
def _destinations_of_hub(*, patient_updates: bool = False):
    """The enabled destinations serving the hub bound as ``hub_id`` (or every hub), in
    order; with ``patient_updates`` only those that take ADT patient updates. Built once:
    every booking runs it, and building it cost more than running it."""
    stmt = (
        select(Hl7Destination)
        .where(
            Hl7Destination.is_enabled.is_(True),
            or_(
                Hl7Destination.hub_hospital_id.is_(None),
                Hl7Destination.hub_hospital_id == bindparam("hub_id"),
            ),
        )
        .order_by(Hl7Destination.id)
    )
    if patient_updates:
        stmt = stmt.where(Hl7Destination.patient_update != Hl7PatientUpdate.OFF)
    return stmt


def enqueue(
    appointment: Appointment, event: Hl7OutboundEvent, now: datetime
) -> list[Hl7OutboxMessage]:
    """Add one outbox row per enabled destination for the appointment's hub (no commit)."""
    destinations = db.session.scalars(
        _destinations_of_hub(), {"hub_id": appointment.hub_hospital_id}
    ).all()
    timezone = _timezone()
    rows = []
    for destination in destinations:
        control_id = new_outbox_control_id()
        row = Hl7OutboxMessage(
            destination=destination,
            appointment=appointment,
            event=event,
            control_id=control_id,
            message_type=destination.order_format.value,
            status=OutboxStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        try:
            row.payload = build_order_message(
                destination, appointment, event, control_id, now, timezone
            )
        except Exception as exc:  # never let an outbound message undo the booking
            log.exception("HL7 outbound: cannot build %s for appointment %s", event, appointment)
            row.status = OutboxStatus.FAILED
            row.last_error = f"build failed: {type(exc).__name__}: {exc}"[:2000]
        db.session.add(row)
        rows.append(row)
    return rows


def _timezone() -> str:
    try:
        return current_app.config.get("RADBOOK_TIMEZONE", "Asia/Bangkok")
    except RuntimeError:
        return "Asia/Bangkok"


def on_appointment_booked(
    sender=None, *, appointment: Appointment, now: datetime, **_: object
) -> None:
    enqueue(appointment, Hl7OutboundEvent.BOOKED, now)


def on_appointment_rescheduled(
    sender=None,
    *,
    appointment: Appointment,
    now: datetime,
    previous: Appointment | None = None,
    **_: object,
) -> None:
    same_study = previous is None or (
        previous.study_instance_uid == appointment.study_instance_uid
        and previous.accession_number == appointment.accession_number
    )
    if same_study:
        enqueue(appointment, Hl7OutboundEvent.RESCHEDULED, now)
    else:
        # A new accession number / Study UID is a new procedure for the PACS: cancel the
        # old one and schedule the new one, rather than "update" an order it cannot match.
        enqueue(previous, Hl7OutboundEvent.CANCELLED, now)
        enqueue(appointment, Hl7OutboundEvent.BOOKED, now)


def on_appointment_cancelled(
    sender=None, *, appointment: Appointment, now: datetime, **_: object
) -> None:
    enqueue(appointment, Hl7OutboundEvent.CANCELLED, now)


# --- patient updates for referral images (IHE PIR) -------------------------------------------

_PATIENT_UPDATE = {
    Hl7PatientUpdate.A40: (Hl7OutboundEvent.PATIENT_MERGE, "A40", "ADT_A39"),
    Hl7PatientUpdate.A47: (Hl7OutboundEvent.PATIENT_ID_CHANGE, "A47", "ADT_A30"),
}
_UPDATE_OF_EVENT = {event: setting for setting, (event, _e, _s) in _PATIENT_UPDATE.items()}


def build_patient_update(
    destination: Hl7Destination,
    prior: ReferralStudy,
    event: Hl7OutboundEvent,
    control_id: str,
    now: datetime,
    timezone: str = "Asia/Bangkok",
) -> str:
    """ADT^A40 (merge) or ADT^A47 (change patient identifier list), v2.5.1: the referral
    study's Patient ID as the PACS files it (MRG-1) becomes the hub's (PID-3)."""
    _setting, trigger, structure = _PATIENT_UPDATE[_UPDATE_OF_EVENT[event]]
    request = prior.request
    hub = db.session.get(Hospital, hub_of(request))
    patient = record_at(request.patient, hub.id) or request.patient
    thai = destination.charset is not Hl7Charset.ASCII
    reported = prior.reported or {}
    when = format_datetime(now, timezone)
    msh = [
        "MSH",
        "^~\\&",
        APPLICATION,
        escape(hub.code),
        escape(destination.receiving_application),
        escape(destination.receiving_facility),
        when,
        "",
        f"ADT^{trigger}^{structure}",
        control_id,
        "P",
        "2.5.1",
    ]
    if thai:
        msh += ["", "", "", "", "", destination.charset.value]
    pid = ["PID", "1", "", "~".join(_patient_identifiers(patient, hub)), ""]
    pid += ["~".join(_patient_names(patient, thai)), ""]
    pid += [patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""]
    pid += [_SEX_CODE.get(patient.sex.name, "U")]
    prior_id = escape(reported.get("patient_id") or "")
    if reported.get("issuer"):
        prior_id += f"^^^{escape(reported['issuer'])}"
    segments = [
        "|".join(msh),
        f"EVN|{trigger}|{when}",
        "|".join(pid),
        f"MRG|{prior_id}",
    ]
    return "\r".join(segments) + "\r"


def enqueue_patient_update(prior: ReferralStudy, now: datetime) -> list[Hl7OutboxMessage]:
    """One outbox row per enabled destination of the hub that takes patient updates."""
    hub_id = hub_of(prior.request)
    destinations = db.session.scalars(
        _destinations_of_hub(patient_updates=True), {"hub_id": hub_id}
    ).all()
    rows = []
    for destination in destinations:
        event, trigger, _structure = _PATIENT_UPDATE[destination.patient_update]
        row = Hl7OutboxMessage(
            destination=destination,
            referral_study=prior,
            event=event,
            control_id=new_outbox_control_id(),
            message_type=f"ADT^{trigger}",
            status=OutboxStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        _build_into(row, now)
        db.session.add(row)
        rows.append(row)
    return rows


def _build(row: Hl7OutboxMessage, now: datetime) -> str:
    if row.referral_study is not None:
        return build_patient_update(
            row.destination, row.referral_study, row.event, row.control_id, now, _timezone()
        )
    return build_order_message(
        row.destination, row.appointment, row.event, row.control_id, now, _timezone()
    )


def _build_into(row: Hl7OutboxMessage, now: datetime) -> None:
    try:
        row.payload = _build(row, now)
    except Exception as exc:  # never let an outbound message undo the change it reports
        log.exception("HL7 outbound: cannot build %s", row.event)
        row.status = OutboxStatus.FAILED
        row.last_error = f"build failed: {type(exc).__name__}: {exc}"[:2000]


def on_referral_identity_confirmed(
    sender=None, *, prior: ReferralStudy, now: datetime, **_: object
) -> None:
    enqueue_patient_update(prior, now)


def on_request_protocolled(sender=None, *, request, now: datetime, **_: object) -> None:
    """The radiologist's protocol, after booking: an order update for the live booking."""
    live = [a for a in request.appointments if a.status in LIVE_APPOINTMENT_STATUSES]
    for appointment in live:
        enqueue(appointment, Hl7OutboundEvent.UPDATED, now)


def connect_signals() -> None:
    from scheduling import events

    events.referral_identity_confirmed.connect(on_referral_identity_confirmed)
    events.request_protocolled.connect(on_request_protocolled)
    # blinker holds receivers weakly; these are module functions, so they stay alive.
    events.appointment_booked.connect(on_appointment_booked)
    events.appointment_rescheduled.connect(on_appointment_rescheduled)
    events.appointment_cancelled.connect(on_appointment_cancelled)


# --- sending ----------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failed ones: 30 s, 1 min, 2 min, ... 1 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def payload_bytes(payload: str) -> bytes:
    msh18 = ""
    try:
        fields = peek_msh(payload.encode("utf-8"))
        msh18 = fields[18].decode("ascii") if len(fields) > 18 else ""
    except Hl7ParseError:
        pass
    codec = _MSH18_CODECS.get(msh18, "ascii" if not msh18 else "utf-8")
    return payload.encode(codec, "replace")


def check_ack(answer: bytes, control_id: str) -> tuple[str, str | None]:
    """(MSA-1, error text or None) of the receiver's answer to our message ``control_id``."""
    try:
        text, _codec, _ = decode_message(answer)
        ack = Hl7Message(text)
    except Hl7ParseError as exc:
        return "", f"unreadable answer: {exc}"
    msa = ack.segment("MSA")
    if msa is None:
        return "", "the answer has no MSA segment"
    code = msa.get(1).upper()
    if msa.get(2) != control_id:
        return code, f"the answer acknowledges {msa.get(2)!r}, not {control_id!r}"
    if code in ("AA", "CA"):
        return code, None
    err = ack.segment("ERR")
    detail = msa.get(3) or (err.get(8) or err.get(7) or err.get(3, 2) if err else "")
    return code, f"{code}: {detail}".strip(": ") or code


def drain_outbox(
    app: Flask | None = None, *, now: datetime | None = None, limit: int = 500
) -> dict[str, int]:
    """Send what is due, oldest first; a destination that fails is left for its next try,
    and its later messages wait behind it so the receiver never sees them out of order."""
    app = app or current_app._get_current_object()
    timeout = float(app.config.get("HL7_SEND_TIMEOUT", 30))
    max_attempts = int(app.config.get("HL7_OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    counts = {"sent": 0, "retry": 0, "failed": 0}
    rows = db.session.scalars(
        select(Hl7OutboxMessage)
        .where(Hl7OutboxMessage.status == OutboxStatus.PENDING)
        .order_by(Hl7OutboxMessage.id)
        .limit(limit)
    ).all()
    blocked: set[int] = set()
    for row in rows:
        if row.destination_id in blocked:
            continue
        current = now or utcnow()
        destination = row.destination
        if not destination.is_enabled or row.next_attempt_at > current:
            blocked.add(row.destination_id)
            continue
        row.attempts += 1
        row.last_attempt_at = current
        try:
            answer = send_block(
                destination.host, destination.port, payload_bytes(row.payload), timeout=timeout
            )
            code, error = check_ack(answer, row.control_id)
        except (MllpSendError, OSError) as exc:
            code, error = None, f"{type(exc).__name__}: {exc}"
        row.ack_code = code or None
        if error is None:
            row.status = OutboxStatus.SENT
            row.sent_at = current
            row.last_error = None
            counts["sent"] += 1
            # The order carried the patient's identity to another system: a disclosure.
            record(
                Actor(
                    Interface.HL7, name=destination.name, hospital_id=destination.hub_hospital_id
                ),
                "hl7.send",
                current,
                entity=row,
                patient_id=row.patient_id,
                control_id=row.control_id,
                event=row.event.value,
            )
        else:
            row.last_error = error[:2000]
            blocked.add(row.destination_id)
            if row.attempts >= max_attempts:
                row.status = OutboxStatus.FAILED
                counts["failed"] += 1
            else:
                row.next_attempt_at = current + backoff(row.attempts)
                counts["retry"] += 1
            log.warning("HL7 outbound %s to %s: %s", row.control_id, destination.name, error)
        db.session.commit()
    return counts


def retry(row: Hl7OutboxMessage, now: datetime) -> None:
    """An admin sends a failed (or waiting) message again at the next run.

    A message that could not be built is built now, from the appointment as it is.
    """
    if not row.payload:
        try:
            row.payload = _build(row, now)
        except Exception as exc:
            row.last_error = f"build failed: {type(exc).__name__}: {exc}"[:2000]
            return
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = now
