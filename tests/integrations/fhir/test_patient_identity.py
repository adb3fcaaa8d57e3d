"""Issue 13 through FHIR: ``POST Patient`` of a national ID another hospital holds makes
the client's own record, answers with that record only, and never rewrites the other."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from scheduling.models import ImagingRequest, Patient
from tests.integrations.fhir.conftest import KOSUM, KUDRANG, hospital, outcome, patient_named
from tests.integrations.fhir.test_writes import scheduled  # noqa: F401

CID = "https://terms.sil-th.org/id/th-cid"
KS_HN = f"https://terms.sil-th.org/hcode/5/{KOSUM}/HN"


def claim(cid: str, given: str = "ชื่อปลอม", hn: str = "KS9100") -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": CID, "value": cid}, {"system": KS_HN, "value": hn}],
        "name": [{"use": "official", "prefix": ["นาย"], "given": [given], "family": "ปลอม"}],
        "gender": "male",
    }


def snapshot(patient: Patient) -> tuple:
    return (
        patient.hospital_id,
        patient.given_name_th,
        patient.family_name_th,
        patient.birth_date,
        patient.sex,
        patient.phone,
        patient.hn,
    )


def test_post_patient_of_another_hospitals_id_is_the_clients_own_record(kosum, kudrang, db):
    somsri = patient_named("สมศรี")  # Kud Rang's (demo), HN KR0001
    before = snapshot(somsri)
    first = kosum.post("Patient", claim(somsri.id_value))
    assert first.status_code == 201
    body = first.get_data(as_text=True)
    for secret in ("สมศรี", "ทองดี", somsri.phone, "1968-03-14", "KR0001"):
        assert secret not in body
    created = json.loads(body)
    own = db.session.get(Patient, int(created["id"]))
    assert own.id != somsri.id and own.hospital_id == hospital(KOSUM).id
    # The next POST updates Kosum's own record (200), still nothing of Kud Rang's.
    again = kosum.post("Patient", claim(somsri.id_value, given="ชื่อปลอมสอง"))
    assert again.status_code == 200 and json.loads(again.data)["id"] == created["id"]
    assert "สมศรี" not in again.get_data(as_text=True)
    db.session.expire_all()
    assert own.given_name_th == "ชื่อปลอมสอง"
    assert snapshot(somsri) == before
    # Kud Rang still sees its own record; Kosum's search by the ID finds only its own.
    mine = json.loads(kudrang.get(f"Patient/{somsri.id}").data)
    assert mine["name"][0]["given"] == ["สมศรี"]
    found = json.loads(kosum.get(f"Patient?identifier={CID}|{somsri.id_value}").data)
    assert [e["resource"]["id"] for e in found["entry"]] == [created["id"]]


def test_an_order_naming_another_hospitals_patient_by_id_finds_nothing(kosum, db):
    somsri = patient_named("สมศรี")
    body = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"concept": {"coding": [{"code": "US-UPABD"}]}},
        "subject": {"identifier": {"system": CID, "value": somsri.id_value}},
    }
    assert outcome(kosum.post("ServiceRequest", body), 422)[3] == "reference-not-found"
    assert db.session.scalar(select(func.count(ImagingRequest.id))) == 0
    assert hospital(KUDRANG).id == somsri.hospital_id


def test_an_imaging_study_naming_another_patient_is_not_linked(hub, scheduled_study, db):
    from scheduling.models import Study

    request_id, appointment, body = scheduled_study
    boonlert = patient_named("บุญเลิศ")
    body["subject"] = {"identifier": {"system": CID, "value": boonlert.id_value}}
    assert outcome(hub.post("ImagingStudy", body), 409)[3] == "patient-mismatch"
    assert db.session.scalar(select(func.count(Study.id))) == 0
    somsri = patient_named("สมศรี")
    body["subject"] = {"identifier": {"system": CID, "value": somsri.id_value}}
    assert hub.post("ImagingStudy", body).status_code == 201
    assert db.session.scalar(select(func.count(Study.id))) == 1


@pytest.fixture
def scheduled_study(scheduled):  # noqa: F811
    from tests.integrations.fhir.test_writes import study_body

    request_id, appointment = scheduled
    body = study_body(appointment.study_instance_uid, accession=appointment.accession_number)
    return request_id, appointment, body
