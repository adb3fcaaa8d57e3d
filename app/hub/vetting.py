"""The radiologist's vetting: the queue, the decision page, and the hub's protocol list
and vetting rules. Each view calls one ``scheduling.vetting`` operation."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.extensions import db
from app.hub.routes import bp
from app.hub.scope import current_hub
from app.pdpa.reads import audit_read
from app.webkit.forms import RadBookForm, ReasonForm, enum_options, modality_options, options
from app.webkit.views import attempt, locale, role_required
from scheduling import vetting
from scheduling.clock import local_today
from scheduling.models import (
    HubProtocol,
    ImagingRequest,
    Modality,
    Priority,
    Procedure,
    Role,
    VettingRule,
)
from scheduling.screening import alerts

radiologist_only = role_required(Role.RADIOLOGIST)


class VetForm(RadBookForm):
    protocol_id = SelectField(
        _l("Protocol"), coerce=int, validators=[InputRequired(_l("Choose a protocol"))]
    )
    contrast = RadioField(
        _l("Contrast"),
        choices=options([("yes", _l("Yes")), ("no", _l("No"))]),
        validators=[InputRequired(_l("Answer whether contrast is given"))],
    )
    priority = SelectField(_l("Priority"))
    notes = TextAreaField(_l("Notes for the technologist"), validators=[Length(max=2000)])
    submit = SubmitField(_l("Approve with this protocol"))


class ProtocolForm(RadBookForm):
    modality_code = SelectField(_l("Modality"), validators=[DataRequired()])
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=16)])
    name_th = StringField(_l("Name (Thai)"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=200)])
    contrast = BooleanField(_l("Usually with contrast"))
    submit = SubmitField(_l("Add to the list"))


def _vetted_request(request_id: int) -> ImagingRequest:
    hub = current_hub()
    req = db.session.get(ImagingRequest, request_id)
    if req is None or req.hub_hospital_id != hub.id:
        abort(404)
    return req


@bp.route("/vetting")
@radiologist_only
def vetting_queue():
    hub = current_hub()
    rows = db.session.scalars(
        vetting.queue(hub.id).options(
            selectinload(ImagingRequest.appointments),
            selectinload(ImagingRequest.procedure),
            selectinload(ImagingRequest.patient),
        )
    ).all()
    audit_read("hub.vetting", rows, requests=[r.id for r in rows])
    today = local_today()
    return render_template(
        "hub/vetting_queue.html",
        hub=hub,
        rows=[(r, alerts(r, today)) for r in rows],
    )


@bp.route("/vetting/<int:request_id>", methods=["GET", "POST"])
@radiologist_only
def vet(request_id: int):
    req = _vetted_request(request_id)
    protocols = vetting.protocols_for(req.hub_hospital_id, req.procedure.modality_code)
    form = VetForm()
    form.protocol_id.choices = options(
        [(p.id, f"{p.code} · {p.display_name(locale())}") for p in protocols]
    )
    form.priority.choices = enum_options(Priority)
    decline = ReasonForm(prefix="decline")
    if request.method == "GET":
        form.priority.data = req.priority.name
        form.contrast.data = "yes" if req.procedure.uses_contrast else "no"
        if req.protocol_id:
            form.protocol_id.data = req.protocol_id
            form.contrast.data = "yes" if req.protocol_contrast else "no"
            form.notes.data = req.protocol_notes
    if form.validate_on_submit():
        chosen = {p.id: p for p in protocols}.get(form.protocol_id.data)
        if chosen is None:
            form.protocol_id.errors = [_("Choose a protocol")]
        elif attempt(
            vetting.approve,
            req,
            form=form,
            protocol=chosen,
            contrast=form.contrast.data == "yes",
            notes=form.notes.data or "",
            priority=Priority[form.priority.data],
        ):
            flash(_("Approved with protocol %(code)s.", code=chosen.code), "success")
            return redirect(url_for("hub.vetting_queue"))
    audit_read("request.view", [req], entity=req, page="hub.vet")
    return render_template(
        "hub/vet.html", req=req, form=form, decline=decline, alerts=alerts(req, local_today())
    )


@bp.route("/vetting/<int:request_id>/decline", methods=["POST"])
@radiologist_only
def vet_decline(request_id: int):
    req = _vetted_request(request_id)
    form = ReasonForm(prefix="decline")
    if form.validate_on_submit() and attempt(vetting.decline, req, form.reason.data):
        flash(_("The request was declined; the requesting hospital has been told."), "success")
        return redirect(url_for("hub.vetting_queue"))
    if form.errors:
        flash(_("Give a reason for the rejection"), "error")
    return redirect(url_for("hub.vet", request_id=request_id))


# --- the hub's protocol list and vetting rules -------------------------------------------


@bp.route("/protocols", methods=["GET", "POST"])
@radiologist_only
def protocols():
    hub = current_hub()
    modalities = db.session.scalars(select(Modality).order_by(Modality.code)).all()
    form = ProtocolForm()
    form.modality_code.choices = modality_options(modalities)
    if form.validate_on_submit() and attempt(
        vetting.add_protocol,
        hub.id,
        form=form,
        fallback="code",
        modality_code=form.modality_code.data,
        code=form.code.data,
        name_th=form.name_th.data,
        name_en=form.name_en.data or "",
        contrast=form.contrast.data,
    ):
        flash(_("Protocol added."), "success")
        return redirect(url_for("hub.protocols"))
    rows = db.session.scalars(
        select(HubProtocol)
        .where(HubProtocol.hospital_id == hub.id)
        .order_by(HubProtocol.modality_code, HubProtocol.code)
    ).all()
    ruled = set(
        db.session.scalars(
            select(VettingRule.procedure_id).where(VettingRule.hospital_id == hub.id)
        )
    )
    procedures = db.session.scalars(
        select(Procedure)
        .where(Procedure.is_active.is_(True))
        .order_by(Procedure.modality_code, Procedure.code)
    ).all()
    return render_template(
        "hub/protocols.html",
        hub=hub,
        form=form,
        rows=rows,
        procedures=procedures,
        ruled=ruled,
        toggle=RadBookForm(),
    )


@bp.route("/protocols/<int:protocol_id>/active", methods=["POST"])
@radiologist_only
def protocol_active(protocol_id: int):
    hub = current_hub()
    row = db.session.get(HubProtocol, protocol_id)
    if row is None or row.hospital_id != hub.id or not RadBookForm().validate_on_submit():
        abort(404)
    attempt(vetting.set_protocol_active, row, request.form.get("active") == "1")
    return redirect(url_for("hub.protocols"))


@bp.route("/vetting-rules/<int:procedure_id>", methods=["POST"])
@radiologist_only
def vetting_rule(procedure_id: int):
    hub = current_hub()
    procedure = db.session.get(Procedure, procedure_id)
    if procedure is None or not RadBookForm().validate_on_submit():
        abort(404)
    attempt(vetting.set_vetting_rule, hub.id, procedure, request.form.get("needed") == "1")
    return redirect(url_for("hub.protocols") + "#rules")
