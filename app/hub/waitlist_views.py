"""The waiting list pages: the list in order, adding and removing a request, and the
offers made when a slot frees up (each booked with one click).

``offer_or`` is what the cancel, no-show and move actions return: the offers page for
the slot they just freed when someone on the list fits it, else their usual page.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.args import int_arg
from app.extensions import db
from app.hub.routes import bp, enum_labels, scheduler_only
from app.hub.scope import current_hub
from app.pdpa.reads import audit_read
from app.webkit.views import attempt, next_link
from scheduling import waitlist
from scheduling.clock import to_local, utcnow
from scheduling.models import Device, ImagingRequest, WaitlistEntry


def _offers_url(device: Device, start: datetime, end: datetime) -> str:
    return url_for(
        "hub.waitlist_offers", device=device.id, start=start.isoformat(), end=end.isoformat()
    )


def offer_or(freed: tuple[Device, datetime, datetime], default: str):
    """After a slot was freed: its offers when the waiting list has any, else ``default``."""
    device, start, end = freed
    return offer_first_or(([device], start, end), default)


def offer_first_or(freed: tuple[list[Device], datetime, datetime], default: str):
    """After a stretch was freed on one or more devices (a lifted hospital-wide closure
    frees them all): the offers of the first that someone on the list fits, else
    ``default``."""
    devices, start, end = freed
    device = waitlist.first_fitting(utcnow(), devices, start, end)
    if device is None:
        return redirect(default)
    flash(_("A slot is free: requests on the waiting list fit it."), "success")
    return redirect(_offers_url(device, start, end))


@bp.route("/waitlist")
@scheduler_only
def waitlist_page():
    hub = current_hub()
    entries = waitlist.entries_for(hub.id)
    audit_read("hub.waitlist", entries, requests=[e.request_id for e in entries])
    return render_template(
        "hub/waitlist.html",
        hub=hub,
        entries=entries,
        labels=enum_labels(),
        live=waitlist.live_appointment,
    )


def _hub_entry(entry_id: int) -> WaitlistEntry:
    entry = db.session.get(WaitlistEntry, entry_id)
    if entry is None or entry.hub_hospital_id != current_hub().id:
        abort(404)
    return entry


@bp.route("/requests/<int:request_id>/waitlist", methods=["POST"])
@scheduler_only
def waitlist_add(request_id: int):
    req = db.session.get(ImagingRequest, request_id)
    if req is None or req.hub_hospital_id != current_hub().id:
        abort(404)
    if attempt(waitlist.add, req, request.form.get("note", "")) is not None:
        flash(_("Added to the waiting list."), "success")
    return redirect(next_link(url_for("hub.waitlist_page")))


@bp.route("/waitlist/<int:entry_id>/remove", methods=["POST"])
@scheduler_only
def waitlist_remove(entry_id: int):
    if attempt(waitlist.remove, _hub_entry(entry_id)) is not None:
        flash(_("Taken off the waiting list."), "success")
    return redirect(url_for("hub.waitlist_page"))


def _freed_from_args() -> tuple[Device, datetime, datetime]:
    device = db.session.get(Device, int_arg("device") or 0)
    if device is None or device.hospital_id != current_hub().id:
        abort(404)
    try:
        start = datetime.fromisoformat(request.args.get("start", ""))
        end = datetime.fromisoformat(request.args.get("end", ""))
    except ValueError:
        abort(400)
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        abort(400)
    return device, start, end


@bp.route("/waitlist/offers")
@scheduler_only
def waitlist_offers():
    """A freed stretch of a device: the first requests on the list that fit it."""
    hub = current_hub()
    device, start, end = _freed_from_args()
    offers = waitlist.offers(utcnow(), device, start, end)
    audit_read(
        "hub.waitlist_offers",
        [o.entry for o in offers],
        requests=[o.entry.request_id for o in offers],
    )
    return render_template(
        "hub/waitlist_offers.html",
        hub=hub,
        device=device,
        start=start,
        end=end,
        offers=offers,
        labels=enum_labels(),
        live=waitlist.live_appointment,
        day=to_local(start).date(),
    )


@bp.route("/waitlist/<int:entry_id>/book", methods=["POST"])
@scheduler_only
def waitlist_book(entry_id: int):
    entry = _hub_entry(entry_id)
    device = db.session.get(Device, int_arg("device", source=request.form) or 0)
    try:
        start_at = datetime.fromisoformat(request.form.get("start", ""))
    except ValueError:
        abort(400)
    if device is None or device.hospital_id != entry.hub_hospital_id or start_at.tzinfo is None:
        abort(400)
    appointment = attempt(waitlist.book_offer, entry, device, start_at)
    if appointment is None:
        return redirect(url_for("hub.waitlist_page"))
    flash(
        _(
            "Booked from the waiting list for %(time)s on %(device)s; the requesting hospital "
            "and the patient are told.",
            time=to_local(appointment.start_at).strftime("%H:%M"),
            device=device.ae_title,
        ),
        "success",
    )
    return redirect(
        url_for(
            "hub.day",
            date=to_local(appointment.start_at).date().isoformat(),
            _anchor=f"appt-{appointment.id}",
        )
    )
