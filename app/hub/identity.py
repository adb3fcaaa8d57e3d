"""Who the patient of a request is, as the hub sees it (docs/patient-identity.md).

Every hospital keeps its own record of a person; the records are linked by the national
ID. On a request the hub sees the requesting hospital's record, its own record if it
keeps one, and the records of other requests addressed to it for the same person, with
the fields on which they disagree. The hub decides which one its worklist uses by
copying it into its own record (with its own HN, if it gives one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Optional

from app.extensions import db
from app.hub.routes import bp
from app.hub.scope import current_hub
from app.pdpa.reads import audit_read
from app.webkit.forms import RadBookForm, options
from app.webkit.views import attempt, locale, role_required
from scheduling.access import hospital_patient_scope
from scheduling.models import Hospital, ImagingRequest, Patient, Role
from scheduling.patients import adopt_record, disagreements, linked_records, record_at

scheduler_only = role_required(Role.SCHEDULER)


class AdoptRecordForm(RadBookForm):
    source = RadioField(_l("Record the hub uses"), validators=[InputRequired()])
    hn = StringField(_l("HN at the hub"), validators=[Optional(), Length(max=20)])
    submit = SubmitField(_l("Use for the hub's worklist"))


@dataclass
class RecordRow:
    record: Patient
    label: str  # whose record
    differs: list[str] = field(default_factory=list)  # fields contradicting the request's


@dataclass
class Identity:
    request_record: Patient
    hub_record: Patient | None
    rows: list[RecordRow]

    @property
    def disagree(self) -> bool:
        return any(row.differs for row in self.rows)


def identity_of(req: ImagingRequest, hub: Hospital) -> Identity:
    """The records of the request's patient the hub may see, the request's first."""
    scope = hospital_patient_scope(hub.id, as_hub=True, query=linked_records(req.patient))
    others = db.session.scalars(
        scope.options(
            selectinload(Patient.hospital), selectinload(Patient.hospital_numbers)
        ).order_by(Patient.id)
    ).all()
    hub_record = record_at(req.patient, hub.id)
    rows = [RecordRow(req.patient, _("Requesting hospital's record"))]
    for record in others:
        if hub_record is not None and record.id == hub_record.id:
            continue
        rows.append(RecordRow(record, record.hospital.display_name(locale())))
    if hub_record is not None and hub_record.id != req.patient.id:
        rows.insert(1, RecordRow(hub_record, _("The hub's own record (used for the worklist)")))
    for row in rows[1:]:
        row.differs = disagreements(req.patient, row.record)
    return Identity(req.patient, hub_record, rows)


def adopt_form(identity: Identity) -> AdoptRecordForm:
    form = AdoptRecordForm(prefix="identity")
    form.source.choices = options(
        (str(row.record.id), row.label)
        for row in identity.rows
        if row.record is not identity.hub_record
    )
    if form.source.name not in request.form:
        form.source.data = str(identity.request_record.id)
        form.hn.data = identity.hub_record.hn if identity.hub_record is not None else ""
    return form


def identity_context(req: ImagingRequest) -> dict:
    hub = current_hub()
    identity = identity_of(req, hub)
    return {"identity": identity, "adopt_form": adopt_form(identity)}


@bp.route("/requests/<int:request_id>/identity", methods=["POST"])
@scheduler_only
def request_identity(request_id: int):
    """Make the hub's own record say what the chosen linked record says."""
    hub = current_hub()
    req = db.session.get(ImagingRequest, request_id)
    if req is None or req.hub_hospital_id != hub.id:
        abort(404)
    identity = identity_of(req, hub)
    form = adopt_form(identity)
    back = redirect(url_for("hub.request_view", request_id=req.id))
    if not form.validate_on_submit():
        if form.source.errors and form.source.data:
            # A record this hub may not see is answered as if it did not exist.
            abort(404)
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return back
    source = next(r.record for r in identity.rows if str(r.record.id) == form.source.data)
    audit_read("patient.view", [source], entity=source, page=request.endpoint)
    adopted = attempt(
        adopt_record,
        source=source,
        hospital_id=hub.id,
        hn=(form.hn.data or "").strip().upper() or None,
    )
    if adopted is not None:
        flash(_("The hub's record of this patient was updated."), "success")
    return back
