"""Forms of the capacity editors: weekly templates, quotas, closures."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.webkit.fields import BEDateField, TimeField
from app.webkit.forms import RadBookForm, RadBookSubform

WEEKDAY_LABELS = (
    _l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"),
    _l("Saturday"), _l("Sunday"),
)  # fmt: skip


def _weekday_or_none(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class WindowForm(RadBookSubform):
    """One row of the weekly grid; a row with no weekday is unused."""

    weekday = SelectField(_l("Weekday"), coerce=_weekday_or_none, validate_choice=False)
    start = TimeField(_l("From"))
    end = TimeField(_l("To"))
    capacity = IntegerField(
        _l("At once"),
        default=1,
        validators=[Optional(), NumberRange(min=1, max=20, message=_l("Between 1 and 20"))],
    )


class TemplateForm(RadBookForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=100)])
    valid_from = BEDateField(_l("Valid from"), validators=[Optional()])
    valid_to = BEDateField(_l("Valid until"), validators=[Optional()])
    slot_minutes = IntegerField(
        _l("Slot length (minutes)"),
        validators=[
            Optional(),
            NumberRange(min=1, max=480, message=_l("Between 1 and 480 minutes")),
        ],
    )
    lead_time_minutes = IntegerField(
        _l("Earliest booking (minutes from now)"),
        default=60,
        validators=[InputRequired(_l("Enter a number")), NumberRange(min=0, max=100_000)],
    )
    horizon_days = IntegerField(
        _l("Bookable ahead (days)"),
        default=90,
        validators=[
            InputRequired(_l("Enter a number")),
            NumberRange(min=1, max=730, message=_l("Between 1 and 730 days")),
        ],
    )
    is_active = BooleanField(_l("In use"), default=True)
    windows = FieldList(FormField(WindowForm), min_entries=1)
    submit = SubmitField(_l("Save"))


# The quota's numbers, on the new-quota and the edit form (a function, not a shared field
# object: each form lists its fields in the order they are made).
def _slots_field() -> IntegerField:
    return IntegerField(
        _l("Bookings per day"),
        validators=[
            InputRequired(_l("Enter a number")),
            NumberRange(min=0, max=500, message=_l("Between 0 and 500")),
        ],
    )


def _release_hours_field(**kwargs) -> IntegerField:
    return IntegerField(
        _l("Release to everyone (hours before)"),
        validators=[InputRequired(_l("Enter a number")), NumberRange(min=0, max=720)],
        **kwargs,
    )


class QuotaForm(RadBookForm):
    referring_hospital_id = SelectField(_l("Reserved for"), coerce=int)
    device_id = SelectField(_l("Device"), coerce=int)
    modality_code = SelectField(_l("or every device of the modality"))
    weekday = SelectField(_l("Weekday"), coerce=_weekday_or_none)
    on_date = BEDateField(_l("or one date"), validators=[Optional()])
    slots = _slots_field()
    release_hours = _release_hours_field(default=24)
    valid_from = BEDateField(_l("Valid from"), validators=[Optional()])
    valid_to = BEDateField(_l("Valid until"), validators=[Optional()])
    submit = SubmitField(_l("Save"))


class QuotaEditForm(RadBookForm):
    slots = _slots_field()
    release_hours = _release_hours_field()
    valid_to = BEDateField(_l("Valid until"), validators=[Optional()])
    is_active = BooleanField(_l("In use"))
    submit = SubmitField(_l("Save"))


class ClosureForm(RadBookForm):
    kind = SelectField(_l("What is closed"))
    device_id = SelectField(_l("Device (for downtime)"), coerce=int)
    day = BEDateField(_l("Date"), validators=[InputRequired(_l("Enter a date"))])
    days = IntegerField(
        _l("Number of days"),
        default=1,
        validators=[Optional(), NumberRange(min=1, max=60, message=_l("Between 1 and 60 days"))],
    )
    start_time = TimeField(_l("From (part of a day)"))
    end_time = TimeField(_l("To (part of a day)"))
    name_th = StringField(
        _l("Reason in Thai"), validators=[InputRequired(_l("Enter the reason")), Length(max=200)]
    )
    name_en = StringField(_l("Reason in English"), validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Add closure"))
