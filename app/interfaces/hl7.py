"""Admin pages: the inbound journal, the outbox (pending and failed), the destinations."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.extensions import db
from app.filters import localized
from app.hub.scope import hubs
from app.pdpa.reads import audit_read
from app.webkit.forms import RadBookForm, options
from app.webkit.views import role_required
from integrations.hl7 import outbound
from integrations.hl7.models import (
    Hl7Charset,
    Hl7Destination,
    Hl7InboundMessage,
    Hl7OrderFormat,
    Hl7OutboxMessage,
    Hl7Outcome,
    Hl7PatientUpdate,
    OutboxStatus,
)
from scheduling.clock import utcnow
from scheduling.models import Role

bp = Blueprint("hl7_admin", __name__, url_prefix="/admin/hl7")

PAGE_SIZE = 200

OUTCOME_LABELS = {
    Hl7Outcome.ACCEPTED: _l("Accepted (AA)"),
    Hl7Outcome.ERROR: _l("Error (AE)"),
    Hl7Outcome.REJECTED: _l("Rejected (AR)"),
}
STATUS_LABELS = {
    OutboxStatus.PENDING: _l("Pending"),
    OutboxStatus.SENT: _l("Sent"),
    OutboxStatus.FAILED: _l("Failed"),
}


admin_required = role_required(Role.ADMIN)


def _counts(column) -> dict:
    """Rows per value of ``column`` (an outcome or a status), for the filter links."""
    return dict(db.session.execute(select(column, func.count()).group_by(column)).all())


@bp.app_template_filter("hl7_segments")
def hl7_segments(text: str | None) -> list[str]:
    """ER7 text one segment per line, for reading."""
    if not text:
        return []
    return [s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]


@bp.route("/journal")
@admin_required
def journal():
    outcome = request.args.get("outcome", "")
    search = request.args.get("q", "").strip()
    query = select(Hl7InboundMessage).options(selectinload(Hl7InboundMessage.hospital))
    if outcome in Hl7Outcome.__members__:
        query = query.where(Hl7InboundMessage.outcome == Hl7Outcome[outcome])
    if search:
        like = f"%{search}%"
        query = query.where(
            or_(
                Hl7InboundMessage.control_id.ilike(like),
                Hl7InboundMessage.sending_application.ilike(like),
                Hl7InboundMessage.sending_facility.ilike(like),
                Hl7InboundMessage.message_type.ilike(like),
            )
        )
    entries = db.session.scalars(query.order_by(Hl7InboundMessage.id.desc()).limit(PAGE_SIZE)).all()
    counts = _counts(Hl7InboundMessage.outcome)
    return render_template(
        "hl7/journal.html",
        entries=entries,
        outcome=outcome,
        q=search,
        outcomes=list(Hl7Outcome),
        labels=OUTCOME_LABELS,
        counts=counts,
    )


@bp.route("/journal/<int:entry_id>")
@admin_required
def journal_entry(entry_id: int):
    entry = db.session.get(Hl7InboundMessage, entry_id)
    if entry is None:
        abort(404)
    audit_read("hl7.journal_entry", [entry.patient_id], entity=entry)
    return render_template("hl7/journal_entry.html", entry=entry, labels=OUTCOME_LABELS)


@bp.route("/outbox")
@admin_required
def outbox():
    status = request.args.get("status", "")
    query = select(Hl7OutboxMessage).options(selectinload(Hl7OutboxMessage.destination))
    if status in OutboxStatus.__members__:
        query = query.where(Hl7OutboxMessage.status == OutboxStatus[status])
    else:
        # Default view: what needs attention, not the history of what went well.
        query = query.where(Hl7OutboxMessage.status != OutboxStatus.SENT)
    rows = db.session.scalars(query.order_by(Hl7OutboxMessage.id.desc()).limit(PAGE_SIZE)).all()
    counts = _counts(Hl7OutboxMessage.status)
    return render_template(
        "hl7/outbox.html",
        rows=rows,
        status=status,
        statuses=list(OutboxStatus),
        labels=STATUS_LABELS,
        counts=counts,
    )


@bp.route("/outbox/<int:row_id>")
@admin_required
def outbox_entry(row_id: int):
    row = db.session.get(Hl7OutboxMessage, row_id)
    if row is None:
        abort(404)
    audit_read("hl7.outbox_entry", [row.patient_id], entity=row)
    return render_template("hl7/outbox_entry.html", row=row, labels=STATUS_LABELS)


@bp.route("/outbox/<int:row_id>/retry", methods=["POST"])
@admin_required
def outbox_retry(row_id: int):
    row = db.session.get(Hl7OutboxMessage, row_id)
    if row is None:
        abort(404)
    if row.status is OutboxStatus.SENT:
        flash(_("This message was already sent."), "warning")
    else:
        outbound.retry(row, utcnow())
        db.session.commit()
        flash(_("The message will be sent again at the next run."), "success")
    return redirect(url_for("hl7_admin.outbox"))


class DestinationForm(RadBookForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    host = StringField(_l("Host"), validators=[DataRequired(), Length(max=255)])
    port = IntegerField(_l("Port"), validators=[DataRequired(), NumberRange(1, 65535)])
    hub_hospital_id = SelectField(_l("Bookings of hub"), coerce=int, validators=[Optional()])
    order_format = SelectField(
        _l("Message"), choices=options((f.name, f.value) for f in Hl7OrderFormat)
    )
    charset = SelectField(
        _l("Character set (MSH-18)"), choices=options((c.name, c.value) for c in Hl7Charset)
    )
    receiving_application = StringField(
        _l("Receiving application (MSH-5)"), validators=[Length(max=180)]
    )
    receiving_facility = StringField(_l("Receiving facility (MSH-6)"), validators=[Length(max=180)])
    patient_update = SelectField(
        _l("Referral images filed under the hub's patient ID (ADT)"),
        choices=options(
            [
                ("OFF", _l("Not sent")),
                ("A40", _l("ADT^A40 merge patient")),
                ("A47", _l("ADT^A47 change patient identifier list")),
            ]
        ),
        default="OFF",
    )
    is_enabled = BooleanField(_l("Enabled"), default=True)


def _hub_choices() -> list[SelectChoice]:
    return options(((h.id, f"{h.code} {localized(h)}") for h in hubs()), first=(0, _("Every hub")))


@bp.route("/destinations", methods=["GET", "POST"])
@admin_required
def destinations():
    form = DestinationForm()
    form.hub_hospital_id.choices = _hub_choices()
    if form.validate_on_submit():
        exists = db.session.scalar(
            select(Hl7Destination.id).where(Hl7Destination.name == form.name.data.strip())
        )
        if exists:
            form.name.errors.append(_("A destination with this name already exists."))
        else:
            db.session.add(
                Hl7Destination(
                    name=form.name.data.strip(),
                    host=form.host.data.strip(),
                    port=form.port.data,
                    hub_hospital_id=form.hub_hospital_id.data or None,
                    order_format=Hl7OrderFormat[form.order_format.data],
                    charset=Hl7Charset[form.charset.data],
                    receiving_application=(form.receiving_application.data or "").strip(),
                    receiving_facility=(form.receiving_facility.data or "").strip(),
                    patient_update=Hl7PatientUpdate[form.patient_update.data],
                    is_enabled=form.is_enabled.data,
                )
            )
            db.session.commit()
            flash(_("Destination added."), "success")
            return redirect(url_for("hl7_admin.destinations"))
    rows = db.session.scalars(
        select(Hl7Destination)
        .options(selectinload(Hl7Destination.hub_hospital))
        .order_by(Hl7Destination.name)
    ).all()
    return render_template("hl7/destinations.html", rows=rows, form=form)


@bp.route("/destinations/<int:destination_id>/toggle", methods=["POST"])
@admin_required
def destination_toggle(destination_id: int):
    destination = db.session.get(Hl7Destination, destination_id)
    if destination is None:
        abort(404)
    destination.is_enabled = not destination.is_enabled
    db.session.commit()
    flash(
        _("Destination enabled.") if destination.is_enabled else _("Destination disabled."),
        "success",
    )
    return redirect(url_for("hl7_admin.destinations"))
