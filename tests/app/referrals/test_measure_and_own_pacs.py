"""The hub's dashboard counts referral images online against CD; an admin registers a
community hospital's PACS, whose staff then pick the patient's studies from it (a real
Orthanc answering RadBook's C-FIND)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from scheduling.audit import Actor
from scheduling.models import AuditEvent, Interface, ReferralStudy
from scheduling.referrals import add_prior_study, record_arrival, sender_patient_id
from scheduling.studies import ReportedIdentity
from tests.app.hub.factories import hospital, make_request
from tests.conftest import login
from tests.worklist.orthanc import AE_TITLE, Orthanc
from worklist.models import HospitalPacs


def _kudrang() -> Actor:
    return Actor(Interface.WEB, hospital_id=hospital("11008").id)


def test_the_hubs_dashboard_shows_the_online_share(client, demo, now):
    online, on_cd = make_request(now=now), make_request(now=now)
    prior = add_prior_study(_kudrang(), now, online, modality_code="DX", accession_number="K1")
    record_arrival(
        Actor(Interface.JOBS, name="referral-watch"),
        now,
        prior,
        study_instance_uid="1.2.3.9",
        series_count=1,
        instance_count=2,
        identity=ReportedIdentity(patient_id="X"),
    )
    add_prior_study(_kudrang(), now, on_cd, modality_code="DX", sent_on_cd=True)
    add_prior_study(_kudrang(), now, on_cd, modality_code="MG", sent_on_cd=True)
    login(client, "scheduler.mkh")
    page = client.get("/dashboard/").get_data(as_text=True)
    section = page[page.index('id="referral-images"') :]
    assert "ภาพส่งต่อทางออนไลน์" in section
    rows = section.split("<tr>")[2:]
    assert "DX" in rows[0] and "50%" in rows[0]
    assert "MG" in rows[1] and "0%" in rows[1]


def test_only_an_admin_registers_a_hospitals_pacs(app, client, demo):
    kudrang = hospital("11008")
    form = {"hospital_id": kudrang.id, "host": "127.0.0.1", "port": "11112", "ae_title": "KR_PACS"}
    login(client, "scheduler.mkh")
    assert client.post("/admin/hospital-pacs", data=form).status_code == 403
    assert db.session.get(HospitalPacs, kudrang.id) is None
    client = app.test_client()
    login(client, "admin")
    assert client.post("/admin/hospital-pacs", data=form).status_code == 302
    db.session.expire_all()
    pacs = db.session.get(HospitalPacs, kudrang.id)
    assert (pacs.host, pacs.port, pacs.ae_title) == ("127.0.0.1", 11112, "KR_PACS")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pacs.register"))
    bad = form | {"ae_title": "X" * 17}
    client.post("/admin/hospital-pacs", data=bad)
    db.session.expire_all()
    assert db.session.get(HospitalPacs, kudrang.id).ae_title == "KR_PACS"


@pytest.fixture
def own_pacs(tmp_path):
    peer = Orthanc(tmp_path)
    yield peer
    peer.stop()


def test_the_requester_picks_studies_from_its_own_pacs(app, client, demo, now, own_pacs):
    req = make_request(now=now)
    patient_id, _issuer = sender_patient_id(req)
    mine = own_pacs.store(
        patient_id=patient_id, name="ทองดี^สมศรี", accession="KR-55", series=2, images=2
    )
    own_pacs.store(patient_id="SOMEONE-ELSE", name="X^Y", accession="KR-66")
    kudrang = hospital("11008")
    db.session.add(
        HospitalPacs(
            hospital_id=kudrang.id,
            host="127.0.0.1",
            port=own_pacs.dicom_port,
            ae_title=AE_TITLE,
            updated_at=now,
        )
    )
    db.session.commit()

    login(client, "staff.kosum")  # another community hospital: nothing to see
    assert client.get(f"/requests/{req.id}/prior-images/pick").status_code == 404

    client = app.test_client()
    login(client, "staff.kudrang")
    assert "เลือกจาก PACS ของโรงพยาบาลเรา" in client.get(f"/requests/{req.id}").get_data(
        as_text=True
    )
    page = client.post(f"/requests/{req.id}/prior-images/pick", data={"study_date": ""})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "KR-55" in text and mine in text
    assert "KR-66" not in text
    client.post(
        f"/requests/{req.id}/prior-images",
        data={
            "picked": "1",
            "modality_code": "CR",
            "study_date": "2026-11-01",
            "description": "Chest PA",
            "accession_number": "KR-55",
            "study_instance_uid": mine,
        },
    )
    (prior,) = db.session.scalars(select(ReferralStudy).where(ReferralStudy.request_id == req.id))
    assert prior.picked_from_pacs and prior.study_instance_uid == mine
    again = client.post(f"/requests/{req.id}/prior-images/pick", data={"study_date": ""})
    assert "อยู่ในรายการแล้ว" in again.get_data(as_text=True)
