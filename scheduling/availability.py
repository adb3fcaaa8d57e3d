"""Availability search: the earliest free slots for a procedure across every hub.

``find_slots`` walks the capacity grid of every device that can perform the
procedure, day by day from the earliest allowed day, and keeps the slots that
:class:`scheduling.rules.SlotRules` finds bookable for this requester, priority and
patient: the very rules ``book`` applies, so a slot offered here is bookable unless
someone takes it first.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager

from scheduling.clock import local_zone
from scheduling.db import db
from scheduling.i18n import N_, translate
from scheduling.models import Device, Hospital, Patient, Priority, Procedure
from scheduling.regions import accepts_referral, region_of, road_distance
from scheduling.rules import SlotRules, iter_grid, last_day
from scheduling.timetable import built_once, in_list, local_day

# How many days to load at a time: one day is enough when it has free slots (the
# usual case); a fully booked week should not cost seven round trips.
FIRST_CHUNK_DAYS = 1
MAX_CHUNK_DAYS = 14

CONTRAST_TAGS = frozenset({"iodinated_contrast", "gadolinium_contrast", "barium"})

PREP_WARNINGS = {
    "contrast-before-ultrasound": N_(
        "The patient has a contrast or barium study earlier that day; it can spoil an "
        "ultrasound. Book the ultrasound first or on another day."
    ),
    "recent-contrast": N_(
        "Bone densitometry should not be done on the same day as a contrast or barium study."
    ),
    "fasting-twice": N_(
        "The patient has another exam that needs fasting on the same day: plan the order."
    ),
}


def warning_message(code: str, locale: str = "th") -> str:
    return translate(PREP_WARNINGS[code], locale)


@dataclass(frozen=True)
class Slot:
    device_id: int
    hub_hospital_id: int
    start_at: datetime
    end_at: datetime
    remaining: int
    # Preparation clashes with the patient's other exams that day (codes of PREP_WARNINGS).
    warnings: tuple[str, ...] = ()


def _tags(procedure: Procedure) -> set[str]:
    return {t.strip() for t in (procedure.prep_tags or "").split(",") if t.strip()}


def prep_warnings(
    procedure: Procedure, start_at: datetime, others: list[tuple[datetime, Procedure]]
) -> tuple[str, ...]:
    """Clashes between this exam and the patient's other exams on the same day."""
    mine = _tags(procedure)
    found: list[str] = []
    for other_start, other in others:
        theirs = _tags(other)
        first, second = (other, procedure) if other_start <= start_at else (procedure, other)
        if _tags(first) & CONTRAST_TAGS and second.modality_code == "US":
            found.append("contrast-before-ultrasound")
        if ("no_recent_contrast" in mine and theirs & CONTRAST_TAGS) or (
            "no_recent_contrast" in theirs and mine & CONTRAST_TAGS
        ):
            found.append("recent-contrast")
        if "fasting" in mine and "fasting" in theirs:
            found.append("fasting-twice")
    return tuple(dict.fromkeys(found))


def _candidate_statement(filters: tuple[bool, bool, bool]):
    def build(sqlite: bool):
        by_hub, by_device, by_hubs = filters
        query = (
            select(Device)
            .join(Hospital, Hospital.id == Device.hospital_id)
            # the hub comes with its device: the referral rule reads it for every device
            .options(contains_eager(Device.hospital))
            .where(
                Device.modality_code == bindparam("modality"),
                Device.is_active.is_(True),
                Hospital.is_hub.is_(True),
            )
            .order_by(Device.id)
        )
        if by_hub:
            query = query.where(Device.hospital_id == bindparam("hub"))
        if by_device:
            query = query.where(Device.id == bindparam("device"))
        if by_hubs:
            query = query.where(in_list(Device.hospital_id, "hubs", sqlite))
        return query

    return build


def candidate_devices(
    procedure: Procedure,
    *,
    hub_hospital_id: int | None = None,
    device_id: int | None = None,
    hub_hospital_ids: Collection[int] | None = None,
) -> list[Device]:
    filters = (hub_hospital_id is not None, device_id is not None, hub_hospital_ids is not None)
    statement, _ = built_once(f"candidate_devices{filters}", _candidate_statement(filters))
    params = {
        "modality": procedure.modality_code,
        "hub": hub_hospital_id,
        "device": device_id,
        "hubs": list(hub_hospital_ids or ()),
    }
    return list(db.session.scalars(statement, params))


def devices_open_to(
    devices: list[Device], requesting_hospital_id: int, priority: Priority
) -> list[Device]:
    """The devices whose hub takes this request (``regions.accepts_referral``)."""
    requester = db.session.get(Hospital, requesting_hospital_id)
    return [d for d in devices if accepts_referral(d.hospital, requester, priority)]


def find_slots(
    now: datetime,
    procedure: Procedure,
    *,
    requesting_hospital_id: int,
    patient: Patient | None = None,
    hub_hospital_id: int | None = None,
    hub_hospital_ids: Collection[int] | None = None,
    device_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    time_from: time | None = None,
    time_to: time | None = None,
    priority: Priority = Priority.ROUTINE,
    limit: int = 10,
    exclude_appointment_id: int | None = None,
) -> list[Slot]:
    """The earliest ``limit`` bookable slots, ordered by start time (then device).

    ``time_from``/``time_to`` are local times of day: the slot starts at or after
    ``time_from`` and ends at or before ``time_to``. ``exclude_appointment_id`` is the
    booking being rescheduled (it does not block its own new slot).
    ``hub_hospital_ids`` narrows the search to those hubs. Hubs that do not take
    referrals from the requester (``regions.accepts_referral``) offer nothing.
    """
    if now.tzinfo is None:
        raise ValueError("naive datetime given to find_slots")
    devices = candidate_devices(
        procedure,
        hub_hospital_id=hub_hospital_id,
        device_id=device_id,
        hub_hospital_ids=hub_hospital_ids,
    )
    devices = devices_open_to(devices, requesting_hospital_id, priority)
    if not devices or limit <= 0:
        return []
    rules = SlotRules(
        now,
        procedure,
        requesting_hospital_id=requesting_hospital_id,
        priority=priority,
        patient_id=patient.id if patient else None,
        exclude_appointment_id=exclude_appointment_id,
    )
    rules.add_devices(devices)
    wanted = {d.id for d in devices}
    templates = [t for d in devices for t in rules.templates.get(d.id, [])]
    if not templates:
        return []
    today = local_day(now)
    first = max(date_from or today, today)
    last = max(last_day(t, now) for t in templates)
    if date_to is not None:
        last = min(last, date_to)

    found: list[Slot] = []
    day = first
    chunk = FIRST_CHUNK_DAYS
    while day <= last:
        chunk_end = min(day + timedelta(days=chunk - 1), last)
        rules.load_days(day, chunk_end)
        while day <= chunk_end:
            found.extend(_day_slots(rules, devices, wanted, day, time_from, time_to, limit))
            day += timedelta(days=1)
        if len(found) >= limit:
            break
        chunk = min(chunk * 2, MAX_CHUNK_DAYS)
    found.sort(key=lambda s: (s.start_at, s.device_id))
    return found[:limit]


def _day_slots(
    rules: SlotRules,
    devices: list[Device],
    wanted: set[int],
    day: date,
    time_from: time | None,
    time_to: time | None,
    limit: int,
) -> list[Slot]:
    found: list[Slot] = []
    cutoff: datetime | None = None  # the limit-th earliest start found so far today
    others = rules.patient_day.get(day, [])
    zone = local_zone()
    for device in devices:
        if device.id not in wanted:
            continue
        taken_here = 0
        template = rules.template(device.id, day)
        if template is None:
            continue
        for slot in iter_grid(template, day, rules.procedure):
            if cutoff is not None and slot.start_at > cutoff:
                break  # later than what we already have: cannot make the first ``limit``
            if time_from is not None or time_to is not None:
                local_start = slot.start_at.astimezone(zone).time()
                local_end = slot.end_at.astimezone(zone).time()
                if time_from is not None and local_start < time_from:
                    continue
                if time_to is not None and (local_end > time_to or local_end < local_start):
                    continue
            problem, remaining = rules.judge(device, slot, day)
            if problem is not None:
                continue
            warnings = prep_warnings(rules.procedure, slot.start_at, others) if others else ()
            found.append(
                Slot(device.id, device.hospital_id, slot.start_at, slot.end_at, remaining, warnings)
            )
            taken_here += 1
            if taken_here >= limit:
                break
        if len(found) >= limit:
            found.sort(key=lambda s: (s.start_at, s.device_id))
            del found[limit:]
            cutoff = found[-1].start_at
    return found


# -- across hubs, with geography --------------------------------------------------------


class SlotOrder(enum.Enum):
    """How the cross-hub search orders what it offers."""

    REGION_FIRST = "region"  # the requester's own health region first, then the rest
    EARLIEST = "earliest"  # the earliest anywhere
    NEAREST = "nearest"  # the earliest slot of each hub, nearest hub first
    WITHIN = "within"  # the earliest at hubs within a road distance


# Region first still shows a few slots outside the region, for comparison.
OUTSIDE_REGION_SHOWN = 2


def hub_distances(requesting_hospital_id: int, hubs: Collection[Hospital]) -> dict:
    """{hub id: estimated road ``Distance`` or None} from the requesting hospital."""
    requester = db.session.get(Hospital, requesting_hospital_id)
    return {hub.id: road_distance(requester, hub) for hub in hubs}


def find_slots_ordered(
    now: datetime,
    procedure: Procedure,
    *,
    requesting_hospital_id: int,
    order: SlotOrder = SlotOrder.REGION_FIRST,
    within_km: float | None = None,
    limit: int = 10,
    **kwargs,
) -> list[Slot]:
    """``find_slots`` across hubs in the ``order`` asked (other arguments as there).

    Distances are ``regions.road_distance`` estimates; a hub with no coordinates counts
    as farthest (NEAREST) and as outside any radius (WITHIN).
    """
    priority = kwargs.get("priority", Priority.ROUTINE)
    devices = devices_open_to(candidate_devices(procedure), requesting_hospital_id, priority)
    hubs = {d.hospital_id: d.hospital for d in devices}
    distances = hub_distances(requesting_hospital_id, hubs.values())

    def search(hub_ids, n):
        if not hub_ids or n <= 0:
            return []
        return find_slots(
            now,
            procedure,
            requesting_hospital_id=requesting_hospital_id,
            hub_hospital_ids=hub_ids,
            limit=n,
            **kwargs,
        )

    if order is SlotOrder.EARLIEST:
        return search(list(hubs), limit)
    if order is SlotOrder.WITHIN:
        near = [h for h, d in distances.items() if d is not None and d.km <= (within_km or 0)]
        return search(near, limit)
    if order is SlotOrder.NEAREST:
        found: list[Slot] = []
        for hub_id in sorted(hubs, key=lambda h: _distance_key(distances[h], hubs[h])):
            found.extend(search([hub_id], 1))
            if len(found) >= limit:
                break
        return found
    requester = db.session.get(Hospital, requesting_hospital_id)
    own_region = region_of(requester)
    own = [h for h, hub in hubs.items() if own_region and region_of(hub) == own_region]
    first = search(own, limit)
    rest = search([h for h in hubs if h not in own], max(limit - len(first), OUTSIDE_REGION_SHOWN))
    return first + rest


def _distance_key(distance, hub: Hospital) -> tuple:
    return (distance is None, distance.km if distance else 0.0, hub.name_th)
