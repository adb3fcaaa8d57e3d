"""The health region office: its own region's aggregates only, no patient data anywhere,
an .xlsx of the same numbers, and targets only it sets."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from scheduling import region_stats
from scheduling.models import (
    AuditEvent,
    Hospital,
    ImagingRequest,
    Patient,
    PatientHN,
    RegionWaitTarget,
)
from tests.conftest import login

REGION7_HUBS = ("โรงพยาบาลมหาสารคาม", "โรงพยาบาลขอนแก่น", "โรงพยาบาลร้อยเอ็ด")
REGION8_HUBS = ("โรงพยาบาลอุดรธานี", "โรงพยาบาลสกลนคร", "โรงพยาบาลนครพนม")


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _patient_strings(db) -> set[str]:
    """Everything that would identify a patient: names, IDs, HNs, placer numbers."""
    values = set()
    for p in db.session.scalars(select(Patient)):
        values |= {p.given_name_th, p.family_name_th, p.id_value, p.id_value[-4:] + "X"}
        values |= {v for v in (p.given_name_en, p.family_name_en, p.phone) if v}
    values |= set(db.session.scalars(select(PatientHN.hn)))
    values |= set(db.session.scalars(select(ImagingRequest.placer_order_number)))
    values |= {i for i in db.session.scalars(select(ImagingRequest.indication)) if i}
    return {v for v in values if v and len(v) >= 4}


def _short(name: str) -> str:
    return name.replace("โรงพยาบาล", "รพ.")


@pytest.mark.parametrize(
    ("username", "mine", "theirs"),
    [
        ("region7.office", REGION7_HUBS, REGION8_HUBS),
        ("region8.office", REGION8_HUBS, REGION7_HUBS),
    ],
)
def test_the_office_sees_its_region_only_and_no_patient(app, demo_bookings, username, mine, theirs):
    client = _client(app, username)
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/region/")
    html = client.get("/region/").get_data(as_text=True)
    for hub in mine:
        assert _short(hub) in html
    for hub in theirs:
        assert _short(hub) not in html
    # another region asked for in the query is ignored: still its own
    other = client.get("/region/?region=" + ("8" if "7" in username else "7"))
    assert all(_short(h) not in other.get_data(as_text=True) for h in theirs)
    leaks = [v for v in _patient_strings(demo_bookings) if v in html]
    assert not leaks, leaks
    # numbers there: exams, a median, a no-show, linked returns
    figures = html.split('id="figures"')[1]
    assert re.search(r'data-label="มัธยฐาน \(วัน\)">\d', figures)
    assert re.search(r'data-label="ไม่มาตามนัด">[1-9]', figures)


def test_the_office_opens_no_request_patient_or_hub_page(app, demo_bookings):
    client = _client(app, "region7.office")
    request_id = demo_bookings.session.scalar(select(func.min(ImagingRequest.id)))
    patient_id = demo_bookings.session.scalar(select(func.min(Patient.id)))
    assert client.get("/requests").status_code == 302  # to the region view
    assert client.get(f"/requests/{request_id}").status_code in (403, 404)
    for path in (
        "/requests/new",
        f"/requests/patients/{patient_id}/request",
        f"/requests/{request_id}/slots",
        "/hub/",
        "/dashboard/",
        "/admin/",
        "/admin/audit",
    ):
        response = client.get(path)
        assert response.status_code in (403, 404), path


def test_others_cannot_open_the_region_view(app, demo_bookings):
    for username in ("staff.kudrang", "scheduler.mkh", "radiologist.mkh"):
        client = _client(app, username)
        assert client.get("/region/").status_code == 403
        assert client.get("/region/export.xlsx").status_code == 403
    admin = _client(app, "admin")
    html = admin.get("/region/?region=8").get_data(as_text=True)
    assert _short(REGION8_HUBS[0]) in html and _short(REGION7_HUBS[0]) not in html


def test_the_workbook_holds_the_same_aggregates(app, demo_bookings):
    client = _client(app, "region7.office")
    response = client.get("/region/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == [
        "เครื่องตรวจ",
        "ประเภทเครื่อง",
        "การรอคอยและผลที่ส่งกลับ",
        "ตามโรงพยาบาลที่ส่งตรวจ",
        "การใช้โควตา",
        "ภาพส่งต่อ",
    ]
    cells = {str(c.value) for ws in book for row in ws.iter_rows() for c in row if c.value}
    assert not [v for v in _patient_strings(demo_bookings) if v in cells]
    assert "MKH_CT1" in cells and "UDN_CT1" not in cells
    assert "10707" in cells and "10671" not in cells
    waiting = book["การรอคอยและผลที่ส่งกลับ"]
    exams = sum(row[5] for row in waiting.iter_rows(min_row=2, values_only=True))
    figures = region_stats.hub_modality_figures(7, *_period(demo_bookings), _now())
    assert exams == sum(f.exams for f in figures) > 0


def _now():
    from scheduling.clock import utcnow

    return utcnow()


def _period(db):
    from datetime import timedelta

    from scheduling.clock import local_today

    return local_today() - timedelta(days=27), local_today()


def test_the_office_sets_its_own_targets_only(app, demo_bookings):
    client = _client(app, "region7.office")
    page = client.get("/region/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"modality_code": "CT", "target_days": "10"}
    if token:
        data["csrf_token"] = token.group(1)
    assert client.post("/region/targets", data=data).status_code == 302
    targets = {
        (t.region, t.modality_code): t.target_days
        for t in demo_bookings.session.scalars(select(RegionWaitTarget))
    }
    assert targets[(7, "CT")] == 10 and targets[(8, "CT")] == 21
    assert demo_bookings.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "region.target")
    )
    bad = client.post("/region/targets", data={**data, "target_days": "0"}, follow_redirects=True)
    assert "เป้าหมายต้องอยู่ระหว่าง 1 ถึง 365 วัน" in bad.get_data(as_text=True)
    # ?region=8 does not reach Region 8's targets
    client.post("/region/targets?region=8", data={**data, "target_days": "3"})
    demo_bookings.session.expire_all()
    target8 = demo_bookings.session.scalar(
        select(RegionWaitTarget).where(
            RegionWaitTarget.region == 8, RegionWaitTarget.modality_code == "CT"
        )
    )
    assert target8.target_days == 21


def test_region_figures_count_only_the_regions_hubs(demo_bookings):
    hubs7 = {h.id for h in region_stats.region_hubs(7)}
    hubs8 = {h.id for h in region_stats.region_hubs(8)}
    assert hubs7 and hubs8 and not hubs7 & hubs8
    codes7 = {
        h.code
        for h in demo_bookings.session.scalars(select(Hospital).where(Hospital.id.in_(hubs7)))
    }
    assert codes7 == {"10707", "10670", "10708", "10706", "13777"}
    first, last = _period(demo_bookings)
    figures = region_stats.hub_modality_figures(7, first, last, _now())
    assert {f.hub.id for f in figures} <= hubs7
    for f in figures:
        assert f.median_days is None or f.median_days <= f.p90_days
    referrers = region_stats.hub_modality_figures(7, first, last, _now(), by_referrer=True)
    assert "11008" in {f.hub.code for f in referrers}  # Kut Rang asked for some of them
    assert sum(f.exams for f in referrers) == sum(f.exams for f in figures) > 0
    assert sum(f.no_shows for f in referrers) == sum(f.no_shows for f in figures)
    quotas = region_stats.quota_use_by_referrer(7, first, last)
    assert quotas and all(q.reserved >= 0 and q.used >= 0 for q in quotas)


def test_the_office_sees_referral_images_online_against_cd(app, demo):
    """Issue 18's measure in the region view and its workbook: referrers of the region only."""
    from scheduling.audit import Actor
    from scheduling.models import Interface
    from scheduling.referrals import add_prior_study, record_arrival
    from scheduling.studies import ReportedIdentity
    from tests.app.hub.factories import hospital, make_request

    now = _now()
    kudrang = Actor(Interface.WEB, hospital_id=hospital("11008").id)
    online, on_cd = make_request(now=now), make_request(now=now)
    prior = add_prior_study(kudrang, now, online, modality_code="DX", accession_number="K1")
    record_arrival(
        Actor(Interface.JOBS, name="referral-watch"),
        now,
        prior,
        study_instance_uid="1.2.3.9",
        series_count=1,
        instance_count=2,
        identity=ReportedIdentity(patient_id="X"),
    )
    add_prior_study(kudrang, now, on_cd, modality_code="DX", sent_on_cd=True)

    section = _client(app, "region7.office").get("/region/").get_data(as_text=True)
    section = section[section.index('id="referral-images"') :]
    row = section.split("<tr>")[2]
    assert _short(hospital("11008").name_th) in row or hospital("11008").name_th in row
    assert "DX" in row and "50%" in row
    book = load_workbook(io.BytesIO(_client(app, "region7.office").get("/region/export.xlsx").data))
    sheet = book[book.sheetnames[-1]]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(r[2], r[4], r[5], r[6], r[8]) for r in rows] == [("11008", "DX", 1, 1, 0.5)]
    # Region 8's office sees none of Region 7's referrers.
    other = _client(app, "region8.office").get("/region/").get_data(as_text=True)
    assert "1.2.3.9" not in other
    assert "DX" not in other[other.index('id="referral-images"') :]
