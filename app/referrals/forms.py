"""The requester's form for one study sent with a referral."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional

from app.webkit.fields import BEDateField
from app.webkit.forms import RadBookForm


class PriorStudyForm(RadBookForm):
    modality_code = SelectField(_l("Modality"))
    study_date = BEDateField(_l("Study date"), validators=[Optional()])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=200)])
    accession_number = StringField(_l("Accession number"), validators=[Optional(), Length(max=16)])
    study_instance_uid = StringField(
        _l("Study Instance UID"), validators=[Optional(), Length(max=64)]
    )
    sent_on_cd = BooleanField(_l("Sent on CD"))
    submit = SubmitField(_l("Add to the list"))


class PacsPickForm(RadBookForm):
    """Search the requesting hospital's own PACS for the patient's studies."""

    study_date = BEDateField(_l("Studies since"), validators=[Optional()])
    submit = SubmitField(_l("Search our PACS"))
