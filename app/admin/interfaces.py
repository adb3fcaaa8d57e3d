"""Admin → ระบบภายนอก (outside systems): everything that calls RadBook and how it is known.

FHIR API clients (hospital, name, scopes; the token shown once, rotate, revoke), HL7
senders (hospital and the addresses they call from) and the scanners' addresses.
Thin views over the operations the adapters own (``integrations.fhir.clients``,
``integrations.hl7.senders``), which also serve the CLI; each change is audited there.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.admin.routes import bp
from app.extensions import db
from app.webkit.forms import RadBookForm, options
from app.webkit.views import locale, role_required
from app.webkit.views import web_actor as actor
from integrations.fhir import clients as api_clients
from integrations.fhir.models import ApiClient
from integrations.hl7 import senders as hl7_senders
from integrations.hl7.models import Hl7Sender
from scheduling.clock import utcnow
from scheduling.errors import DomainError
from scheduling.models import Device, Hospital, Role

admin_only = role_required(Role.ADMIN)

READ_SCOPE = "system/*.rs"
CREATE_SCOPE = "system/*.c"


class ApiClientForm(RadBookForm):
    hospital_id = SelectField(_l("Acts for hospital"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name")), Length(max=100)])
    can_read = BooleanField(_l("Read and search (patients, requests, appointments, results)"))
    can_create = BooleanField(_l("Create (requests, bookings, studies, reports)"))
    more_scopes = StringField(
        _l("Further scopes (SMART, e.g. system/Patient.rs)"),
        validators=[Optional(), Length(max=1000)],
    )
    submit = SubmitField(_l("Save"))

    def scopes(self) -> str:
        words = [READ_SCOPE] if self.can_read.data else []
        words += [CREATE_SCOPE] if self.can_create.data else []
        return " ".join(words + (self.more_scopes.data or "").split())

    def fill_scopes(self, stored: str) -> None:
        """Tick the boxes a stored scope list grants; the rest goes to "further scopes"."""
        rest = []
        self.can_read.data = self.can_create.data = False
        for word in stored.split():
            resource, _dot, perms = word.removeprefix("system/").partition(".")
            if resource != "*":
                rest.append(word)
                continue
            left = set(perms)
            if {"r", "s"} <= left:
                self.can_read.data = True
                left -= {"r", "s"}
            if "c" in left:
                self.can_create.data = True
                left.discard("c")
            if left:
                rest.append("system/*." + "".join(p for p in "cruds" if p in left))
        self.more_scopes.data = " ".join(rest)


class Hl7SenderForm(RadBookForm):
    hospital_id = SelectField(_l("Sends for hospital (MSH-4)"), coerce=int)
    name = StringField(_l("System"), validators=[Optional(), Length(max=100)])
    addresses = TextAreaField(
        _l("Addresses it calls from"),
        validators=[DataRequired(_l("Enter at least one address or network")), Length(max=2000)],
    )
    is_enabled = BooleanField(_l("May send"), default=True)
    submit = SubmitField(_l("Save"))


def _hospital_choices():
    return options(
        [
            (h.id, f"{h.code} · {h.display_name(locale())}")
            for h in db.session.scalars(select(Hospital).order_by(Hospital.code))
        ]
    )


def _field_error(form, error: DomainError) -> None:
    """Put an operation's error beside its field, or flash it."""
    db.session.rollback()
    name = getattr(error, "field", "")
    field = form._fields.get("more_scopes" if name == "scopes" else name)
    if field is not None:
        field.errors = [*field.errors, error.message(locale())]
    else:
        flash(error.message(locale()), "error")


def _show_token(client: ApiClient, token: str):
    """The one time the token is seen; never put in a URL, a flash or the session."""
    return render_template("admin/api_client_token.html", client=client, token=token)


@bp.route("/interfaces")
@admin_only
def interfaces():
    clients = db.session.scalars(
        select(ApiClient)
        .join(ApiClient.hospital)
        .options(selectinload(ApiClient.hospital))
        .order_by(Hospital.code, ApiClient.name)
    ).all()
    senders = db.session.scalars(
        select(Hl7Sender)
        .join(Hl7Sender.hospital)
        .options(selectinload(Hl7Sender.hospital))
        .order_by(Hospital.code, Hl7Sender.id)
    ).all()
    devices = db.session.scalars(
        select(Device)
        .join(Device.hospital)
        .options(selectinload(Device.hospital))
        .order_by(Hospital.code, Device.ae_title)
    ).all()
    return render_template(
        "admin/interfaces.html", clients=clients, senders=senders, devices=devices
    )


# -- FHIR API clients ------------------------------------------------------------------


@bp.route("/interfaces/api-clients/new", methods=["GET", "POST"])
@admin_only
def api_client_new():
    form = ApiClientForm()
    form.hospital_id.choices = _hospital_choices()
    if request.method == "GET":
        form.can_read.data = form.can_create.data = True
    if form.validate_on_submit():
        try:
            client, token = api_clients.create_client(
                actor(),
                utcnow(),
                name=form.name.data,
                hospital_id=form.hospital_id.data,
                scopes=form.scopes(),
            )
        except DomainError as error:
            _field_error(form, error)
        else:
            return _show_token(client, token)
    return render_template(
        "admin/edit.html",
        form=form,
        row=None,
        title=_("FHIR API client"),
        back=url_for("admin.interfaces"),
    )


@bp.route("/interfaces/api-clients/<int:client_id>", methods=["GET", "POST"])
@admin_only
def api_client_edit(client_id: int):
    client = db.session.get(ApiClient, client_id) or abort(404)
    form = ApiClientForm(obj=client)
    form.hospital_id.choices = _hospital_choices()
    # The hospital a client acts for is fixed: another hospital is another client.
    form.hospital_id.render_kw = {"disabled": True}
    if request.method == "GET":
        form.fill_scopes(client.scopes)
    form.hospital_id.data = client.hospital_id
    if form.validate_on_submit():
        try:
            api_clients.update_client(
                actor(), utcnow(), client, name=form.name.data, scopes=form.scopes()
            )
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("Saved %(name)s", name=client.name), "success")
            return redirect(url_for("admin.interfaces"))
    return render_template(
        "admin/edit.html",
        form=form,
        row=client,
        title=_("FHIR API client"),
        back=url_for("admin.interfaces"),
    )


@bp.route("/interfaces/api-clients/<int:client_id>/rotate", methods=["POST"])
@admin_only
def api_client_rotate(client_id: int):
    client = db.session.get(ApiClient, client_id) or abort(404)
    token = api_clients.rotate_token(actor(), utcnow(), client)
    return _show_token(client, token)


@bp.route("/interfaces/api-clients/<int:client_id>/revoke", methods=["POST"])
@admin_only
def api_client_revoke(client_id: int):
    client = db.session.get(ApiClient, client_id) or abort(404)
    api_clients.revoke_client(actor(), utcnow(), client)
    flash(_("The token of %(name)s no longer works.", name=client.name), "success")
    return redirect(url_for("admin.interfaces"))


# -- HL7 senders -----------------------------------------------------------------------


@bp.route("/interfaces/hl7-senders/new", methods=["GET", "POST"], defaults={"sender_id": None})
@bp.route("/interfaces/hl7-senders/<int:sender_id>", methods=["GET", "POST"])
@admin_only
def hl7_sender_edit(sender_id: int | None):
    sender = None
    if sender_id is not None:
        sender = db.session.get(Hl7Sender, sender_id) or abort(404)
    form = Hl7SenderForm(obj=sender)
    form.hospital_id.choices = _hospital_choices()
    if form.validate_on_submit():
        try:
            if sender is None:
                sender = hl7_senders.add_sender(
                    actor(),
                    utcnow(),
                    hospital_id=form.hospital_id.data,
                    addresses_text=form.addresses.data,
                    name=form.name.data or "",
                    is_enabled=form.is_enabled.data,
                )
            else:
                hl7_senders.update_sender(
                    actor(),
                    utcnow(),
                    sender,
                    hospital_id=form.hospital_id.data,
                    addresses_text=form.addresses.data,
                    name=form.name.data or "",
                    is_enabled=form.is_enabled.data,
                )
        except DomainError as error:
            _field_error(form, error)
        else:
            flash(_("Saved %(name)s", name=sender.name or sender.hospital.code), "success")
            return redirect(url_for("admin.interfaces"))
    return render_template(
        "admin/edit.html",
        form=form,
        row=sender,
        title=_("HL7 sender"),
        back=url_for("admin.interfaces"),
        hints={
            "addresses": _(
                "IP addresses or networks, separated by spaces, e.g. 10.7.1.20 10.7.2.0/28. "
                "Messages from any other address are refused."
            )
        },
    )


@bp.route("/interfaces/hl7-senders/<int:sender_id>/remove", methods=["POST"])
@admin_only
def hl7_sender_remove(sender_id: int):
    try:
        hl7_senders.remove_sender(actor(), utcnow(), sender_id)
    except DomainError:
        abort(404)
    flash(_("The HL7 sender has been removed."), "success")
    return redirect(url_for("admin.interfaces"))
