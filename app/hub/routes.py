"""Hub pages: the scheduler's inbox, day and week views, and the radiologist's exam list.

Views read through ``app.hub.queries`` and change things only through the
``scheduling`` operations (see ``app.hub.actions``).
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.args import int_arg
from app.extensions import db
from app.hub import board_view, capacity_view, queries
from app.hub.board_html import BoardHtml
from app.hub.board_view import build_board
from app.hub.forms import DayPickForm
from app.hub.scope import current_hub, hub_may_see, hubs
from app.labels import label
from app.pdpa.reads import audit_read
from app.webkit.forms import modality_options
from app.webkit.views import attempt, role_required
from integrations.line.inbox import mark_reply_handled, pending_patient_replies
from integrations.line.models import LinePatientReply
from scheduling.access import request_scope
from scheduling.clock import local_today, utcnow
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    ImagingRequest,
    Patient,
    Priority,
    RequestStatus,
    Role,
)
from scheduling.patients import record_at
from scheduling.timetable import day_bounds
from worklist.pacs_query import viewer_url

# The hub's blueprint: ``app.hub.actions`` and ``app.hub.capacity`` add their views to it.
bp = Blueprint("hub", __name__, url_prefix="/hub")
scheduler_only = role_required(Role.SCHEDULER)
hub_staff = role_required(Role.SCHEDULER, Role.RADIOLOGIST)

UPCOMING_DAYS = 7


def _pick(hub) -> tuple[DayPickForm, date, str]:
    form = DayPickForm(request.args)
    modalities = queries.hub_modalities(hub)
    form.modality.choices = modality_options(modalities, first=("", "—"))
    form.validate()
    day = form.date.data if not form.date.errors and form.date.data else local_today()
    modality = form.modality.data if form.modality.data in {m.code for m in modalities} else ""
    if form.date.data is None and not form.date.errors:
        form.date.data = day
    return form, day, modality


@bp.route("/day", methods=["GET", "POST"])
@scheduler_only
def day():
    """The day board. The patient search is a POST (names stay out of URLs and logs);
    its answer is the same board with the matches listed and outlined."""
    hub = current_hub()
    form, the_day, modality = _pick(hub)
    search = (request.form.get("q") or "").strip()[:100] if request.method == "POST" else ""
    moving = _moving(hub)
    if moving is not None and not modality:
        # Moving a booking: the devices it can go to, side by side.
        modality = moving.device.modality_code
    now = utcnow()
    closures = capacity_view.closures_on(hub.id, the_day)
    board = build_board(
        hub,
        the_day,
        now,
        modality=modality or None,
        device_id=int_arg("device"),
        page=int_arg("page"),
        search=search,
        moving=moving,
        closures=closures,
    )
    here = url_for("hub.day", date=the_day.isoformat(), modality=modality or None, page=board.page)
    labels, t = enum_labels(), action_labels()
    html = BoardHtml.for_page(
        here=here,
        day=the_day,
        undo_day=local_today(now),
        labels=labels,
        l=board_labels(),
        t=t,
        urls=appointment_urls(),
        moving=moving,
        modality=modality,
        page=board.page,
    )
    shown = [b.appointment for c in board.columns for b in c.blocks]
    shown += [a for a, _page in board.hits]
    audit_read("hub.day", shown, appointments=[a.id for a in shown], day=the_day.isoformat())
    return render_template(
        "hub/day.html",
        board=board,
        html=html,
        appt_urls=html.urls,
        labels=labels,
        t=t,
        hub=hub,
        hubs=hubs(),
        form=form,
        day=the_day,
        modality=modality,
        search=search,
        moving=moving,
        prev_day=the_day - timedelta(days=1),
        next_day=the_day + timedelta(days=1),
        today=local_today(),
        undo_day=local_today(now),
        closures=closures,
        page_size=board_view.BOARD_PAGE,
    )


def _moving(hub) -> Appointment | None:
    """The booking being moved (``?move=<id>``): the gaps offer to take it."""
    appointment_id = int_arg("move")
    if appointment_id is None:
        return None
    appointment = db.session.get(Appointment, appointment_id)
    if (
        appointment is None
        or not hub_may_see(appointment, hub)
        or appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)
    ):
        return None
    return appointment


def board_labels() -> dict[str, str]:
    """The day board's own labels, translated once per page."""
    return {
        "alert": _("Alert"),
        "free": _("free"),
        "book_gap": _("Book into this gap"),
        "move_here": _("Move here"),
        "in_closure": _("In a closure"),
        "walk_in": _("Walk-in"),
        "overbook": _("Overbooked"),
    }


def enum_labels() -> dict:
    """Translated labels of priorities and appointment statuses, looked up once per page."""
    return {member: label(member) for enum in (Priority, AppointmentStatus) for member in enum}


def action_labels() -> dict[str, str]:
    """The booking buttons' labels, translated once per page rather than once per row."""
    return {
        "arrived": _("Arrived"),
        "no_show": _("No-show"),
        "move": _("Move"),
        "cancel": _("Cancel booking"),
        "move_here": _("Move to a gap"),
        "undo_no_show": _("Undo no-show"),
        "slip": _("Appointment slip"),
        "details": _("Details"),
        "done": _("Exam done"),
    }


def appointment_urls() -> dict[str, str]:
    """URL patterns for a booking's actions, built once per page: ``url_for`` per row and
    action was a large share of a busy day view's time. ``{id}`` is the appointment id."""
    endpoints = {
        "arrive": "hub.appointment_arrive",
        "no_show": "hub.appointment_no_show",
        "move": "hub.appointment_move",
        "complete": "hub.appointment_complete",
        "cancel": "hub.appointment_cancel",
        "exam": "hub.exam",
        "undo_no_show": "hub.appointment_no_show_undo",
    }
    return {
        name: url_for(endpoint, appointment_id=987654321).replace("987654321", "{id}")
        for name, endpoint in endpoints.items()
    }


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


EXAMS_PAGE_SIZE = 100


@bp.route("/exams")
@hub_staff
def exams():
    """One day's exams as a radiologist protocols and reads them, with the coming week's
    counts as links; a page holds at most ``EXAMS_PAGE_SIZE`` exams."""
    hub = current_hub()
    form, the_day, modality = _pick(hub)
    devices = queries.hub_devices(hub, modality or None)
    strip = queries.bookings_per_day(devices, local_today(), UPCOMING_DAYS)
    total = queries.bookings_per_day(devices, the_day, 1)[the_day]
    pages = max(1, -(-total // EXAMS_PAGE_SIZE))
    page = min(max(int_arg("page", 1), 1), pages)
    start, end = day_bounds(the_day)
    appointments = queries.appointments_between(
        devices, start, end, limit=EXAMS_PAGE_SIZE, offset=(page - 1) * EXAMS_PAGE_SIZE
    )
    audit_read(
        "hub.exams",
        appointments,
        appointments=[a.id for a in appointments],
        day=the_day.isoformat(),
    )
    return render_template(
        "hub/exams.html",
        hub=hub,
        hubs=hubs(),
        form=form,
        day=the_day,
        modality=modality,
        appointments=appointments,
        strip=strip,
        total=total,
        page=page,
        pages=pages,
        today=local_today(),
        labels=enum_labels(),
        exam_url=url_for("hub.exam", appointment_id=987654321).replace("987654321", "{id}"),
    )


@bp.route("/exams/<int:appointment_id>")
@hub_staff
def exam(appointment_id: int):
    hub = current_hub()
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or not hub_may_see(appointment, hub):
        abort(404)
    req = appointment.request
    # Only the appointments of requests this user may see: the patient's exams booked by
    # other hospitals at other hubs are theirs (scheduling/access.py).
    patient = appointment.patient
    # The same person under every hospital's record (linked by the national ID or
    # passport), but only through requests this user may see.
    same_person = select(Patient.id).where(
        Patient.id_type == patient.id_type, Patient.id_value == patient.id_value
    )
    history = db.session.scalars(
        request_scope(current_user, select(Appointment).join(Appointment.request))
        .where(Appointment.patient_id.in_(same_person), Appointment.id != appointment.id)
        .options(selectinload(Appointment.request).selectinload(ImagingRequest.procedure))
        .order_by(Appointment.start_at.desc())
        .limit(20)
    ).all()
    audit_read("appointment.view", [appointment], entity=appointment)
    hub_record = record_at(appointment.patient, hub.id)
    return render_template(
        "hub/exam.html",
        hub=hub,
        hub_record=hub_record,
        appt=appointment,
        req=req,
        history=history,
        viewer=_viewer_link(appointment, hub_record),
        appt_urls=appointment_urls(),
        t=action_labels(),
        undo_day=local_today(),
    )


def _viewer_link(appointment: Appointment, hub_record) -> str | None:
    """The study in the PACS viewer: the URL PACS gave, else the configured template."""
    for study in appointment.request.studies:
        if study.appointment_id == appointment.id and study.viewer_url:
            return study.viewer_url
    return viewer_url(
        current_app.config.get("PACS_VIEWER_URL_TEMPLATE") or "",
        study_instance_uid=appointment.study_instance_uid,
        accession_number=appointment.accession_number,
        patient_id=(hub_record.hn if hub_record else None) or "",
    )


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
    counts = queries.inbox_counts(hub)
    rows = queries.inbox(hub, statuses)
    replies = list(pending_patient_replies(hub.id))
    audit_read(
        "hub.inbox",
        [*rows, *replies],
        requests=[r.id for r in rows],
        line_replies=[r.id for r in replies],
    )
    return render_template(
        "hub/inbox.html",
        hub=hub,
        hubs=hubs(),
        tab=tab,
        requests=rows,
        counts={
            "new": counts.get(RequestStatus.SUBMITTED, 0),
            "accepted": counts.get(RequestStatus.ACCEPTED, 0),
        },
        replies=replies,
    )


@bp.route("/line-replies/<int:reply_id>/handled", methods=["POST"])
@scheduler_only
def line_reply_handled(reply_id: int):
    hub = current_hub()
    reply = db.session.get(LinePatientReply, reply_id)
    if reply is None or reply.hub_hospital_id != hub.id:
        abort(404)
    if attempt(mark_reply_handled, reply) is not None:
        flash(_("Reply marked as handled."), "success")
    return redirect(url_for("hub.inbox"))
