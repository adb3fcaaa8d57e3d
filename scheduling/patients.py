"""Patient identity: Thai national ID, DOPA name prefixes, romanised names, registration."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import select
from stdnum.th import pin as thai_pin

from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import Conflict, ValidationFailed
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


def find_patient(id_type: IdentifierType, id_value: str) -> Patient | None:
    return db.session.scalar(
        select(Patient).where(Patient.id_type == id_type, Patient.id_value == id_value)
    )


def register_patient(
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
    commit: bool = True,
) -> Patient:
    """Register a patient, or update the one with the same identifier; attach the HN.

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

    patient = find_patient(id_type, id_value)
    created = patient is None
    if patient is None:
        patient = Patient(id_type=id_type, id_value=id_value, created_at=now)
        db.session.add(patient)
    # Another hospital's registration of the same person (same national ID) must not
    # overwrite the demographics kept by the hospitals that already treat them: it only
    # adds its own HN. Those hospitals correct the record themselves.
    may_update = created or patient.hn_at(hospital_id) is not None
    if may_update:
        _apply_demographics(
            patient,
            now,
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

    if hn:
        attach_hn(patient, hospital_id, hn.strip())
    elif patient.hn_at(hospital_id) is None:
        # Visibility is by HN; a patient registered without one still belongs to the registrar.
        attach_hn(patient, hospital_id, f"N{id_value[-8:]}")
    db.session.flush()
    if created:
        action = "patient.register"
    else:
        action = "patient.update" if may_update else "patient.attach_hn"
    record(actor, action, now, entity=patient)
    if commit:
        db.session.commit()
    return patient


def _apply_demographics(
    patient: Patient,
    now: datetime,
    *,
    prefix: str,
    given_name_th: str,
    family_name_th: str,
    birth_date: date | None,
    sex: Sex,
    phone: str | None,
    given_name_en: str | None,
    family_name_en: str | None,
    medical_alerts: str | None,
) -> None:
    patient.prefix = prefix
    patient.given_name_th = given_name_th.strip()
    patient.family_name_th = family_name_th.strip()
    patient.birth_date = birth_date
    patient.sex = sex
    patient.phone = phone or patient.phone
    patient.medical_alerts = medical_alerts or patient.medical_alerts
    patient.updated_at = now
    if given_name_en:
        patient.given_name_en = given_name_en.strip()
        patient.family_name_en = (family_name_en or "").strip()
        patient.romanised_by_staff = True
    elif not patient.romanised_by_staff:
        patient.given_name_en = romanise_thai(patient.given_name_th)
        patient.family_name_en = romanise_thai(patient.family_name_th)


def attach_hn(patient: Patient, hospital_id: int, hn: str) -> None:
    """Give ``patient`` the HN ``hn`` at ``hospital_id`` (replacing the one it had there).

    Raises Conflict when another patient holds that HN at that hospital (the unique key
    would refuse it at commit, as an IntegrityError no adapter can explain).
    """
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
