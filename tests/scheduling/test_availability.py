"""find_slots: earliest slots across hubs, honouring every rule book() applies."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from app.extensions import db as _db
from scheduling.availability import find_slots, warning_message
from scheduling.booking import book, reschedule
from scheduling.capacity import add_closure, add_day_closure
from scheduling.models import ClosureKind, Priority
from tests.scheduling.factories import (
    SYSTEM,
    create_device,
    create_hospital,
    create_patient,
    create_procedure,
    create_req,
    create_setup,
    office_template,
)

MON = date(2026, 11, 23)
MON_0800 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_earliest_slots_in_order(db, now):
    hub, requester, device, procedure = create_setup(now, weekdays=range(5))
    slots = find_slots(now, procedure, requesting_hospital_id=requester.id, limit=3)
    # Saturday now; the template has Monday-Friday only.
    assert [s.start_at for s in slots] == [MON_0800 + timedelta(minutes=20 * i) for i in range(3)]
    assert all(s.device_id == device.id and s.hub_hospital_id == hub.id for s in slots)
    assert all(s.remaining == 1 and s.end_at - s.start_at == timedelta(minutes=20) for s in slots)


def test_search_spans_hubs_and_filters(db, now):
    hub, requester, device, procedure = create_setup(now, weekdays=[1])  # Tuesdays
    other_hub = create_hospital(is_hub=True)
    other_device = create_device(other_hub)
    office_template(other_device, now=now, weekdays=[0])  # Mondays
    create_device(create_hospital(is_hub=False))  # not a hub: never offered
    _db.session.commit()
    slots = find_slots(now, procedure, requesting_hospital_id=requester.id, limit=1)
    assert slots[0].device_id == other_device.id and slots[0].start_at == MON_0800
    only_hub = find_slots(
        now, procedure, requesting_hospital_id=requester.id, hub_hospital_id=hub.id, limit=1
    )
    assert only_hub[0].device_id == device.id
    assert only_hub[0].start_at == MON_0800 + timedelta(days=1)
    by_device = find_slots(
        now, procedure, requesting_hospital_id=requester.id, device_id=device.id, limit=1
    )
    assert by_device == only_hub
    ct = create_procedure(modality="CT")
    assert find_slots(now, ct, requesting_hospital_id=requester.id) == []


def test_date_and_time_filters(db, now):
    hub, requester, device, procedure = create_setup(now)
    slots = find_slots(
        now,
        procedure,
        requesting_hospital_id=requester.id,
        date_from=date(2026, 11, 25),
        date_to=date(2026, 11, 25),
        time_from=time(13, 0),
        time_to=time(14, 0),
        limit=10,
    )
    local = [s.start_at.astimezone(UTC) for s in slots]
    assert len(slots) == 3  # 13:00, 13:20, 13:40 (13:40-14:00 ends exactly at 14:00)
    assert local[0] == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert (
        find_slots(now, procedure, requesting_hospital_id=requester.id, date_from=date(2027, 6, 1))
        == []
    )  # past the 90-day horizon


def test_taken_closed_and_lead_time_are_skipped(db, now):
    hub, requester, device, procedure = create_setup(now, lead_time_minutes=60)
    # today (Saturday) 09:00 local now; lead time 1 h -> first slot 10:00
    first = find_slots(now, procedure, requesting_hospital_id=requester.id, limit=1)[0]
    assert first.start_at == now + timedelta(hours=1)
    book(SYSTEM, now, create_req(now, requester, procedure), device, first.start_at)
    add_closure(
        SYSTEM,
        now,
        kind=ClosureKind.DEVICE_DOWNTIME,
        device=device,
        start_at=first.start_at + timedelta(minutes=20),
        end_at=first.start_at + timedelta(minutes=50),
    )
    slots = find_slots(now, procedure, requesting_hospital_id=requester.id, limit=2)
    # 10:00 taken; 10:20 and 10:40 touch the 10:20-10:50 downtime; 11:00 is free
    assert [s.start_at for s in slots] == [
        first.start_at + timedelta(minutes=60),
        first.start_at + timedelta(minutes=80),
    ]


def test_holiday_closes_every_hub(db, now):
    hub, requester, device, procedure = create_setup(now, weekdays=[0])
    add_day_closure(SYSTEM, now, kind=ClosureKind.PUBLIC_HOLIDAY, day=MON, name_th="วันหยุดชดเชย")
    slots = find_slots(now, procedure, requesting_hospital_id=requester.id, limit=1)
    assert slots[0].start_at == MON_0800 + timedelta(days=7)


def test_patient_overlap_and_prep_warning(db, now):
    hub, requester, device, procedure = create_setup(now)
    other = create_device(hub)
    office_template(other, now=now)
    ct = create_procedure(modality="CT", prep_tags="iodinated_contrast")
    ct_device = create_device(hub, modality="CT")
    office_template(ct_device, now=now)
    _db.session.commit()
    patient = create_patient()
    book(SYSTEM, now, create_req(now, requester, ct, patient=patient), ct_device, MON_0800)
    slots = find_slots(
        now, procedure, requesting_hospital_id=requester.id, patient=patient, date_from=MON, limit=4
    )
    # 08:00-08:20 on both US devices overlaps the CT; the patient's next free time is 08:20
    assert slots[0].start_at == MON_0800 + timedelta(minutes=20)
    assert {s.device_id for s in slots[:2]} == {device.id, other.id}
    assert slots[0].warnings == ("contrast-before-ultrasound",)
    assert "อัลตราซาวด์" in warning_message("contrast-before-ultrasound")
    tuesday = find_slots(
        now,
        procedure,
        requesting_hospital_id=requester.id,
        patient=patient,
        date_from=MON + timedelta(days=1),
        limit=1,
    )
    assert tuesday[0].warnings == ()


def test_urgent_skips_lead_time(db, now):
    hub, requester, device, procedure = create_setup(now, lead_time_minutes=24 * 60)
    routine = find_slots(now, procedure, requesting_hospital_id=requester.id, limit=1)
    urgent = find_slots(
        now, procedure, requesting_hospital_id=requester.id, limit=1, priority=Priority.URGENT
    )
    assert routine[0].start_at >= now + timedelta(hours=24)
    assert urgent[0].start_at == now  # 09:00 today is on the grid


def test_reschedule_search_ignores_the_booking_being_moved(db, now):
    hub, requester, device, procedure = create_setup(now)
    patient = create_patient()
    request = create_req(now, requester, procedure, patient=patient)
    appointment = book(SYSTEM, now, request, device, MON_0800)
    slots = find_slots(
        now,
        procedure,
        requesting_hospital_id=requester.id,
        patient=patient,
        date_from=MON,
        limit=1,
        exclude_appointment_id=appointment.id,
    )
    assert slots[0].start_at == MON_0800
    moved = reschedule(SYSTEM, now, appointment, device, MON_0800 + timedelta(minutes=40))
    assert moved.start_at == MON_0800 + timedelta(minutes=40)


@pytest.mark.parametrize("minutes, slot_minutes, expected_gap", [(20, None, 20), (25, 15, 15)])
def test_grid_steps(db, now, minutes, slot_minutes, expected_gap):
    hub, requester, device, procedure = create_setup(
        now, minutes=minutes, slot_minutes=slot_minutes
    )
    slots = find_slots(now, procedure, requesting_hospital_id=requester.id, date_from=MON, limit=2)
    assert slots[1].start_at - slots[0].start_at == timedelta(minutes=expected_gap)


def test_every_offered_slot_can_be_booked(db, now):
    hub, requester, device, procedure = create_setup(now, capacity=2)
    for slot in find_slots(now, procedure, requesting_hospital_id=requester.id, limit=6):
        appointment = book(
            SYSTEM, now, create_req(now, requester, procedure), device, slot.start_at
        )
        assert appointment.start_at == slot.start_at
