"""The request and appointment state machines, written once.

Allowed transitions are data (``REQUEST_TRANSITIONS``, ``APPOINTMENT_TRANSITIONS``);
every operation that changes a status goes through :func:`transition`, which refuses
anything not listed with a :class:`~scheduling.errors.Conflict` (Thai message by
default): the usual cause is a second user acting on a page that was already stale.
Drawn in ``docs/states.md``.

Decisions the issue left open:

- A cancelled *appointment* (the slot) is not a cancelled *request*: the request goes
  back to ACCEPTED and can be booked again. Only ``cancel_request`` ends the request.
- A reschedule closes the old appointment as MOVED and books a new row that points
  back to it (``rescheduled_from_id``), so the history stays.
- A discontinued exam (MPPS DISCONTINUED) is its own status, DISCONTINUED: unlike a
  cancellation the slot was used. The request goes back to ACCEPTED for a new booking.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from scheduling.errors import Conflict
from scheduling.i18n import N_, translate
from scheduling.models import AppointmentStatus as A
from scheduling.models import RequestStatus as R

REQUEST_TRANSITIONS: dict[R, frozenset[R]] = {
    R.DRAFT: frozenset({R.SUBMITTED, R.CANCELLED}),
    # A requester picks the slot while requesting (inside the quota the hub gave them),
    # so a SUBMITTED request may be booked directly; booking is what makes it SCHEDULED.
    R.SUBMITTED: frozenset({R.ACCEPTED, R.REJECTED, R.SCHEDULED, R.CANCELLED}),
    R.ACCEPTED: frozenset({R.SCHEDULED, R.REJECTED, R.CANCELLED}),
    # Back to ACCEPTED when the appointment is cancelled, a no-show or discontinued.
    R.SCHEDULED: frozenset({R.COMPLETED, R.CANCELLED, R.ACCEPTED}),
    R.REJECTED: frozenset(),
    R.COMPLETED: frozenset(),
    R.CANCELLED: frozenset(),
}

APPOINTMENT_TRANSITIONS: dict[A, frozenset[A]] = {
    A.BOOKED: frozenset({A.ARRIVED, A.IN_PROGRESS, A.CANCELLED, A.NO_SHOW, A.MOVED}),
    # A scanner's MPPS IN PROGRESS may come before anyone clicked "arrived".
    A.ARRIVED: frozenset({A.IN_PROGRESS, A.COMPLETED, A.CANCELLED, A.MOVED}),
    A.IN_PROGRESS: frozenset({A.COMPLETED, A.DISCONTINUED}),
    A.COMPLETED: frozenset(),
    A.CANCELLED: frozenset(),
    A.NO_SHOW: frozenset(),
    A.MOVED: frozenset(),
    A.DISCONTINUED: frozenset(),
}

# Appointments that hold their slot (count against capacity, quotas and the patient).
LIVE_APPOINTMENT_STATUSES: frozenset[A] = frozenset({A.BOOKED, A.ARRIVED, A.IN_PROGRESS})
# Requests that still wait for, or hold, a booking.
OPEN_REQUEST_STATUSES: frozenset[R] = frozenset({R.SUBMITTED, R.ACCEPTED, R.SCHEDULED})
BOOKABLE_REQUEST_STATUSES: frozenset[R] = frozenset({R.SUBMITTED, R.ACCEPTED})

S = TypeVar("S", bound=Enum)

# Same msgids as app/labels.py, so one translation serves both.
STATUS_LABELS: dict[Enum, str] = {
    R.DRAFT: N_("Draft"),
    R.SUBMITTED: N_("Submitted"),
    R.ACCEPTED: N_("Accepted"),
    R.REJECTED: N_("Rejected"),
    R.SCHEDULED: N_("Scheduled"),
    R.COMPLETED: N_("Completed"),
    R.CANCELLED: N_("Cancelled"),
    A.BOOKED: N_("Booked"),
    A.ARRIVED: N_("Arrived"),
    A.IN_PROGRESS: N_("In progress"),
    A.COMPLETED: N_("Completed"),
    A.CANCELLED: N_("Cancelled"),
    A.NO_SHOW: N_("No-show"),
    A.MOVED: N_("Moved"),
    A.DISCONTINUED: N_("Discontinued"),
}


class StateConflict(Conflict):
    """A refused transition; the state names are translated with the message."""

    def __init__(self, message: str, *, code: str, current: Enum, target: Enum):
        super().__init__(message, code=code, current=current.value, target=target.value)
        self.current = current
        self.target = target

    def message(self, locale: str = "th") -> str:
        return translate(
            self.msgid,
            locale,
            current=translate(STATUS_LABELS[self.current], locale),
            target=translate(STATUS_LABELS[self.target], locale),
        )


def can_transition(current: Enum, target: Enum) -> bool:
    table = REQUEST_TRANSITIONS if isinstance(current, R) else APPOINTMENT_TRANSITIONS
    return target in table.get(current, frozenset())  # type: ignore[arg-type]


def transition(entity: object, target: S) -> S:
    """Move ``entity.status`` to ``target`` or raise Conflict; returns the previous status."""
    current = entity.status  # type: ignore[attr-defined]
    if not can_transition(current, target):
        if isinstance(current, R):
            raise StateConflict(
                N_("This request is already '%(current)s' and cannot become '%(target)s'"),
                code="request-state",
                current=current,
                target=target,
            )
        raise StateConflict(
            N_("This appointment is already '%(current)s' and cannot become '%(target)s'"),
            code="appointment-state",
            current=current,
            target=target,
        )
    entity.status = target  # type: ignore[attr-defined]
    return current
