"""Forms for community-hospital staff: find/register a patient, request an exam, book.

Messages are lazy msgids (``_l``) so each renders in the reader's language; the
national-ID check reuses the domain's own validation and its Thai message.
"""

from __future__ import annotations

import re
from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import (
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.webkit.fields import BEDateField
from app.webkit.forms import RadBookForm, enum_options, options
from app.webkit.views import locale
from scheduling.clock import local_today
from scheduling.errors import DomainError
from scheduling.models import IdentifierType, Priority, Sex, TreatmentRight
from scheduling.patients import PREFIXES, validate_national_id
from scheduling.thaidate import BE_OFFSET, EN_MONTHS_SHORT, THAI_MONTHS_LONG

# ICD-10 (WHO and the Thai modification ICD-10-TM): a letter, two digits, then up to
# four more characters after an optional dot. HIS exports often drop the dot (E119).
ICD10_RE = re.compile(r"^([A-Z][0-9]{2})\.?([0-9A-Z]{1,4})?$")
PHONE_RE = re.compile(r"^\+?[0-9]{9,12}$")
# Birth years staff may plausibly type, in the Buddhist Era (ค.ศ. 1857 = พ.ศ. 2400).
MIN_BE_YEAR = 2400


def normalise_icd10(raw: str) -> str | None:
    """``k802`` → ``K80.2``; ``None`` for empty; raises ``ValueError`` when malformed."""
    text = re.sub(r"\s+", "", raw or "").upper()
    if not text:
        return None
    match = ICD10_RE.match(text)
    if match is None:
        raise ValueError(text)
    category, detail = match.groups()
    return f"{category}.{detail}" if detail else category


def prefix_choices() -> list[SelectChoice]:
    index = 1 if locale() == "en" else 0
    return options(
        (code, names[index] if names[index] else _l("Other / none"))
        for code, names in PREFIXES.items()
    )


def month_choices() -> list[SelectChoice]:
    names = EN_MONTHS_SHORT if locale() == "en" else THAI_MONTHS_LONG
    return options(((str(i), name) for i, name in enumerate(names, 1)), first=("", _l("Month")))


class PatientLookupForm(RadBookForm):
    """Search by a national ID, an HN at this hospital, or part of a Thai name.

    Sent by POST: what is typed here identifies a patient, and a query string ends up
    in browser history, proxy and server access logs and Referer headers.
    """

    q = StringField(
        _l("National ID, HN or name"),
        validators=[DataRequired(_l("Enter a national ID, HN or name")), Length(max=100)],
    )


class PatientForm(RadBookForm):
    id_type = SelectField(
        _l("Identifier"),
        choices=options(
            [
                (IdentifierType.NATIONAL_ID.name, _l("Thai national ID (13 digits)")),
                (IdentifierType.PASSPORT.name, _l("Passport")),
                (IdentifierType.FOREIGNER_ID.name, _l("Non-Thai ID card")),
            ]
        ),
        default=IdentifierType.NATIONAL_ID.name,
    )
    id_value = StringField(
        _l("Identifier number"),
        validators=[DataRequired(_l("Enter the national ID or passport number")), Length(max=20)],
    )
    hn = StringField(_l("HN at this hospital"), validators=[Optional(), Length(max=20)])
    prefix = SelectField(_l("Name prefix"), validators=[InputRequired()])
    given_name_th = StringField(
        _l("Given name (Thai)"),
        validators=[DataRequired(_l("Enter the given name")), Length(max=100)],
    )
    family_name_th = StringField(_l("Family name (Thai)"), validators=[Length(max=100)])
    birth_day = SelectField(
        _l("Day"),
        choices=options(((str(d), str(d)) for d in range(1, 32)), first=("", "—")),
        validators=[Optional()],
    )
    birth_month = SelectField(_l("Month"), validators=[Optional()])
    # No Optional(): it would stop the chain before the all-or-none check below.
    birth_year_be = StringField(_l("Year (B.E.)"), validators=[Length(max=4)])
    sex = RadioField(
        _l("Sex"),
        choices=options(
            [
                (Sex.FEMALE.name, _l("Female")),
                (Sex.MALE.name, _l("Male")),
                (Sex.OTHER.name, _l("Other")),
                (Sex.UNKNOWN.name, _l("Unknown")),
            ]
        ),
        default=Sex.UNKNOWN.name,
        validators=[InputRequired(_l("Choose the sex"))],
    )
    phone = StringField(_l("Mobile phone"), validators=[Optional(), Length(max=30)])
    # The id of this hospital's record the clerk was shown and agreed to change.
    confirm_id = HiddenField()
    submit = SubmitField(_l("Save patient"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prefix.choices = prefix_choices()
        self.birth_month.choices = month_choices()
        self.birth_date: date | None = None

    def validate_id_value(self, field: StringField) -> None:
        if self.id_type.data == IdentifierType.NATIONAL_ID.name:
            try:
                field.data = validate_national_id(field.data or "")
            except DomainError as exc:
                raise ValidationError(exc.message(locale())) from exc

    def validate_phone(self, field: StringField) -> None:
        digits = re.sub(r"[\s-]", "", field.data or "")
        if digits and not PHONE_RE.match(digits):
            raise ValidationError(_l("Enter a phone number of 9 to 10 digits"))
        field.data = digits or None

    def validate_birth_year_be(self, field: StringField) -> None:
        """Day, month and Buddhist-Era year: all three, or none (birth date unknown)."""
        parts = (self.birth_day.data, self.birth_month.data, (field.data or "").strip())
        if not any(parts):
            return
        if not all(parts):
            raise ValidationError(_l("Give the day, month and year, or leave all three empty"))
        if not parts[2].isdigit():
            raise ValidationError(_l("The year has 4 digits, in the Buddhist Era (e.g. 2511)"))
        year_be = int(parts[2])
        this_year_be = local_today().year + BE_OFFSET
        if year_be < MIN_BE_YEAR and MIN_BE_YEAR - BE_OFFSET <= year_be <= this_year_be - BE_OFFSET:
            # 1857..today typed as-is is a Christian-Era year: say so rather than "invalid".
            raise ValidationError(
                _l(
                    "This looks like a Christian-Era year; enter the Buddhist Era year "
                    "(add 543: %(year)s)",
                    year=year_be + BE_OFFSET,
                )
            )
        if not MIN_BE_YEAR <= year_be <= this_year_be:
            raise ValidationError(
                _l(
                    "Enter a Buddhist Era year between %(low)s and %(high)s",
                    low=MIN_BE_YEAR,
                    high=this_year_be,
                )
            )
        try:
            born = date(year_be - BE_OFFSET, int(parts[1]), int(parts[0]))
        except (ValueError, OverflowError) as exc:  # a 23-digit day: OverflowError
            raise ValidationError(_l("This date does not exist")) from exc
        if born > local_today():
            raise ValidationError(_l("The birth date cannot be in the future"))
        self.birth_date = born

    def fill_birth_date(self, born: date | None) -> None:
        if born is None:
            return
        self.birth_day.data = str(born.day)
        self.birth_month.data = str(born.month)
        self.birth_year_be.data = str(born.year + BE_OFFSET)


YES_NO = [("no", _l("No")), ("yes", _l("Yes"))]


def _yes_no(text) -> RadioField:
    return RadioField(text, choices=options(YES_NO), validators=[Optional()])


class ScreeningFields(RadBookForm):
    """The treatment right, the referral number and the safety screening.

    Every question is on the page; which ones must be answered is the core's rule
    (``scheduling.screening``), applied to what was typed, so the browser's show/hide
    is a convenience and never the check.
    """

    treatment_right = SelectField(
        _l("Treatment right"),
        validators=[DataRequired(_l("Choose the treatment right"))],
    )
    referral_number = StringField(
        _l("Referral number"),
        validators=[DataRequired(_l("Enter the referral number")), Length(max=40)],
    )
    creatinine = StringField(_l("Creatinine (mg/dL)"), validators=[Length(max=10)])
    egfr = StringField(_l("eGFR (mL/min/1.73 m²)"), validators=[Length(max=10)])
    lab_date = BEDateField(_l("Date of the result"), validators=[Optional()])
    contrast_allergy = _yes_no(_l("Earlier reaction to contrast medium"))
    contrast_allergy_detail = StringField(
        _l("What reaction, to which contrast"), validators=[Length(max=500)]
    )
    pregnancy = RadioField(
        _l("Pregnancy"),
        choices=options(
            [
                ("not_pregnant", _l("Not pregnant")),
                ("possible", _l("Possibly pregnant / not sure")),
                ("pregnant", _l("Pregnant")),
            ]
        ),
        validators=[Optional()],
    )
    lmp_date = BEDateField(_l("First day of the last period (optional)"), validators=[Optional()])
    mri_pacemaker = _yes_no(_l("Pacemaker or implanted defibrillator"))
    mri_implant = _yes_no(_l("Cochlear implant, neurostimulator, pump or other implanted device"))
    mri_metal = _yes_no(_l("Metal fragments (eye, shrapnel) or metal work injury"))
    mri_clip = _yes_no(_l("Aneurysm clip or heart valve"))
    mri_claustrophobia = _yes_no(_l("Claustrophobia"))
    mri_detail = StringField(
        _l("Details of the device, implant or metal"), validators=[Length(max=500)]
    )
    weight_kg = StringField(_l("Weight (kg)"), validators=[Length(max=10)])

    SCREENING_KEYS = (
        "creatinine",
        "egfr",
        "lab_date",
        "contrast_allergy",
        "contrast_allergy_detail",
        "pregnancy",
        "lmp_date",
        "mri_pacemaker",
        "mri_implant",
        "mri_metal",
        "mri_clip",
        "mri_claustrophobia",
        "mri_detail",
        "weight_kg",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.treatment_right.choices = enum_options(TreatmentRight, first=("", "—"))

    def answers(self) -> dict:
        out = {}
        for key in self.SCREENING_KEYS:
            value = getattr(self, key).data
            out[key] = value.isoformat() if isinstance(value, date) else value
        return out

    def fill(self, answers: dict | None) -> None:
        for key, value in (answers or {}).items():
            if key in self.SCREENING_KEYS and value is not None:
                field = getattr(self, key)
                field.data = date.fromisoformat(value) if key.endswith("_date") else str(value)

    @staticmethod
    def refusal_fields() -> dict[str, str]:
        """The core's refusal codes (``screening-<key>``) → the field they belong to."""
        return {f"screening-{key}": key for key in ScreeningFields.SCREENING_KEYS}


class ScreeningForm(ScreeningFields):
    submit = SubmitField(_l("Save screening"))


class RequestForm(ScreeningFields):
    modality = SelectField(_l("Modality"), validators=[Optional()])
    procedure_id = SelectField(
        _l("Procedure"),
        coerce=int,
        validators=[InputRequired(_l("Choose a procedure"))],
        validate_choice=False,  # checked against the active catalogue in the view
    )
    indication = TextAreaField(
        _l("Clinical indication"),
        validators=[DataRequired(_l("Enter the clinical indication")), Length(max=2000)],
    )
    icd10_code = StringField(_l("ICD-10 code (optional)"), validators=[Optional(), Length(max=10)])
    priority = RadioField(
        _l("Priority"),
        choices=options(
            [
                (Priority.ROUTINE.name, _l("Routine")),
                (Priority.URGENT.name, _l("Urgent")),
                (Priority.STAT.name, _l("STAT")),
            ]
        ),
        default=Priority.ROUTINE.name,
        validators=[InputRequired(_l("Choose the priority"))],
    )
    requesting_clinician = StringField(
        _l("Requesting clinician"),
        validators=[DataRequired(_l("Enter the requesting clinician")), Length(max=200)],
    )
    hub_hospital_id = SelectField(_l("Hospital to perform the exam"), validators=[Optional()])
    referral_letter = MultipleFileField(_l("Referral letter (PDF or image)"))
    lab_results = MultipleFileField(_l("Lab results (PDF or image)"))
    submit = SubmitField(_l("Submit request and choose a slot"))

    def validate_procedure_id(self, field: SelectField) -> None:
        if field.data is None:
            raise ValidationError(_l("Choose a procedure"))

    def validate_icd10_code(self, field: StringField) -> None:
        try:
            field.data = normalise_icd10(field.data or "")
        except ValueError as exc:
            raise ValidationError(
                _l("An ICD-10 code is a letter and 2 digits, then optional detail (e.g. K80.2)")
            ) from exc


class BookForm(RadBookForm):
    """One slot chosen from the suggestions or the calendar."""

    device_id = HiddenField(validators=[DataRequired()])
    start_at = HiddenField(validators=[DataRequired()])
    # Only when moving an existing appointment (then required, checked in the view).
    reason = TextAreaField(
        _l("Reason for moving the appointment"), validators=[Optional(), Length(max=500)]
    )
    submit = SubmitField(_l("Confirm appointment"))
