"""Patient identity: Thai national ID, DOPA name prefixes, romanised names, registration."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import aliased
from stdnum.th import pin as thai_pin

from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import Conflict, NotAllowed, ValidationFailed
from scheduling.i18n import N_
from scheduling.models import IdentifierType, Patient, PatientHN, Sex

# Name prefixes (คำนำหน้านาม) as DOPA registers them: code → (Thai, English).
PREFIXES: dict[str, tuple[str, str]] = {
    "MR": ("นาย", "Mr."),
    "MRS": ("นาง", "Mrs."),
    "MISS": ("นางสาว", "Miss"),
    "MASTER": ("เด็กชาย", "Master"),
    "GIRL": ("เด็กหญิง", "Miss (child)"),
    "MONK": ("พระภิกษุ", "Phra"),
    "NOVICE": ("สามเณร", "Novice"),
    "NUN": ("แม่ชี", "Mae Chi"),
    "DR": ("นายแพทย์", "Dr."),
    "DR_F": ("แพทย์หญิง", "Dr."),
    "OTHER": ("", ""),
}


def prefix_text(code: str, locale: str = "th") -> str:
    th, en = PREFIXES.get(code, ("", ""))
    return en if locale == "en" else th


def normalise_national_id(raw: str) -> str:
    """Digits only: staff type 1-2345-67890-12-1 as often as 1234567890121."""
    return "".join(ch for ch in raw if ch.isdigit())


def validate_national_id(raw: str) -> str:
    """Return the 13 digits, or raise with a Thai message saying what is wrong."""
    digits = normalise_national_id(raw)
    if len(digits) != 13:
        raise ValidationFailed(N_("A Thai national ID has 13 digits"), code="cid-length")
    if not thai_pin.is_valid(digits):
        raise ValidationFailed(
            N_("Invalid national ID: the check digit does not match"), code="cid-checksum"
        )
    return digits


def national_id_check_digit(first12: str) -> str:
    """The 13th digit for 12 given digits (used by demo data and tests)."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return str((11 - total % 11) % 10)


def mask_national_id(value: str | None) -> str:
    """The one masking rule for lists, exports of lists and logs: the last three
    characters only, ``x-xxxx-xxxxx-70-5`` (a passport ``xxxxxx123``).

    With the name, the last three digits are enough to tell two patients apart in a
    list and to check a patient's card at the counter; the leading digits (person
    category, the district that registered the birth) say more about the person
    and are not needed for either.
    """
    if not value:
        return ""
    if len(value) == 13 and value.isdigit():
        return f"x-xxxx-xxxxx-{value[10:12]}-{value[12]}"
    return "x" * max(len(value) - 3, 0) + value[-3:]


_THIRTEEN_DIGITS = re.compile(r"(?<!\d)\d{13}(?!\d)")


def mask_national_ids_in(text: str) -> str:
    """Free text (an audit event's detail, e.g. a FHIR search's query) with every valid
    national ID in it masked: for lists and their CSV exports."""
    return _THIRTEEN_DIGITS.sub(
        lambda m: mask_national_id(m.group()) if thai_pin.is_valid(m.group()) else m.group(),
        text,
    )


def format_national_id(value: str | None) -> str:
    """The full ID as printed on the card, ``1-1017-00230-70-5``: single-patient pages only."""
    if not value:
        return ""
    if len(value) == 13 and value.isdigit():
        return f"{value[0]}-{value[1:5]}-{value[5:10]}-{value[10:12]}-{value[12]}"
    return value


def patients_by_identifier(text: str) -> list[Patient]:
    """Patients a national ID, passport number or HN (at any hospital) points to.

    For admins' look-ups (audit search, data-subject export), never for scoping: an
    HN is unique only within its hospital, so it may name several patients.
    """
    raw = (text or "").strip()
    if not raw:
        return []
    digits = normalise_national_id(raw)
    found: dict[int, Patient] = {}
    if len(digits) == 13 and thai_pin.is_valid(digits) and len(raw) <= 17:
        query = select(Patient).where(Patient.id_value == digits)
    else:
        by_hn = select(PatientHN.patient_id).where(PatientHN.hn == raw.upper())
        query = select(Patient).where((Patient.id_value == raw.upper()) | Patient.id.in_(by_hn))
    for patient in db.session.scalars(query.order_by(Patient.id)):
        found[patient.id] = patient
    return list(found.values())


def romanise_thai(text: str) -> str:
    """Royal Thai General System transcription (pythainlp's ``royin`` engine)."""
    from pythainlp.transliterate import romanize  # slow import; only when needed

    words = [romanize(word, engine="royin") for word in text.split()]
    return " ".join(w.capitalize() for w in words if w)


def find_patient(
    id_type: IdentifierType, id_value: str, *, hospital_id: int | None
) -> Patient | None:
    """``hospital_id``'s own record of the person with this identifier, if it has one."""
    return db.session.scalar(
        select(Patient).where(
            Patient.hospital_id == hospital_id,
            Patient.id_type == id_type,
            Patient.id_value == id_value,
        )
    )


def linked_records(patient: Patient) -> Select:
    """The other hospitals' records of the same person (the PIX cross-reference).

    A query, for the caller to narrow to what its reader may see
    (``scheduling.access``): the link itself discloses nothing.
    """
    return select(Patient).where(
        Patient.id_type == patient.id_type,
        Patient.id_value == patient.id_value,
        Patient.id != patient.id,
    )


def same_person(patient_id: int) -> Select:
    """Ids of every record of the person behind ``patient_id`` (itself included): for
    rules about the person rather than a record, e.g. no two exams at the same time."""
    this = aliased(Patient)
    return (
        select(Patient.id)
        .join(this, and_(this.id_type == Patient.id_type, this.id_value == Patient.id_value))
        .where(this.id == patient_id)
    )


def record_at(patient: Patient, hospital_id: int | None) -> Patient | None:
    """``hospital_id``'s own record of ``patient``'s person (``patient`` itself if it is
    that hospital's), or None."""
    if patient.hospital_id == hospital_id:
        return patient
    return find_patient(patient.id_type, patient.id_value, hospital_id=hospital_id)


# What staff compare when records of one person disagree, and what the hub copies into
# its own record (docs/patient-identity.md).
IDENTITY_FIELDS = ("given_name_th", "family_name_th", "birth_date", "sex")
DEMOGRAPHIC_FIELDS = (
    "prefix",
    "given_name_th",
    "family_name_th",
    "given_name_en",
    "family_name_en",
    "birth_date",
    "sex",
    "phone",
    "medical_alerts",
)


def disagreements(a: Patient, b: Patient) -> list[str]:
    """The identity fields on which two records of one person contradict each other
    (an empty birth date or an unknown sex contradicts nothing)."""
    out = []
    for name in IDENTITY_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if name == "sex" and Sex.UNKNOWN in (x, y):
            continue
        if isinstance(x, str) and isinstance(y, str):
            x, y = " ".join(x.split()), " ".join(y.split())
        if x is None or y is None or x == "" or y == "":
            continue
        if x != y:
            out.append(name)
    return out


def _shown(value: object) -> object:
    """A field value as the audit trail keeps it (JSON)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Sex):
        return value.name
    return value


def register_patient(actor: Actor, now: datetime, **fields: Any) -> Patient:
    """Register the person at ``fields["hospital_id"]`` or update that hospital's record
    (see :func:`register_or_update_patient`)."""
    return register_or_update_patient(actor, now, **fields)[0]


def register_or_update_patient(
    actor: Actor,
    now: datetime,
    *,
    id_type: IdentifierType,
    id_value: str,
    prefix: str,
    given_name_th: str,
    family_name_th: str,
    birth_date: date | None,
    sex: Sex,
    hospital_id: int,
    hn: str | None = None,
    phone: str | None = None,
    given_name_en: str | None = None,
    family_name_en: str | None = None,
    medical_alerts: str | None = None,
    keep_missing: bool = True,
    commit: bool = True,
) -> tuple[Patient, bool]:
    """Register the person at ``hospital_id``, or update that hospital's own record;
    the record and whether this call created it (decided under the same look-up that
    chose between the two, so two racing creates cannot both say "created").

    Only ever touches ``hospital_id``'s record: another hospital's record of the same
    person (same identifier) is neither read nor changed; the new record is linked to
    it through the identifier alone. With ``keep_missing`` (the default: an HIS that
    leaves PID-7 empty has not said the birth date is unknown) an empty birth date,
    an unknown sex or an empty phone keeps what the record has; the web's edit page
    passes False so that staff can clear a wrong value. Every change is audited with
    the fields before and after.

    The romanised name is made from the Thai name unless staff typed one, in which
    case it is marked as staff-corrected and never regenerated.
    """
    if id_type is IdentifierType.NATIONAL_ID:
        id_value = validate_national_id(id_value)
    else:
        id_value = id_value.strip().upper()
        if not id_value:
            raise ValidationFailed(N_("Enter the passport or ID number"), code="id-value")
    if prefix not in PREFIXES:
        raise ValidationFailed(N_("Unknown name prefix"), code="prefix")
    if not given_name_th.strip():
        raise ValidationFailed(N_("Enter the given name"), code="name")
    if birth_date is not None and birth_date > now.date():
        raise ValidationFailed(N_("The birth date cannot be in the future"), code="birth-date")

    patient = find_patient(id_type, id_value, hospital_id=hospital_id)
    created = patient is None
    if patient is None:
        patient = Patient(
            hospital_id=hospital_id,
            id_type=id_type,
            id_value=id_value,
            created_at=now,
            given_name_en="",
            family_name_en="",
            romanised_by_staff=False,
        )
        db.session.add(patient)
    changes = _apply_demographics(
        patient,
        now,
        keep_missing=keep_missing and not created,
        prefix=prefix,
        given_name_th=given_name_th,
        family_name_th=family_name_th,
        birth_date=birth_date,
        sex=sex,
        phone=phone,
        given_name_en=given_name_en,
        family_name_en=family_name_en,
        medical_alerts=medical_alerts,
    )
    hn = (hn or "").strip() or None
    if hn and patient.hn != hn:
        changes["hn"] = [patient.hn, hn]
        attach_hn(patient, hospital_id, hn)
    db.session.flush()
    if created or changes:
        action = "patient.register" if created else "patient.update"
        record(actor, action, now, entity=patient, hospital_id=hospital_id, changes=changes)
    if commit:
        db.session.commit()
    return patient, created


def demographic_changes(
    patient: Patient,
    *,
    keep_missing: bool = True,
    hn: str | None = None,
    **values: object,
) -> dict[str, list]:
    """What ``register_patient`` would change on ``patient``, as {field: [before, after]},
    without changing anything (the web's "check before you overwrite" page)."""
    probe = Patient(
        **{name: getattr(patient, name) for name in DEMOGRAPHIC_FIELDS},
        romanised_by_staff=patient.romanised_by_staff,
    )
    changes = _diff(probe, keep_missing=keep_missing, **values)
    hn = (hn or "").strip() or None
    if hn and patient.hn != hn:
        changes["hn"] = [patient.hn, hn]
    return changes


def _apply_demographics(
    patient: Patient, now: datetime, *, keep_missing: bool, **values: object
) -> dict[str, list]:
    changes = _diff(patient, keep_missing=keep_missing, **values)
    if changes:
        patient.updated_at = now
    return changes


def _diff(
    patient: Patient,
    *,
    keep_missing: bool,
    prefix: str,
    given_name_th: str,
    family_name_th: str,
    birth_date: date | None,
    sex: Sex,
    phone: str | None,
    given_name_en: str | None,
    family_name_en: str | None,
    medical_alerts: str | None,
) -> dict[str, list]:
    """Set the values on ``patient`` and return what changed, {field: [before, after]}."""
    before = {name: getattr(patient, name) for name in DEMOGRAPHIC_FIELDS}
    if prefix != "OTHER" or not keep_missing or not patient.prefix:
        patient.prefix = prefix
    patient.given_name_th = given_name_th.strip()
    patient.family_name_th = (family_name_th or "").strip()
    if birth_date is not None or not keep_missing:
        patient.birth_date = birth_date
    if sex is not Sex.UNKNOWN or not keep_missing or patient.sex is None:
        patient.sex = sex
    # Phone and alerts are only ever added to or replaced, never cleared by omission.
    patient.phone = (phone or "").strip() or patient.phone
    patient.medical_alerts = (medical_alerts or "").strip() or patient.medical_alerts
    if given_name_en:
        patient.given_name_en = given_name_en.strip()
        patient.family_name_en = (family_name_en or "").strip()
        patient.romanised_by_staff = True
    elif not patient.romanised_by_staff and (
        not patient.given_name_en
        or before["given_name_th"] != patient.given_name_th
        or before["family_name_th"] != patient.family_name_th
    ):
        patient.given_name_en = romanise_thai(patient.given_name_th)
        patient.family_name_en = romanise_thai(patient.family_name_th)
    return {
        name: [_shown(before[name]), _shown(getattr(patient, name))]
        for name in DEMOGRAPHIC_FIELDS
        if before[name] != getattr(patient, name)
    }


def adopt_record(
    actor: Actor,
    now: datetime,
    *,
    source: Patient,
    hospital_id: int,
    hn: str | None = None,
    commit: bool = True,
) -> Patient:
    """Make ``hospital_id``'s own record of ``source``'s person say what ``source`` says
    (a hub deciding which of the linked records it uses for its worklist), creating the
    record if it has none; ``hn`` is the HN the hospital gives the person, if any.

    The caller has checked that the hospital may see ``source``; ``source`` itself is
    not changed. Audited with the fields before and after and the record copied from.
    """
    own = find_patient(source.id_type, source.id_value, hospital_id=hospital_id)
    patient = register_patient(
        actor,
        now,
        id_type=source.id_type,
        id_value=source.id_value,
        prefix=source.prefix,
        given_name_th=source.given_name_th,
        family_name_th=source.family_name_th,
        birth_date=source.birth_date,
        sex=source.sex,
        hospital_id=hospital_id,
        hn=hn,
        phone=source.phone,
        given_name_en=source.given_name_en if source.romanised_by_staff else None,
        family_name_en=source.family_name_en if source.romanised_by_staff else None,
        medical_alerts=source.medical_alerts,
        keep_missing=False,
        commit=False,
    )
    record(
        actor,
        "patient.adopt",
        now,
        entity=patient,
        hospital_id=hospital_id,
        source_patient_id=source.id,
        created=own is None,
    )
    if commit:
        db.session.commit()
    return patient


def attach_hn(patient: Patient, hospital_id: int, hn: str) -> None:
    """Give ``patient`` the HN ``hn`` at ``hospital_id`` (replacing the one it had there).

    Raises Conflict when another patient holds that HN at that hospital (the unique key
    would refuse it at commit, as an IntegrityError no adapter can explain).
    """
    if patient.hospital_id != hospital_id:
        # An HN belongs to the record of the hospital that gave it, never to another
        # hospital's record of the same person.
        raise NotAllowed(
            N_("A hospital may only give HNs to its own patient records"), code="foreign-hn"
        )
    current = next((r for r in patient.hospital_numbers if r.hospital_id == hospital_id), None)
    if current is not None and current.hn == hn:
        return
    with db.session.no_autoflush:
        holder = db.session.scalar(
            select(PatientHN.patient_id).where(
                PatientHN.hospital_id == hospital_id, PatientHN.hn == hn
            )
        )
    if holder is not None and holder != patient.id:
        raise Conflict(
            N_("HN %(hn)s already belongs to another patient at this hospital"),
            code="hn-taken",
            hn=hn,
        )
    if current is not None:
        current.hn = hn
    else:
        patient.hospital_numbers.append(PatientHN(hospital_id=hospital_id, hn=hn))
