"""Quotas, closures, public holidays and templates: edits and their effect on booking."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from scheduling.audit import Actor
from scheduling.availability import find_slots
from scheduling.booking import book, cancel_appointment
from scheduling.capacity import (
    WindowSpec,
    add_closure,
    add_day_closure,
    bookings_in_closure,
    create_quota,
    create_template,
    prefill_public_holidays,
    quota_usage,
    set_closure_active,
    update_quota,
    update_template,
)
from scheduling.errors import Conflict, NotAllowed, ValidationFailed
from scheduling.models import Closure, ClosureKind, Interface, Priority, Role
from tests.scheduling.factories import (
    SYSTEM,
    create_device,
    create_hospital,
    create_procedure,
    create_req,
    create_setup,
    create_user,
)

MON = date(2026, 11, 23)
MON_0800 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return MON_0800 + timedelta(minutes=minutes)


@pytest.fixture
def quota_setup(db, now):
    """Monday 08:00-10:00, 20-minute exams, one at a time: 6 bookings a day.

    Kut Rang holds 2, the hub reserve holds 1, released 24 hours before the slot.
    """
    hub, requester, device, procedure = create_setup(now, end=time(10, 0), weekdays=[0])
    kudrang = create_hospital()
    create_quota(
        SYSTEM,
        now,
        hub_hospital_id=hub.id,
        referring_hospital_id=kudrang.id,
        device=device,
        weekday=0,
        slots=2,
        release_hours=24,
    )
    create_quota(
        SYSTEM,
        now,
        hub_hospital_id=hub.id,
        referring_hospital_id=None,
        device=device,
        slots=1,
        release_hours=24,
    )
    return hub, requester, kudrang, device, procedure


def test_quota_holds_capacity_for_its_holder(db, now, quota_setup):
    hub, other, kudrang, device, procedure = quota_setup
    offered = find_slots(now, procedure, requesting_hospital_id=other.id, limit=10, date_to=MON)
    assert len(offered) == 6  # every slot is physically free ...
    for minutes in (0, 20, 40):  # ... but only 6 - 2 - 1 = 3 may go to others
        book(SYSTEM, now, create_req(now, other, procedure), device, at(minutes))
    assert find_slots(now, procedure, requesting_hospital_id=other.id, date_to=MON) == []
    with pytest.raises(Conflict) as error:
        book(SYSTEM, now, create_req(now, other, procedure), device, at(60))
    assert error.value.code == "quota"
    assert "สงวน" in error.value.message("th")
    # Kut Rang still sees and gets its two
    assert len(find_slots(now, procedure, requesting_hospital_id=kudrang.id, date_to=MON)) == 3
    book(SYSTEM, now, create_req(now, kudrang, procedure), device, at(60))
    book(SYSTEM, now, create_req(now, kudrang, procedure), device, at(80))
    with pytest.raises(Conflict):  # its quota is used; the last one is the hub's reserve
        book(SYSTEM, now, create_req(now, kudrang, procedure), device, at(100))
    urgent = create_req(now, other, procedure, priority=Priority.URGENT)
    book(SYSTEM, now, urgent, device, at(100))  # urgent may use the reserve

    usage = {(u.referring_hospital_id, u.day): u for u in quota_usage(hub.id, MON, MON)}
    assert (usage[(kudrang.id, MON)].reserved, usage[(kudrang.id, MON)].used) == (2, 2)
    assert (usage[(None, MON)].reserved, usage[(None, MON)].used) == (1, 1)
    only_kudrang = quota_usage(hub.id, MON, MON, referring_hospital_id=kudrang.id)
    assert [u.referring_hospital_id for u in only_kudrang] == [kudrang.id]


def test_unused_quota_is_released_before_the_slot(db, now, quota_setup):
    hub, other, kudrang, device, procedure = quota_setup
    for minutes in (0, 20, 40):
        book(SYSTEM, now, create_req(now, other, procedure), device, at(minutes))
    # Sunday 09:00: 24 hours before 09:00 Monday, not yet before 09:20 or 09:40
    sunday = MON_0800 - timedelta(hours=23)
    slots = find_slots(sunday, procedure, requesting_hospital_id=other.id, date_to=MON)
    assert [s.start_at for s in slots] == [at(60)]
    late = MON_0800 - timedelta(hours=20)  # Sunday noon: within 24 hours of every slot
    slots = find_slots(late, procedure, requesting_hospital_id=other.id, date_to=MON)
    assert [s.start_at for s in slots] == [at(60), at(80), at(100)]
    book(SYSTEM, late, create_req(late, other, procedure), device, at(60))


def test_date_quota_overrides_weekday_quota(db, now, quota_setup):
    hub, other, kudrang, device, procedure = quota_setup
    create_quota(
        SYSTEM,
        now,
        hub_hospital_id=hub.id,
        referring_hospital_id=kudrang.id,
        device=device,
        on_date=MON,
        slots=0,
    )
    assert len(find_slots(now, procedure, requesting_hospital_id=other.id, date_to=MON)) == 6
    for minutes in (0, 20, 40, 60, 80):
        book(SYSTEM, now, create_req(now, other, procedure), device, at(minutes))
    with pytest.raises(Conflict):  # the last one is the hub reserve's
        book(SYSTEM, now, create_req(now, other, procedure), device, at(100))


def test_modality_quota_spans_the_hubs_devices(db, now):
    hub, other, device, procedure = create_setup(now, end=time(9, 0), weekdays=[0])
    second = create_device(hub)
    create_template(
        SYSTEM,
        now,
        device=second,
        lead_time_minutes=0,
        windows=[WindowSpec(0, time(8, 0), time(9, 0))],
    )
    kudrang = create_hospital()
    create_quota(
        SYSTEM,
        now,
        hub_hospital_id=hub.id,
        referring_hospital_id=kudrang.id,
        modality_code="US",
        slots=4,
    )
    # 3 + 3 = 6 a day on the two devices; 4 held for Kut Rang, 2 for everyone else
    book(SYSTEM, now, create_req(now, other, procedure), device, at(0))
    book(SYSTEM, now, create_req(now, other, procedure), second, at(0))
    assert find_slots(now, procedure, requesting_hospital_id=other.id, date_to=MON) == []
    assert len(find_slots(now, procedure, requesting_hospital_id=kudrang.id, date_to=MON)) == 4
    usage = quota_usage(hub.id, MON, MON)
    assert [(u.reserved, u.used) for u in usage] == [(4, 0)]


def test_quota_validation_and_update(db, now, quota_setup):
    hub, other, kudrang, device, procedure = quota_setup
    with pytest.raises(ValidationFailed):
        create_quota(
            SYSTEM, now, hub_hospital_id=hub.id, referring_hospital_id=kudrang.id, slots=1
        )  # neither device nor modality
    with pytest.raises(ValidationFailed):
        create_quota(
            SYSTEM,
            now,
            hub_hospital_id=hub.id,
            referring_hospital_id=kudrang.id,
            device=device,
            weekday=1,
            on_date=MON,
            slots=1,
        )
    quota = quota_usage(hub.id, MON, MON, referring_hospital_id=kudrang.id)[0]
    from scheduling.models import Quota

    row = _db.session.get(Quota, quota.quota_id)
    update_quota(SYSTEM, now, row, is_active=False)
    assert quota_usage(hub.id, MON, MON, referring_hospital_id=kudrang.id) == []


def test_requester_cannot_edit_a_hubs_capacity(db, now, quota_setup):
    hub, other, kudrang, device, procedure = quota_setup
    staff = create_user(kudrang, Role.REQUESTER)
    scheduler_elsewhere = create_user(other, Role.SCHEDULER)
    _db.session.commit()
    for user in (staff, scheduler_elsewhere):
        actor = Actor(interface=Interface.WEB, user=user)
        with pytest.raises(NotAllowed):
            create_quota(
                actor,
                now,
                hub_hospital_id=hub.id,
                referring_hospital_id=user.id,
                device=device,
                slots=1,
            )
        with pytest.raises(NotAllowed):
            add_day_closure(actor, now, kind=ClosureKind.DEVICE_DOWNTIME, day=MON, device=device)


def test_public_holidays_prefill_is_idempotent_and_edits_survive(db, now):
    added = prefill_public_holidays(SYSTEM, now, [2026, 2027])
    assert added >= 30
    father = _db.session.scalar(select(Closure).where(Closure.holiday_date == date(2026, 12, 5)))
    assert "พ่อ" in father.name_th and father.hospital_id is None
    # 5 Dec 00:00 Bangkok = 4 Dec 17:00 UTC
    assert father.start_at == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    assert father.end_at - father.start_at == timedelta(days=1)
    set_closure_active(SYSTEM, now, father, False)
    assert prefill_public_holidays(SYSTEM, now, [2026, 2027]) == 0
    _db.session.refresh(father)
    assert father.is_active is False
    count = _db.session.scalar(select(func.count(Closure.id)))
    assert count == added
    admin_only = Actor(
        interface=Interface.WEB, user=create_user(create_hospital(is_hub=True), Role.SCHEDULER)
    )
    _db.session.commit()
    with pytest.raises(NotAllowed):  # a cabinet bridge day is the administrator's to add
        add_day_closure(admin_only, now, kind=ClosureKind.PUBLIC_HOLIDAY, day=MON)


def test_holiday_blocks_booking_and_can_be_switched_off(db, now):
    hub, requester, device, procedure = create_setup(now)
    bridge = add_day_closure(
        SYSTEM, now, kind=ClosureKind.PUBLIC_HOLIDAY, day=MON, name_th="วันหยุดพิเศษ"
    )
    with pytest.raises(Conflict) as error:
        book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0800)
    assert error.value.code == "closed"
    set_closure_active(SYSTEM, now, bridge, False)
    book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0800)


def test_hospital_closure_and_affected_bookings(db, now):
    hub, requester, device, procedure = create_setup(now)
    appointment = book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0800)
    closure = add_day_closure(
        SYSTEM, now, kind=ClosureKind.HOSPITAL, day=MON, hospital_id=hub.id, name_th="ย้ายอาคาร"
    )
    assert [a.id for a in bookings_in_closure(closure)] == [appointment.id]
    other_hub, _, other_device, _ = create_setup(now)
    assert (
        find_slots(now, procedure, requesting_hospital_id=requester.id, date_from=MON, limit=1)[
            0
        ].device_id
        == other_device.id
    )
    cancel_appointment(SYSTEM, now, appointment, "ปิด")
    assert bookings_in_closure(closure) == []
    with pytest.raises(ValidationFailed):
        add_closure(
            SYSTEM,
            now,
            kind=ClosureKind.HOSPITAL,
            hospital_id=hub.id,
            start_at=MON_0800,
            end_at=MON_0800,
        )


def test_template_validity_and_supersession(db, now):
    hub, requester, device, procedure = create_setup(now, weekdays=range(7))
    # From 30 Nov a new template: afternoons only.
    create_template(
        SYSTEM,
        now,
        device=device,
        valid_from=date(2026, 11, 30),
        lead_time_minutes=0,
        windows=[WindowSpec(d, time(13, 0), time(16, 0)) for d in range(7)],
    )
    before = find_slots(
        now, procedure, requesting_hospital_id=requester.id, date_from=date(2026, 11, 29), limit=1
    )[0]
    after = find_slots(
        now, procedure, requesting_hospital_id=requester.id, date_from=date(2026, 11, 30), limit=1
    )[0]
    assert before.start_at == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)  # 08:00 local
    assert after.start_at == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # 13:00 local


def test_template_validation_and_update(db, now):
    hub, requester, device, procedure = create_setup(now)
    with pytest.raises(ValidationFailed):
        create_template(
            SYSTEM,
            now,
            device=device,
            windows=[WindowSpec(0, time(9), time(12)), WindowSpec(0, time(11), time(13))],
        )
    with pytest.raises(ValidationFailed):
        create_template(SYSTEM, now, device=device, windows=[WindowSpec(0, time(9), time(8))])
    template = device_template(device)
    update_template(
        SYSTEM, now, template, windows=[WindowSpec(0, time(8), time(8, 40), 2)], horizon_days=30
    )
    slots = find_slots(now, procedure, requesting_hospital_id=requester.id, limit=10, date_to=MON)
    assert len(slots) == 2 and all(s.remaining == 2 for s in slots)
    update_template(SYSTEM, now, template, is_active=False)
    assert find_slots(now, procedure, requesting_hospital_id=requester.id) == []


def device_template(device):
    from scheduling.models import CapacityTemplate

    return _db.session.scalar(
        select(CapacityTemplate).where(CapacityTemplate.device_id == device.id)
    )


def test_other_procedures_do_not_fit_partial_grid(db, now):
    hub, requester, device, procedure = create_setup(now, end=time(8, 30), weekdays=[0])
    long = create_procedure(minutes=45)
    assert find_slots(now, long, requesting_hospital_id=requester.id) == []


def test_quota_use_counts_only_days_the_scope_can_take_bookings(db, now, quota_setup):
    hub, other, kudrang, device, procedure = quota_setup
    # The hub reserve applies every day, but the device only works on Mondays.
    week = quota_usage(hub.id, MON, MON + timedelta(days=6))
    assert {u.day for u in week} == {MON}
    # A whole-day downtime on the next Monday: nothing is held that day.
    next_monday = MON + timedelta(days=7)
    add_day_closure(
        SYSTEM,
        now,
        kind=ClosureKind.DEVICE_DOWNTIME,
        day=next_monday,
        device=device,
        hospital_id=hub.id,
    )
    assert quota_usage(hub.id, next_monday, next_monday) == []
    # Downtime for part of the window leaves the day open: its quotas still count.
    monday_after = MON + timedelta(days=14)
    start = MON_0800 + timedelta(days=14)
    add_closure(
        SYSTEM,
        now,
        kind=ClosureKind.DEVICE_DOWNTIME,
        start_at=start,
        end_at=start + timedelta(hours=1),
        device=device,
        hospital_id=hub.id,
    )
    assert {
        (u.referring_hospital_id, u.reserved)
        for u in quota_usage(hub.id, monday_after, monday_after)
    } == {(kudrang.id, 2), (None, 1)}
