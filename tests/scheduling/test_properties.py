"""Property tests (hypothesis): no slot find_slots returns is closed, over capacity,
outside quota or overlapping the patient; and every one of them can be booked.

The checks below are an independent, deliberately naive oracle (minute by minute,
straight from the rows), not the engine's own code. Each example builds its own
small world: one hub with one device (fixed 20-minute grid, 08:00-12:00 on two
days), random existing bookings, closures, a quota for another hospital and a hub
reserve, and a patient with a few exams of their own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db as _db
from scheduling.availability import find_slots
from scheduling.booking import book
from scheduling.capacity import add_closure, create_quota
from scheduling.models import Appointment, Closure, ClosureKind, ImagingRequest, Priority
from scheduling.rules import OCCUPYING_STATUSES
from tests.conftest import empty_all_tables
from tests.scheduling.factories import (
    SYSTEM,
    create_device,
    create_hospital,
    create_patient,
    create_procedure,
    create_req,
    office_template,
)

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # Saturday 09:00 Bangkok
DAYS = [date(2026, 11, 23), date(2026, 11, 24)]
GRID = 12  # 20-minute cells from 08:00 to 12:00
UTC_0800 = {d: datetime.combine(d, time(1, 0), tzinfo=UTC) for d in DAYS}


def cell(day_index: int, index: int) -> datetime:
    return UTC_0800[DAYS[day_index]] + timedelta(minutes=20 * index)


world = st.fixed_dictionaries(
    {
        "capacity": st.integers(1, 2),
        # existing bookings by (day, cell, length in cells, booked by: 0 other / 1 quota holder)
        "bookings": st.lists(
            st.tuples(
                st.integers(0, 1), st.integers(0, GRID - 1), st.integers(1, 2), st.integers(0, 1)
            ),
            max_size=14,
        ),
        "closures": st.lists(
            st.tuples(st.integers(0, 1), st.integers(0, GRID - 1), st.integers(1, 4)), max_size=2
        ),
        "patient_exams": st.lists(
            st.tuples(st.integers(0, 1), st.integers(0, GRID - 1)), max_size=2
        ),
        "quota": st.integers(0, 6),
        "reserve": st.integers(0, 3),
        "release_hours": st.sampled_from([0, 24, 60]),
        "booker": st.sampled_from(["other", "holder", "hub"]),
        "priority": st.sampled_from([Priority.ROUTINE, Priority.ROUTINE, Priority.URGENT]),
    }
)


def build(w):
    hub = create_hospital(is_hub=True)
    holder = create_hospital()
    other = create_hospital()
    device = create_device(hub)
    procedure = create_procedure(minutes=20)
    long_procedure = create_procedure(minutes=40)
    office_template(
        device, now=NOW, start=time(8), end=time(12), capacity=w["capacity"], slot_minutes=20
    )
    _db.session.commit()
    if w["quota"]:
        create_quota(
            SYSTEM,
            NOW,
            hub_hospital_id=hub.id,
            referring_hospital_id=holder.id,
            device=device,
            slots=w["quota"],
            release_hours=w["release_hours"],
        )
    if w["reserve"]:
        create_quota(
            SYSTEM,
            NOW,
            hub_hospital_id=hub.id,
            referring_hospital_id=None,
            device=device,
            slots=w["reserve"],
            release_hours=w["release_hours"],
        )
    for day, start, length, by in w["bookings"]:
        if start + length > GRID:
            continue
        who = holder if by else other
        request = create_req(NOW, who, long_procedure if length == 2 else procedure)
        try:
            book(SYSTEM, NOW, request, device, cell(day, start))
        except Exception:  # noqa: BLE001 - a random booking the rules refuse is simply absent
            _db.session.rollback()
    for day, start, length in w["closures"]:
        add_closure(
            SYSTEM,
            NOW,
            kind=ClosureKind.DEVICE_DOWNTIME,
            device=device,
            start_at=cell(day, start),
            end_at=cell(day, min(GRID, start + length)),
        )
    booker = {"other": other, "holder": holder, "hub": hub}[w["booker"]]
    # The booker's record of the patient; their other exams were booked by another
    # hospital on its own record of the same person (linked by the national ID).
    patient = create_patient(hospital_id=booker.id)
    elsewhere = (
        patient
        if booker is other
        else create_patient(hospital_id=other.id, id_value=patient.id_value)
    )
    ct_hub = create_hospital(is_hub=True)
    ct = create_device(ct_hub, modality="CT")
    ct_procedure = create_procedure(modality="CT", minutes=20)
    office_template(ct, now=NOW, start=time(8), end=time(12))
    _db.session.commit()
    for day, start in w["patient_exams"]:
        try:
            book(
                SYSTEM,
                NOW,
                create_req(NOW, other, ct_procedure, patient=elsewhere),
                ct,
                cell(day, start),
            )
        except Exception:  # noqa: BLE001
            _db.session.rollback()
    return hub, holder, booker, device, procedure, patient


class Candidate:
    def __init__(self, start_at: datetime, end_at: datetime):
        self.start_at, self.end_at = start_at, end_at


def minutes(a: datetime, b: datetime):
    t = a
    while t < b:
        yield t
        t += timedelta(minutes=1)


def oracle_problems(w, slot, hub, holder, booker, device, patient) -> list[str]:
    problems = []
    appts = _db.session.execute(
        select(Appointment, ImagingRequest)
        .join(ImagingRequest)
        .where(Appointment.status.in_(OCCUPYING_STATUSES))
    ).all()
    closures = _db.session.scalars(select(Closure).where(Closure.is_active.is_(True))).all()
    for c in closures:
        if any(c.start_at <= t < c.end_at for t in minutes(slot.start_at, slot.end_at)):
            problems.append("closed")
    on_device = [a for a, _ in appts if a.device_id == device.id]
    for t in minutes(slot.start_at, slot.end_at):
        if sum(1 for a in on_device if a.start_at <= t < a.end_at) >= w["capacity"]:
            problems.append("over capacity")
            break
    # The person, whichever hospital's record booked the exam.
    mine = [a for a, _ in appts if a.patient.id_value == patient.id_value]
    if any(a.start_at < slot.end_at and slot.start_at < a.end_at for a in mine):
        problems.append("patient overlap")
    # Quota: the day's free room after this booking must cover what others still hold.
    day_start = slot.start_at.replace(hour=1, minute=0)
    day_bookings = [
        (a, r)
        for a, r in appts
        if a.device_id == device.id and day_start <= a.start_at < day_start + timedelta(hours=4)
    ]
    closed_cells = sum(
        1
        for i in range(GRID)
        if any(
            c.start_at < day_start + timedelta(minutes=20 * (i + 1))
            and day_start + timedelta(minutes=20 * i) < c.end_at
            for c in closures
        )
    )
    units = (GRID - closed_cells) * w["capacity"]
    released = NOW >= slot.start_at - timedelta(hours=w["release_hours"])
    holder_used = sum(1 for _, r in day_bookings if r.requesting_hospital_id == holder.id)
    reserve_used = sum(
        1
        for _, r in day_bookings
        if r.requesting_hospital_id == hub.id or r.priority is not Priority.ROUTINE
    )
    holder_left = max(0, w["quota"] - holder_used)
    reserve_left = max(0, w["reserve"] - reserve_used)
    uses_reserve = booker.id == hub.id or w["priority"] is not Priority.ROUTINE
    uses_quota = booker.id == holder.id
    if not ((uses_quota and holder_left) or (uses_reserve and reserve_left)):
        held = (
            0
            if released
            else (0 if uses_quota else holder_left) + (0 if uses_reserve else reserve_left)
        )
        if len(day_bookings) + 1 + held > units:
            problems.append("outside quota")
    return problems


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(w=world)
def test_found_slots_obey_every_rule_and_can_be_booked(db, w):
    _db.session.rollback()  # TRUNCATE on PostgreSQL waits for any open transaction
    empty_all_tables()
    _db.session.expire_all()
    hub, holder, booker, device, procedure, patient = build(w)
    slots = find_slots(
        NOW,
        procedure,
        requesting_hospital_id=booker.id,
        patient=patient,
        priority=w["priority"],
        date_from=DAYS[0],
        date_to=DAYS[1],
        limit=30,
    )
    starts = [s.start_at for s in slots]
    assert starts == sorted(starts)
    for slot in slots:
        assert oracle_problems(w, slot, hub, holder, booker, device, patient) == [], slot
    # ... and nothing the oracle finds free is missing (24 cells < the limit of 30).
    for day in range(2):
        for index in range(GRID):
            start = cell(day, index)
            candidate = Candidate(start, start + timedelta(minutes=20))
            if not oracle_problems(w, candidate, hub, holder, booker, device, patient):
                assert start in starts, (day, index)
    if slots:  # the first offer is bookable by exactly this requester
        request = create_req(NOW, booker, procedure, patient=patient, priority=w["priority"])
        appointment = book(SYSTEM, NOW, request, device, slots[0].start_at)
        assert appointment.start_at == slots[0].start_at
