"""Admin → PACS of the community hospitals: the Q/R address RadBook asks (C-FIND) when a
hospital's staff pick the studies they send with a referral. Thin views over
``worklist.requester_pacs``, which audits each change."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange

from app.admin.routes import bp
from app.extensions import db
from app.webkit.forms import RadBookForm, options
from app.webkit.views import attempt, role_required
from scheduling.models import Hospital, Role
from worklist.models import HospitalPacs
from worklist.requester_pacs import register_hospital_pacs, remove_hospital_pacs

admin_only = role_required(Role.ADMIN)


class HospitalPacsForm(RadBookForm):
    hospital_id = SelectField(_l("Hospital"), coerce=int)
    host = StringField(_l("Host"), validators=[DataRequired(), Length(max=255)])
    port = IntegerField(_l("Port"), default=104, validators=[DataRequired(), NumberRange(1, 65535)])
    ae_title = StringField(_l("AE title"), validators=[DataRequired(), Length(max=16)])
    submit = SubmitField(_l("Save"))


@bp.route("/hospital-pacs", methods=["GET", "POST"])
@admin_only
def hospital_pacs():
    form = HospitalPacsForm()
    hospitals = list(db.session.scalars(select(Hospital).order_by(Hospital.code)))
    form.hospital_id.choices = options((h.id, f"{h.code} {h.name_th}") for h in hospitals)
    if form.validate_on_submit():
        done = attempt(
            register_hospital_pacs,
            hospital_id=form.hospital_id.data,
            host=form.host.data,
            port=form.port.data,
            ae_title=form.ae_title.data,
            form=form,
        )
        if done is not None:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.hospital_pacs"))
    rows = db.session.execute(
        select(HospitalPacs, Hospital)
        .join(Hospital, Hospital.id == HospitalPacs.hospital_id)
        .order_by(Hospital.code)
    ).all()
    return render_template("admin/hospital_pacs.html", form=form, rows=rows)


@bp.route("/hospital-pacs/<int:hospital_id>/remove", methods=["POST"])
@admin_only
def hospital_pacs_remove(hospital_id: int):
    attempt(remove_hospital_pacs, hospital_id)
    flash(_("Saved."), "success")
    return redirect(url_for("admin.hospital_pacs"))
