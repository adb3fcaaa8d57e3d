"""Admin pages: the network's reference data, user accounts, and the audit log.

Thin views: validate the form, call one operation in ``app.admin.operations``, render.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import time, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from app.admin.forms import (
    AuditFilterForm,
    DeviceForm,
    HospitalForm,
    ProcedureForm,
    UserForm,
)
from app.admin.labels import CHARSET_LABELS, PATIENT_ID_POLICY_LABELS
from app.admin.operations import (
    DEVICE_FIELDS,
    HOSPITAL_FIELDS,
    PROCEDURE_FIELDS,
    USER_FIELDS,
    save_device,
    save_hospital,
    save_procedure,
    save_user,
)
from app.args import int_arg
from app.extensions import db
from app.pdpa.reads import audit_read
from app.webkit.forms import (
    enum_options,
    hospital_options,
    modality_options,
    options,
    province_options,
)
from app.webkit.views import attempt, locale, role_required
from scheduling.audit import about_patients
from scheduling.clock import local_datetime, utcnow
from scheduling.models import (
    AuditEvent,
    AuditEventPatient,
    Device,
    DicomCharset,
    Hospital,
    HospitalLevel,
    Interface,
    Modality,
    Patient,
    PatientIdPolicy,
    Procedure,
    ReferralScope,
    Role,
    User,
)
from scheduling.patients import mask_national_ids_in, patients_by_identifier

bp = Blueprint("admin", __name__, url_prefix="/admin")
admin_only = role_required(Role.ADMIN)


def _edit_page(
    form, row, save, fields: tuple[str, ...], *, name, title: str, back: str, hints=None, **extra
):
    """One row's edit page. A valid POST is saved through ``save`` with the form's
    ``fields`` (a ``FieldError`` goes beside its field) and goes back to the ``back``
    list, flashing the row's ``name``; otherwise the form is shown (again)."""
    if form.validate_on_submit():
        values = {field: getattr(form, field).data for field in fields}
        saved = attempt(save, row, form=form, **values, **extra)
        if saved is not None:
            flash(_("Saved %(name)s", name=name(saved)), "success")
            return redirect(url_for(back))
    return render_template(
        "admin/edit.html", form=form, row=row, title=title, back=url_for(back), hints=hints
    )


def _hospitals(hubs_only: bool = False) -> list[Hospital]:
    query = select(Hospital).order_by(Hospital.code)
    if hubs_only:
        query = query.where(Hospital.is_hub.is_(True))
    return list(db.session.scalars(query))


def _modality_choices():
    return modality_options(db.session.scalars(select(Modality).order_by(Modality.code)))


def _get_or_404(model, row_id: int | None):
    if row_id is None:
        return None
    row = db.session.get(model, row_id)
    if row is None:
        abort(404)
    return row


@bp.route("/")
@admin_only
def index():
    counts = {
        "hospitals": db.session.scalar(select(func.count(Hospital.id))),
        "devices": db.session.scalar(select(func.count(Device.id))),
        "procedures": db.session.scalar(select(func.count(Procedure.id))),
        "users": db.session.scalar(select(func.count(User.id))),
    }
    from app.auth.throttle import recent_attacks

    return render_template("admin/index.html", counts=counts, attacks=recent_attacks(utcnow()))


# -- hospitals -------------------------------------------------------------------------


@bp.route("/hospitals")
@admin_only
def hospitals():
    rows = db.session.scalars(
        select(Hospital).options(selectinload(Hospital.devices)).order_by(Hospital.code)
    ).all()
    return render_template("admin/hospitals.html", hospitals=rows)


@bp.route("/hospitals/new", methods=["GET", "POST"], defaults={"hospital_id": None})
@bp.route("/hospitals/<int:hospital_id>", methods=["GET", "POST"])
@admin_only
def hospital_edit(hospital_id: int | None):
    hospital = _get_or_404(Hospital, hospital_id)
    form = HospitalForm(obj=hospital)
    form.level.choices = enum_options(HospitalLevel)
    form.patient_id_policy.choices = options(
        [(m.name, _(PATIENT_ID_POLICY_LABELS[m])) for m in PatientIdPolicy]
    )
    form.province_code.choices = province_options()
    form.referral_scope.choices = enum_options(ReferralScope)
    if hospital is None and request.method == "GET":
        form.level.data = HospitalLevel.COMMUNITY
        form.patient_id_policy.data = PatientIdPolicy.HN
        form.referral_scope.data = ReferralScope.ANY
    return _edit_page(
        form,
        hospital,
        save_hospital,
        HOSPITAL_FIELDS,
        name=lambda saved: saved.display_name(locale()),
        title=_("Hospital"),
        back="admin.hospitals",
    )


# -- devices ---------------------------------------------------------------------------


@bp.route("/devices")
@admin_only
def devices():
    rows = db.session.scalars(
        select(Device)
        .join(Device.hospital)
        .options(selectinload(Device.hospital))
        .order_by(Hospital.code, Device.modality_code, Device.ae_title)
    ).all()
    return render_template("admin/devices.html", devices=rows, charset_labels=CHARSET_LABELS)


@bp.route("/devices/new", methods=["GET", "POST"], defaults={"device_id": None})
@bp.route("/devices/<int:device_id>", methods=["GET", "POST"])
@admin_only
def device_edit(device_id: int | None):
    device = _get_or_404(Device, device_id)
    form = DeviceForm(obj=device)
    form.hospital_id.choices = hospital_options(_hospitals(hubs_only=True))
    form.modality_code.choices = _modality_choices()
    form.charset.choices = options([(m.name, _(CHARSET_LABELS[m])) for m in DicomCharset])
    if device is None and request.method == "GET":
        form.charset.data = DicomCharset.UTF8
    return _edit_page(
        form,
        device,
        save_device,
        DEVICE_FIELDS,
        name=lambda saved: saved.ae_title,
        title=_("Device"),
        back="admin.devices",
        hints={
            "allowed_addresses": _(
                "IP addresses or networks, separated by spaces, e.g. 10.7.3.21 10.7.4.0/28. "
                "An association from any other address is refused; with none, the scanner "
                "cannot connect."
            )
        },
    )


# -- procedures ------------------------------------------------------------------------


@bp.route("/procedures")
@admin_only
def procedures():
    modality = request.args.get("modality", "")
    query = select(Procedure).order_by(Procedure.modality_code, Procedure.code)
    if modality:
        query = query.where(Procedure.modality_code == modality)
    return render_template(
        "admin/procedures.html",
        procedures=db.session.scalars(query).all(),
        modalities=db.session.scalars(select(Modality).order_by(Modality.code)).all(),
        modality=modality,
    )


@bp.route("/procedures/new", methods=["GET", "POST"], defaults={"procedure_id": None})
@bp.route("/procedures/<int:procedure_id>", methods=["GET", "POST"])
@admin_only
def procedure_edit(procedure_id: int | None):
    procedure = _get_or_404(Procedure, procedure_id)
    form = ProcedureForm(obj=procedure)
    form.modality_code.choices = _modality_choices()
    return _edit_page(
        form,
        procedure,
        save_procedure,
        PROCEDURE_FIELDS,
        name=lambda saved: saved.code,
        title=_("Procedure"),
        back="admin.procedures",
    )


# -- users -----------------------------------------------------------------------------


@bp.route("/users")
@admin_only
def users():
    rows = db.session.scalars(
        select(User)
        .join(User.hospital)
        .options(selectinload(User.hospital))
        .order_by(Hospital.code, User.username)
    ).all()
    return render_template("admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"], defaults={"user_id": None})
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_only
def user_edit(user_id: int | None):
    user = _get_or_404(User, user_id)
    form = UserForm(obj=user)
    form.role.choices = enum_options(Role)
    form.hospital_id.choices = hospital_options(_hospitals())
    if user is None and request.method == "GET":
        form.role.data = Role.REQUESTER
    return _edit_page(
        form,
        user,
        save_user,
        USER_FIELDS,
        name=lambda saved: saved.username,
        title=_("User account"),
        back="admin.users",
        hints={
            "password": _(
                "At least 12 characters; not a common "
                "password; not containing the username. "
                "Leave empty to keep the current one."
            )
        },
        password=form.password.data or None,
    )


# -- audit log -------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


def _audit_query(form: AuditFilterForm, patient_ids: list[int] | None = None):
    query = select(AuditEvent)
    if patient_ids is not None:
        query = query.where(about_patients(patient_ids))
    if form.action.data:
        query = query.where(AuditEvent.action.startswith(form.action.data.strip()))
    if form.actor.data:
        query = query.where(AuditEvent.actor.contains(form.actor.data.strip()))
    if form.interface.data in Interface.__members__:
        query = query.where(AuditEvent.interface == Interface[form.interface.data])
    if form.entity_type.data:
        query = query.where(AuditEvent.entity_type == form.entity_type.data)
    if form.entity_id.data:
        query = query.where(AuditEvent.entity_id == form.entity_id.data)
    if form.hospital_id.data:
        query = query.where(AuditEvent.hospital_id == form.hospital_id.data)
    if form.date_from.data:
        query = query.where(AuditEvent.at >= local_datetime(form.date_from.data, time.min))
    if form.date_to.data:
        end = local_datetime(form.date_to.data + timedelta(days=1), time.min)
        query = query.where(AuditEvent.at < end)
    return query


def _audit_filters() -> MultiDict:
    """The filter: POSTed (a patient may be named), or from the query string without
    any patient (a national ID or HN is never read from, nor put into, a URL)."""
    if request.method == "POST":
        return request.form
    return MultiDict([(k, v) for k, v in request.args.items(multi=True) if k != "patient"])


def _audit_patients(form: AuditFilterForm) -> list[int] | None:
    """Ids of the patient the filter names; None when it names none; [] when unknown."""
    if not form.patient.data or not form.patient.data.strip():
        return None
    found = [p.id for p in patients_by_identifier(form.patient.data)]
    if not found:
        form.patient.errors = [_("No patient has this national ID, passport number or HN.")]
    return found


def _audit_form() -> tuple[AuditFilterForm, list[Hospital]]:
    form = AuditFilterForm(_audit_filters())
    entity_types = [
        t
        for t in db.session.scalars(
            select(AuditEvent.entity_type).distinct().order_by(AuditEvent.entity_type)
        )
        if t
    ]
    hospitals = _hospitals()
    form.fill_choices(hospitals, entity_types, locale())
    return form, hospitals


@bp.route("/audit", methods=["GET", "POST"])
@admin_only
def audit():
    form, hospitals = _audit_form()
    valid = form.validate()
    patient_ids = _audit_patients(form) if valid else None
    if not valid or patient_ids == []:
        query = select(AuditEvent).where(AuditEvent.id < 0)
    else:
        query = _audit_query(form, patient_ids)
    page = db.paginate(
        query.options(selectinload(AuditEvent.user)).order_by(
            AuditEvent.at.desc(), AuditEvent.id.desc()
        ),
        page=int_arg("page", 1, _audit_filters()),
        per_page=AUDIT_PAGE_SIZE,
        error_out=False,
    )
    if patient_ids:
        audit_read("audit.search", patient_ids)
    single = {e.patient_id for e in page.items if e.patient_id is not None}
    patients = (
        {p.id: p for p in db.session.scalars(select(Patient).where(Patient.id.in_(single)))}
        if single
        else {}
    )
    listed = (
        dict(
            db.session.execute(
                select(AuditEventPatient.audit_event_id, func.count())
                .where(AuditEventPatient.audit_event_id.in_([e.id for e in page.items]))
                .group_by(AuditEventPatient.audit_event_id)
            ).all()
        )
        if page.items
        else {}
    )
    return render_template(
        "admin/audit.html",
        form=form,
        page=page,
        patients=patients,
        listed=listed,
        hospital_names={h.id: h.display_name(locale()) for h in hospitals},
    )


AUDIT_CSV_LIMIT = 50_000


@bp.route("/audit.csv", methods=["GET", "POST"])
@admin_only
def audit_csv():
    form, _hospitals_ = _audit_form()
    if not form.validate():
        abort(400)
    patient_ids = _audit_patients(form)
    if patient_ids == []:
        abort(400)
    rows = db.session.scalars(
        _audit_query(form, patient_ids)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(AUDIT_CSV_LIMIT)
    ).all()
    listed: dict[int, list[int]] = {}
    many = [e.id for e in rows if e.patient_id is None]
    for start in range(0, len(many), 5000):
        for event_id, pid in db.session.execute(
            select(AuditEventPatient.audit_event_id, AuditEventPatient.patient_id).where(
                AuditEventPatient.audit_event_id.in_(many[start : start + 5000])
            )
        ):
            listed.setdefault(event_id, []).append(pid)
    if patient_ids:
        audit_read("audit.export", patient_ids, rows=len(rows))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "at_utc",
            "actor",
            "interface",
            "action",
            "entity_type",
            "entity_id",
            "hospital_id",
            "remote_addr",
            "detail",
            "user_id",
            "patient_ids",
        ]
    )
    for e in rows:
        writer.writerow(
            [
                e.at.isoformat(),
                e.actor,
                e.interface.value,
                e.action,
                e.entity_type,
                e.entity_id,
                e.hospital_id,
                e.remote_addr,
                json_text(e.detail),
                e.user_id,
                # Internal patient numbers, never national IDs: the data-subject export
                # and the audit search turn them back into a person for those allowed.
                " ".join(str(p) for p in sorted(listed.get(e.id, [])))
                if e.patient_id is None
                else e.patient_id,
            ]
        )
    # A BOM so Excel, which Thai offices open CSVs with, reads the Thai as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=audit.csv"},
    )


def json_text(value) -> str:
    """JSON with Thai left readable (Flask's ``tojson`` escapes it to \\uXXXX), and any
    national ID in it masked: the audit log is a list (a FHIR search's query may carry
    an identifier; the event's patient is searchable by ID without showing it)."""
    if not value:
        return ""
    return mask_national_ids_in(json.dumps(value, ensure_ascii=False, sort_keys=True))
