"""What the slot page shows: the earliest suggestions across hubs and a per-day calendar.

Both come from ``scheduling.availability.find_slots`` (the rules ``book`` applies), so
whatever is offered is bookable unless someone takes it first. This module only
groups and labels the slots for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from scheduling.availability import (
    Slot,
    SlotOrder,
    candidate_devices,
    devices_open_to,
    find_slots,
    find_slots_ordered,
    hub_distances,
)
from scheduling.clock import local_today, to_local
from scheduling.i18n import N_
from scheduling.models import Appointment, CapacityTemplate, Device, Hospital, ImagingRequest
from scheduling.regions import Distance, region_of

SUGGESTIONS = 6
CALENDAR_WEEKS = 5
DAY_SLOTS_LIMIT = 200
# Enough to hold every slot of one hub for the calendar's weeks (a hub with 4 devices
# and 20-minute slots has ~90 a day); find_slots stops early when there are fewer.
CALENDAR_LIMIT = 20_000
FEW_LEFT = 3

WEEKDAY_SHORT = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


@dataclass(frozen=True)
class SlotView:
    slot: Slot
    device: Device
    hub: Hospital
    # Estimated road distance from the requesting hospital (None: no coordinates).
    distance: Distance | None = None

    @property
    def start_param(self) -> str:
        """The slot's start as an ISO timestamp in UTC, as the confirm link carries it."""
        return self.slot.start_at.isoformat()


@dataclass(frozen=True)
class DayCell:
    day: date
    count: int
    bookable: bool  # inside today..horizon (else shown greyed)

    @property
    def iso(self) -> str:
        return self.day.isoformat()


# Radii offered for "earliest within N km" (road distance estimates).
RADII_KM = (50, 100, 150, 200, 300)
DEFAULT_RADIUS_KM = 100


def _views(slots: list[Slot], requesting_hospital_id: int | None = None) -> list[SlotView]:
    device_ids = {s.device_id for s in slots}
    devices = (
        {
            d.id: d
            for d in db.session.scalars(
                select(Device)
                .where(Device.id.in_(device_ids))
                .options(selectinload(Device.hospital))
            )
        }
        if device_ids
        else {}
    )
    distances = (
        hub_distances(requesting_hospital_id, {d.hospital for d in devices.values()})
        if requesting_hospital_id is not None
        else {}
    )
    return [
        SlotView(
            s,
            devices[s.device_id],
            devices[s.device_id].hospital,
            distances.get(devices[s.device_id].hospital_id),
        )
        for s in slots
    ]


def _current(exclude_appointment_id: int | None) -> Appointment | None:
    return db.session.get(Appointment, exclude_appointment_id) if exclude_appointment_id else None


def _without_current(found: list[Slot], current: Appointment | None, limit: int | None):
    """When moving a booking, its own slot counts as free to the search (it does not
    block a neighbouring start) but is never offered: moving to where the patient
    already is would be no move at all. Searches ask for one more to make up for it."""
    if current is not None:
        found = [
            s for s in found if (s.device_id, s.start_at) != (current.device_id, current.start_at)
        ]
    return found[:limit] if limit is not None else found


def _one_more(limit: int | None, current: Appointment | None) -> int | None:
    return limit + 1 if limit is not None and current is not None else limit


def _search(
    now: datetime, req: ImagingRequest, exclude_appointment_id: int | None, **kwargs
) -> list[Slot]:
    """``find_slots`` for this request (never the slot of the booking being moved)."""
    current = _current(exclude_appointment_id)
    limit = kwargs.pop("limit", None)
    found = find_slots(
        now,
        req.procedure,
        requesting_hospital_id=req.requesting_hospital_id,
        patient=req.patient,
        priority=req.priority,
        exclude_appointment_id=exclude_appointment_id,
        limit=_one_more(limit, current),
        **kwargs,
    )
    return _without_current(found, current, limit)


def last_bookable_day(now: datetime, req: ImagingRequest, hub_hospital_id: int) -> date:
    """The furthest day any of the hub's devices for this procedure takes bookings."""
    device_ids = [d.id for d in candidate_devices(req.procedure, hub_hospital_id=hub_hospital_id)]
    horizons = (
        db.session.scalars(
            select(CapacityTemplate.horizon_days).where(
                CapacityTemplate.device_id.in_(device_ids), CapacityTemplate.is_active.is_(True)
            )
        ).all()
        if device_ids
        else []
    )
    return local_today(now) + timedelta(days=max(horizons, default=0))


def suggestions(
    now: datetime,
    req: ImagingRequest,
    *,
    hub_hospital_id: int | None = None,
    exclude_appointment_id: int | None = None,
    order: SlotOrder = SlotOrder.REGION_FIRST,
    within_km: int = DEFAULT_RADIUS_KM,
    searched: Calendar | None = None,
) -> list[SlotView]:
    """The earliest bookable slots at the chosen hub, or across hubs in ``order``.

    ``searched``: the page's calendar of that hub, which holds them when it starts today
    (one search for both)."""
    if hub_hospital_id is not None:
        held = _calendar_of(searched, hub_hospital_id)
        slots = held.earliest(SUGGESTIONS) if held is not None else None
        if slots is None:
            slots = _search(
                now,
                req,
                exclude_appointment_id,
                hub_hospital_id=hub_hospital_id,
                limit=SUGGESTIONS,
            )
    else:
        current = _current(exclude_appointment_id)
        slots = find_slots_ordered(
            now,
            req.procedure,
            requesting_hospital_id=req.requesting_hospital_id,
            order=order,
            within_km=within_km,
            limit=SUGGESTIONS,
            patient=req.patient,
            priority=req.priority,
            exclude_appointment_id=exclude_appointment_id,
        )
        # (the order may add slots beyond the limit, e.g. outside the region: keep them)
        slots = _without_current(slots, current, None)
    return _views(slots, req.requesting_hospital_id)


def hubs_for(req: ImagingRequest) -> list[Hospital]:
    """Hubs with an active device for the procedure's modality that take this request."""
    devices = devices_open_to(
        candidate_devices(req.procedure), req.requesting_hospital_id, req.priority
    )
    hub_ids = {d.hospital_id for d in devices}
    if not hub_ids:
        return []
    hubs = list(db.session.scalars(select(Hospital).where(Hospital.id.in_(hub_ids))))
    distances = hub_distances(req.requesting_hospital_id, hubs)
    own_region = region_of(req.requesting_hospital)
    return sorted(
        hubs,
        key=lambda h: (
            region_of(h) != own_region,
            distances[h.id] is None,
            distances[h.id].km if distances[h.id] else 0.0,
            h.name_th,
        ),
    )


def distances_to(req: ImagingRequest, hubs: list[Hospital]) -> dict:
    return hub_distances(req.requesting_hospital_id, hubs)


def calendar_start(now: datetime) -> date:
    today = local_today(now)
    return today - timedelta(days=today.weekday())  # the Monday of this week


@dataclass(frozen=True)
class Calendar:
    """One hub's calendar page: the free-slot counts per day and the search behind them,
    every free slot from ``first`` to ``last`` in ``find_slots`` order, which the page's
    other lists of that hub reuse instead of searching again."""

    hub_hospital_id: int
    weeks: list[list[DayCell]]
    slots: list[Slot]
    first: date  # today, or the first day of the page when it starts later
    starts_today: bool
    last: date

    def earliest(self, count: int) -> list[Slot] | None:
        """The hub's ``count`` earliest slots from now, when this search holds them."""
        if self.starts_today and len(self.slots) >= count:
            return self.slots[:count]
        return None

    def on(self, day: date) -> list[Slot] | None:
        """Every free slot of ``day``, when this search covered the whole day."""
        if not self.first <= day <= self.last or len(self.slots) >= CALENDAR_LIMIT:
            return None
        return [s for s in self.slots if to_local(s.start_at).date() == day]


def _calendar_of(searched: Calendar | None, hub_hospital_id: int) -> Calendar | None:
    """The page's calendar when it is the one of this hub (its search can be reused)."""
    if searched is not None and searched.hub_hospital_id == hub_hospital_id:
        return searched
    return None


def calendar(
    now: datetime,
    req: ImagingRequest,
    hub_hospital_id: int,
    *,
    exclude_appointment_id: int | None = None,
    start: date | None = None,
) -> Calendar:
    """Weeks (Monday first) of free-slot counts per day at one hub, ``CALENDAR_WEEKS``
    from the Monday ``start`` (this week's by default); the page steps through the
    horizon a few weeks at a time, so one page never searches the whole horizon."""
    start = start or calendar_start(now)
    end = start + timedelta(days=7 * CALENDAR_WEEKS - 1)
    today = local_today(now)
    first = max(today, start)
    slots = _search(
        now,
        req,
        exclude_appointment_id,
        hub_hospital_id=hub_hospital_id,
        date_from=first,
        date_to=end,
        limit=CALENDAR_LIMIT,
    )
    counts: dict[date, int] = {}
    for slot in slots:
        day = to_local(slot.start_at).date()
        counts[day] = counts.get(day, 0) + 1
    weeks = []
    for w in range(CALENDAR_WEEKS):
        week = []
        for d in range(7):
            day = start + timedelta(days=7 * w + d)
            week.append(DayCell(day, counts.get(day, 0), day >= today))
        weeks.append(week)
    return Calendar(hub_hospital_id, weeks, slots, first, first == today, end)


def day_slots(
    now: datetime,
    req: ImagingRequest,
    hub_hospital_id: int,
    day: date,
    *,
    exclude_appointment_id: int | None = None,
    searched: Calendar | None = None,
) -> list[SlotView]:
    """The free slots of one day at one hub (from ``searched``, that hub's calendar on
    the page, when it covers the day)."""
    held = _calendar_of(searched, hub_hospital_id)
    found = held.on(day) if held is not None else None
    if found is None:
        found = _search(
            now,
            req,
            exclude_appointment_id,
            hub_hospital_id=hub_hospital_id,
            date_from=day,
            date_to=day,
            limit=DAY_SLOTS_LIMIT,
        )
    return _views(found[:DAY_SLOTS_LIMIT], req.requesting_hospital_id)
