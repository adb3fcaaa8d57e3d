"""Admin page: the LINE outbox (what patients were told, what failed, send again)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.extensions import db
from app.pdpa.reads import audit_read
from app.webkit.forms import RadBookForm, options
from app.webkit.views import attempt, role_required, web_actor
from integrations.line import delivery, settings, staff
from integrations.line.models import (
    LineMessageKind,
    LineOutbox,
    LineOutboxStatus,
    LineStaffGroup,
    LineStaffPush,
)
from scheduling.audit import record
from scheduling.clock import utcnow
from scheduling.i18n import N_
from scheduling.models import Hospital, Role

bp = Blueprint("line", __name__, url_prefix="/line")

LABELS = {
    LineOutboxStatus.PENDING: N_("Waiting"),
    LineOutboxStatus.SENT: N_("Sent"),
    LineOutboxStatus.FAILED: N_("Failed"),
    LineOutboxStatus.CANCELLED: N_("Withdrawn"),
    LineOutboxStatus.SKIPPED: N_("Not sent"),
    LineMessageKind.CONFIRMATION: N_("Booking confirmation"),
    LineMessageKind.REMINDER: N_("Reminder"),
    LineMessageKind.RESCHEDULED: N_("Rescheduled notice"),
    LineMessageKind.CANCELLED: N_("Cancellation notice"),
    LineMessageKind.DIALOGUE: N_("Chat answer"),
}


def line_label(value) -> str:
    return _(LABELS[value]) if value in LABELS else str(value)


admin_required = role_required(Role.ADMIN)


@bp.get("/outbox")
@admin_required
def outbox_page():
    status_filter = request.args.get("status", "")
    query = (
        select(LineOutbox)
        .options(selectinload(LineOutbox.patient))
        .order_by(LineOutbox.due_at.desc(), LineOutbox.id.desc())
        .limit(200)
    )
    if status_filter in LineOutboxStatus.__members__:
        query = query.where(LineOutbox.status == LineOutboxStatus[status_filter])
    rows = db.session.scalars(query).all()
    audit_read("line.outbox", [r.patient_id for r in rows], messages=[r.id for r in rows])
    return render_template(
        "line/outbox.html",
        rows=rows,
        counts=delivery.outbox_counts(),
        statuses=list(LineOutboxStatus),
        status_filter=status_filter,
        configured=settings.push_configured(),
        webhook_ready=bool(settings.setting("LINE_CHANNEL_SECRET")),
        api_base_url=settings.api_base_url(),
        line_label=line_label,
    )


@bp.post("/outbox/<int:row_id>/requeue")
@admin_required
def requeue(row_id: int):
    row = db.session.get(LineOutbox, row_id)
    if row is None:
        abort(404)
    if row.status is LineOutboxStatus.FAILED:
        now = utcnow()
        delivery.requeue(row, now)
        record(web_actor(), "line.requeue", now, entity=row)
        db.session.commit()
        flash(_("The message will be sent again."), "success")
    return redirect(url_for("line.outbox_page", status=request.args.get("status", "")))


# --- staff groups: where a hospital's staff notifications go on LINE ---------------------


class StaffGroupForm(RadBookForm):
    hospital_id = SelectField(_l("Hospital"), validators=[DataRequired()])
    group_id = StringField(
        _l("LINE group id (empty: no group)"), validators=[Optional(), Length(max=64)]
    )
    submit = SubmitField(_l("Save"))


@bp.route("/staff-groups", methods=["GET", "POST"])
@admin_required
def staff_groups():
    hospitals = db.session.scalars(select(Hospital).order_by(Hospital.name_th)).all()
    form = StaffGroupForm()
    form.hospital_id.choices = options((str(h.id), f"{h.code} {h.name_th}") for h in hospitals)
    if form.validate_on_submit() and attempt(
        staff.set_group,
        int(form.hospital_id.data),
        form.group_id.data or "",
        form=form,
        fallback="group_id",
    ):
        flash(_("Saved."), "success")
        return redirect(url_for("line.staff_groups"))
    groups = db.session.scalars(
        select(LineStaffGroup).options(selectinload(LineStaffGroup.hospital))
    ).all()
    pushes = db.session.scalars(
        select(LineStaffPush).order_by(LineStaffPush.id.desc()).limit(50)
    ).all()
    return render_template(
        "line/staff_groups.html", form=form, groups=groups, pushes=pushes, line_label=line_label
    )
