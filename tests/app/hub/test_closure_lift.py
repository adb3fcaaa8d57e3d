"""Lifting a hospital-wide closure offers the freed time to the waiting list, as lifting
a device's downtime does (issue 16's gap)."""

from __future__ import annotations

import pytest

from scheduling import waitlist
from scheduling.booking import cancel_appointment
from scheduling.capacity import add_day_closure
from scheduling.clock import to_local, utcnow
from scheduling.closures_move import freed_devices
from scheduling.models import ClosureKind
from tests.app.hub.factories import actor_for, book_request, device, hospital, submit_request
from tests.conftest import login


@pytest.fixture
def scheduler(client, demo):
    login(client, "scheduler.mkh")
    return client


def _closed_day_with_someone_waiting(kind: ClosureKind):
    """A day with a free US slot, closed (the whole hub or MKH_US1), and a patient booked
    two weeks later waiting for an earlier date."""
    actor = actor_for("scheduler.mkh")
    probe = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    day = to_local(probe.start_at).date()
    cancel_appointment(actor, utcnow(), probe, "ผู้ป่วยขอยกเลิก")
    hub = hospital("10707")
    where = {"hospital_id": hub.id} if kind is ClosureKind.HOSPITAL else {}
    if kind is ClosureKind.DEVICE_DOWNTIME:
        where = {"device": device("MKH_US1")}
    closure = add_day_closure(actor, utcnow(), kind=kind, day=day, name_th="ปิดปรับปรุง", **where)
    later = book_request(submit_request(patient_name="กัญญารัตน์"), days_ahead=14, ae_title="MKH_US1")
    waitlist.add(actor, utcnow(), later.request)
    return hub, closure


@pytest.mark.parametrize("kind", [ClosureKind.HOSPITAL, ClosureKind.DEVICE_DOWNTIME])
def test_lifting_a_closure_leads_to_the_offers(scheduler, demo, kind):
    hub, closure = _closed_day_with_someone_waiting(kind)
    demo.session.commit()
    response = scheduler.post(f"/hub/capacity/closures/{closure.id}/toggle")
    location = response.headers["Location"]
    assert "/hub/waitlist/offers?" in location and f"device={device('MKH_US1').id}" in location
    html = scheduler.get(location).get_data(as_text=True)
    assert "กัญญารัตน์" in html


def test_a_closure_frees_its_device_or_every_active_device_of_its_hub(demo):
    hub, closure = _closed_day_with_someone_waiting(ClosureKind.HOSPITAL)
    devices = freed_devices(closure, hub.id)
    assert device("MKH_US1") in devices and len(devices) > 1
    assert all(d.hospital_id == hub.id and d.is_active for d in devices)
    downtime = add_day_closure(
        actor_for("scheduler.mkh"),
        utcnow(),
        kind=ClosureKind.DEVICE_DOWNTIME,
        day=to_local(closure.start_at).date(),
        device=device("MKH_US1"),
    )
    assert freed_devices(downtime, hub.id) == [device("MKH_US1")]
    assert freed_devices(downtime, hospital("10671").id) == []


def test_nobody_waiting_leads_back_to_the_capacity_page(scheduler, demo):
    actor = actor_for("scheduler.mkh")
    hub = hospital("10707")
    probe = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    day = to_local(probe.start_at).date()
    closure = add_day_closure(
        actor, utcnow(), kind=ClosureKind.HOSPITAL, day=day, hospital_id=hub.id, name_th="ปิด"
    )
    demo.session.commit()
    response = scheduler.post(f"/hub/capacity/closures/{closure.id}/toggle")
    assert response.headers["Location"].endswith("/hub/capacity#closures")
