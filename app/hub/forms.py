"""Hub forms: the date picker of the day and week views, and the scheduler's actions
(the reason to reject or cancel is ``app.webkit.forms.ReasonForm``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.webkit.fields import BEDateField
from app.webkit.forms import RadBookForm


class DayPickForm(RadBookForm):
    class Meta:
        csrf = False  # a GET navigation form

    date = BEDateField(_l("Date"), validators=[Optional()])
    modality = SelectField(_l("Modality"), validators=[Optional()])


class ChangeRequestForm(RadBookForm):
    procedure_id = SelectField(_l("Procedure"), coerce=int)
    priority = SelectField(_l("Priority"))
    submit = SubmitField(_l("Save changes"))


class MoveSearchForm(RadBookForm):
    class Meta:
        csrf = False

    # InputRequired, not DataRequired: an impossible date (31/02/2569) keeps the field's
    # own "dd/mm/yyyy" message instead of turning into "enter a date".
    date = BEDateField(_l("New date"), validators=[InputRequired(_l("Enter a date"))])
    device_id = SelectField(_l("Device"), coerce=int, validators=[Optional()])


class MoveForm(RadBookForm):
    """The slot button pressed: ``<device id>|<ISO start>``; the optional reason for a move."""

    slot = HiddenField(validators=[DataRequired()])
    reason = StringField(_l("Reason for the move"), validators=[Optional(), Length(max=500)])
