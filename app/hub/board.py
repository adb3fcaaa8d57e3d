"""The day board's actions: book a request into a gap, the day on paper.

Booking goes through ``scheduling.booking`` via the request's ordinary book and move
endpoints (``app.hub.actions``): a gap only proposes the slot.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.args import int_arg
from app.extensions import db
from app.hub.routes import appointment_urls, bp, enum_labels, scheduler_only
from app.hub.scope import current_hub
from app.pdpa.reads import audit_read
from scheduling.board import Gap, GapFitter
from scheduling.models import Device, ImagingRequest, Procedure, RequestStatus

CANDIDATE_LIMIT = 20


def _gap_from_args() -> tuple[Device, Gap]:
    hub = current_hub()
    device = db.session.get(Device, int_arg("device") or 0)
    if device is None or device.hospital_id != hub.id:
        abort(404)
    try:
        start = datetime.fromisoformat(request.args.get("start", ""))
        end = datetime.fromisoformat(request.args.get("end", ""))
    except ValueError:
        abort(400)
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        abort(400)
    return device, Gap(device.id, start, end, 1, 1)


def bookable_requests(hub_id: int, modality: str, limit: int) -> tuple[list[ImagingRequest], int]:
    """The hub's requests waiting for a slot on this modality, most urgent and oldest
    first; and how many there are in all (the page says how many it does not show)."""
    from app.hub.queries import PRIORITY_ORDER

    where = (
        ImagingRequest.hub_hospital_id == hub_id,
        ImagingRequest.status.in_((RequestStatus.SUBMITTED, RequestStatus.ACCEPTED)),
        ImagingRequest.procedure_id.in_(
            select(Procedure.id).where(Procedure.modality_code == modality)
        ),
    )
    total = db.session.scalar(select(func.count(ImagingRequest.id)).where(*where))
    rows = db.session.scalars(
        select(ImagingRequest)
        .where(*where)
        .options(
            selectinload(ImagingRequest.patient),
            selectinload(ImagingRequest.procedure),
            selectinload(ImagingRequest.requesting_hospital),
        )
        .order_by(PRIORITY_ORDER, ImagingRequest.submitted_at, ImagingRequest.id)
        .limit(limit)
    ).all()
    return list(rows), total


@bp.route("/day/gap")
@scheduler_only
def gap_book():
    """A gap clicked on the board: the requests that could take it, each with the time
    it would start at; the button books it (``hub.request_book``)."""
    hub = current_hub()
    device, gap = _gap_from_args()
    from scheduling import waitlist

    fitter = GapFitter([device])
    waiting = waitlist.entries_for(hub.id, modality=device.modality_code)
    candidates, total = bookable_requests(hub.id, device.modality_code, CANDIDATE_LIMIT)
    waiting_ids = {e.request_id for e in waiting}
    rows = [(e.request, fitter.first_start(gap, e.request.procedure), e) for e in waiting]
    rows += [
        (r, fitter.first_start(gap, r.procedure), None)
        for r in candidates
        if r.id not in waiting_ids
    ]
    audit_read("hub.gap", [r for r, _s, _e in rows], requests=[r.id for r, _s, _e in rows])
    return render_template(
        "hub/gap.html",
        hub=hub,
        device=device,
        gap=gap,
        rows=rows,
        more=max(0, total - len(candidates)),
        labels=enum_labels(),
        appt_urls=appointment_urls(),
    )


@bp.route("/day/print")
@scheduler_only
def day_print():
    """The day on paper: one table per scanner, A4, no buttons or forms."""
    from app.hub import queries
    from app.hub.routes import _pick
    from app.hub.scope import hubs
    from scheduling.timetable import day_bounds

    hub = current_hub()
    form, the_day, modality = _pick(hub)
    rows = queries.day_counts(hub, the_day, modality or None)
    start, end = day_bounds(the_day)
    by_device: dict[int, list] = {r.device.id: [] for r in rows}
    appointments = queries.appointments_between([r.device for r in rows], start, end)
    for a in appointments:
        by_device[a.device_id].append(a)
    audit_read("hub.day_print", appointments, appointments=[a.id for a in appointments])
    return render_template(
        "hub/day_print.html",
        hub=hub,
        hubs=hubs(),
        day=the_day,
        rows=[(r, by_device[r.device.id]) for r in rows if by_device[r.device.id]],
        labels=enum_labels(),
    )


@bp.route("/day/extra", methods=["GET", "POST"])
@scheduler_only
def day_extra():
    """A walk-in or a deliberate overbooking on one device: beyond the template's capacity."""
    from flask import flash, redirect, url_for
    from flask_babel import gettext as _

    from app.webkit.fields import parse_be_date, parse_hhmm
    from app.webkit.views import attempt
    from scheduling.clock import local_datetime, local_today, to_local, utcnow
    from scheduling.extra import book_extra
    from scheduling.models import ExtraKind

    hub = current_hub()
    device = db.session.get(Device, int_arg("device") or 0)
    if device is None or device.hospital_id != hub.id:
        abort(404)
    day = parse_be_date(request.args.get("date", "")) or local_today()
    candidates, total = bookable_requests(hub.id, device.modality_code, CANDIDATE_LIMIT)
    errors: dict[str, str] = {}
    values = {
        "request_id": request.form.get("request_id", ""),
        "time": request.form.get("time", "")
        or (to_local(utcnow()).strftime("%H:%M") if day == local_today() else "09:00"),
        "kind": request.form.get("kind", "WALK_IN"),
        "reason": request.form.get("reason", "")[:500],
    }
    if request.method == "POST":
        chosen = next((r for r in candidates if str(r.id) == values["request_id"]), None)
        at = parse_hhmm(values["time"])
        if chosen is None:
            errors["request_id"] = _("Choose the request")
        if at is None:
            errors["time"] = _("Enter the time as HH:MM, e.g. 08:30")
        kind = ExtraKind.__members__.get(values["kind"])
        if kind is None:
            errors["kind"] = _("Choose walk-in or overbooking")
        if not errors:
            start_at = local_datetime(day, at)
            made = attempt(book_extra, chosen, device, start_at, kind, values["reason"])
            if made is not None:
                flash(
                    _(
                        "Added beyond capacity: %(time)s on %(device)s.",
                        time=values["time"],
                        device=device.ae_title,
                    ),
                    "success",
                )
                return redirect(url_for("hub.day", date=day.isoformat(), _anchor=f"appt-{made.id}"))
    audit_read("hub.day_extra", candidates, requests=[r.id for r in candidates])
    return render_template(
        "hub/day_extra.html",
        hub=hub,
        device=device,
        day=day,
        candidates=candidates,
        more=max(0, total - len(candidates)),
        values=values,
        errors=errors,
    ), (422 if errors else 200)


@bp.route("/appointments/<int:appointment_id>/slip")
@scheduler_only
def appointment_slip(appointment_id: int):
    """The appointment slip for an exam the hub booked (a walk-in, a phone booking, a move):
    the requester's slip, printed at the hub, A5 or A4."""
    from markupsafe import Markup

    from app.hub.scope import hub_may_see
    from app.requests.slip import qr_svg, slip_link
    from scheduling.clock import utcnow
    from scheduling.models import Appointment
    from scheduling.states import LIVE_APPOINTMENT_STATUSES

    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or not hub_may_see(appointment, current_hub()):
        abort(404)
    audit_read("appointment.slip", [appointment], entity=appointment)
    link = (
        slip_link(appointment, utcnow())
        if appointment.status in LIVE_APPOINTMENT_STATUSES
        else None
    )
    from flask_babel import gettext as _

    req = appointment.request
    return render_template(
        "requests/slip.html",
        appt=appointment,
        req=req,
        paper="a4" if request.args.get("paper") == "a4" else "a5",
        qr_svg=Markup(
            qr_svg(link.url, title=_("Scan to link LINE and open the appointment")) if link else ""
        ),
        link=link,
        hn=appointment.patient.hn_at(req.requesting_hospital_id),
    )
