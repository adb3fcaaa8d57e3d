"""The radiologist's vetting queue, decision page, protocol list and exam page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from scheduling.models import (
    HubProtocol,
    Priority,
    RequestStatus,
    StaffNotification,
    VettingDecision,
)
from tests.app.hub.factories import hospital, make_appointment, make_request
from tests.conftest import login

MONDAY_9 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def radiologist(app, demo):
    client = app.test_client()
    login(client, "radiologist.mkh")
    return client


def _protocol(demo, code: str) -> HubProtocol:
    return demo.session.scalar(select(HubProtocol).where(HubProtocol.code == code))


def test_queue_lists_contrast_ct_not_ultrasound_and_approval_carries_protocol(
    radiologist, demo, now
):
    ct = make_request(now=now, patient_name="บุญเลิศ", procedure_code="CT-WABD-C")
    us = make_request(now=now)
    demo.session.commit()
    html = _html(radiologist.get("/hub/vetting"))
    assert f'data-request="{ct.id}"' in html and f'data-request="{us.id}"' not in html
    page = _html(radiologist.get(f"/hub/vetting/{ct.id}"))
    assert "CT-LIV-3P" in page and "MR-BR-R" not in page  # only this modality's protocols
    response = radiologist.post(
        f"/hub/vetting/{ct.id}",
        data={
            "protocol_id": str(_protocol(demo, "CT-LIV-3P").id),
            "contrast": "yes",
            "priority": "URGENT",
            "notes": "arterial + portal venous + delayed",
        },
    )
    assert response.headers["Location"] == "/hub/vetting"
    demo.session.refresh(ct)
    assert ct.vetting_decision is VettingDecision.APPROVED
    assert ct.protocol.code == "CT-LIV-3P" and ct.protocol_contrast is True
    assert ct.priority is Priority.URGENT
    assert f'data-request="{ct.id}"' not in _html(radiologist.get("/hub/vetting"))


def test_decline_needs_a_reason_and_tells_the_requester(radiologist, demo, now):
    ct = make_request(now=now, patient_name="บุญเลิศ", procedure_code="CT-WABD-C")
    demo.session.commit()
    radiologist.post(f"/hub/vetting/{ct.id}/decline", data={"decline-reason": ""})
    demo.session.refresh(ct)
    assert ct.status is RequestStatus.SUBMITTED
    radiologist.post(f"/hub/vetting/{ct.id}/decline", data={"decline-reason": "ทำ US ก่อน"})
    demo.session.refresh(ct)
    assert ct.status is RequestStatus.REJECTED and ct.status_reason == "ทำ US ก่อน"
    note = demo.session.scalar(select(StaffNotification))
    assert note.hospital_id == ct.requesting_hospital_id and note.reason == "ทำ US ก่อน"


def test_another_hub_and_schedulers_cannot_vet(app, demo, now):
    ct = make_request(now=now, patient_name="บุญเลิศ", procedure_code="CT-WABD-C", hub="10707")
    demo.session.commit()
    scheduler = app.test_client()
    login(scheduler, "scheduler.mkh")
    assert scheduler.get(f"/hub/vetting/{ct.id}").status_code == 403
    requester = app.test_client()
    login(requester, "staff.kudrang")
    assert requester.get("/hub/vetting").status_code == 403
    # a request addressed to another hub is not this radiologist's (404, nothing shown)
    other = make_request(now=now, procedure_code="CT-WABD-C", hub="10672")
    demo.session.commit()
    radiologist = app.test_client()
    login(radiologist, "radiologist.mkh")
    assert radiologist.get(f"/hub/vetting/{other.id}").status_code == 404
    assert f'data-request="{other.id}"' not in _html(radiologist.get("/hub/vetting"))


def test_protocol_list_and_vetting_rules_are_kept_by_the_hub(radiologist, demo):
    response = radiologist.post(
        "/hub/protocols",
        data={"modality_code": "US", "code": "us-liv", "name_th": "US ตับ", "name_en": ""},
    )
    assert response.status_code == 302
    row = _protocol(demo, "US-LIV")
    assert row.hospital_id == hospital("10707").id
    radiologist.post(f"/hub/protocols/{row.id}/active", data={"active": "0"})
    demo.session.refresh(row)
    assert row.is_active is False


def test_exam_page_shows_protocol_screening_viewer_and_priors(radiologist, app, demo, now):
    app.config["PACS_VIEWER_URL_TEMPLATE"] = (
        "https://pacs.example/viewer?StudyUID={study_instance_uid}"
    )
    try:
        first = make_appointment(
            make_request(now=now, patient_name="บุญเลิศ", procedure_code="CT-BRAIN"),
            ae_title="MKH_CT1",
            start_at=MONDAY_9,
        )
        req = make_request(now=now, patient_name="บุญเลิศ", procedure_code="CT-WABD-C")
        appt = make_appointment(req, ae_title="MKH_CT1", start_at=MONDAY_9.replace(hour=3))
        req.screening = {"contrast_allergy": "yes", "contrast_allergy_detail": "ผื่น", "egfr": 25}
        demo.session.commit()
        html = _html(radiologist.get(f"/hub/exams/{appt.id}"))
        assert f"https://pacs.example/viewer?StudyUID={appt.study_instance_uid}" in html
        assert "CONTRAST ALLERGY" in html and "LOW EGFR 25" in html
        assert f'data-prior="{first.id}"' in html
        assert 'id="timeline"' in html
    finally:
        app.config["PACS_VIEWER_URL_TEMPLATE"] = ""
