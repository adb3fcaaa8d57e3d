"""PID (and MRG) to RadBook patients.

Which identifier is the national ID (documented in docs/hl7.md):

1. a PID-3 repetition whose identifier type (CX-5) is ``NI``, ``NNTHA`` (table 0203:
   national person identifier, Thailand), ``CZ`` or ``CID``, or whose assigning
   authority (CX-4) is the TH Core system ``https://terms.sil-th.org/id/th-cid`` or
   one of the short names ``TH-CID``, ``CID``, ``DOPA``;
2. otherwise PID-19 (SSN number: where many Thai HIS put the ID card number), then
   PID-2 (external ID), when it is 13 digits with a valid check digit.

A PID-3 repetition of type ``PPN`` is a passport. The hospital number (HN) is the
PID-3 repetition of type ``MR``/``PI``/``PT``/``HN``, or the first one with no type and
no national-ID authority; it belongs to the sending hospital (MSH-4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import bindparam, select
from stdnum.th import pin as thai_pin

from integrations.hl7.errors import Hl7DataError
from integrations.hl7.message import Segment, component_of, parse_date
from scheduling.db import db
from scheduling.i18n import N_
from scheduling.models import IdentifierType, Patient, PatientHN, Sex
from scheduling.patients import PREFIXES, find_patient, normalise_national_id

TH_CID_SYSTEM = "https://terms.sil-th.org/id/th-cid"
NATIONAL_ID_TYPES = {"NI", "NNTHA", "CZ", "CID"}
NATIONAL_ID_AUTHORITIES = {TH_CID_SYSTEM.upper(), "TH-CID", "CID", "DOPA", "TH CID"}
HN_TYPES = {"MR", "PI", "PT", "HN"}
PASSPORT_TYPES = {"PPN"}

_THAI = re.compile("[\u0e00-\u0e7f]")

# Prefix spellings → DOPA prefix code (scheduling.patients.PREFIXES); compared without
# dots and spaces, case-insensitively.
_PREFIX_ALIASES = {
    "นาย": "MR", "MR": "MR",
    "นาง": "MRS", "MRS": "MRS",
    "นางสาว": "MISS", "นส": "MISS", "MISS": "MISS", "MS": "MISS",
    "เด็กชาย": "MASTER", "ดช": "MASTER", "MASTER": "MASTER", "MSTR": "MASTER",
    "เด็กหญิง": "GIRL", "ดญ": "GIRL",
    "พระภิกษุ": "MONK", "พระ": "MONK", "PHRA": "MONK",
    "สามเณร": "NOVICE", "ณร": "NOVICE",
    "แม่ชี": "NUN",
    "นายแพทย์": "DR", "นพ": "DR", "DR": "DR",
    "แพทย์หญิง": "DR_F", "พญ": "DR_F",
}  # fmt: skip


def prefix_code(text: str) -> str:
    key = re.sub(r"[.\s]", "", text).upper()
    if not key:
        return "OTHER"
    if key in PREFIXES:
        return key
    return _PREFIX_ALIASES.get(key, "OTHER")


@dataclass
class PersonIds:
    """The identifiers found in a PID-3-like list."""

    id_type: IdentifierType | None = None
    id_value: str | None = None
    hn: str | None = None
    # HNs whose assigning authority (CX-4) names another hospital: cross-references at
    # most, never the sender's HN (a hospital only assigns and changes its own).
    foreign_hns: list[tuple[str, str]] = field(default_factory=list)


def _is_valid_cid(value: str) -> bool:
    digits = normalise_national_id(value)
    return (
        len(digits) == 13 and digits == value.replace("-", "").strip() and thai_pin.is_valid(digits)
    )


def _hospital_authority(authority: set[str]) -> str | None:
    """The MOPH hospital code (5 digits) an assigning authority names, if any."""
    return next((a for a in sorted(authority) if len(a) == 5 and a.isdigit()), None)


def read_identifiers(segment: Segment, n: int, own_code: str | None = None) -> PersonIds:
    """Identifiers of a CX list (PID-3, MRG-1); ``own_code`` is the sender's hospital code
    (an HN assigned by another hospital goes to ``foreign_hns``)."""
    ids = PersonIds()
    d = segment.delimiters
    for rep in segment.repetitions(n):
        value = component_of(rep, 1, 1, d)
        if not value:
            continue
        id_type = component_of(rep, 5, 1, d).upper()
        authority = {
            component_of(rep, 4, 1, d).upper(),
            component_of(rep, 4, 2, d).upper(),
        } - {""}
        if id_type in NATIONAL_ID_TYPES or authority & NATIONAL_ID_AUTHORITIES:
            if ids.id_value is None or ids.id_type is not IdentifierType.NATIONAL_ID:
                ids.id_type, ids.id_value = IdentifierType.NATIONAL_ID, value
        elif id_type in PASSPORT_TYPES:
            if ids.id_value is None:
                ids.id_type, ids.id_value = IdentifierType.PASSPORT, value
        elif id_type in HN_TYPES or not id_type:
            assigner = _hospital_authority(authority)
            if own_code is not None and assigner is not None and assigner != own_code:
                ids.foreign_hns.append((value, assigner))
            elif ids.hn is None:
                ids.hn = value
    return ids


@dataclass
class PidData:
    ids: PersonIds
    prefix: str
    given_name_th: str
    family_name_th: str
    given_name_en: str | None
    family_name_en: str | None
    birth_date: date | None
    sex: Sex
    phone: str | None


_SEX = {
    "M": Sex.MALE,
    "F": Sex.FEMALE,
    "O": Sex.OTHER,
    "A": Sex.OTHER,
    "N": Sex.OTHER,
    "U": Sex.UNKNOWN,
}


def read_pid(pid: Segment, own_code: str | None = None) -> PidData:
    ids = read_identifiers(pid, 3, own_code)
    if ids.id_value is None:
        for n in (19, 2):
            candidate = pid.get(n).replace("-", "").strip()
            if _is_valid_cid(candidate):
                ids.id_type, ids.id_value = IdentifierType.NATIONAL_ID, candidate
                break
    thai = latin = None
    for i, _rep in enumerate(pid.repetitions(5)):
        parts = pid.components(5, i) + [""] * 5
        family, given, middle, prefix = parts[0], parts[1], parts[2], parts[4]
        given_full = f"{given} {middle}".strip() if middle else given
        record = (prefix, given_full, family)
        if _THAI.search(family + given_full + prefix):
            thai = thai or record
        elif family or given_full:
            latin = latin or record
    main = thai or latin
    if main is None or not main[1]:
        raise Hl7DataError(
            N_("The patient's given name (PID-5) is missing"),
            hl7_code="101",
            location="PID^1^5",
            code="name",
        )
    prefix = prefix_code(main[0]) if main[0] else (prefix_code(latin[0]) if latin else "OTHER")
    phone = pid.get(13, 1) or pid.get(13, 12) or None
    return PidData(
        ids=ids,
        prefix=prefix,
        given_name_th=main[1],
        family_name_th=main[2],
        given_name_en=latin[1] if latin else None,
        family_name_en=latin[2] if latin else None,
        birth_date=parse_date(pid.get(7)),
        sex=_SEX.get(pid.get(8).upper()[:1], Sex.UNKNOWN),
        phone=phone,
    )


def find_by_ids(ids: PersonIds, hospital_id: int) -> Patient | None:
    """The sending hospital's own record with this national ID / passport; only when the
    message has none, its record with this HN (an HN never overrides a national ID that
    disagrees). Another hospital's record of the same person is never returned."""
    if ids.id_type is not None and ids.id_value:
        value = ids.id_value
        if ids.id_type is IdentifierType.NATIONAL_ID:
            value = normalise_national_id(value)
        else:
            value = value.strip().upper()
        return find_patient(ids.id_type, value, hospital_id=hospital_id)
    if ids.hn:
        return db.session.scalar(
            select(Patient)
            .join(PatientHN)
            .where(PatientHN.hospital_id == hospital_id, PatientHN.hn == ids.hn)
        )
    return None


_HN_HOLDER = (
    select(PatientHN.patient_id)
    .where(PatientHN.hospital_id == bindparam("hospital_id"), PatientHN.hn == bindparam("hn"))
    .scalar_subquery()
)
# Built once (the listener's hot path): the patient by identifier, with the HN's holder.
_PATIENT_AND_HN_HOLDER = select(Patient, _HN_HOLDER).where(
    Patient.hospital_id == bindparam("hospital_id"),
    Patient.id_type == bindparam("id_type"),
    Patient.id_value == bindparam("id_value"),
)
_HN_HOLDER_ONLY = select(_HN_HOLDER)


def find_with_hn_holder(ids: PersonIds, hospital_id: int) -> tuple[Patient | None, int | None]:
    """``find_by_ids`` and, in the same query, the id of the patient who holds ``ids.hn``
    at the hospital (None when nobody does or there is no HN)."""
    if ids.id_type is not None and ids.id_value:
        value = ids.id_value
        if ids.id_type is IdentifierType.NATIONAL_ID:
            value = normalise_national_id(value)
        else:
            value = value.strip().upper()
        params = {
            "id_type": ids.id_type,
            "id_value": value,
            "hospital_id": hospital_id,
            "hn": ids.hn or "",
        }
        row = db.session.execute(_PATIENT_AND_HN_HOLDER, params).first()
        if row is not None:
            return row[0], row[1] if ids.hn else None
        if not ids.hn:
            return None, None
        return None, db.session.scalar(_HN_HOLDER_ONLY, params)
    if not ids.hn:
        return None, None
    patient = find_by_ids(ids, hospital_id)
    return patient, patient.id if patient is not None else None
