"""The request form's screening, the check before booking, files, timeline, notifications."""

from __future__ import annotations

import io

from sqlalchemy import select

from scheduling.clock import utcnow
from scheduling.models import ImagingRequest, RequestAttachment, TreatmentRight
from scheduling.requests import reject_request
from tests.app.requests.conftest import (
    make_request,
    patient_named,
    procedure,
    request_form,
    user,
    web_actor_for,
)
from tests.conftest import login

CONTRAST = {
    "creatinine": "1.1",
    "egfr": "",
    "lab_date": "10/11/2569",  # 10 Nov 2026, Buddhist Era
    "contrast_allergy": "no",
    "weight_kg": "58",
}
PDF = b"%PDF-1.4\n% referral\n"


def _html(response) -> str:
    return response.get_data(as_text=True)


def _post_ct(client, demo, patient="กัญญารัตน์", **overrides):
    kanya = patient_named(demo, patient)
    data = request_form(procedure(demo, "CT-WABD-C").id, **CONTRAST)
    data.update(overrides)
    return client.post(f"/requests/patients/{kanya.id}/request", data=data)


def test_contrast_ct_for_a_woman_asks_labs_allergy_weight_and_pregnancy(kudrang_client, demo):
    html = _html(_post_ct(kudrang_client, demo))
    # Nothing saved; the pregnancy answer is asked for beside its field, in Thai.
    assert demo.session.scalar(select(ImagingRequest)) is None
    assert 'id="pregnancy-error"' in html
    response = _post_ct(
        kudrang_client,
        demo,
        pregnancy="not_pregnant",
        referral_letter=(io.BytesIO(PDF), "ใบส่งตัว.pdf"),
    )
    req = demo.session.scalar(select(ImagingRequest))
    assert response.headers["Location"] == f"/requests/{req.id}/slots"
    assert req.treatment_right is TreatmentRight.UC
    assert req.screening == {
        "creatinine": 1.1,
        "egfr": None,
        "lab_date": "2026-11-10",
        "contrast_allergy": "no",
        "pregnancy": "not_pregnant",
        "weight_kg": 58.0,
    }
    files = demo.session.scalars(select(RequestAttachment)).all()
    assert [(f.filename, f.content_type) for f in files] == [("ใบส่งตัว.pdf", "application/pdf")]


def test_an_old_lab_result_and_a_fake_pdf_are_refused(kudrang_client, demo):
    html = _html(_post_ct(kudrang_client, demo, patient="บุญเลิศ", lab_date="01/01/2569"))
    assert 'id="lab_date-error"' in html and "90" in html
    html = _html(
        _post_ct(
            kudrang_client,
            demo,
            patient="บุญเลิศ",
            lab_results=(io.BytesIO(b"MZ\x90\x00 not a pdf"), "lab.pdf"),
        )
    )
    assert 'id="lab_results-error"' in html
    assert demo.session.scalar(select(ImagingRequest)) is None


def test_an_order_without_screening_is_completed_before_booking(kudrang_client, demo):
    req = make_request(demo, patient="บุญเลิศ", code="CT-WABD-C")  # as an HIS order comes
    response = kudrang_client.get(f"/requests/{req.id}/slots")
    assert response.headers["Location"] == f"/requests/{req.id}/screening"
    page = _html(kudrang_client.get(response.headers["Location"]))
    assert 'data-section="contrast"' in page and 'data-section="mri" hidden' in page
    response = kudrang_client.post(
        f"/requests/{req.id}/screening",
        data={**CONTRAST, "treatment_right": "SSS", "referral_number": "R-1"},
    )
    assert response.headers["Location"] == f"/requests/{req.id}/slots"
    assert kudrang_client.get(f"/requests/{req.id}/slots").status_code == 200


def test_files_are_read_by_the_two_hospitals_only(kudrang_client, kosum_client, app, demo):
    _post_ct(
        kudrang_client,
        demo,
        pregnancy="not_pregnant",
        referral_letter=(io.BytesIO(PDF), "ref.pdf"),
    )
    req = demo.session.scalar(select(ImagingRequest))
    row = demo.session.scalar(select(RequestAttachment))
    url = f"/requests/{req.id}/attachments/{row.id}"
    response = kudrang_client.get(url)
    assert response.data == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert kosum_client.get(url).status_code == 404  # another community hospital
    # the hub that performs it reads it once the request is addressed to it
    from tests.app.requests.conftest import MKH, hospital

    req.hub_hospital_id = hospital(demo, MKH).id
    demo.session.commit()
    hub = app.test_client()
    login(hub, "radiologist.mkh")
    assert hub.get(url).data == PDF
    assert (
        kosum_client.post(f"/requests/{req.id}/attachments", data={"kind": "OTHER"}).status_code
        == 404
    )


def test_rejection_reaches_requester_as_notification_timeline_and_copy(
    kudrang_client, kosum_client, app, demo
):
    from tests.app.requests.conftest import MKH, hospital

    req = make_request(demo, hub_hospital_id=hospital(demo, MKH).id)
    reject_request(web_actor_for(demo, "scheduler.mkh"), utcnow(), req, "ส่งผิดแผนก")
    home = _html(kudrang_client.get("/requests"))
    assert 'data-unread="1"' in home
    page = _html(kudrang_client.get("/notifications"))
    assert "ถูกปฏิเสธ" in page and "ส่งผิดแผนก" in page
    # another hospital sees none of it, and cannot open it
    assert "data-unread" not in _html(kosum_client.get("/requests"))
    from scheduling.models import StaffNotification

    note = demo.session.scalar(select(StaffNotification))
    assert kosum_client.get(f"/notifications/{note.id}").status_code == 404
    opened = kudrang_client.get(f"/notifications/{note.id}")
    assert opened.headers["Location"].endswith(f"/requests/{req.id}#timeline")
    assert "data-unread" not in _html(kudrang_client.get("/requests"))
    detail = _html(kudrang_client.get(f"/requests/{req.id}"))
    assert 'data-action="request.reject"' in detail and "ส่งผิดแผนก" in detail
    assert user(demo, "scheduler.mkh").full_name in detail
    # the hub sees the same timeline
    hub = app.test_client()
    login(hub, "scheduler.mkh")
    assert 'data-action="request.reject"' in _html(hub.get(f"/requests/{req.id}"))
    # copy into a new request: the form comes filled in
    assert f"copy={req.id}" in detail
    copy = _html(kudrang_client.get(f"/requests/patients/{req.patient_id}/request?copy={req.id}"))
    assert req.placer_order_number in copy and "ทดสอบ" in copy
    assert (
        kosum_client.get(f"/requests/patients/{req.patient_id}/request?copy={req.id}").status_code
        == 404
    )
