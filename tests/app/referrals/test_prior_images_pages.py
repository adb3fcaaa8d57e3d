"""The "ภาพที่ส่งมาพร้อมใบส่งตัว" section: the requester lists and marks studies, the hub
sees arrivals and confirms the patient; another hospital sees and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from scheduling.audit import Actor
from scheduling.models import AuditEvent, Interface, PriorIdentity, ReferralStudy, Role, User
from scheduling.referrals import add_prior_study, record_arrival
from scheduling.studies import ReportedIdentity
from tests.app.hub.factories import hospital, make_appointment, make_request
from tests.conftest import login
from tests.scheduling.factories import create_hospital


@pytest.fixture
def req(demo, now):
    request = make_request(now=now)
    make_appointment(request, ae_title="MKH_DX1", start_at=now + timedelta(days=1))
    db.session.commit()
    return request


def _page(client, req) -> str:
    answer = client.get(f"/requests/{req.id}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def _priors(req) -> list[ReferralStudy]:
    db.session.expire_all()
    return list(db.session.scalars(select(ReferralStudy).where(ReferralStudy.request_id == req.id)))


def test_requester_lists_a_study_and_marks_another_as_sent_on_cd(client, req):
    login(client, "staff.kudrang")
    assert "ภาพที่ส่งมาพร้อมใบส่งตัว" in _page(client, req)
    answer = client.post(
        f"/requests/{req.id}/prior-images",
        data={
            "modality_code": "DX",
            "study_date": "01/11/2569",
            "description": "CXR PA",
            "accession_number": "KR-0042",
        },
    )
    assert answer.status_code == 302
    client.post(
        f"/requests/{req.id}/prior-images",
        data={"modality_code": "MG", "sent_on_cd": "y", "description": "แมมโมแกรม"},
    )
    (dx, mg) = _priors(req)
    assert (dx.modality_code, dx.accession_number, dx.study_date.isoformat()) == (
        "DX",
        "KR-0042",
        "2026-11-01",
    )
    assert dx.sent_on_cd is False and dx.next_check_at is not None
    assert mg.sent_on_cd is True and mg.next_check_at is None
    page = _page(client, req)
    assert "KR-0042" in page and "ส่งทางแผ่นซีดี" in page
    added = select(func.count()).where(AuditEvent.action == "referral.study_add")
    audited = db.session.scalar(added.select_from(AuditEvent))
    assert audited == 2

    # Neither key nor CD: a Thai refusal, nothing saved.
    answer = client.post(
        f"/requests/{req.id}/prior-images", data={"modality_code": "CT"}, follow_redirects=True
    )
    assert answer.status_code == 200
    assert "เลขที่ Accession หรือ Study Instance UID" in answer.get_data(as_text=True)
    assert len(_priors(req)) == 2

    # A malformed UID is refused too.
    client.post(
        f"/requests/{req.id}/prior-images",
        data={"modality_code": "CT", "study_instance_uid": "not-a-uid"},
    )
    assert len(_priors(req)) == 2

    # The DX study goes on CD after all; then it is removed.
    client.post(f"/prior-images/{dx.id}/cd", data={"on_cd": "1"})
    assert _priors(req)[0].sent_on_cd is True
    client.post(f"/prior-images/{dx.id}/remove")
    assert [p.modality_code for p in _priors(req)] == ["MG"]


def _arrived(req, *, patient_id="KR0001", name="ทองดี^สมศรี") -> ReferralStudy:
    kudrang = Actor(Interface.WEB, hospital_id=req.requesting_hospital_id)
    prior = add_prior_study(
        kudrang, req.created_at, req, modality_code="DX", accession_number="KR-7"
    )
    record_arrival(
        Actor(Interface.JOBS, name="referral-watch"),
        req.created_at,
        prior,
        study_instance_uid="1.2.3.4.99",
        series_count=2,
        instance_count=5,
        identity=ReportedIdentity(patient_id=patient_id, name=name),
    )
    return prior


def test_the_hub_sees_the_arrival_and_confirms_the_patient(client, req):
    prior = _arrived(req)
    assert prior.identity is PriorIdentity.PENDING
    login(client, "scheduler.mkh")
    page = _page(client, req)
    assert "ภาพส่งต่อถึงแล้ว" in page and "2 ชุดภาพ 5 ภาพ" in page
    exam = client.get(f"/hub/exams/{req.appointments[0].id}").get_data(as_text=True)
    assert "ภาพส่งต่อถึงแล้ว" in exam and "KR0001" in exam
    answer = client.post(f"/prior-images/{prior.id}/confirm")
    assert answer.status_code == 302
    assert _priors(req)[0].identity is PriorIdentity.CONFIRMED


def test_the_requester_sees_the_arrival_but_cannot_confirm(client, req):
    prior = _arrived(req)
    login(client, "staff.kudrang")
    page = _page(client, req)
    assert "ภาพส่งต่อถึงแล้ว" in page
    assert f"/prior-images/{prior.id}/confirm" not in page
    answer = client.post(f"/prior-images/{prior.id}/confirm")
    assert answer.status_code == 404
    assert _priors(req)[0].identity is PriorIdentity.PENDING


def test_another_hospital_sees_and_changes_nothing(client, req):
    prior = _arrived(req)
    login(client, "staff.kosum")
    assert client.get(f"/requests/{req.id}").status_code == 404
    for path, data in (
        (f"/requests/{req.id}/prior-images", {"modality_code": "DX", "sent_on_cd": "y"}),
        (f"/prior-images/{prior.id}/cd", {"on_cd": "1"}),
        (f"/prior-images/{prior.id}/remove", {}),
        (f"/prior-images/{prior.id}/confirm", {}),
        (f"/requests/{req.id}/prior-images/pick", {}),
    ):
        assert client.post(path, data=data).status_code == 404, path
    (only,) = _priors(req)
    assert only.sent_on_cd is False and only.identity is PriorIdentity.PENDING


def test_another_hubs_scheduler_cannot_see_or_confirm(client, req):
    prior = _arrived(req)
    other = create_hospital(is_hub=True)
    user = User(
        username="scheduler.other",
        full_name="Other hub",
        role=Role.SCHEDULER,
        hospital_id=other.id,
        password_hash="",
    )
    user.set_password("radbook-demo")
    db.session.add(user)
    db.session.commit()
    login(client, "scheduler.other")
    assert client.get(f"/requests/{req.id}").status_code == 404
    assert client.post(f"/prior-images/{prior.id}/confirm").status_code == 404
    assert _priors(req)[0].identity is PriorIdentity.PENDING


def test_the_hub_cannot_edit_the_requesters_list(client, req):
    login(client, "scheduler.mkh")
    answer = client.post(
        f"/requests/{req.id}/prior-images", data={"modality_code": "DX", "sent_on_cd": "y"}
    )
    assert answer.status_code == 403
    assert _priors(req) == []
    assert hospital("10707").is_hub
