"""Creating a request: procedure picker, indication, ICD-10 format, priority, target hub."""

import pytest
from sqlalchemy import func, select

from app.requests.forms import normalise_icd10
from scheduling.models import ImagingRequest, Priority, RequestStatus
from tests.app.requests.conftest import (
    KUDRANG,
    MKH,
    hospital,
    patient_named,
    procedure,
    request_form,
    user,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("K80.2", "K80.2"),
        ("k802", "K80.2"),  # HIS exports drop the dot
        (" E11 .9 ", "E11.9"),
        ("R10", "R10"),
        ("S72.001", "S72.001"),
        ("", None),
    ],
)
def test_icd10_codes_are_normalised(typed, stored):
    assert normalise_icd10(typed) == stored


@pytest.mark.parametrize("typed", ["80.2", "K8", "KK80", "K80.2345X", "ปวดท้อง", "K80-2"])
def test_malformed_icd10_codes_are_refused(typed):
    with pytest.raises(ValueError):
        normalise_icd10(typed)


def test_the_picker_groups_procedures_by_modality_ultrasound_first(kudrang_client, demo):
    somsri = patient_named(demo, "สมศรี")
    html = kudrang_client.get(f"/requests/patients/{somsri.id}/request").get_data(as_text=True)
    groups = [chunk.split('"', 1)[0] for chunk in html.split('<optgroup label="')[1:]]
    assert groups[0] == "อัลตราซาวด์"
    assert "เอกซเรย์คอมพิวเตอร์ (CT)" in groups
    # Searchable in both languages: the option carries Thai, English and code, lower-cased.
    assert 'data-search="อัลตราซาวด์ช่องท้องส่วนบน ultrasound upper abdomen us-upabd' in html
    # Hubs in the requester's own province come first.
    first_hub = html.split('name="hub_hospital_id"')[1].split("<option")[2]
    assert "โรงพยาบาลมหาสารคาม" in first_hub


def test_a_valid_request_is_created_for_the_users_hospital(kudrang_client, demo):
    somsri = patient_named(demo, "สมศรี")
    us = procedure(demo, "US-UPABD")
    mkh = hospital(demo, MKH)
    response = kudrang_client.post(
        f"/requests/patients/{somsri.id}/request",
        data=request_form(us.id, icd10_code="k802", priority="URGENT", hub_hospital_id=str(mkh.id)),
    )
    assert response.status_code == 302
    req = demo.session.scalar(select(ImagingRequest))
    assert (
        response.headers["Location"].endswith(f"/{req.id}")
        or f"/{req.id}/" in response.headers["Location"]
    )
    assert req.requesting_hospital_id == hospital(demo, KUDRANG).id
    assert req.hub_hospital_id == mkh.id
    assert req.patient_id == somsri.id and req.procedure_id == us.id
    assert req.icd10_code == "K80.2"
    assert req.priority is Priority.URGENT
    assert req.status is RequestStatus.SUBMITTED
    assert req.requesting_clinician == "นพ.สมชาย ใจดี"
    assert req.created_by_id == user(demo, "staff.kudrang").id
    detail = kudrang_client.get(f"/requests/{req.id}").get_data(as_text=True)
    assert "K80.2" in detail and "นพ.สมชาย ใจดี" in detail and "โรงพยาบาลมหาสารคาม" in detail


@pytest.mark.parametrize(
    ("overrides", "field", "thai"),
    [
        ({"icd10_code": "ปวดท้อง"}, "icd10_code", "รหัส ICD-10 คือตัวอักษร 1 ตัว"),
        ({"indication": "  "}, "indication", "กรุณาระบุข้อบ่งชี้ทางคลินิก"),
        ({"requesting_clinician": ""}, "requesting_clinician", "กรุณาระบุแพทย์ผู้ส่งตรวจ"),
        ({"procedure_id": ""}, "procedure_id", "กรุณาเลือกรายการตรวจ"),
        ({"procedure_id": "999999"}, "procedure_id", "กรุณาเลือกรายการตรวจ"),
    ],
)
def test_request_errors_are_thai_and_beside_their_field(
    kudrang_client, demo, overrides, field, thai
):
    somsri = patient_named(demo, "สมศรี")
    us = procedure(demo, "US-UPABD")
    response = kudrang_client.post(
        f"/requests/patients/{somsri.id}/request", data=request_form(us.id, **overrides)
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    error_at = html.index(f'id="{field}-error"')
    assert thai in html[error_at : error_at + 300]
    assert demo.session.scalar(select(func.count(ImagingRequest.id))) == 0


def test_an_inactive_procedure_cannot_be_requested(kudrang_client, demo):
    somsri = patient_named(demo, "สมศรี")
    retired = procedure(demo, "US-DOPLE")
    retired.is_active = False
    demo.session.commit()
    response = kudrang_client.post(
        f"/requests/patients/{somsri.id}/request", data=request_form(retired.id)
    )
    assert response.status_code == 200
    assert demo.session.scalar(select(func.count(ImagingRequest.id))) == 0
