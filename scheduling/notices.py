"""What the requesting hospital's staff are told when the hub acts on their request.

One place for the wording and for the rule "only when the other side acted": a
requester who moves their own booking is not notified of it. Messages name the order
number and procedure, never the patient: they also go to a LINE staff group.
"""

from __future__ import annotations

from datetime import datetime

from scheduling.audit import Actor
from scheduling.i18n import N_
from scheduling.models import Appointment, ImagingRequest
from scheduling.notifications import notify_hospital
from scheduling.thaidate import local_time, thai_date

REJECTED = N_("Request %(order)s (%(procedure)s) was rejected by %(hub)s")
DECLINED = N_("Request %(order)s (%(procedure)s) was declined at vetting by %(hub)s")
MOVED = N_("%(hub)s moved the appointment of request %(order)s (%(procedure)s) to %(when)s")
CANCELLED = N_("%(hub)s cancelled the appointment of request %(order)s (%(procedure)s)")
REPORTED = N_("The report of request %(order)s (%(procedure)s) has arrived")


def _by_other_side(actor: Actor, request: ImagingRequest) -> bool:
    return actor.acting_hospital_id != request.requesting_hospital_id


def _params(request: ImagingRequest, **extra: object) -> dict:
    hub = request.hub_hospital
    return {
        "order": request.placer_order_number,
        "procedure": request.procedure.code,
        "hub": hub.name_th if hub is not None else "",
        **extra,
    }


def tell_requester(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    kind: str,
    message: str,
    *,
    reason: str | None = None,
    **extra: object,
) -> None:
    """Notify the requesting hospital, unless its own staff did it."""
    if not _by_other_side(actor, request):
        return
    notify_hospital(
        request.requesting_hospital_id,
        kind,
        now,
        message=message,
        params=_params(request, **extra),
        request_id=request.id,
        reason=reason,
        actor=actor,
    )


def when_of(appointment: Appointment) -> str:
    return f"{thai_date(appointment.start_at)} {local_time(appointment.start_at)}"
