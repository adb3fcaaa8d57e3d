"""Provinces and health regions, distance estimates, a hub's out-of-region rule, and the
cross-hub search ordered by region and distance on the demo network."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from scheduling import regions
from scheduling.availability import SlotOrder, find_slots, find_slots_ordered
from scheduling.booking import book
from scheduling.clock import utcnow
from scheduling.errors import NotAllowed
from scheduling.models import Device, Hospital, Priority, Procedure, ReferralScope
from scheduling.regions import accepts_referral, great_circle_km, region_of, road_distance
from tests.app.requests.conftest import make_request, web_actor_for

KUDRANG, KOSUM, MKH = "11008", "11005", "10707"
KHON_KAEN, SRINAGARIND, ROI_ET, KALASIN = "10670", "13777", "10708", "10706"
UDON, KUMPHAWAPI, SAKON = "10671", "11091", "10709"


def hospital(db, code: str) -> Hospital:
    return db.session.scalar(select(Hospital).where(Hospital.code == code))


def test_every_province_is_in_one_of_the_thirteen_regions():
    assert len(regions.PROVINCES) == 77
    assert {p.region for p in regions.PROVINCES.values()} == set(range(1, 14))
    assert {p.name_en for p in regions.provinces_of(7)} == {
        "Khon Kaen",
        "Maha Sarakham",
        "Roi Et",
        "Kalasin",
    }
    assert {p.name_en for p in regions.provinces_of(8)} == {
        "Udon Thani",
        "Sakon Nakhon",
        "Nakhon Phanom",
        "Loei",
        "Nong Khai",
        "Nong Bua Lam Phu",
        "Bueng Kan",
    }
    assert [p.name_th for p in regions.provinces_of(13)] == ["กรุงเทพมหานคร"]
    assert regions.province_by_name("maha sarakham").code == "44"
    assert regions.region_name(7) == "เขตสุขภาพที่ 7"


def test_road_distance_is_the_great_circle_times_the_road_factor():
    # One degree of latitude is 111.2 km on the mean sphere.
    assert great_circle_km(16.0, 103.0, 17.0, 103.0) == pytest.approx(111.19, abs=0.01)
    a = Hospital(id=1, latitude=16.0, longitude=103.0)
    b = Hospital(id=2, latitude=17.0, longitude=103.0)
    d = road_distance(a, b)
    assert d.km == pytest.approx(111.19 * 1.3, abs=0.1)
    assert d.minutes == round(d.km / 60 * 60)
    assert road_distance(a, Hospital(id=3, latitude=None, longitude=None)) is None
    assert road_distance(a, a).km == 0


def test_demo_hospitals_all_have_a_province_and_coordinates(demo):
    rows = demo.session.scalars(select(Hospital)).all()
    assert rows and all(region_of(h) in (7, 8) and regions.has_coordinates(h) for h in rows)
    # Maha Sarakham to Khon Kaen by road is about 75 km (Highway 208 and 2).
    mkh_kkh = road_distance(hospital(demo, MKH), hospital(demo, KHON_KAEN))
    assert 60 <= mkh_kkh.km <= 85 and 50 <= mkh_kkh.minutes <= 90


@pytest.mark.parametrize(
    ("scope", "priority", "accepted"),
    [
        (ReferralScope.ANY, Priority.ROUTINE, True),
        (ReferralScope.REGION_AND_URGENT, Priority.ROUTINE, False),
        (ReferralScope.REGION_AND_URGENT, Priority.URGENT, True),
        (ReferralScope.REGION_AND_URGENT, Priority.STAT, True),
        (ReferralScope.REGION_ONLY, Priority.STAT, False),
    ],
)
def test_out_of_region_rule(demo, scope, priority, accepted):
    hub, kudrang = hospital(demo, SAKON), hospital(demo, KUDRANG)
    hub.referral_scope = scope
    assert accepts_referral(hub, kudrang, priority) is accepted
    # Inside its region a hub takes everyone, whatever its rule.
    assert accepts_referral(hub, hospital(demo, KUMPHAWAPI), Priority.ROUTINE)


def _ct(demo) -> Procedure:
    return demo.session.scalar(select(Procedure).where(Procedure.code == "CT-BRAIN"))


def _search(demo, order, requester=KUDRANG, **kwargs):
    return find_slots_ordered(
        utcnow(),
        _ct(demo),
        requesting_hospital_id=hospital(demo, requester).id,
        order=order,
        **kwargs,
    )


def _hub(demo, slot) -> Hospital:
    return demo.session.get(Hospital, slot.hub_hospital_id)


def test_region_first_lists_the_requesters_region_before_the_rest(demo):
    slots = _search(demo, SlotOrder.REGION_FIRST, limit=8)
    in_region = [region_of(_hub(demo, s)) == 7 for s in slots]
    assert in_region[0] and True in in_region and False in in_region
    # every slot of Region 7 before any outside, each group by time
    first_outside = in_region.index(False)
    assert all(in_region[:first_outside]) and not any(in_region[first_outside:])
    for group in (slots[:first_outside], slots[first_outside:]):
        assert [s.start_at for s in group] == sorted(s.start_at for s in group)


def test_earliest_is_by_time_and_shows_only_hubs_that_take_the_requester(demo):
    slots = _search(demo, SlotOrder.EARLIEST, limit=40)
    assert [s.start_at for s in slots] == sorted(s.start_at for s in slots)
    codes = {_hub(demo, s).code for s in slots}
    # Region 8's community hubs serve their region only, its general hospitals take
    # outsiders only when urgent; Udon Thani takes anyone.
    assert KUMPHAWAPI not in codes and SAKON not in codes
    assert codes <= {MKH, KHON_KAEN, SRINAGARIND, ROI_ET, KALASIN, UDON}
    urgent = _search(demo, SlotOrder.EARLIEST, limit=200, priority=Priority.URGENT)
    urgent_codes = {_hub(demo, s).code for s in urgent}
    assert KUMPHAWAPI not in urgent_codes


def test_nearest_gives_each_hubs_earliest_slot_nearest_first(demo):
    kudrang = hospital(demo, KUDRANG)
    slots = _search(demo, SlotOrder.NEAREST, limit=6)
    hubs = [_hub(demo, s) for s in slots]
    assert len({h.id for h in hubs}) == len(hubs) == 6  # one slot per hub
    km = [road_distance(kudrang, h).km for h in hubs]
    assert km == sorted(km)
    assert hubs[0].code == MKH  # about 50 km from Kut Rang; Khon Kaen about 58
    # each is that hub's earliest
    for slot, hub in zip(slots, hubs, strict=True):
        own = find_slots(
            utcnow(), _ct(demo), requesting_hospital_id=kudrang.id, hub_hospital_id=hub.id, limit=1
        )
        assert own[0].start_at == slot.start_at


@pytest.mark.parametrize("radius", [55, 100, 300])
def test_within_keeps_hubs_inside_the_radius_only(demo, radius):
    kudrang = hospital(demo, KUDRANG)
    slots = _search(demo, SlotOrder.WITHIN, within_km=radius, limit=30)
    assert slots
    assert all(road_distance(kudrang, _hub(demo, s)).km <= radius for s in slots)
    assert [s.start_at for s in slots] == sorted(s.start_at for s in slots)
    codes = {_hub(demo, s).code for s in slots}
    if radius == 55:
        assert codes == {MKH}
    if radius == 300:
        assert UDON in codes  # about 200 km by road


def test_a_hub_that_refuses_outsiders_refuses_the_request_and_the_booking(demo):
    kumphawapi = hospital(demo, KUMPHAWAPI)
    with pytest.raises(NotAllowed) as refused:
        make_request(demo, code="CT-BRAIN", hub_hospital_id=kumphawapi.id)
    assert refused.value.code == "out-of-region"
    req = make_request(demo, code="CT-BRAIN")
    device = demo.session.scalar(select(Device).where(Device.ae_title == "KPW_CT1"))
    start = find_slots(
        utcnow(),
        req.procedure,
        requesting_hospital_id=kumphawapi.id,  # a slot Kumphawapi's own staff could book
        device_id=device.id,
        limit=1,
    )[0].start_at
    with pytest.raises(NotAllowed):
        book(web_actor_for(demo, "staff.kudrang"), utcnow(), req, device, start)
