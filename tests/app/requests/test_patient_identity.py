"""Issue 13, through the web: each hospital's patient record is its own.

- registering a national ID another hospital holds makes the registrar's own record and
  shows nothing of the other hospital's (the old form showed Kud Rang's name, birth date
  and phone to Kosum, and the next save rewrote them for everybody);
- a clerk typing an ID her own hospital already holds is shown the record and asked to
  confirm the changes, which are then audited before and after;
- the hub sees where the linked records disagree and picks the one its worklist uses.
"""

from __future__ import annotations

from sqlalchemy import select

from scheduling.clock import utcnow
from scheduling.models import AuditEvent, ImagingRequest, Patient, Procedure
from scheduling.requests import create_request
from tests.app.requests.conftest import (
    KOSUM,
    MKH,
    hospital,
    patient_form,
    patient_named,
    web_actor_for,
)
from tests.conftest import login

SOMSRI_PHONE = "0870023070"  # app/demo.py: "08" + the last 8 digits of the ID stem


def _html(response) -> str:
    return response.get_data(as_text=True)


def _snapshot(patient: Patient) -> tuple:
    return (
        patient.hospital_id,
        patient.prefix,
        patient.given_name_th,
        patient.family_name_th,
        patient.given_name_en,
        patient.birth_date,
        patient.sex,
        patient.phone,
        tuple((h.hospital_id, h.hn) for h in patient.hospital_numbers),
    )


def _events(demo, action: str) -> list[AuditEvent]:
    return demo.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


def test_registering_another_hospitals_id_neither_reveals_nor_rewrites_it(
    kosum_client, kudrang_client, demo
):
    somsri = patient_named(demo, "สมศรี")  # Kud Rang's patient, HN KR0001
    before = _snapshot(somsri)
    # Kosum looks the ID up: nothing, and the registration form echoes only the ID.
    html = _html(kosum_client.post("/requests/new", data={"q": somsri.id_value}))
    assert "สมศรี" not in html and "ทองดี" not in html and SOMSRI_PHONE not in html
    # Kosum "registers" the ID with its own values: its own record, shown with them only.
    data = patient_form(
        id_value=somsri.id_value,
        given_name_th="ชื่อใหม่",
        family_name_th="นามใหม่",
        birth_year_be="2520",
        phone="0899999999",
        hn="KS7001",
    )
    response = kosum_client.post("/requests/patients/new", data=data)
    assert response.status_code == 302
    page = _html(kosum_client.get(response.headers["Location"]))
    assert "ชื่อใหม่" in page
    for secret in ("สมศรี", "ทองดี", SOMSRI_PHONE, "KR0001", "2511"):
        assert secret not in page
    own = demo.session.scalar(
        select(Patient).where(
            Patient.id_value == somsri.id_value, Patient.hospital_id == hospital(demo, KOSUM).id
        )
    )
    assert own.id != somsri.id and own.hn == "KS7001"
    # The next save is Kosum's own record's business: it is shown Kosum's values only.
    again = patient_form(id_value=somsri.id_value, given_name_th="ชื่อที่สอง", hn="KS7001")
    html = _html(kosum_client.post("/requests/patients/new", data=again))
    assert "ชื่อใหม่" in html and "ชื่อที่สอง" in html and "สมศรี" not in html
    again["confirm_id"] = str(own.id)
    assert kosum_client.post("/requests/patients/new", data=again).status_code == 302
    demo.session.expire_all()
    assert own.given_name_th == "ชื่อที่สอง"
    # Kud Rang's record, and what Kud Rang's pages show, never changed.
    assert _snapshot(somsri) == before
    assert "สมศรี" in _html(kudrang_client.get(f"/requests/patients/{somsri.id}/request"))
    # Kosum cannot open Kud Rang's record by id either.
    assert kosum_client.get(f"/requests/patients/{somsri.id}/edit").status_code == 404
    assert all(e.entity_id == own.id for e in _events(demo, "patient.update"))


def test_typing_an_id_the_hospital_holds_asks_before_changing_anything(kudrang_client, demo):
    somsri = patient_named(demo, "สมศรี")
    before = _snapshot(somsri)
    data = patient_form(
        id_value=somsri.id_value,
        prefix="MRS",
        given_name_th="สมศรี",
        family_name_th="ทองมาก",
        birth_day="",
        birth_month="",
        birth_year_be="",
        phone="",
        hn="",
    )
    response = kudrang_client.post("/requests/patients/new", data=data)
    assert response.status_code == 200
    html = _html(response)
    # The record as kept and as typed, side by side; nothing saved yet.
    assert "ทองดี" in html and "ทองมาก" in html
    assert f'name="confirm_id" type="hidden" value="{somsri.id}"' in html
    demo.session.expire_all()
    assert _snapshot(somsri) == before
    assert _events(demo, "patient.update") == []
    # Confirmed: the family name changes; the birth date left empty is kept, not cleared.
    data["confirm_id"] = str(somsri.id)
    assert kudrang_client.post("/requests/patients/new", data=data).status_code == 302
    demo.session.expire_all()
    assert somsri.family_name_th == "ทองมาก"
    assert somsri.birth_date == before[5] and somsri.phone == SOMSRI_PHONE
    [event] = _events(demo, "patient.update")
    assert event.entity_id == somsri.id
    assert event.detail["changes"]["family_name_th"] == ["ทองดี", "ทองมาก"]
    assert "birth_date" not in event.detail["changes"]


def test_typing_the_same_details_again_changes_nothing(kudrang_client, demo):
    somsri = patient_named(demo, "สมศรี")
    data = patient_form(
        id_value=somsri.id_value,
        prefix=somsri.prefix,
        given_name_th=somsri.given_name_th,
        family_name_th=somsri.family_name_th,
        phone=somsri.phone,
        hn="KR0001",
    )
    response = kudrang_client.post("/requests/patients/new", data=data)
    assert response.headers["Location"] == f"/requests/patients/{somsri.id}/request"
    assert _events(demo, "patient.update") == []


def _request(demo, username: str, patient: Patient) -> ImagingRequest:
    procedure = demo.session.scalar(select(Procedure).where(Procedure.code == "US-UPABD"))
    return create_request(
        web_actor_for(demo, username),
        utcnow(),
        patient=patient,
        procedure=procedure,
        requesting_hospital_id=patient.hospital_id,
        hub_hospital_id=hospital(demo, MKH).id,
        indication="ปวดท้อง",
    )


def test_the_hub_sees_linked_records_disagree_and_chooses_one(app, kosum_client, demo):
    somsri = patient_named(demo, "สมศรี")
    data = patient_form(
        id_value=somsri.id_value, given_name_th="ชื่อปลอม", birth_year_be="2520", hn=""
    )
    assert kosum_client.post("/requests/patients/new", data=data).status_code == 302
    kosum_record = demo.session.scalar(select(Patient).where(Patient.given_name_th == "ชื่อปลอม"))
    ours = _request(demo, "staff.kudrang", somsri)
    _request(demo, "staff.kosum", kosum_record)
    snapshots = {r.id: _snapshot(r) for r in (somsri, kosum_record)}
    hub = app.test_client()
    login(hub, "scheduler.mkh")
    html = _html(hub.get(f"/hub/requests/{ours.id}"))
    assert "สมศรี" in html and "ชื่อปลอม" in html
    assert "flash-warning" in html and 'class="error"' in html
    # The hub takes Kud Rang's record for its worklist, with its own HN.
    response = hub.post(
        f"/hub/requests/{ours.id}/identity",
        data={"identity-source": str(somsri.id), "identity-hn": "MK5555"},
    )
    assert response.status_code == 302
    demo.session.expire_all()
    hub_record = demo.session.scalar(
        select(Patient).where(
            Patient.id_value == somsri.id_value, Patient.hospital_id == hospital(demo, MKH).id
        )
    )
    assert (hub_record.given_name_th, hub_record.birth_date, hub_record.hn) == (
        "สมศรี",
        somsri.birth_date,
        "MK5555",
    )
    assert {r.id: _snapshot(r) for r in (somsri, kosum_record)} == snapshots
    [event] = _events(demo, "patient.adopt")
    assert event.detail["source_patient_id"] == somsri.id
    # A record the hub may not see cannot be chosen (Kud Rang's other patient).
    other = patient_named(demo, "บุญเลิศ")
    response = hub.post(
        f"/hub/requests/{ours.id}/identity",
        data={"identity-source": str(other.id), "identity-hn": ""},
    )
    assert response.status_code == 404
    assert len(_events(demo, "patient.adopt")) == 1
