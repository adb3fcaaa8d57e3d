"""Which hub a hub page is about, and which of its bookings the user may see.

Used by the hub's pages, its actions and the dashboards.
"""

from __future__ import annotations

from flask import abort, session
from flask_login import current_user
from sqlalchemy import select

from app.args import int_arg
from app.extensions import db
from scheduling.access import can_view_request
from scheduling.models import Appointment, Hospital, Role


def hubs() -> list[Hospital]:
    return list(
        db.session.scalars(
            select(Hospital).where(Hospital.is_hub.is_(True)).order_by(Hospital.code)
        )
    )


def current_hub() -> Hospital:
    """The hub this page is about.

    Schedulers and radiologists work at their own hospital only. An admin picks a hub
    with ``?hub=<id>`` (remembered in the session), the first hub otherwise.
    """
    if current_user.role is not Role.ADMIN:
        hospital = current_user.hospital
        if not hospital.is_hub:
            abort(403)
        return hospital
    wanted = int_arg("hub") or session.get("admin_hub_id")
    hospital = db.session.get(Hospital, wanted) if wanted else None
    if hospital is None or not hospital.is_hub:
        hospital = db.session.scalar(
            select(Hospital).where(Hospital.is_hub.is_(True)).order_by(Hospital.id).limit(1)
        )
        if hospital is None:
            abort(404)
    session["admin_hub_id"] = hospital.id
    return hospital


def hub_may_see(appointment: Appointment, hub: Hospital) -> bool:
    """A booking at this hub whose request the user may still see: a request moved to
    another hub leaves its old (MOVED) row here, but the request is that hub's now."""
    return appointment.hub_hospital_id == hub.id and can_view_request(
        current_user, appointment.request
    )
