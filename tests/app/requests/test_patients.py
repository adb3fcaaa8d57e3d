"""Find or register a patient: national ID check digit, Buddhist-Era birth dates, scoping."""

from datetime import date

import pytest
from sqlalchemy import func, select

from scheduling.models import AuditEvent, IdentifierType, Patient, Sex
from tests.app.requests.conftest import (
    KOSUM,
    KUDRANG,
    hospital,
    invalid_cid,
    patient_form,
    patient_named,
    valid_cid,
)
from tests.conftest import login


def _html(response) -> str:
    return response.get_data(as_text=True)


def test_finding_an_own_patient_by_national_id_goes_to_the_request_form(kudrang_client, demo):
    somsri = patient_named(demo, "สมศรี")
    typed = (
        f"{somsri.id_value[0]}-{somsri.id_value[1:5]}-{somsri.id_value[5:10]}-"
        f"{somsri.id_value[10:12]}-{somsri.id_value[12]}"
    )
    response = kudrang_client.post("/requests/new", data={"q": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/requests/patients/{somsri.id}/request"


def test_a_wrong_check_digit_is_refused_in_thai_beside_the_search_field(kudrang_client):
    response = kudrang_client.post("/requests/new", data={"q": invalid_cid("110170023070")})
    assert response.status_code == 200
    html = _html(response)
    assert 'id="q-error"' in html
    assert "เลขบัตรประชาชนไม่ถูกต้อง: เลขตรวจสอบหลักสุดท้ายไม่ตรง" in html


def test_another_hospitals_patient_is_not_revealed_by_national_id(kudrang_client, demo):
    prasert = patient_named(demo, "ประเสริฐ")  # registered at Kosum Phisai only
    response = kudrang_client.post("/requests/new", data={"q": prasert.id_value})
    # The registration form, in this same answer: no national ID in a redirect URL.
    assert response.status_code == 200
    form_page = _html(response)
    assert 'action="/requests/patients/new"' in form_page
    assert "ประเสริฐ" not in form_page and "แก้วกาหลง" not in form_page
    assert prasert.id_value in form_page  # only what the user typed is echoed back


def test_name_and_hn_search_only_lists_own_patients(kudrang_client, kosum_client):
    html = _html(kudrang_client.post("/requests/new", data={"q": "KR0002"}))
    assert "บุญเลิศ" in html
    # Kosum's own HN format: no match at Kut Rang, and no leak by name either.
    assert "ประเสริฐ" not in _html(kudrang_client.post("/requests/new", data={"q": "KS0001"}))
    # (the query itself is echoed in the search box, so look for the family name)
    html = _html(kudrang_client.post("/requests/new", data={"q": "ประเสริฐ"}))
    assert "แก้วกาหลง" not in html
    assert "ไม่พบผู้ป่วย" in html
    assert "แก้วกาหลง" in _html(kosum_client.post("/requests/new", data={"q": "ประเสริฐ"}))
    html = _html(kudrang_client.post("/requests/new", data={"q": "สม ทอง"}))
    assert "สมศรี" in html  # every word, given or family name


def test_registering_with_a_buddhist_era_birth_year(kudrang_client, demo):
    response = kudrang_client.post("/requests/patients/new", data=patient_form())
    assert response.status_code == 302
    patient = demo.session.scalar(
        select(Patient).where(Patient.id_value == valid_cid("310990012345"))
    )
    assert response.headers["Location"] == f"/requests/patients/{patient.id}/request"
    assert patient.birth_date == date(1968, 3, 14)  # 2511 B.E.
    assert patient.sex is Sex.FEMALE
    assert patient.phone == "0812345678"
    assert patient.given_name_en  # romanised by the domain operation
    assert patient.hn_at(hospital(demo, KUDRANG).id) == "KR9001"
    actions = demo.session.scalars(select(AuditEvent.action)).all()
    assert "patient.register" in actions


@pytest.mark.parametrize(
    ("overrides", "field", "thai"),
    [
        (
            {"id_value": invalid_cid("310990012345")},
            "id_value",
            "เลขบัตรประชาชนไม่ถูกต้อง: เลขตรวจสอบหลักสุดท้ายไม่ตรง",
        ),
        ({"id_value": "31099001234"}, "id_value", "เลขบัตรประชาชนต้องมี 13 หลัก"),
        (
            {"birth_year_be": "1968"},
            "birth_year_be",
            "ดูเหมือนเป็นปี ค.ศ. กรุณาใส่ปี พ.ศ. (บวก 543 เป็น 2511)",
        ),
        ({"birth_year_be": ""}, "birth_year_be", "กรุณาใส่วัน เดือน และปี ให้ครบ หรือเว้นว่างทั้งสามช่อง"),
        ({"birth_day": "31", "birth_month": "2"}, "birth_year_be", "ไม่มีวันที่นี้ในปฏิทิน"),
        ({"birth_year_be": "3000"}, "birth_year_be", "กรุณาใส่ปี พ.ศ. ระหว่าง 2400 ถึง"),
        ({"given_name_th": " "}, "given_name_th", "กรุณากรอกชื่อ"),
        ({"phone": "12"}, "phone", "กรุณาใส่หมายเลขโทรศัพท์ 9–10 หลัก"),
        ({"hn": "KR0001"}, "hn", "HN นี้เป็นของผู้ป่วยรายอื่นในโรงพยาบาลของท่าน"),
    ],
)
def test_registration_errors_are_thai_and_beside_their_field(
    kudrang_client, demo, overrides, field, thai
):
    before = demo.session.scalar(select(func.count(Patient.id)))
    response = kudrang_client.post("/requests/patients/new", data=patient_form(**overrides))
    assert response.status_code == 200
    html = _html(response)
    error_at = html.index(f'id="{field}-error"')
    assert thai in html[error_at : error_at + 300]
    assert demo.session.scalar(select(func.count(Patient.id))) == before


def test_birth_date_may_be_left_empty(kudrang_client, demo):
    data = patient_form(birth_day="", birth_month="", birth_year_be="", hn="")
    assert kudrang_client.post("/requests/patients/new", data=data).status_code == 302
    patient = demo.session.scalar(
        select(Patient).where(Patient.id_value == valid_cid("310990012345"))
    )
    assert patient.birth_date is None
    # No HN typed: none is made up; the record is still the hospital's own.
    assert patient.hn is None and patient.hospital_numbers == []
    assert patient.hospital_id == hospital(demo, KUDRANG).id
    assert kudrang_client.get(f"/requests/patients/{patient.id}/request").status_code == 200


def test_passport_patients_skip_the_check_digit(kudrang_client, demo):
    data = patient_form(id_type="PASSPORT", id_value="aa1234567", hn="KR9002")
    assert kudrang_client.post("/requests/patients/new", data=data).status_code == 302
    patient = demo.session.scalar(select(Patient).where(Patient.id_value == "AA1234567"))
    assert patient.id_type is IdentifierType.PASSPORT


def test_registering_someone_known_elsewhere_makes_an_own_record_here(kudrang_client, demo):
    prasert = patient_named(demo, "ประเสริฐ")
    data = patient_form(
        id_value=prasert.id_value,
        prefix="MR",
        given_name_th="ประเสริฐ",
        family_name_th="แก้วกาหลง",
        sex="MALE",
        hn="KR7777",
    )
    assert kudrang_client.post("/requests/patients/new", data=data).status_code == 302
    records = demo.session.scalars(
        select(Patient).where(Patient.id_value == prasert.id_value).order_by(Patient.id)
    ).all()
    assert [(r.hospital_id, r.hn) for r in records] == [
        (hospital(demo, KOSUM).id, "KS0001"),
        (hospital(demo, KUDRANG).id, "KR7777"),
    ]


def test_editing_shows_the_birth_date_in_buddhist_era_and_keeps_the_identifier(
    kudrang_client, demo
):
    somsri = patient_named(demo, "สมศรี")  # born 14 March 1968
    html = _html(kudrang_client.get(f"/requests/patients/{somsri.id}/edit"))
    assert 'value="2511"' in html
    data = patient_form(
        id_value=somsri.id_value,
        given_name_th="สมศรี",
        family_name_th="ทองดี",
        hn="KR0001",
        phone="0899999999",
    )
    assert kudrang_client.post(f"/requests/patients/{somsri.id}/edit", data=data).status_code == 302
    demo.session.expire_all()
    assert somsri.phone == "0899999999"
    other = patient_form(id_value=valid_cid("310990012345"), hn="KR0001")
    html = _html(kudrang_client.post(f"/requests/patients/{somsri.id}/edit", data=other))
    assert "ไม่สามารถเปลี่ยนเลขบัตรของผู้ป่วยที่ลงทะเบียนแล้วได้" in html


def test_other_hospitals_cannot_edit_or_request_for_a_patient(kosum_client, demo):
    somsri = patient_named(demo, "สมศรี")
    assert kosum_client.get(f"/requests/patients/{somsri.id}/edit").status_code == 404
    assert kosum_client.get(f"/requests/patients/{somsri.id}/request").status_code == 404


def test_hub_staff_do_not_get_the_requester_pages(app, demo):
    client = app.test_client()
    login(client, "scheduler.mkh")
    assert client.get("/requests/new").status_code == 403


def test_the_live_check_script_is_local_and_gets_its_messages_translated(kudrang_client):
    html = _html(kudrang_client.get("/requests/patients/new"))
    assert '<script src="/static/js/national-id.js" defer></script>' in html
    assert 'data-msg-checksum="เลขบัตรประชาชนไม่ถูกต้อง: เลขตรวจสอบหลักสุดท้ายไม่ตรง"' in html
    assert "<script>" not in html  # no inline script
    script = kudrang_client.get("/static/js/national-id.js")
    assert script.status_code == 200
    script.close()


def test_kosum_staff_see_their_own_hn_format(kosum_client, demo):
    assert "ประเสริฐ" in _html(kosum_client.post("/requests/new", data={"q": "KS0001"}))
    assert hospital(demo, KOSUM) is not None
