"""Admin forms. Labels are lazy msgids; choices are filled per request (they are data)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    FloatField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from app.admin.operations import password_problems
from app.webkit.fields import BEDateField
from app.webkit.forms import RadBookForm, options
from scheduling.models import (
    DicomCharset,
    HospitalLevel,
    Interface,
    PatientIdPolicy,
    ReferralScope,
    Role,
)
from scheduling.models.types import MAX_ROW_ID


def _enum_coerce(enum_class):
    def coerce(value):
        if isinstance(value, enum_class):
            return value
        try:
            return enum_class[value]
        except KeyError as exc:  # WTForms turns ValueError into "not a valid choice"
            raise ValueError(value) from exc

    return coerce


class HospitalForm(RadBookForm):
    code = StringField(
        _l("MOPH code (5 digits)"),
        validators=[DataRequired(_l("Enter the MOPH code")), Length(min=5, max=5)],
    )
    name_th = StringField(
        _l("Name in Thai"), validators=[DataRequired(_l("Enter the Thai name")), Length(max=200)]
    )
    name_en = StringField(
        _l("Name in English"),
        validators=[DataRequired(_l("Enter the English name")), Length(max=200)],
    )
    level = SelectField(_l("Level"), coerce=_enum_coerce(HospitalLevel))
    province_code = SelectField(
        _l("Province (gives the health region)"),
        validators=[DataRequired(_l("Choose the province"))],
    )
    district_th = StringField(_l("District in Thai"), validators=[Optional(), Length(max=100)])
    district_en = StringField(_l("District in English"), validators=[Optional(), Length(max=100)])
    latitude = FloatField(
        _l("Latitude (degrees north, e.g. 16.1850)"),
        validators=[Optional(), NumberRange(-90, 90, _l("A latitude lies between -90 and 90"))],
    )
    longitude = FloatField(
        _l("Longitude (degrees east, e.g. 103.3000)"),
        validators=[
            Optional(),
            NumberRange(-180, 180, _l("A longitude lies between -180 and 180")),
        ],
    )
    is_hub = BooleanField(_l("Hub hospital (performs exams for others)"))
    referral_scope = SelectField(
        _l("Requests from outside the hub's health region"), coerce=_enum_coerce(ReferralScope)
    )
    patient_id_policy = SelectField(
        _l("Patient ID sent to scanners and PACS"), coerce=_enum_coerce(PatientIdPolicy)
    )
    address_th = TextAreaField(_l("Address"), validators=[Optional(), Length(max=1000)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)])
    map_url = StringField(
        _l("Map link"),
        validators=[
            Optional(),
            URL(message=_l("Enter a web address starting with https://")),
            Length(max=500),
        ],
    )
    submit = SubmitField(_l("Save"))


class DeviceForm(RadBookForm):
    hospital_id = SelectField(_l("Hub hospital"), coerce=int)
    modality_code = SelectField(_l("Modality"))
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name")), Length(max=100)])
    ae_title = StringField(
        _l("AE title"),
        validators=[
            DataRequired(_l("Enter the AE title")),
            Length(max=16, message=_l("At most 16 characters")),
        ],
    )
    station_name = StringField(
        _l("Station name"),
        validators=[Optional(), Length(max=16, message=_l("At most 16 characters"))],
    )
    room_th = StringField(_l("Room in Thai"), validators=[Optional(), Length(max=100)])
    room_en = StringField(_l("Room in English"), validators=[Optional(), Length(max=100)])
    charset = SelectField(_l("DICOM character set"), coerce=_enum_coerce(DicomCharset))
    mwl_filter_by_calling_ae = BooleanField(
        _l("Worklist query without a station AE title returns only this device's exams"),
        default=True,
    )
    allowed_addresses = TextAreaField(
        _l("Addresses the scanner calls from"), validators=[Optional(), Length(max=2000)]
    )
    is_active = BooleanField(_l("In service"), default=True)
    submit = SubmitField(_l("Save"))


class ProcedureForm(RadBookForm):
    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter a code")), Length(max=20)])
    name_th = StringField(
        _l("Name in Thai"), validators=[DataRequired(_l("Enter the Thai name")), Length(max=200)]
    )
    name_en = StringField(
        _l("Name in English"),
        validators=[DataRequired(_l("Enter the English name")), Length(max=200)],
    )
    modality_code = SelectField(_l("Modality"))
    duration_minutes = IntegerField(
        _l("Duration (minutes)"),
        validators=[
            InputRequired(_l("Enter the duration in minutes")),
            NumberRange(min=5, max=480, message=_l("Between 5 and 480 minutes")),
        ],
    )
    prep_th = TextAreaField(_l("Preparation in Thai"), validators=[Optional(), Length(max=4000)])
    prep_en = TextAreaField(_l("Preparation in English"), validators=[Optional(), Length(max=4000)])
    uses_contrast = BooleanField(_l("Uses contrast medium"))
    prep_tags = StringField(_l("Preparation tags"), validators=[Optional(), Length(max=200)])
    is_active = BooleanField(_l("Can be requested"), default=True)
    submit = SubmitField(_l("Save"))


class UserForm(RadBookForm):
    username = StringField(
        _l("Username"), validators=[DataRequired(_l("Enter a username")), Length(max=80)]
    )
    full_name = StringField(
        _l("Full name"), validators=[DataRequired(_l("Enter the full name")), Length(max=200)]
    )
    role = SelectField(_l("Role"), coerce=_enum_coerce(Role))
    hospital_id = SelectField(_l("Hospital"), coerce=int)
    region = IntegerField(
        _l("Health region (region office accounts only)"),
        validators=[Optional(), NumberRange(1, 13, _l("A health region is 1 to 13"))],
    )
    locale = SelectField(_l("Language"), choices=options([("th", "ไทย"), ("en", "English")]))
    is_active_account = BooleanField(_l("Account active"), default=True)
    password = PasswordField(_l("New password"), validators=[Optional(), Length(max=128)])
    password_again = PasswordField(
        _l("New password again"),
        validators=[EqualTo("password", message=_l("The two passwords differ"))],
    )
    submit = SubmitField(_l("Save"))

    def validate(self, extra_validators=None) -> bool:
        """A new password must also pass the password rules, all of them listed."""
        if not super().validate(extra_validators):
            return False
        if self.password.data:
            problems = password_problems(
                self.password.data, self.username.data, self.full_name.data or ""
            )
            if problems:
                self.password.errors = [_(p) for p in problems]
                return False
        return True


class AuditFilterForm(RadBookForm):
    class Meta:
        # A filter changes nothing. It is POSTed when it names a patient (an ID must
        # never sit in a URL); the app-wide CSRF check still covers every POST.
        csrf = False

    patient = StringField(
        _l("Patient (national ID, passport or HN)"), validators=[Optional(), Length(max=40)]
    )
    action = StringField(_l("Action"), validators=[Optional(), Length(max=60)])
    actor = StringField(_l("Who"), validators=[Optional(), Length(max=100)])
    interface = SelectField(_l("Interface"), validators=[Optional()])
    entity_type = SelectField(_l("Record type"), validators=[Optional()])
    entity_id = IntegerField(
        _l("Record number"),
        validators=[
            Optional(),
            # Beyond the database integer the query itself fails (found by tests/fuzz).
            NumberRange(min=0, max=MAX_ROW_ID, message=_l("Enter a record number")),
        ],
    )
    hospital_id = SelectField(_l("Hospital"), coerce=int, validators=[Optional()])
    date_from = BEDateField(_l("From"), validators=[Optional()])
    date_to = BEDateField(_l("To"), validators=[Optional()])

    def fill_choices(self, hospitals, entity_types, locale: str) -> None:
        self.interface.choices = options(
            ((i.name, i.value.upper()) for i in Interface), first=("", "—")
        )
        self.entity_type.choices = options(((t, t) for t in entity_types), first=("", "—"))
        self.hospital_id.choices = options(
            ((h.id, h.display_name(locale)) for h in hospitals), first=(0, "—")
        )
