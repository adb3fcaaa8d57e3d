"""The request page and the scheduler's actions: each action validates its form, calls
one ``scheduling`` operation, and shows the operation's own Thai message when it refuses.

Requests: accept, reject (with a reason), change procedure or priority, book.
Appointments: arrived, no-show, cancel (with a reason), move to another slot or device.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.filters import be_date, patient_name
from app.hub import queries
from app.hub.forms import ChangeRequestForm, MoveForm, MoveSearchForm
from app.hub.routes import bp
from app.hub.scope import current_hub, hub_may_see
from app.hub.waitlist_views import offer_or
from app.pdpa.reads import audit_read
from app.webkit.fields import format_be_date
from app.webkit.forms import ReasonForm, device_options, enum_options, options
from app.webkit.views import attempt, locale, next_link, role_required
from scheduling import booking
from scheduling import requests as request_ops
from scheduling.availability import find_slots, warning_message
from scheduling.clock import local_today, to_local, utcnow
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    Device,
    ImagingRequest,
    Priority,
    Procedure,
    RequestStatus,
    Role,
)
from scheduling.noshow import undo_no_show

scheduler_only = role_required(Role.SCHEDULER)

MOVE_SLOT_LIMIT = 60  # one device-day of 10-minute slots, more than a screen


def _hub_request(request_id: int) -> ImagingRequest:
    hub = current_hub()
    req = db.session.get(ImagingRequest, request_id)
    if req is None or req.hub_hospital_id != hub.id:
        abort(404)
    audit_read("request.view", [req], entity=req, page=request.endpoint)
    return req


def _hub_appointment(appointment_id: int) -> Appointment:
    hub = current_hub()
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or not hub_may_see(appointment, hub):
        abort(404)
    audit_read("appointment.view", [appointment], entity=appointment, page=request.endpoint)
    return appointment


def _reason_form(**kwargs) -> ReasonForm:
    """Rejecting a request or cancelling a booking: the requesting hospital reads why."""
    return ReasonForm(
        required_message=_l("Enter the reason; the requesting hospital will see it"), **kwargs
    )


def _request_forms(req: ImagingRequest) -> dict:
    """The action forms shown on a request page, pre-filled."""
    change = ChangeRequestForm(prefix="change", obj=None)
    change.procedure_id.choices = options(
        (p.id, f"{p.code} · {p.display_name(locale())}")
        for p in db.session.scalars(
            select(Procedure)
            .where(Procedure.is_active.is_(True))
            .order_by(Procedure.modality_code, Procedure.code)
        )
    )
    change.priority.choices = enum_options(Priority)
    if request.method == "GET" or not change.is_submitted():
        change.procedure_id.data = req.procedure_id
        change.priority.data = req.priority.name
    return {"reject_form": _reason_form(prefix="reject"), "change_form": change}


def _request_page(req: ImagingRequest, status: int = 200, **forms):
    """The request with its action forms; ``forms`` replaces the blank ones (with errors)."""
    from app.hub.identity import identity_context

    context = _request_forms(req)
    context.update(identity_context(req))
    context.update(forms)
    audit_read("request.view", [req], entity=req, page=request.endpoint)
    return render_template("hub/request.html", hub=current_hub(), req=req, **context), status


@bp.route("/requests/<int:request_id>")
@scheduler_only
def request_view(request_id: int):
    return _request_page(_hub_request(request_id))


@bp.route("/requests/<int:request_id>/accept", methods=["POST"])
@scheduler_only
def request_accept(request_id: int):
    req = _hub_request(request_id)
    if attempt(request_ops.accept_request, req) is not None:
        flash(_("Request accepted. Book a slot now or leave it in the accepted list."), "success")
    return redirect(url_for("hub.request_view", request_id=req.id))


@bp.route("/requests/<int:request_id>/reject", methods=["POST"])
@scheduler_only
def request_reject(request_id: int):
    req = _hub_request(request_id)
    form = _reason_form(prefix="reject")
    if not form.validate():
        return _request_page(req, status=422, reject_form=form)
    if attempt(request_ops.reject_request, req, form.reason.data) is None:
        return _request_page(req, status=409, reject_form=form)
    flash(
        _(
            "Request rejected; %(hospital)s will see the reason.",
            hospital=req.requesting_hospital.display_name(locale()),
        ),
        "success",
    )
    return redirect(url_for("hub.inbox"))


@bp.route("/requests/<int:request_id>/change", methods=["POST"])
@scheduler_only
def request_change(request_id: int):
    req = _hub_request(request_id)
    forms = _request_forms(req)
    form = forms["change_form"]
    if not form.validate():
        return _request_page(req, status=422, change_form=form)
    procedure = db.session.get(Procedure, form.procedure_id.data)
    if (
        attempt(
            request_ops.change_request,
            req,
            procedure=procedure,
            priority=Priority[form.priority.data],
        )
        is None
    ):
        return _request_page(req, status=409, change_form=form)
    flash(_("Request changed."), "success")
    return redirect(url_for("hub.request_view", request_id=req.id))


# -- appointments ------------------------------------------------------------------------


def _day_url(appointment: Appointment) -> str:
    day = to_local(appointment.start_at).date().isoformat()
    return url_for("hub.day", date=day, _anchor=f"appt-{appointment.id}")


@bp.route("/appointments/<int:appointment_id>/arrive", methods=["POST"])
@scheduler_only
def appointment_arrive(appointment_id: int):
    return _appointment_step(appointment_id, booking.mark_arrived, N_("%(name)s has arrived."))


@bp.route("/appointments/<int:appointment_id>/no-show", methods=["GET", "POST"])
@scheduler_only
def appointment_no_show(appointment_id: int):
    """GET asks for confirmation (the button on the board and exam page leads here);
    the POST marks the no-show, which can be undone the same day."""
    if request.method == "GET":
        appointment = _hub_appointment(appointment_id)
        return render_template(
            "hub/no_show.html", appt=appointment, back=next_link(_day_url(appointment))
        )
    appointment = _hub_appointment(appointment_id)
    freed = (appointment.device, appointment.start_at, appointment.end_at)
    done = N_("%(name)s marked as a no-show; the request can be booked again.")
    if attempt(booking.mark_no_show, appointment) is None:
        return redirect(next_link(_day_url(appointment)))
    flash(_(done, name=_patient(appointment)), "success")
    return offer_or(freed, next_link(_day_url(appointment)))


@bp.route("/appointments/<int:appointment_id>/no-show/undo", methods=["POST"])
@scheduler_only
def appointment_no_show_undo(appointment_id: int):
    appointment = _hub_appointment(appointment_id)
    if attempt(undo_no_show, appointment) is not None:
        flash(_("No-show undone: %(name)s is booked again.", name=_patient(appointment)), "success")
    return redirect(next_link(_day_url(appointment)))


@bp.route("/appointments/<int:appointment_id>/complete", methods=["POST"])
@scheduler_only
def appointment_complete(appointment_id: int):
    """The exam is done, for scanners that send no MPPS (the same operation MPPS uses)."""
    done = N_("Exam of %(name)s recorded as done.")
    return _appointment_step(appointment_id, booking.complete_exam, done)


def _appointment_step(appointment_id: int, operation, done: str):
    """One button on a booking: the operation, ``done`` (a msgid naming the patient) when
    it succeeds, and back to the page the button was on."""
    appointment = _hub_appointment(appointment_id)
    if attempt(operation, appointment) is not None:
        flash(_(done, name=_patient(appointment)), "success")
    return redirect(next_link(_day_url(appointment)))


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["GET", "POST"])
@scheduler_only
def appointment_cancel(appointment_id: int):
    appointment = _hub_appointment(appointment_id)
    form = _reason_form()
    if form.validate_on_submit():
        freed = (appointment.device, appointment.start_at, appointment.end_at)
        if attempt(booking.cancel_appointment, appointment, form.reason.data) is not None:
            flash(_("Booking cancelled; the request is back in the accepted list."), "success")
            return offer_or(freed, next_link(_day_url(appointment)))
    return render_template(
        "hub/cancel.html", appt=appointment, form=form, back=next_link(_day_url(appointment))
    ), (422 if form.errors else 200)


def _patient(appointment: Appointment) -> str:
    return patient_name(appointment.patient)


def _slot_search(req: ImagingRequest, exclude: Appointment | None):
    """The device/date form and the free slots it finds (for moving or booking)."""
    hub = current_hub()
    devices = queries.hub_devices(hub, req.procedure.modality_code)
    form = MoveSearchForm(request.args)
    form.device_id.choices = device_options(devices, first=(0, _("Any device")))
    if not request.args.get("date"):
        form.date.data = local_today()
        form.date.raw_data = None
        form.device_id.data = form.device_id.data or 0
        valid = True
    else:
        valid = form.validate()
    slots = []
    if valid and form.date.data is not None:
        slots = find_slots(
            utcnow(),
            req.procedure,
            requesting_hospital_id=req.requesting_hospital_id,
            patient=req.patient,
            hub_hospital_id=hub.id,
            device_id=form.device_id.data or None,
            date_from=form.date.data,
            date_to=form.date.data + timedelta(days=6),
            priority=req.priority,
            limit=MOVE_SLOT_LIMIT,
            exclude_appointment_id=exclude.id if exclude is not None else None,
        )
    by_id = {d.id: d for d in devices}
    later = None
    if len(slots) >= MOVE_SLOT_LIMIT:
        # No silent cap: the last day may be cut part-way, so it starts the next page.
        last_day = to_local(slots[-1].start_at).date()
        whole = [s for s in slots if to_local(s.start_at).date() < last_day]
        if whole:
            slots = whole
        else:
            last_day += timedelta(days=1)
        later = url_for(
            request.endpoint,
            **request.view_args,
            date=format_be_date(last_day),
            device_id=form.device_id.data or 0,
        )
    return form, slots, by_id, later


def _parse_slot(form: MoveForm) -> tuple[Device, datetime] | None:
    device_id, _sep, start = (form.slot.data or "").partition("|")
    try:
        start_at = datetime.fromisoformat(start)
        device = db.session.get(Device, int(device_id))
    except ValueError:
        return None
    if start_at.tzinfo is None or device is None or device.hospital_id != current_hub().id:
        return None
    return device, start_at


@bp.route("/appointments/<int:appointment_id>/move", methods=["GET", "POST"])
@scheduler_only
def appointment_move(appointment_id: int):
    appointment = _hub_appointment(appointment_id)
    return _slot_page(appointment.request, appointment)


@bp.route("/requests/<int:request_id>/book", methods=["GET", "POST"])
@scheduler_only
def request_book(request_id: int):
    """Book an accepted (or submitted) request that has no slot yet."""
    req = _hub_request(request_id)
    if req.status not in (RequestStatus.SUBMITTED, RequestStatus.ACCEPTED):
        flash(_("This request cannot be booked in its current state."), "error")
        return redirect(url_for("hub.request_view", request_id=req.id))
    return _slot_page(req, None)


def _slot_page(req: ImagingRequest, moving: Appointment | None):
    """Free slots to book the request on, or to move its booking ``moving`` to; a POST
    is the slot button pressed."""
    if request.method == "POST":
        form = MoveForm()
        picked = _parse_slot(form) if form.validate() else None
        if picked is None:
            abort(400)
        device, start_at = picked
        if moving is None:
            new = attempt(booking.book, req, device, start_at)
            done = N_("Booked for %(date)s %(time)s on %(device)s.")
        else:
            freed = (moving.device, moving.start_at, moving.end_at)
            new = attempt(
                booking.reschedule, moving, device, start_at, reason=form.reason.data or ""
            )
            done = N_("Moved to %(date)s %(time)s on %(device)s.")
        if new is not None:
            when = to_local(new.start_at).strftime("%H:%M")
            flash(_(done, date=be_date(new.start_at), time=when, device=device.ae_title), "success")
            if moving is not None:
                return offer_or(freed, _day_url(new))
            return redirect(_day_url(new))
    search, slots, devices, later = _slot_search(req, moving)
    return render_template(
        "hub/move.html",
        appt=moving,
        req=req,
        search=search,
        slots=slots,
        devices=devices,
        warning_message=lambda code: warning_message(code, locale()),
        action=url_for("hub.request_book", request_id=req.id)
        if moving is None
        else url_for("hub.appointment_move", appointment_id=moving.id),
        title=_("Book a slot") if moving is None else _("Move booking"),
        later=later,
    )
