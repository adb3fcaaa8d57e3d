"""Hub pages: the scheduler's inbox, day and week views, and the radiologist's exam list.

Views read through ``app.hub.queries`` and change things only through the
``scheduling`` operations (see ``app.hub.actions``).
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.hub import bp, capacity_view, queries
from app.hub.formbase import options
from app.hub.forms import DayPickForm
from app.hub.web import actor, current_hub, flash_error, hubs, locale, role_required
from app.models import Appointment, ImagingRequest, RequestStatus, Role
from app.timeutil import local_today, to_local, utcnow
from scheduling.errors import DomainError

scheduler_only = role_required(Role.SCHEDULER)
hub_staff = role_required(Role.SCHEDULER, Role.RADIOLOGIST)

UPCOMING_DAYS = 7


def _pick(hub) -> tuple[DayPickForm, date, str]:
    form = DayPickForm(request.args)
    modalities = queries.hub_modalities(hub)
    form.modality.choices = options(
        [("", "—")]
        + [
            (m.code, f"{m.code} · {m.name_en if locale() == 'en' else m.name_th}")
            for m in modalities
        ]
    )
    form.validate()
    day = form.date.data if not form.date.errors and form.date.data else local_today()
    modality = form.modality.data if form.modality.data in {m.code for m in modalities} else ""
    if form.date.data is None and not form.date.errors:
        form.date.data = day
    return form, day, modality


@bp.route("/day")
@scheduler_only
def day():
    hub = current_hub()
    form, the_day, modality = _pick(hub)
    rows = queries.day_view(hub, the_day, modality or None)
    return render_template(
        "hub/day.html",
        hub=hub,
        hubs=hubs(),
        form=form,
        day=the_day,
        modality=modality,
        rows=rows,
        prev_day=the_day - timedelta(days=1),
        next_day=the_day + timedelta(days=1),
        today=local_today(),
        closures=capacity_view.closures_on(hub.id, the_day),
    )


@bp.route("/week")
@scheduler_only
def week():
    hub = current_hub()
    form, the_day, modality = _pick(hub)
    first = the_day - timedelta(days=the_day.weekday())  # weeks start on Monday in Thailand
    days, device_rows, modality_rows = queries.week_view(hub, first, modality or None)
    return render_template(
        "hub/week.html",
        hub=hub,
        hubs=hubs(),
        form=form,
        day=the_day,
        modality=modality,
        days=days,
        device_rows=device_rows,
        modality_rows=modality_rows,
        prev_week=first - timedelta(days=7),
        next_week=first + timedelta(days=7),
        today=local_today(),
    )


@bp.route("/exams")
@hub_staff
def exams():
    """Today's and the coming week's exams, as a radiologist protocols and reads them."""
    hub = current_hub()
    form, the_day, modality = _pick(hub)
    devices = queries.hub_devices(hub, modality or None)
    start, _ = queries.day_bounds(the_day)
    _, end = queries.day_bounds(the_day + timedelta(days=UPCOMING_DAYS - 1))
    appointments = queries.appointments_between(devices, start, end)
    by_day: dict[date, list[Appointment]] = {}
    for appointment in appointments:
        by_day.setdefault(to_local(appointment.start_at).date(), []).append(appointment)
    return render_template(
        "hub/exams.html",
        hub=hub,
        hubs=hubs(),
        form=form,
        day=the_day,
        modality=modality,
        by_day=by_day,
        today=local_today(),
        days=UPCOMING_DAYS,
    )


@bp.route("/exams/<int:appointment_id>")
@hub_staff
def exam(appointment_id: int):
    hub = current_hub()
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or appointment.hub_hospital_id != hub.id:
        abort(404)
    req = appointment.request
    history = db.session.scalars(
        select(Appointment)
        .where(Appointment.patient_id == appointment.patient_id, Appointment.id != appointment.id)
        .options(selectinload(Appointment.request).selectinload(ImagingRequest.procedure))
        .order_by(Appointment.start_at.desc())
        .limit(20)
    ).all()
    return render_template("hub/exam.html", hub=hub, appt=appointment, req=req, history=history)


@bp.route("/inbox")
@scheduler_only
def inbox():
    hub = current_hub()
    tab = request.args.get("tab", "new")
    statuses = {
        "new": (RequestStatus.SUBMITTED,),
        "accepted": (RequestStatus.ACCEPTED,),
    }.get(tab)
    if statuses is None:
        abort(404)
    return render_template(
        "hub/inbox.html",
        hub=hub,
        hubs=hubs(),
        tab=tab,
        requests=queries.inbox(hub, statuses),
        counts={
            name: len(queries.inbox(hub, sts))
            for name, sts in (
                ("new", (RequestStatus.SUBMITTED,)),
                ("accepted", (RequestStatus.ACCEPTED,)),
            )
        },
        replies=_patient_replies(hub),
    )


def _patient_replies(hub) -> list:
    """Patients' LINE replies (confirm, ask to change) waiting for the hub, if LINE is wired."""
    try:
        from integrations.line.inbox import pending_patient_replies
    except ImportError:
        return []
    return list(pending_patient_replies(hub.id))


@bp.route("/line-replies/<int:reply_id>/handled", methods=["POST"])
@scheduler_only
def line_reply_handled(reply_id: int):
    # LINE is an optional adapter: imported here so the hub works without it.
    from app.models.line import LinePatientReply
    from integrations.line.inbox import mark_reply_handled

    hub = current_hub()
    reply = db.session.get(LinePatientReply, reply_id)
    if reply is None or reply.hub_hospital_id != hub.id:
        abort(404)
    try:
        mark_reply_handled(actor(), utcnow(), reply)
    except DomainError as error:
        db.session.rollback()
        flash_error(error)
    else:
        flash(_("Reply marked as handled."), "success")
    return redirect(url_for("hub.inbox"))


@bp.route("/requests/<int:request_id>")
@scheduler_only
def request_view(request_id: int):
    hub = current_hub()
    req = db.session.get(ImagingRequest, request_id)
    if req is None or req.hub_hospital_id != hub.id:
        abort(404)
    return request_page(req)


def request_page(req: ImagingRequest, status: int = 200, **forms):
    """The request with its action forms; ``forms`` replaces the blank ones (with errors)."""
    from app.hub.actions import request_forms

    context = request_forms(req)
    context.update(forms)
    return render_template("hub/request.html", hub=current_hub(), req=req, **context), status
