"""The waiting list: requests whose patients would take an earlier date, and the offers
made to them when a slot frees up (a cancellation, a move, a no-show, a closure lifted).

Order on the list: priority (stat, urgent, routine), then the time the entry was added.
An *offer* is the earliest slot inside the freed stretch that the request could really
be booked on now (``scheduling.availability.find_slots``: the rules ``book`` applies),
and earlier than the booking the request holds, if any. Booking an offer goes through
``booking.book`` (no booking yet) or ``booking.reschedule`` (an earlier date), so the
patient hears of it on LINE as for any booking; the requesting hospital is told with
``notify_hospital`` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import selectinload

from scheduling import booking
from scheduling.access import require_hub_side
from scheduling.audit import Actor, record
from scheduling.availability import find_slots
from scheduling.clock import to_local
from scheduling.db import db
from scheduling.errors import Conflict
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    Device,
    ImagingRequest,
    Priority,
    Procedure,
    WaitlistEntry,
    WaitlistOutcome,
)
from scheduling.notifications import notify_hospital
from scheduling.states import LIVE_APPOINTMENT_STATUSES, OPEN_REQUEST_STATUSES
from scheduling.thaidate import thai_date
from scheduling.timetable import local_day
from scheduling.tx import check_aware, finish, rollback_on_error

# Entries looked at for one freed slot: each costs a slot search.
OFFER_SCAN_LIMIT = 50

_PRIORITY = case(
    (ImagingRequest.priority == Priority.STAT, 0),
    (ImagingRequest.priority == Priority.URGENT, 1),
    else_=2,
)


def live_appointment(request: ImagingRequest) -> Appointment | None:
    return next((a for a in request.appointments if a.status in LIVE_APPOINTMENT_STATUSES), None)


def open_entry(request: ImagingRequest) -> WaitlistEntry | None:
    return db.session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.request_id == request.id, WaitlistEntry.closed_at.is_(None)
        )
    )


def add(
    actor: Actor, now: datetime, request: ImagingRequest, note: str = "", commit: bool = True
) -> WaitlistEntry:
    """Put the request on its hub's waiting list."""
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, request.hub_hospital_id)
        if request.status not in OPEN_REQUEST_STATUSES:
            raise Conflict(
                N_("Only a request waiting for or holding a booking can be on the waiting list"),
                code="waitlist-state",
            )
        if open_entry(request) is not None:
            raise Conflict(N_("This request is already on the waiting list"), code="waitlisted")
        entry = WaitlistEntry(
            request_id=request.id,
            hub_hospital_id=request.hub_hospital_id,
            patient_id=request.patient_id,
            note=(note or "").strip()[:500] or None,
            added_at=now,
            added_by_id=actor.user.id if actor.user is not None else None,
        )
        db.session.add(entry)
        db.session.flush()
        record(
            actor,
            "waitlist.add",
            now,
            entity=entry,
            hospital_id=entry.hub_hospital_id,
            request_id=request.id,
        )
        finish(commit)
    return entry


def remove(actor: Actor, now: datetime, entry: WaitlistEntry, commit: bool = True) -> None:
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, entry.hub_hospital_id)
        _close(entry, now, WaitlistOutcome.REMOVED)
        record(
            actor,
            "waitlist.remove",
            now,
            entity=entry,
            hospital_id=entry.hub_hospital_id,
            request_id=entry.request_id,
        )
        finish(commit)


def _close(entry: WaitlistEntry, now: datetime, outcome: WaitlistOutcome) -> None:
    if entry.closed_at is not None:
        raise Conflict(N_("This request is no longer on the waiting list"), code="waitlist-closed")
    entry.closed_at = now
    entry.outcome = outcome


def entries_for(
    hub_hospital_id: int, *, modality: str | None = None, limit: int | None = None
) -> list[WaitlistEntry]:
    """The hub's open entries, in the list's order (priority, then time added)."""
    query = (
        select(WaitlistEntry)
        .join(ImagingRequest, ImagingRequest.id == WaitlistEntry.request_id)
        .where(
            WaitlistEntry.hub_hospital_id == hub_hospital_id,
            WaitlistEntry.closed_at.is_(None),
            ImagingRequest.status.in_(OPEN_REQUEST_STATUSES),
        )
        .options(
            selectinload(WaitlistEntry.request).selectinload(ImagingRequest.appointments),
            selectinload(WaitlistEntry.request).selectinload(ImagingRequest.patient),
            selectinload(WaitlistEntry.request).selectinload(ImagingRequest.procedure),
            selectinload(WaitlistEntry.request).selectinload(ImagingRequest.requesting_hospital),
        )
        .order_by(_PRIORITY, WaitlistEntry.added_at, WaitlistEntry.id)
    )
    if modality is not None:
        query = query.where(
            ImagingRequest.procedure_id.in_(
                select(Procedure.id).where(Procedure.modality_code == modality)
            )
        )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Offer:
    entry: WaitlistEntry
    device_id: int
    start_at: datetime


def offers(
    now: datetime, device: Device, start: datetime, end: datetime, limit: int = 3
) -> list[Offer]:
    """The first ``limit`` entries (in list order) that fit in [start, end) on ``device``,
    each with the earliest start it could be booked at there."""
    check_aware(now, start, end)
    if end <= now:
        return []
    found: list[Offer] = []
    day = local_day(start)
    for entry in entries_for(
        device.hospital_id, modality=device.modality_code, limit=OFFER_SCAN_LIMIT
    ):
        request = entry.request
        current = live_appointment(request)
        slots = find_slots(
            now,
            request.procedure,
            requesting_hospital_id=request.requesting_hospital_id,
            patient=request.patient,
            hub_hospital_id=device.hospital_id,
            device_id=device.id,
            date_from=day,
            date_to=day,
            time_from=to_local(max(start, now)).time(),
            time_to=to_local(end).time() if local_day(end) == day else None,
            priority=request.priority,
            limit=1,
            exclude_appointment_id=current.id if current is not None else None,
        )
        if not slots:
            continue
        slot = slots[0]
        if slot.start_at < start or slot.end_at > end:
            continue
        if current is not None and current.start_at <= slot.start_at:
            continue  # not earlier than what the patient already has
        found.append(Offer(entry, device.id, slot.start_at))
        if len(found) >= limit:
            break
    return found


def first_fitting(
    now: datetime, devices: list[Device], start: datetime, end: datetime
) -> Device | None:
    """The first of ``devices`` (in their order) whose stretch [start, end) someone on the
    list fits: a stretch freed on several devices at once (a hospital-wide closure
    lifted) leads to the offers of that device; the board shows the others' gaps."""
    return next((d for d in devices if offers(now, d, start, end, limit=1)), None)


def book_offer(
    actor: Actor,
    now: datetime,
    entry: WaitlistEntry,
    device: Device,
    start_at: datetime,
    commit: bool = True,
) -> Appointment:
    """Book the entry's request into the freed slot and take it off the list."""
    check_aware(now, start_at)
    with rollback_on_error(commit):
        require_hub_side(actor, entry.hub_hospital_id)
        if entry.closed_at is not None:
            raise Conflict(
                N_("This request is no longer on the waiting list"), code="waitlist-closed"
            )
        request = entry.request
        current = live_appointment(request)
        if current is None:
            appointment = booking.book(actor, now, request, device, start_at, commit=False)
        else:
            if current.start_at <= start_at:
                raise Conflict(
                    N_("That slot is not earlier than the booking the patient has"),
                    code="not-earlier",
                )
            appointment = booking.reschedule(
                actor, now, current, device, start_at, reason="", commit=False
            )
        _close(entry, now, WaitlistOutcome.BOOKED)
        record(
            actor,
            "waitlist.book",
            now,
            entity=entry,
            hospital_id=entry.hub_hospital_id,
            request_id=request.id,
            appointment_id=appointment.id,
        )
        notify_hospital(
            request.requesting_hospital_id,
            "waitlist.booked",
            now,
            message=N_(
                "A slot freed up: the request %(order)s is now booked for %(date)s %(time)s "
                "on %(device)s"
            ),
            params={
                "order": request.placer_order_number,
                "date": thai_date(appointment.start_at),
                "time": to_local(appointment.start_at).strftime("%H:%M"),
                "device": device.ae_title,
            },
            request_id=request.id,
            actor=actor,
        )
        finish(commit)
    return appointment
