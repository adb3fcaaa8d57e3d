"""The request list: filters along a request's life, scoping, paging."""

import re

from sqlalchemy import select

from app.requests import listing
from scheduling.audit import Actor
from scheduling.clock import utcnow
from scheduling.models import Interface, StudySource
from scheduling.requests import cancel_request
from scheduling.studies import attach_report, link_study
from tests.app.requests.conftest import book_earliest, make_request, web_actor_for

PACS = Actor(interface=Interface.HL7, name="PACS_MKH")


def _rows(client, **query) -> list[int]:
    html = client.get("/requests", query_string=query).get_data(as_text=True)
    return [int(n) for n in re.findall(r'<a href="/requests/(\d+)">', html)]


def _life_cycle(demo):
    submitted = make_request(demo, indication="ยังไม่นัด")
    scheduled = make_request(demo, patient="บุญเลิศ")
    appointment = book_earliest(demo, scheduled)
    cancelled = make_request(demo, patient="กัญญารัตน์")
    cancel_request(web_actor_for(demo, "staff.kudrang"), utcnow(), cancelled, "ซ้ำ")
    imaged = make_request(demo, patient="กัญญารัตน์", code="DX-CHEST")
    imaged_appt = book_earliest(demo, imaged)
    link_study(
        PACS,
        utcnow(),
        source=StudySource.HL7,
        study_instance_uid=imaged_appt.study_instance_uid,
        appointment=imaged_appt,
        images_in_pacs=True,
    )
    # The report comes from the performing hub's system.
    hub_pacs = Actor(
        interface=Interface.HL7, name="PACS_MKH", hospital_id=appointment.hub_hospital_id
    )
    attach_report(hub_pacs, utcnow(), scheduled, text="ปกติ", reported_by="นพ.วีระ")
    return submitted, scheduled, appointment, cancelled, imaged


def test_filters_follow_the_life_of_a_request(kudrang_client, demo):
    submitted, scheduled, _, cancelled, imaged = _life_cycle(demo)
    assert set(_rows(kudrang_client)) == {submitted.id, scheduled.id, cancelled.id, imaged.id}
    assert _rows(kudrang_client, status="submitted") == [submitted.id]
    assert set(_rows(kudrang_client, status="scheduled")) == {scheduled.id, imaged.id}
    assert _rows(kudrang_client, status="cancelled") == [cancelled.id]
    assert _rows(kudrang_client, status="images") == [imaged.id]
    assert _rows(kudrang_client, status="reported") == [scheduled.id]
    assert _rows(kudrang_client, status="done") == []
    # The first list's enum-name links keep working; unknown filters show everything.
    assert _rows(kudrang_client, status="SUBMITTED") == [submitted.id]
    assert len(_rows(kudrang_client, status="nonsense")) == 4


def test_filter_labels_are_thai_with_open_counts(kudrang_client, demo):
    _life_cycle(demo)
    html = kudrang_client.get("/requests").get_data(as_text=True)
    for thai in ("ส่งคำขอแล้ว", "นัดแล้ว", "ตรวจแล้ว", "ภาพอยู่ใน PACS", "มีผลอ่านแล้ว"):
        assert thai in html, thai
    scheduled_link = re.search(
        r'href="/requests\?status=scheduled"[^>]*>([^<]+)'
        r'<span class="count">(\d+)</span>',
        html,
    )
    assert scheduled_link.group(2) == "2"


def test_another_hospital_sees_none_of_them(kosum_client, demo):
    _life_cycle(demo)
    for key in ("", "submitted", "scheduled", "images", "reported", "cancelled"):
        assert _rows(kosum_client, status=key) == []


def test_paging_newest_first_by_key(kudrang_client, kosum_client, demo, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    made = [make_request(demo, indication=f"#{n}").id for n in range(5)]
    newest_first = made[::-1]
    assert _rows(kudrang_client) == newest_first[:2]
    assert _rows(kudrang_client, before=newest_first[1]) == newest_first[2:4]
    html = kudrang_client.get("/requests", query_string={"before": newest_first[3]}).get_data(
        as_text=True
    )
    assert _rows(kudrang_client, before=newest_first[3]) == newest_first[4:]
    assert "กลับไปรายการล่าสุด" in html and "เก่ากว่า" not in html  # the last page
    first = kudrang_client.get("/requests").get_data(as_text=True)
    assert f"before={newest_first[1]}" in first and "กลับไปรายการล่าสุด" not in first
    # Another hospital's request id as the key gives nothing away: the newest of their own.
    assert _rows(kosum_client, before=newest_first[1]) == []


def test_a_hub_pages_through_its_addressed_and_own_requests_newest_first(app, demo, monkeypatch):
    """Two scope branches (addressed to the hub, requested by it) merged in one order."""
    from scheduling.models import Hospital
    from scheduling.requests import create_request
    from tests.app.requests.conftest import MKH, hospital, patient_named, procedure
    from tests.conftest import login

    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    mkh = hospital(demo, MKH)
    kosum = demo.session.scalar(select(Hospital).where(Hospital.code == "11005"))
    made = []
    for n in range(5):
        if n == 2:  # one the hub requests for its own patient (its own record of Somsri)
            from scheduling.patients import adopt_record

            own = adopt_record(
                web_actor_for(demo, "scheduler.mkh"),
                utcnow(),
                source=patient_named(demo, "สมศรี"),
                hospital_id=mkh.id,
            )
            made.append(
                create_request(
                    web_actor_for(demo, "scheduler.mkh"),
                    utcnow(),
                    patient=own,
                    procedure=procedure(demo, "CT-BRAIN"),
                    requesting_hospital_id=mkh.id,
                ).id
            )
        else:
            made.append(make_request(demo, hub_hospital_id=mkh.id, indication=f"#{n}").id)
    not_addressed = make_request(demo, indication="ไม่ได้ส่งมา")
    elsewhere = make_request(demo, username="staff.kosum", patient="ประเสริฐ", hub_hospital_id=None)
    assert kosum.id != mkh.id and elsewhere.requesting_hospital_id == kosum.id
    client = app.test_client()
    login(client, "scheduler.mkh")
    newest_first = made[::-1]
    assert _rows(client) == newest_first[:2]
    assert _rows(client, before=newest_first[1]) == newest_first[2:4]
    assert _rows(client, before=newest_first[3]) == newest_first[4:]
    seen = set(_rows(client, before=newest_first[1])) | set(_rows(client))
    assert not_addressed.id not in seen and elsewhere.id not in seen


def test_open_counts_stop_at_the_cap(kudrang_client, demo, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    for n in range(3):
        make_request(demo, indication=f"#{n}")
    html = kudrang_client.get("/requests").get_data(as_text=True)
    assert re.search(r'status=submitted"[^>]*>[^<]+<span class="count">2\+</span>', html)
