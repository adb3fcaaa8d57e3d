"""Admin: the data-subject export (everything held about one patient, as JSON)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.extensions import db
from app.pdpa.export import patient_export
from app.webkit.forms import RadBookForm
from app.webkit.views import role_required, web_actor
from scheduling.audit import record
from scheduling.clock import utcnow
from scheduling.models import Role
from scheduling.patients import patients_by_identifier

bp = Blueprint("pdpa", __name__, url_prefix="/admin/privacy")
admin_only = role_required(Role.ADMIN)


class PatientIdentifierForm(RadBookForm):
    # POSTed, never a query string: a national ID must not end up in URLs and logs.
    identifier = StringField(
        _l("National ID, passport number or HN"), validators=[DataRequired(), Length(max=40)]
    )


def one_patient(form) -> object | None:
    """The one patient the form's identifier names, or None with the reason on the field."""
    found = patients_by_identifier(form.identifier.data)
    if not found:
        form.identifier.errors.append(_("No patient has this national ID, passport number or HN."))
        return None
    if len(found) > 1:
        form.identifier.errors.append(
            _("This HN belongs to patients at several hospitals: use the national ID.")
        )
        return None
    return found[0]


@bp.route("/export", methods=["GET", "POST"])
@admin_only
def export():
    form = PatientIdentifierForm()
    if form.validate_on_submit():
        patient = one_patient(form)
        if patient is not None:
            now = utcnow()
            data = patient_export(patient, now, current_user.username)
            # The export itself is a disclosure: audited, committed before it leaves.
            record(
                web_actor(),
                "patient.export",
                now,
                entity=patient,
                sections={k: len(v) for k, v in data.items() if isinstance(v, list)},
            )
            db.session.commit()
            name = f"radbook-patient-{patient.id}-{now:%Y%m%d}.json"
            return Response(
                json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True),
                mimetype="application/json",
                headers={
                    "Content-Disposition": f"attachment; filename={name}",
                    "Cache-Control": "no-store",
                },
            )
    return render_template("admin/privacy_export.html", form=form), (422 if form.errors else 200)
