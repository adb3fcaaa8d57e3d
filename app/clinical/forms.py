"""Forms of the clinical pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import FileField, SelectField, SubmitField
from wtforms.validators import DataRequired

from app.webkit.forms import RadBookForm, options
from scheduling.models import AttachmentKind


class AttachmentForm(RadBookForm):
    kind = SelectField(
        _l("Kind of file"),
        choices=options(
            [
                (AttachmentKind.REFERRAL_LETTER.name, _l("Referral letter")),
                (AttachmentKind.LAB_RESULT.name, _l("Lab result")),
                (AttachmentKind.OTHER.name, _l("Other")),
            ]
        ),
        validators=[DataRequired()],
    )
    file = FileField(_l("File (PDF, JPEG or PNG, up to 3 MB)"))
    submit = SubmitField(_l("Attach"))


class MarkReadForm(RadBookForm):
    submit = SubmitField(_l("Mark all as read"))
