"""Attachments, notifications and the clinical panel of a request page."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask import request as http
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.clinical.forms import AttachmentForm, MarkReadForm
from app.extensions import db
from app.pdpa.reads import audit_read
from app.webkit.views import attempt, locale, role_required
from scheduling import screening, vetting
from scheduling.access import can_view_request
from scheduling.attachments import MAX_BYTES, add_attachment, may_read
from scheduling.clock import local_today, utcnow
from scheduling.models import (
    AttachmentKind,
    ImagingRequest,
    RequestAttachment,
    Role,
    StaffNotification,
)
from scheduling.notifications import for_user, mark_read, text_of, unread_count
from scheduling.states import OPEN_REQUEST_STATUSES
from scheduling.timeline import timeline

bp = Blueprint("clinical", __name__)
# Hospital staff read their hospital's notifications; a region office sees aggregates only.
STAFF_ROLES = (Role.REQUESTER, Role.SCHEDULER, Role.RADIOLOGIST)
staff_required = role_required(*STAFF_ROLES)


def _request_or_404(request_id: int) -> ImagingRequest:
    imaging_request = db.session.get(ImagingRequest, request_id)
    if imaging_request is None or not can_view_request(current_user, imaging_request):
        abort(404)
    return imaging_request


# --- the panel on the request page -------------------------------------------------------


def clinical_panel(req: ImagingRequest) -> dict:
    """What the request page shows of screening, vetting, files and history."""
    today = local_today()
    refusal = screening.missing(req, today)
    readable = current_user.is_authenticated and may_read(current_user, req)
    return {
        "sections": {s.value for s in screening.sections_for(req.procedure, req.patient, today)},
        "missing": refusal.message(locale()) if refusal is not None else None,
        "alerts": screening.alerts(req, today),
        "egfr": screening.egfr_of(req.screening, req.patient, today),
        "awaiting_vetting": vetting.awaiting_vetting(req),
        "attachments": req.attachments if readable else [],
        "may_attach": _may_attach(req),
        "attach_form": AttachmentForm(formdata=None) if _may_attach(req) else None,
        "timeline": timeline(req),
        "lab_date": _date((req.screening or {}).get("lab_date")),
        "lmp_date": _date((req.screening or {}).get("lmp_date")),
    }


def _date(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None


def _may_attach(req: ImagingRequest) -> bool:
    return (
        current_user.is_authenticated
        and current_user.role is Role.REQUESTER
        and current_user.hospital_id == req.requesting_hospital_id
        and req.status in OPEN_REQUEST_STATUSES
    )


# --- attachments -------------------------------------------------------------------------


@bp.route("/requests/<int:request_id>/attachments", methods=["POST"])
@login_required
def attach(request_id: int):
    req = _request_or_404(request_id)
    if not _may_attach(req):
        abort(404)
    form = AttachmentForm()
    upload = http.files.get(form.file.name)
    if not form.validate_on_submit() or upload is None or not upload.filename:
        flash(_("Choose a file to attach"), "error")
    else:
        data = upload.read(MAX_BYTES + 1)
        row = attempt(
            add_attachment,
            req,
            kind=AttachmentKind[form.kind.data],
            filename=upload.filename,
            data=data,
        )
        if row is not None:
            flash(_("File attached."), "success")
    return redirect(url_for("main.request_detail", request_id=request_id) + "#attachments")


@bp.route("/requests/<int:request_id>/attachments/<int:attachment_id>")
@login_required
def attachment(request_id: int, attachment_id: int):
    """The file, to the two hospitals of the request only; never rendered as a page."""
    req = _request_or_404(request_id)
    row = db.session.get(RequestAttachment, attachment_id)
    if row is None or row.request_id != req.id or not may_read(current_user, req):
        abort(404)
    audit_read("request.attachment", [req], entity=req, attachment=row.id)
    response = Response(row.data, mimetype=row.content_type)
    response.headers["Content-Disposition"] = "inline" if http.args.get("view") else "attachment"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- notifications -----------------------------------------------------------------------


def nav_badge() -> dict:
    if not current_user.is_authenticated or current_user.role not in STAFF_ROLES:
        return {"unread_notifications": 0}
    return {"unread_notifications": unread_count(current_user)}


@bp.route("/notifications")
@staff_required
def notifications():
    rows = for_user(current_user, limit=100)
    lang = locale()
    return render_template(
        "clinical/notifications.html",
        rows=[(row, unread, text_of(row, lang)) for row, unread in rows],
        form=MarkReadForm(),
    )


@bp.route("/notifications/read", methods=["POST"])
@staff_required
def notifications_read():
    form = MarkReadForm()
    if form.validate_on_submit():
        mark_read(current_user, utcnow())
        db.session.commit()
    return redirect(url_for("clinical.notifications"))


@bp.route("/notifications/<int:notification_id>")
@staff_required
def notification_open(notification_id: int):
    """Mark one read and open its request (another hospital's id: nothing happens)."""
    row = db.session.get(StaffNotification, notification_id)
    if row is None or row.hospital_id != current_user.hospital_id:
        abort(404)
    mark_read(current_user, utcnow(), [row.id])
    db.session.commit()
    if row.request_id is None:
        return redirect(url_for("clinical.notifications"))
    return redirect(url_for("main.request_detail", request_id=row.request_id) + "#timeline")
