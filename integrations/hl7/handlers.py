"""What each inbound message type does, through the ``scheduling`` operations.

Every handler gets an :class:`Inbound` (the message, its sender, where to note
results) and calls operations with ``commit=False``; ``inbound.py`` commits once with
the journal entry. Errors are DomainError subclasses (answered AE with an ERR segment).
``inbound.py`` imports this module, never the other way round.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from integrations.hl7.errors import Hl7DataError
from integrations.hl7.message import Hl7Message, Segment, parse_date, parse_datetime
from integrations.hl7.patients import (
    PersonIds,
    find_by_ids,
    find_with_hn_holder,
    read_identifiers,
    read_pid,
)
from scheduling.access import hospital_request_scope
from scheduling.audit import Actor
from scheduling.db import db
from scheduling.errors import NotAllowed, NotFound
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Hospital,
    IdentifierType,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    ReportStatus,
    Study,
    StudySource,
)
from scheduling.models.types import row_id
from scheduling.patients import attach_hn, register_patient

if TYPE_CHECKING:
    from scheduling.studies import ReportedIdentity

FILLER_NAMESPACE = "RADBOOK"  # ORC-3 / OBR-3 namespace of the filler order numbers we send


# --- what a handler gets ------------------------------------------------------------------


class ReferenceCache:
    """Hospitals and procedures by code, kept for a minute: every message needs them.

    Instances are kept detached and attached to each message's session with
    ``merge(load=False)`` (no SELECT), so the domain operations find them in the
    session's identity map. An admin's edit is seen within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 60.0):
        self.ttl = ttl
        self._cache: dict[tuple[type, str], tuple[float, object | None]] = {}

    def _get(self, model, column, key: str):
        key = key.strip()
        if not key:
            return None
        hit = self._cache.get((model, key))
        now = time.monotonic()
        if hit is None or now - hit[0] >= self.ttl:
            instance = db.session.scalar(select(model).where(column == key))
            if instance is not None:
                db.session.expunge(instance)  # never expired by this session's commit
            hit = (now, instance)
            self._cache[(model, key)] = hit
        instance = hit[1]
        return None if instance is None else db.session.merge(instance, load=False)

    def hospital(self, code: str) -> Hospital | None:
        return self._get(Hospital, Hospital.code, code)

    def procedure(self, code: str) -> Procedure | None:
        return self._get(Procedure, Procedure.code, code)


@dataclass
class Inbound:
    """What a message handler gets: the message, who sent it, and where to note results."""

    msg: Hl7Message
    now: datetime
    actor: Actor
    hospital_id: int  # the sender (MSH-4)
    timezone: str
    reference: ReferenceCache = field(default_factory=ReferenceCache)
    patient_id: int | None = None
    request_id: int | None = None
    # Reference objects merged into the session: held here because the identity map only
    # keeps weak references, and the operations look them up again with session.get().
    attached: list[object] = field(default_factory=list)


Handler = Callable[[Inbound], None]


# --- patients ---------------------------------------------------------------------------------


def _pid(work: Inbound) -> Segment:
    pid = work.msg.segment("PID")
    if pid is None:
        raise Hl7DataError(
            N_("The message has no PID segment"), hl7_code="100", location="PID", code="no-pid"
        )
    return pid


def _sender_code(work: Inbound) -> str:
    return db.session.get(Hospital, work.hospital_id).code


def _refuse_foreign_hn(ids: PersonIds, location: str) -> None:
    """A message that names a patient only by another hospital's HN is about that
    hospital's record: refused, whatever it asked for."""
    if ids.id_value is None and ids.hn is None and ids.foreign_hns:
        hn, authority = ids.foreign_hns[0]
        raise NotAllowed(
            N_(
                "HN %(hn)s was assigned by another hospital (%(authority)s): a hospital may "
                "only register, change or merge its own patient records"
            ),
            code="foreign-hn",
            hn=hn,
            authority=authority,
        )


def ensure_patient(work: Inbound, pid: Segment, *, update: bool) -> Patient:
    """The sending hospital's own record of the PID's patient: registered or updated when
    ``update`` (ADT), else found, and registered only when the sender has no record of
    them yet (an order for a new patient). Another hospital's record of the same person
    is never read or changed (docs/patient-identity.md)."""
    data = read_pid(pid, _sender_code(work))
    _refuse_foreign_hn(data.ids, "PID^1^3")
    # One query: the patient, and who holds the message's HN at the sending hospital.
    patient, holder = find_with_hn_holder(data.ids, work.hospital_id)
    if holder is not None and (patient is None or holder != patient.id):
        raise Hl7DataError(
            N_(
                "HN %(hn)s already belongs to another patient at this hospital "
                "(merge them with ADT^A40)"
            ),
            hl7_code="205",
            location="PID^1^3",
            code="hn-taken",
            hn=data.ids.hn,
        )
    if patient is not None and not update:
        if data.ids.hn and holder is None:
            attach_hn(patient, work.hospital_id, data.ids.hn)
        work.patient_id = patient.id
        return patient
    id_type, id_value = data.ids.id_type, data.ids.id_value
    if id_value is None:
        if patient is None:
            raise Hl7DataError(
                N_(
                    "The patient has no national ID or passport number in PID-3 and is not "
                    "known by this HN"
                ),
                hl7_code="101",
                location="PID^1^3",
                code="no-patient-id",
            )
        id_type, id_value = patient.id_type, patient.id_value
    patient = register_patient(
        work.actor,
        work.now,
        id_type=id_type,
        id_value=id_value,
        prefix=data.prefix,
        given_name_th=data.given_name_th,
        family_name_th=data.family_name_th,
        birth_date=data.birth_date,
        sex=data.sex,
        hospital_id=work.hospital_id,
        hn=data.ids.hn,
        phone=data.phone,
        given_name_en=data.given_name_en,
        family_name_en=data.family_name_en,
        commit=False,
    )
    work.patient_id = patient.id
    return patient


def handle_adt_register(work: Inbound) -> None:
    """ADT^A01/A04/A08/A28/A31: register or update the patient."""
    ensure_patient(work, _pid(work), update=True)


def handle_adt_merge(work: Inbound) -> None:
    """ADT^A40: the identifiers in MRG-1 were the same person as the one in PID-3."""
    from integrations.hl7.merge import merge_patient_identifiers

    pid = _pid(work)
    mrg = work.msg.segment("MRG")
    if mrg is None or not mrg.raw(1):
        raise Hl7DataError(
            N_("ADT^A40 needs an MRG segment with the prior identifiers (MRG-1)"),
            hl7_code="101",
            location="MRG^1^1",
            code="no-mrg",
        )
    own_code = _sender_code(work)
    survivor_ids = read_identifiers(pid, 3, own_code)
    prior_ids = read_identifiers(mrg, 1, own_code)
    _refuse_foreign_hn(survivor_ids, "PID^1^3")
    _refuse_foreign_hn(prior_ids, "MRG^1^1")
    # Only the sender's own records are looked up: a merge never moves, deletes or
    # re-identifies another hospital's record, even of the same person.
    survivor = find_by_ids(survivor_ids, work.hospital_id)
    prior = find_by_ids(prior_ids, work.hospital_id)
    if prior is not None and _has_requests_hidden_from_sender(work, prior):
        # The merge would move (or re-identify) requests the sender cannot see: e.g. a hub
        # merging away a patient who was also sent to another hub by another hospital.
        raise NotAllowed(
            N_(
                "The patient in MRG also has requests of other hospitals; ask the RadBook "
                "administrator to merge them"
            ),
            code="merge-other-hospitals",
        )
    patient = merge_patient_identifiers(
        work.actor,
        work.now,
        survivor=survivor,
        prior=prior,
        hospital_id=work.hospital_id,
        hn=survivor_ids.hn,
        id_type=survivor_ids.id_type,
        id_value=survivor_ids.id_value,
        commit=False,
    )
    work.patient_id = patient.id


def _has_requests_hidden_from_sender(work: Inbound, patient: Patient) -> bool:
    sender = db.session.get(Hospital, work.hospital_id)
    seen = hospital_request_scope(
        work.hospital_id, as_hub=sender.is_hub, query=select(ImagingRequest.id)
    )
    return (
        db.session.scalar(
            select(ImagingRequest.id)
            .where(ImagingRequest.patient_id == patient.id, ImagingRequest.id.not_in(seen))
            .limit(1)
        )
        is not None
    )


# --- orders -----------------------------------------------------------------------------------

ORDER_MEMBERS = ("TQ1", "TQ2", "OBR", "NTE", "CTD", "DG1", "OBX", "IPC", "ZDS", "BLG")

_PRIORITY = {
    "S": Priority.STAT,
    "STAT": Priority.STAT,
    "A": Priority.URGENT,
    "U": Priority.URGENT,
    "UR": Priority.URGENT,
    "URGENT": Priority.URGENT,
    "R": Priority.ROUTINE,
    "ROUTINE": Priority.ROUTINE,
}
_ICD10 = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


class OrderGroup:
    """One ORC with the segments of its order (OBR, TQ1, IPC, DG1, ...)."""

    def __init__(self, segments: list[Segment]):
        self.segments = segments

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    @property
    def orc(self) -> Segment | None:
        return self.first("ORC")

    @property
    def obr(self) -> Segment | None:
        return self.first("OBR")

    def value(self, *places: tuple[str, int, int]) -> str:
        """The first non-empty value of (segment, field, component)."""
        for name, n, component in places:
            segment = self.first(name)
            if segment is not None and (value := segment.get(n, component)):
                return value
        return ""


def _order_groups(work: Inbound) -> list[OrderGroup]:
    groups = [OrderGroup(g) for g in work.msg.groups("ORC", ORDER_MEMBERS)]
    if not groups:
        raise Hl7DataError(
            N_("The order message has no ORC segment"),
            hl7_code="100",
            location="ORC",
            code="no-orc",
        )
    return groups


def _result_groups(work: Inbound) -> list[OrderGroup]:
    """ORU: one group per OBR, with the ORC just before it and the OBX/NTE after it."""
    groups: list[OrderGroup] = []
    pending_orc: Segment | None = None
    for segment in work.msg.segments:
        if segment.name == "ORC":
            pending_orc = segment
        elif segment.name == "OBR":
            groups.append(OrderGroup([s for s in (pending_orc, segment) if s is not None]))
            pending_orc = None
        elif groups and segment.name in ("OBX", "NTE", "ZDS", "IPC", "TQ1"):
            groups[-1].segments.append(segment)
    if not groups:
        raise Hl7DataError(
            N_("The result message has no OBR segment"),
            hl7_code="100",
            location="OBR",
            code="no-obr",
        )
    return groups


def _procedure(work: Inbound, group: OrderGroup) -> Procedure:
    obr = group.obr
    codes = []
    if obr is not None:
        codes = [c for c in (obr.get(4, 1), obr.get(4, 4)) if c]
    for code in codes:
        procedure = work.reference.procedure(code)
        if procedure is not None and procedure.is_active:
            return procedure
    if not codes:
        raise Hl7DataError(
            N_("The order has no procedure code (OBR-4)"),
            hl7_code="101",
            location="OBR^1^4",
            code="no-procedure",
        )
    raise Hl7DataError(
        N_("Unknown procedure code %(procedure)s (OBR-4)"),
        hl7_code="103",
        location="OBR^1^4",
        code="unknown-procedure",
        procedure=codes[0],
    )


def _priority(group: OrderGroup) -> Priority:
    raw = group.value(("TQ1", 9, 1), ("ORC", 7, 6), ("OBR", 27, 6), ("OBR", 5, 1))
    return _PRIORITY.get(raw.upper(), Priority.ROUTINE)


def _person_name(segment: Segment | None, n: int) -> str:
    """An XCN (ID^family^given^middle^suffix^prefix) as "prefix given family"."""
    if segment is None:
        return ""
    c = segment.components(n) + [""] * 6
    name = " ".join(part for part in (c[5], c[2], c[3], c[1]) if part)
    return name or c[0]


def _icd10(group: OrderGroup) -> str | None:
    for candidate in (group.value(("DG1", 3, 1)), group.value(("OBR", 31, 1))):
        code = candidate.upper().strip()
        if code and _ICD10.match(code):
            return code[:10]
    return None


def _indication(group: OrderGroup) -> str:
    parts = []
    obr = group.obr
    if obr is not None:
        reason = obr.get(31, 2) or obr.get(31, 1)
        if reason:
            parts.append(reason)
        if obr.get(13):
            parts.append(obr.get(13))
    for nte in group.all("NTE"):
        if nte.get(3):
            parts.append(nte.get(3))
    return "\n".join(dict.fromkeys(parts))


def _hub_id(work: Inbound) -> int | None:
    """The hub named in MSH-6, if it is one (an HIS may name itself or leave it empty)."""
    hub = work.reference.hospital(work.msg.receiving_facility)
    if hub is None or not hub.is_hub:
        return None
    work.attached.append(hub)
    return hub.id


def find_request(work: Inbound, group: OrderGroup) -> ImagingRequest:
    """The request an order-status or result message is about, as seen by its sender.

    Tried in order: our filler order number (ORC-3/OBR-3, namespace RADBOOK), the
    accession number (IPC-1, OBR-18), the Study Instance UID (IPC-3, ZDS-1), and the
    placer order number (ORC-2/OBR-2; its namespace may name the placing hospital's code).
    The sender must be the requesting hospital or the hub of the request.
    """
    found: ImagingRequest | None = None
    for name in ("ORC", "OBR"):
        segment = group.first(name)
        if segment is None or not segment.get(3, 1):
            continue
        namespace = segment.get(3, 2).upper()
        value = segment.get(3, 1)
        if namespace == FILLER_NAMESPACE and (number := row_id(value)) is not None:
            found = db.session.get(ImagingRequest, number)
            break
    if found is None:
        accession = group.value(("IPC", 1, 1), ("OBR", 18, 1))
        if accession:
            found = db.session.scalar(
                select(ImagingRequest)
                .join(Appointment)
                .where(
                    Appointment.accession_number == accession,
                    Appointment.hub_hospital_id == work.hospital_id,
                )
                .limit(1)
            )
    if found is None:
        uid = study_uid(group)
        if uid:
            found = db.session.scalar(
                select(ImagingRequest)
                .join(Appointment)
                .where(Appointment.study_instance_uid == uid)
            ) or db.session.scalar(
                select(ImagingRequest).join(Study).where(Study.study_instance_uid == uid)
            )
    if found is None:
        placer = group.value(("ORC", 2, 1), ("OBR", 2, 1))
        if placer:
            placer_hospital = work.hospital_id
            namespace = group.value(("ORC", 2, 2), ("OBR", 2, 2))
            if namespace and namespace.isdigit() and len(namespace) == 5:
                placer_hospital = (
                    db.session.scalar(select(Hospital.id).where(Hospital.code == namespace))
                    or placer_hospital
                )
            found = db.session.scalar(
                select(ImagingRequest).where(
                    ImagingRequest.requesting_hospital_id == placer_hospital,
                    ImagingRequest.placer_order_number == placer,
                )
            )
    if found is not None and _sender_may_touch(work, found):
        work.request_id = found.id
        work.patient_id = found.patient_id
        return found
    raise NotFound(
        N_("No request matches this order (placer %(placer)s, filler %(filler)s)"),
        code="request-not-found",
        placer=group.value(("ORC", 2, 1), ("OBR", 2, 1)) or "-",
        filler=group.value(("ORC", 3, 1), ("OBR", 3, 1)) or "-",
    )


def _sender_may_touch(work: Inbound, request: ImagingRequest) -> bool:
    if work.hospital_id in (request.requesting_hospital_id, request.hub_hospital_id):
        return True
    # A hub that performed (part of) the exam may still report on it; one whose booking
    # was moved away or cancelled has no part in the request any more.
    return any(
        a.hub_hospital_id == work.hospital_id
        and a.status not in (AppointmentStatus.MOVED, AppointmentStatus.CANCELLED)
        for a in request.appointments
    )


def study_uid(group: OrderGroup) -> str:
    uid = group.value(("ZDS", 1, 1), ("IPC", 3, 1))
    if uid:
        return uid
    for obx in group.all("OBX"):
        if obx.get(3, 1).upper() in ("113014", "STUDY_UID", "STUDYINSTANCEUID", "0020000D"):
            return obx.get(5, 1)
    return ""


def handle_order(work: Inbound) -> None:
    """ORM^O01 / OMI^O23: NW creates a request, CA/DC/OC cancels it, XO changes it,
    and an ORC-5 of CM (from a RIS or PACS) completes the exam."""
    from scheduling import requests as requests_ops

    pid = work.msg.segment("PID")
    for group in _order_groups(work):
        orc = group.orc
        assert orc is not None
        control = orc.get(1).upper()
        status = orc.get(5).upper()
        if control == "NW":
            if pid is None:
                _pid(work)
            patient = ensure_patient(work, pid, update=False)
            placer = group.value(("ORC", 2, 1), ("OBR", 2, 1))
            if not placer:
                raise Hl7DataError(
                    N_("The order has no placer order number (ORC-2)"),
                    hl7_code="101",
                    location="ORC^1^2",
                    code="no-placer",
                )
            work.request_id = requests_ops.create_request_id(
                work.actor,
                work.now,
                patient=patient,
                procedure=_procedure(work, group),
                requesting_hospital_id=work.hospital_id,
                hub_hospital_id=_hub_id(work),
                priority=_priority(group),
                indication=_indication(group),
                requesting_clinician=_person_name(orc, 12) or _person_name(group.obr, 16),
                icd10_code=_icd10(group),
                placer_order_number=placer[:40],
                submit=True,
                commit=False,
            )
        elif control in ("CA", "DC", "OC", "OD"):
            request = find_request(work, group)
            reason = orc.get(16, 2) or orc.get(16, 1) or "HL7 " + control
            requests_ops.cancel_request(work.actor, work.now, request, reason, commit=False)
        elif status == "CM":
            _complete(work, find_request(work, group))
        elif control == "XO":
            request = find_request(work, group)
            obr = group.obr
            procedure = _procedure(work, group) if obr is not None and obr.get(4, 1) else None
            requests_ops.change_request(
                work.actor,
                work.now,
                request,
                procedure=procedure,
                priority=_priority(group),
                commit=False,
            )
        else:
            raise Hl7DataError(
                N_("Unsupported order control code %(control)s (ORC-1)"),
                hl7_code="103",
                location="ORC^1^1",
                code="order-control",
                control=control or "-",
            )


def _complete(work: Inbound, request: ImagingRequest) -> None:
    from scheduling import booking

    booking.complete_reported_exam(work.actor, work.now, request, commit=False)


# --- results ----------------------------------------------------------------------------------

REPORT_VALUE_TYPES = {"TX", "FT", "ST", "CE", "CWE", ""}
# OBR-25 result status (HL7 table 0123) → the report's status; empty means final.
_REPORT_STATUS = {
    "P": ReportStatus.PRELIMINARY,
    "A": ReportStatus.PRELIMINARY,
    "R": ReportStatus.PRELIMINARY,
    "S": ReportStatus.PRELIMINARY,
    "I": ReportStatus.PRELIMINARY,
    "F": ReportStatus.FINAL,
    "C": ReportStatus.AMENDED,
    "M": ReportStatus.AMENDED,
}


def _reported_patient(work: Inbound) -> ReportedIdentity | None:
    """The patient of a result's PID, to check before its study is linked: the national
    ID (or passport) if given, else the sender's HN; with name, birth date and sex."""
    from scheduling.studies import ReportedIdentity

    pid = work.msg.segment("PID")
    if pid is None:
        return None
    own_code = _sender_code(work)
    ids = read_identifiers(pid, 3, own_code)
    if ids.id_value:
        value = ids.id_value.replace("-", "").strip()
        issuer = "TH-CID" if ids.id_type is IdentifierType.NATIONAL_ID else ""
        patient_id = value if ids.id_type is IdentifierType.NATIONAL_ID else value.upper()
    elif ids.hn:
        patient_id, issuer = ids.hn, own_code
    else:
        patient_id, issuer = "", ""
    return ReportedIdentity(
        patient_id=patient_id,
        issuer=issuer,
        name=" ".join(c for c in pid.components(5) if c),
        birth_date=parse_date(pid.get(7)),
        sex=pid.get(8).upper()[:1],
    )


def handle_result(work: Inbound) -> None:
    """ORU^R01: link the study (when a Study Instance UID comes with it) and attach the
    report text to the request. A study whose PID is not the request's patient is not
    linked: the message is refused (AE, ``patient-mismatch``) and nothing is stored."""
    from scheduling import studies

    identity = _reported_patient(work)
    for group in _result_groups(work):
        request = find_request(work, group)
        obr = group.obr
        assert obr is not None
        if group.value(("ORC", 5, 1)).upper() == "CM":
            _complete(work, request)
        uid = study_uid(group)
        appointment = request.current_appointment
        if uid:
            studies.link_study(
                work.actor,
                work.now,
                source=StudySource.HL7,
                study_instance_uid=uid,
                appointment=appointment,
                request=request,
                accession_number=group.value(("IPC", 1, 1), ("OBR", 18, 1)) or None,
                identity=identity,
                commit=False,
            )
        lines: list[str] = []
        reporter = ""
        reported_at = None
        for obx in group.all("OBX"):
            if obx.get(2).upper() not in REPORT_VALUE_TYPES or obx.get(11).upper() in ("X", "D"):
                continue
            if obx.get(3, 1).upper() in ("113014", "STUDY_UID", "STUDYINSTANCEUID", "0020000D"):
                continue
            for i, _rep in enumerate(obx.repetitions(5)):
                value = (
                    obx.get(5, 1, repetition=i)
                    if obx.get(2).upper() in ("CE", "CWE")
                    else "^".join(p for p in obx.components(5, i) if p)
                )
                if value:
                    lines.append(value)
            reporter = reporter or _person_name(obx, 16)
            reported_at = reported_at or parse_datetime(obx.get(14), work.timezone)
        if obr.get(25).upper() == "X" or not lines:
            continue  # a cancelled result, or one with no text: nothing to attach
        interpreter = " ".join(
            p for p in (obr.get(32, 1, 6), obr.get(32, 1, 3), obr.get(32, 1, 2)) if p
        )
        studies.attach_report(
            work.actor,
            work.now,
            request,
            text="\n".join(lines),
            reported_by=interpreter or reporter or None,
            reported_at=parse_datetime(obr.get(22), work.timezone) or reported_at or work.now,
            status=_REPORT_STATUS.get(obr.get(25).upper()[:1], ReportStatus.FINAL),
            commit=False,
        )


HANDLERS: dict[str, Handler] = {
    "ADT^A01": handle_adt_register,
    "ADT^A04": handle_adt_register,
    "ADT^A08": handle_adt_register,
    "ADT^A28": handle_adt_register,
    "ADT^A31": handle_adt_register,
    "ADT^A40": handle_adt_merge,
    "ORM^O01": handle_order,
    "OMI^O23": handle_order,
    "ORU^R01": handle_result,
}
