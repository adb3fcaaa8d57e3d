"""Safety screening on a request: which questions apply, and what counts as answered.

Written once here for every door (web form, completion page, the check before
booking, the worklist, HL7 and FHIR). The rules, in docs/clinical-rules.md:

- contrast (``Procedure.uses_contrast``): creatinine or eGFR, the date of that result
  (not older than ``LAB_MAX_AGE_DAYS``), and any earlier reaction to contrast;
- ionising radiation (and MRI): pregnancy, for a patient who is not male and is 10 to
  55 years old, or whose age is unknown;
- MRI: the standard safety questions (pacemaker/ICD, implanted device, metal fragments,
  aneurysm clip, claustrophobia), with details when any answer is yes;
- weight, where the dose depends on it (contrast, nuclear medicine).

Answers are kept as one JSON dict on the request (``ImagingRequest.screening``), keys
below; values are plain JSON (numbers, ISO dates, "yes"/"no").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, timedelta

from scheduling.errors import ValidationFailed
from scheduling.i18n import N_
from scheduling.models import ImagingRequest, Patient, Procedure, Sex

IONISING_MODALITIES = frozenset({"CT", "DX", "CR", "MG", "RF", "XA", "NM", "BMD", "PT"})
CHILD_BEARING_AGES = (10, 55)
LAB_MAX_AGE_DAYS = 90
# Below this eGFR (mL/min/1.73 m²) contrast needs the radiologist's decision.
EGFR_ALERT_BELOW = 30
MRI_QUESTIONS = ("mri_pacemaker", "mri_implant", "mri_metal", "mri_clip", "mri_claustrophobia")
# The answers that make an MRI unsafe until a radiologist has looked (claustrophobia
# only needs planning).
MRI_HAZARDS = ("mri_pacemaker", "mri_implant", "mri_metal", "mri_clip")
PREGNANCY_ANSWERS = ("not_pregnant", "possible", "pregnant")


class Section(enum.Enum):
    CONTRAST = "contrast"
    PREGNANCY = "pregnancy"
    MRI = "mri"
    WEIGHT = "weight"


def age_on(patient, day: date) -> int | None:
    born = patient.birth_date
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def sections_for(procedure: Procedure, patient: Patient, day: date) -> frozenset[Section]:
    """The screening sections that apply to this procedure and patient on ``day``."""
    found = set()
    modality = procedure.modality_code
    if procedure.uses_contrast:
        found |= {Section.CONTRAST, Section.WEIGHT}
    if modality == "NM":
        found.add(Section.WEIGHT)
    if modality == "MR":
        found.add(Section.MRI)
    if (modality in IONISING_MODALITIES or modality == "MR") and _may_be_pregnant(patient, day):
        found.add(Section.PREGNANCY)
    return frozenset(found)


def _may_be_pregnant(patient: Patient, day: date) -> bool:
    if patient.sex is Sex.MALE:
        return False
    age = age_on(patient, day)
    low, high = CHILD_BEARING_AGES
    return age is None or low <= age <= high


def _refuse(message: str, field: str, **params: object) -> ValidationFailed:
    return ValidationFailed(message, code=f"screening-{field}", **params)


def _number(raw: object, field: str, low: float, high: float) -> float | None:
    if raw in (None, ""):
        return None
    try:
        value = float(str(raw).strip().replace(",", "."))
    except ValueError:
        raise _refuse(N_("Enter a number"), field) from None
    if not low <= value <= high:
        raise _refuse(N_("Enter a value from %(low)s to %(high)s"), field, low=low, high=high)
    return round(value, 2)


def _day(raw: object, field: str) -> date | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise _refuse(N_("This date does not exist"), field) from None


def _yes_no(raw: object, field: str, message: str) -> str:
    if raw not in ("yes", "no"):
        raise _refuse(message, field)
    return str(raw)


def clean(
    procedure: Procedure, patient: Patient, answers: Mapping[str, object], today: date
) -> dict:
    """The answers of the sections that apply, checked; raises ``ValidationFailed``
    (code ``screening-<key>``) at the first missing or impossible one."""
    sections = sections_for(procedure, patient, today)
    out: dict = {}
    if Section.CONTRAST in sections:
        out |= _clean_contrast(answers, today)
    if Section.PREGNANCY in sections:
        value = answers.get("pregnancy")
        if value not in PREGNANCY_ANSWERS:
            raise _refuse(N_("Answer the pregnancy question"), "pregnancy")
        out["pregnancy"] = value
        lmp = _day(answers.get("lmp_date"), "lmp_date")
        if lmp is not None:
            if lmp > today:
                raise _refuse(N_("The date cannot be in the future"), "lmp_date")
            out["lmp_date"] = lmp.isoformat()
    if Section.MRI in sections:
        out |= _clean_mri(answers)
    if Section.WEIGHT in sections:
        weight = _number(answers.get("weight_kg"), "weight_kg", 0.5, 350)
        if weight is None:
            raise _refuse(N_("Enter the weight in kg"), "weight_kg")
        out["weight_kg"] = weight
    return out


def _clean_contrast(answers: Mapping[str, object], today: date) -> dict:
    out: dict = {}
    creatinine = _number(answers.get("creatinine"), "creatinine", 0.1, 25)
    egfr = _number(answers.get("egfr"), "egfr", 1, 200)
    if creatinine is None and egfr is None:
        raise _refuse(N_("Enter the creatinine or the eGFR"), "creatinine")
    lab_date = _day(answers.get("lab_date"), "lab_date")
    if lab_date is None:
        raise _refuse(N_("Enter the date of the creatinine/eGFR result"), "lab_date")
    if lab_date > today:
        raise _refuse(N_("The date cannot be in the future"), "lab_date")
    if lab_date < today - timedelta(days=LAB_MAX_AGE_DAYS):
        raise _refuse(
            N_("The result is older than %(days)s days: send a recent one"),
            "lab_date",
            days=LAB_MAX_AGE_DAYS,
        )
    out |= {"creatinine": creatinine, "egfr": egfr, "lab_date": lab_date.isoformat()}
    allergy = _yes_no(
        answers.get("contrast_allergy"),
        "contrast_allergy",
        N_("Answer whether the patient has reacted to contrast before"),
    )
    out["contrast_allergy"] = allergy
    if allergy == "yes":
        detail = str(answers.get("contrast_allergy_detail") or "").strip()[:500]
        if not detail:
            raise _refuse(N_("Describe the earlier reaction"), "contrast_allergy_detail")
        out["contrast_allergy_detail"] = detail
    return out


def _clean_mri(answers: Mapping[str, object]) -> dict:
    out = {
        key: _yes_no(answers.get(key), key, N_("Answer every MRI safety question"))
        for key in MRI_QUESTIONS
    }
    if any(out[key] == "yes" for key in MRI_HAZARDS):
        detail = str(answers.get("mri_detail") or "").strip()[:500]
        if not detail:
            raise _refuse(N_("Describe the device, implant or metal"), "mri_detail")
        out["mri_detail"] = detail
    return out


def missing(request: ImagingRequest, today: date) -> ValidationFailed | None:
    """Why the request's screening is not complete today, or None when it is."""
    try:
        clean(request.procedure, request.patient, request.screening or {}, today)
    except ValidationFailed as exc:
        return exc
    return None


def egfr_of(screening: Mapping[str, object] | None, patient, day: date) -> float | None:
    """The eGFR given, or computed from creatinine (CKD-EPI 2021) when age and sex are known."""
    screening = screening or {}
    if screening.get("egfr") is not None:
        return float(screening["egfr"])
    creatinine = screening.get("creatinine")
    age = age_on(patient, day)
    if creatinine is None or age is None or patient.sex not in (Sex.MALE, Sex.FEMALE):
        return None
    female = patient.sex is Sex.FEMALE
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = float(creatinine) / kappa
    value = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**age
    return round(value * (1.012 if female else 1), 1)


def alerts(request: ImagingRequest, day: date) -> list[str]:
    """Short English cautions for the scanner and the reader (MWL Medical Alerts, HL7 NTE).

    Plain ASCII on purpose: DICOM LO in every character set a scanner may use.
    """
    return alerts_for(request.screening, request.patient, day)


def alerts_for(screening: Mapping[str, object] | None, person, day: date) -> list[str]:
    """:func:`alerts` from the answers and anything with ``sex`` and ``birth_date`` (a
    patient, or a worklist row)."""
    screening = screening or {}
    found = []
    if screening.get("contrast_allergy") == "yes":
        found.append("CONTRAST ALLERGY")
    egfr = egfr_of(screening, person, day)
    if egfr is not None and egfr < EGFR_ALERT_BELOW:
        found.append(f"LOW EGFR {egfr:g}")
    if screening.get("pregnancy") in ("possible", "pregnant"):
        found.append(f"PREGNANCY {str(screening['pregnancy']).upper()}")
    for key in MRI_HAZARDS:
        if screening.get(key) == "yes":
            found.append("MRI " + key.removeprefix("mri_").upper())
    return found


# DICOM Pregnancy Status (0010,21C0): 1 not pregnant, 2 possibly, 3 definitely, 4 unknown.
DICOM_PREGNANCY = {"not_pregnant": 1, "possible": 2, "pregnant": 3}


def allergy_text(screening: Mapping[str, object] | None) -> str | None:
    """The contrast reaction as the requester described it, or None."""
    screening = screening or {}
    if screening.get("contrast_allergy") != "yes":
        return None
    return f"Contrast: {screening.get('contrast_allergy_detail') or 'yes'}"
