"""A closure's bookings: listed and flagged, and moved together (``scheduling.closures_move``)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.extensions import db
from app.hub.routes import bp, enum_labels, scheduler_only
from app.hub.scope import current_hub
from app.pdpa.reads import audit_read
from app.webkit.views import attempt
from scheduling import closures_move
from scheduling.models import Closure


def _hub_closure(closure_id: int) -> Closure:
    closure = db.session.get(Closure, closure_id)
    if closure is None or closure.hospital_id not in (None, current_hub().id):
        abort(404)
    return closure


@bp.route("/capacity/closures/<int:closure_id>", methods=["GET", "POST"])
@scheduler_only
def closure_bookings(closure_id: int):
    hub = current_hub()
    closure = _hub_closure(closure_id)
    if request.method == "POST":
        to_waitlist = request.form.get("to") == "waitlist"
        outcome = attempt(closures_move.move_out, closure, hub.id, to_waitlist=to_waitlist)
        if outcome is not None:
            flash(
                _(
                    "%(moved)s bookings moved to the next free slots, %(waiting)s put on the "
                    "waiting list; the requesting hospitals and the patients are told.",
                    moved=len(outcome.moved),
                    waiting=len(outcome.waitlisted),
                ),
                "success",
            )
        return redirect(url_for("hub.closure_bookings", closure_id=closure.id))
    appointments = closures_move.affected(closure, hub.id) if closure.is_active else []
    audit_read("hub.closure", appointments, appointments=[a.id for a in appointments])
    return render_template(
        "hub/closure_bookings.html",
        hub=hub,
        closure=closure,
        appointments=appointments,
        labels=enum_labels(),
    )
