"""Creates through the scheduling operations: orders, bookings, studies and reports."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest
from sqlalchemy import func, select

from integrations.fhir import systems
from scheduling.audit import Actor
from scheduling.clock import utcnow
from scheduling.i18n import translate
from scheduling.models import (
    AppointmentStatus,
    AuditEvent,
    ImagingRequest,
    Interface,
    Patient,
    Priority,
    RequestStatus,
    Study,
    StudySource,
)
from scheduling.patients import national_id_check_digit
from scheduling.studies import link_study
from tests.integrations.fhir.conftest import (
    KUDRANG,
    MKH,
    hospital,
    ids,
    make_request,
    outcome,
    parsed,
    patient_named,
)

CID = "https://terms.sil-th.org/id/th-cid"
KR_HN = "https://terms.sil-th.org/hcode/5/11008/HN"
KR_PLACER = "https://terms.sil-th.org/hcode/5/11008/PlacerOrder"
NEW_CID = "110170099001" + national_id_check_digit("110170099001")


def new_patient(hn: str = "KR0100", cid: str = NEW_CID) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": CID, "value": cid}, {"system": KR_HN, "value": hn}],
        "name": [{"use": "official", "prefix": ["นาย"], "given": ["สมชาย"], "family": "ใจดี"}],
        "gender": "male",
        "birthDate": "1980-05-01",
        "telecom": [{"system": "phone", "value": "0812345678"}],
    }


def order(patient_ref: dict, placer: str = "KR-100", code: str = "US-UPABD", **extra) -> dict:
    body = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": KR_PLACER, "value": placer}],
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {"concept": {"coding": [{"system": systems.procedure_system(), "code": code}]}},
        "subject": patient_ref,
        "requester": {"display": "นพ.สมศักดิ์ รักษา"},
        "performer": [{"identifier": {"system": systems.TH_HCODE, "value": MKH}}],
        "reason": [
            {
                "concept": {
                    "coding": [{"system": systems.ICD10, "code": "R10.1"}],
                    "text": "ปวดท้องด้านขวาบน 2 สัปดาห์",
                }
            }
        ],
    }
    body.update(extra)
    return body


def events(db, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


# -- Patient ------------------------------------------------------------------------------


def test_create_patient(kudrang, kosum, db):
    response = kudrang.post("Patient", new_patient())
    patient = parsed(response, 201)
    assert response.headers["Location"].endswith(f"/fhir/Patient/{patient.id}")
    assert patient.identifier[0].value == NEW_CID
    assert patient.identifier[1].system == KR_HN and patient.identifier[1].value == "KR0100"
    assert patient.name[0].text == "นายสมชาย ใจดี"
    row = db.session.get(Patient, int(patient.id))
    assert row.prefix == "MR" and row.given_name_en  # romanised by the domain
    event = events(db, "patient.register")[-1]
    assert event.interface is Interface.FHIR and event.actor == "fhir:demo-his-kudrang"
    assert outcome(kosum.get(f"Patient/{patient.id}"), 404)[3] == "not-found"


def test_create_patient_conditionally(kudrang):
    first = parsed(kudrang.post("Patient", new_patient()), 201)
    again = kudrang.post(
        "Patient", new_patient(), headers={"If-None-Exist": f"identifier={CID}|{NEW_CID}"}
    )
    assert parsed(again, 200).id == first.id


def test_create_patient_errors(kudrang):
    bad_cid = new_patient(cid="1101700990010" if NEW_CID[-1] != "0" else "1101700990011")
    code, thai, english, error = outcome(kudrang.post("Patient", bad_cid), 422)
    assert (code, error) == ("business-rule", "cid-checksum")
    assert english == "Invalid national ID: the check digit does not match"
    assert thai == translate(english, "th") and thai.startswith("เลขบัตรประชาชน")
    no_id = new_patient()
    no_id["identifier"] = no_id["identifier"][1:]
    assert outcome(kudrang.post("Patient", no_id), 422)[3] == "patient-identifier"
    foreign = new_patient()
    foreign["identifier"][1]["system"] = "https://terms.sil-th.org/hcode/5/11005/HN"
    assert outcome(kudrang.post("Patient", foreign), 422)[3] == "foreign-hn"
    nameless = new_patient()
    del nameless["name"]
    assert outcome(kudrang.post("Patient", nameless), 422)[3] == "required"


# -- ServiceRequest -----------------------------------------------------------------------


def test_create_service_request(kudrang, hub, db):
    somsri = patient_named("สมศรี")
    response = kudrang.post("ServiceRequest", order({"reference": f"Patient/{somsri.id}"}))
    sr = parsed(response, 201)
    row = db.session.get(ImagingRequest, int(sr.id))
    assert row.status is RequestStatus.SUBMITTED and row.placer_order_number == "KR-100"
    assert row.requesting_hospital_id == hospital(KUDRANG).id
    assert row.hub_hospital_id == hospital(MKH).id
    assert (row.priority, row.icd10_code) == (Priority.URGENT, "R10.1")
    assert row.indication == "ปวดท้องด้านขวาบน 2 สัปดาห์"
    assert row.requesting_clinician == "นพ.สมศักดิ์ รักษา"
    assert sr.identifier[0].value == "KR-100" and sr.status == "active"
    event = events(db, "request.create")[-1]
    assert event.interface is Interface.FHIR and event.entity_id == row.id
    # the hub's PACS sees the new order addressed to it
    assert ids(parsed(hub.get("ServiceRequest?identifier=KR-100"))) == [sr.id]


def test_service_request_duplicates_and_conditional_create(kudrang):
    somsri = {"reference": f"Patient/{patient_named('สมศรี').id}"}
    first = parsed(kudrang.post("ServiceRequest", order(somsri)), 201)
    code, thai, english, error = outcome(kudrang.post("ServiceRequest", order(somsri)), 409)
    assert (code, error) == ("conflict", "duplicate-order")
    assert "KR-100" in thai and "KR-100" in english
    again = kudrang.post(
        "ServiceRequest", order(somsri), headers={"If-None-Exist": f"identifier={KR_PLACER}|KR-100"}
    )
    assert parsed(again, 200).id == first.id


def test_service_request_for_a_patient_by_identifier_or_contained(kudrang, db):
    somsri = patient_named("สมศรี")
    by_cid = order({"identifier": {"system": CID, "value": somsri.id_value}}, placer="KR-101")
    assert parsed(kudrang.post("ServiceRequest", by_cid), 201).subject.reference == (
        f"Patient/{somsri.id}"
    )
    by_hn = order({"identifier": {"system": KR_HN, "value": "KR0002"}}, placer="KR-102")
    assert parsed(kudrang.post("ServiceRequest", by_hn), 201).subject.reference == (
        f"Patient/{patient_named('บุญเลิศ').id}"
    )
    contained = order(
        {"reference": "#p1"}, placer="KR-103", contained=[{**new_patient(), "id": "p1"}]
    )
    sr = parsed(kudrang.post("ServiceRequest", contained), 201)
    patient = db.session.scalar(select(Patient).where(Patient.id_value == NEW_CID))
    assert sr.subject.reference == f"Patient/{patient.id}"
    assert patient.hn_at(hospital(KUDRANG).id) == "KR0100"


def test_service_request_errors(kudrang):
    somsri = {"reference": f"Patient/{patient_named('สมศรี').id}"}
    kosum_patient = {"reference": f"Patient/{patient_named('ประเสริฐ').id}"}
    assert outcome(kudrang.post("ServiceRequest", order(kosum_patient)), 422)[3] == (
        "reference-not-found"
    )
    assert (
        outcome(kudrang.post("ServiceRequest", order({"reference": "Patient/99999"})), 422)[3]
        == "reference-not-found"
    )
    assert outcome(kudrang.post("ServiceRequest", order(somsri, code="XX-NOPE")), 422)[3] == (
        "unknown-procedure"
    )
    assert (
        outcome(kudrang.post("ServiceRequest", order(somsri, status="completed")), 422)[3]
        == "status"
    )
    not_hub = order(
        somsri, performer=[{"identifier": {"system": systems.TH_HCODE, "value": "11005"}}]
    )
    assert outcome(kudrang.post("ServiceRequest", not_hub), 422)[3] == "not-a-hub"
    foreign = order(somsri)
    foreign["identifier"][0]["system"] = "https://terms.sil-th.org/hcode/5/11005/PlacerOrder"
    assert outcome(kudrang.post("ServiceRequest", foreign), 422)[3] == "foreign-placer"
    no_subject = order(somsri)
    del no_subject["subject"]
    assert outcome(kudrang.post("ServiceRequest", no_subject), 400)[3] == "invalid-resource"


# -- Slot and Appointment -------------------------------------------------------------------


def free_slots(client, code: str = "US-UPABD", extra: str = "") -> list:
    return [
        e.resource
        for e in parsed(client.get(f"Slot?service-type={code}&status=free&_count=5{extra}")).entry
        or []
    ]


def test_slot_search_and_read(kudrang, db):
    slots = free_slots(kudrang)
    assert len(slots) == 5
    assert all(s.status == "free" and s.start > utcnow() for s in slots)
    assert [s.start for s in slots] == sorted(s.start for s in slots)
    first = slots[0]
    assert first.id.startswith("slot-") and first.schedule.reference.startswith("Schedule/")
    assert first.serviceType[0].concept.coding[0].code == "US-UPABD"
    read = parsed(kudrang.get(f"Slot/{first.id}"))
    assert (read.status, read.start, read.end) == ("free", first.start, first.end)
    # narrowed to one scanner, and to a later day
    device = first.schedule.reference
    assert {s.schedule.reference for s in free_slots(kudrang, extra=f"&schedule={device}")} == {
        device
    }
    later = slots[-1].start.date().isoformat()
    assert all(
        s.start.date().isoformat() >= later for s in free_slots(kudrang, extra=f"&start=ge{later}")
    )
    assert free_slots(kudrang, code="XX-NOPE") == []
    assert parsed(kudrang.get("Slot?service-type=US-UPABD&status=busy")).entry is None
    assert outcome(kudrang.get("Slot?status=free"), 400)[3] == "service-type-required"
    assert outcome(kudrang.get("Slot/slot-1-2-3-4"), 404)[0] == "not-found"


def booking(slot_id: str, request_id: int | str, patient_id: int | None = None) -> dict:
    body: dict = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "basedOn": [{"reference": f"ServiceRequest/{request_id}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}]
        if patient_id
        else [{"status": "accepted", "actor": {"display": "ผู้ป่วย"}}],
    }
    return body


def test_book_a_free_slot_then_the_slot_is_taken(kudrang, db):
    somsri, boonlert = patient_named("สมศรี"), patient_named("บุญเลิศ")
    first = parsed(
        kudrang.post("ServiceRequest", order({"reference": f"Patient/{somsri.id}"})), 201
    )
    second = parsed(
        kudrang.post(
            "ServiceRequest", order({"reference": f"Patient/{boonlert.id}"}, placer="KR-200")
        ),
        201,
    )
    slot = free_slots(kudrang)[0]

    response = kudrang.post("Appointment", booking(slot.id, first.id, somsri.id))
    appointment = parsed(response, 201)
    assert appointment.status == "booked" and appointment.start == slot.start
    assert appointment.slot[0].reference == f"Slot/{slot.id}"
    assert response.headers["Location"].endswith(f"/fhir/Appointment/{appointment.id}")
    event = events(db, "appointment.book")[-1]
    assert event.interface is Interface.FHIR
    sr = parsed(kudrang.get(f"ServiceRequest/{first.id}"))
    assert sr.extension[0].valueCode == "scheduled"
    assert sr.identifier[1].system == systems.accession_system(MKH)
    assert parsed(kudrang.get(f"Slot/{slot.id}")).status == "busy"

    code, thai, english, error = outcome(
        kudrang.post("Appointment", booking(slot.id, second.id, boonlert.id)), 409
    )
    assert (code, error) == ("conflict", "slot-taken")
    assert thai == "ขออภัย ช่วงเวลานี้เพิ่งถูกจองไปแล้ว กรุณาเลือกเวลาอื่น"
    assert english.startswith("Sorry, this slot has just been taken")
    # the failed booking left nothing behind
    assert db.session.get(ImagingRequest, int(second.id)).status is RequestStatus.SUBMITTED


def test_booking_errors(kudrang, kosum, network, now):
    somsri = patient_named("สมศรี")
    request = parsed(
        kudrang.post("ServiceRequest", order({"reference": f"Patient/{somsri.id}"})), 201
    )
    slot = free_slots(kudrang)[0]
    assert outcome(kosum.post("Appointment", booking(slot.id, request.id)), 422)[3] == (
        "reference-not-found"
    )
    ct_slot = free_slots(kudrang, code="CT-BRAIN")[0]
    assert outcome(kudrang.post("Appointment", booking(ct_slot.id, request.id)), 422)[3] == (
        "slot-procedure"
    )
    other_patient = patient_named("บุญเลิศ").id
    assert (
        outcome(kudrang.post("Appointment", booking(slot.id, request.id, other_patient)), 422)[3]
        == "patient-mismatch"
    )
    assert outcome(kudrang.post("Appointment", booking("slot-x", request.id)), 422)[3] == (
        "unknown-slot"
    )
    no_request = booking(slot.id, request.id)
    del no_request["basedOn"]
    assert outcome(kudrang.post("Appointment", no_request), 422)[3] == "no-request"
    assert (
        outcome(
            kudrang.post("Appointment", {**booking(slot.id, request.id), "status": "fulfilled"}),
            422,
        )[3]
        == "status"
    )


# -- ImagingStudy and DiagnosticReport: linking is one thing ----------------------------------


@pytest.fixture
def scheduled(kudrang, db):
    """A Kud Rang order booked through FHIR: (request id, appointment row)."""
    somsri = patient_named("สมศรี")
    sr = parsed(kudrang.post("ServiceRequest", order({"reference": f"Patient/{somsri.id}"})), 201)
    slot = free_slots(kudrang)[0]
    parsed(kudrang.post("Appointment", booking(slot.id, sr.id, somsri.id)), 201)
    request = db.session.get(ImagingRequest, int(sr.id))
    return request.id, request.current_appointment


def study_body(
    uid: str,
    *,
    based_on: dict | None = None,
    accession: str | None = None,
    status: str = "available",
) -> dict:
    body: dict = {
        "resourceType": "ImagingStudy",
        "status": status,
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
        "subject": {"display": "ผู้ป่วย"},
        "numberOfSeries": 2,
        "numberOfInstances": 64,
        "extension": [
            {
                "url": systems.viewer_url_extension(),
                "valueUrl": "https://pacs.example/viewer?study=" + uid,
            }
        ],
    }
    if accession:
        body["identifier"].append(
            {"type": {"coding": [{"system": systems.V2_0203, "code": "ACSN"}]}, "value": accession}
        )
    if based_on:
        body["basedOn"] = [based_on]
    return body


def test_imaging_study_by_reference_then_confirmed_by_hl7(hub, scheduled, db):
    request_id, appointment = scheduled
    uid = appointment.study_instance_uid
    response = hub.post(
        "ImagingStudy", study_body(uid, based_on={"reference": f"ServiceRequest/{request_id}"})
    )
    study = parsed(response, 201)
    assert study.basedOn[0].reference == f"ServiceRequest/{request_id}"
    assert study.status == "available" and study.numberOfInstances == 64
    row = db.session.get(Study, int(study.id))
    assert row.first_source is StudySource.FHIR and row.images_in_pacs_at is not None
    assert row.appointment_id == appointment.id and row.accession_number == (
        appointment.accession_number
    )
    # the HL7 ORU for the same exam only confirms it: one study, both sources
    hl7 = Actor(interface=Interface.HL7, name="PACS_MKH", hospital_id=hospital(MKH).id)
    link_study(
        hl7,
        utcnow(),
        source=StudySource.HL7,
        study_instance_uid=uid,
        accession_number=appointment.accession_number,
    )
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Study.id))) == 1
    assert db.session.get(Study, int(study.id)).confirmed_by == "fhir,hl7"
    assert len(parsed(hub.get(f"ImagingStudy?based-on=ServiceRequest/{request_id}")).entry) == 1


def test_imaging_study_after_hl7_only_confirms(hub, scheduled, db):
    request_id, appointment = scheduled
    uid = "1.2.840.113619.2.55.3.99"
    hl7 = Actor(interface=Interface.HL7, name="PACS_MKH", hospital_id=hospital(MKH).id)
    link_study(
        hl7,
        utcnow(),
        source=StudySource.HL7,
        study_instance_uid=uid,
        accession_number=appointment.accession_number,
    )
    response = hub.post("ImagingStudy", study_body(uid, accession=appointment.accession_number))
    study = parsed(response, 200)  # confirmed, not created
    row = db.session.get(Study, int(study.id))
    assert row.request_id == request_id and row.first_source is StudySource.HL7
    assert row.confirmed_by == "hl7,fhir" and row.series_count == 2
    assert db.session.scalar(select(func.count(Study.id))) == 1
    events_ = [e.action for e in events(db, "study.confirm")]
    assert events_ == ["study.confirm"]


def test_imaging_study_by_accession_identifier(kudrang, scheduled, db):
    request_id, appointment = scheduled
    body = study_body(
        "1.2.3.4.5",
        based_on={
            "identifier": {
                "system": systems.accession_system(MKH),
                "value": appointment.accession_number,
            }
        },
    )
    study = parsed(kudrang.post("ImagingStudy", body), 201)
    assert study.basedOn[0].reference == f"ServiceRequest/{request_id}"


def test_imaging_study_errors(kudrang, kosum, scheduled):
    request_id, appointment = scheduled
    assert outcome(
        kosum.post(
            "ImagingStudy",
            study_body("1.2.3", based_on={"reference": f"ServiceRequest/{request_id}"}),
        ),
        422,
    )[3] == ("reference-not-found")
    assert (
        outcome(
            kosum.post("ImagingStudy", study_body("1.2.3", accession=appointment.accession_number)),
            422,
        )[3]
        == "no-request"
    )
    no_uid = study_body("1.2.3", based_on={"reference": f"ServiceRequest/{request_id}"})
    no_uid["identifier"] = []
    del no_uid["identifier"]
    assert outcome(kudrang.post("ImagingStudy", no_uid), 422)[3] == "required"
    assert outcome(
        kudrang.post(
            "ImagingStudy", study_body("1.2.3", based_on={"reference": "ServiceRequest/99999"})
        ),
        422,
    )[3] == ("reference-not-found")
    # Kosum cannot re-point (or rewrite) Kud Rang's study from one of its own requests
    parsed(
        kudrang.post(
            "ImagingStudy",
            study_body(
                appointment.study_instance_uid,
                based_on={"reference": f"ServiceRequest/{request_id}"},
            ),
        ),
        201,
    )
    theirs = make_request(
        utcnow(), patient=patient_named("ประเสริฐ"), requester="11005", placer="KS-1"
    )
    assert (
        outcome(
            kosum.post(
                "ImagingStudy",
                study_body(
                    appointment.study_instance_uid,
                    based_on={"reference": f"ServiceRequest/{theirs.id}"},
                ),
            ),
            409,
        )[3]
        == "study-elsewhere"
    )


def report_body(text: str, **links) -> dict:
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"coding": [{"system": systems.LOINC, "code": "18748-4"}]},
        "issued": "2026-11-25T14:30:00+07:00",
        "resultsInterpreter": [{"display": "นพ.วีระ รักษ์ภาพ"}],
        "presentedForm": [
            {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(text.encode()).decode(),
            }
        ],
        **links,
    }


def test_diagnostic_report_attaches_to_the_request(hub, kudrang, scheduled, db):
    request_id, appointment = scheduled
    text = "ตับขนาดปกติ ไม่พบก้อน ถุงน้ำดีไม่มีนิ่ว"
    response = hub.post(
        "DiagnosticReport",
        report_body(
            text,
            basedOn=[
                {
                    "identifier": {
                        "type": {"coding": [{"system": systems.V2_0203, "code": "ACSN"}]},
                        "value": appointment.accession_number,
                    }
                }
            ],
        ),
    )
    report = parsed(response, 201)
    assert report.id == str(request_id) and report.conclusion == text
    row = db.session.get(ImagingRequest, request_id)
    assert row.report_text == text and row.reported_by == "นพ.วีระ รักษ์ภาพ"
    assert row.reported_at == datetime.fromisoformat("2026-11-25T14:30:00+07:00")
    assert events(db, "request.report")[-1].interface is Interface.FHIR
    # a final report from the hub completes the exam, as an HL7 ORC-5 CM would
    db.session.expire_all()
    assert row.status is RequestStatus.COMPLETED
    assert row.current_appointment.status is AppointmentStatus.COMPLETED
    assert [
        e.action
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.startswith("appointment."))
            .order_by(AuditEvent.id)
        )
    ] == ["appointment.book", "appointment.start", "appointment.complete"]
    # the requesting hospital reads it back
    assert parsed(kudrang.get(f"DiagnosticReport/{request_id}")).conclusion == text
    # an amendment through the study reference replaces the text
    study = parsed(
        hub.post(
            "ImagingStudy",
            study_body(appointment.study_instance_uid, accession=appointment.accession_number),
        ),
        201,
    )
    amended = report_body(
        "แก้ไข: ตับขนาดปกติ", status="amended", study=[{"reference": f"ImagingStudy/{study.id}"}]
    )
    assert parsed(hub.post("DiagnosticReport", amended), 201).conclusion == "แก้ไข: ตับขนาดปกติ"
    assert [e.action for e in events(db, "request.report_amend")] == ["request.report_amend"]


def test_diagnostic_report_errors(hub, kosum, scheduled):
    request_id, _appointment = scheduled
    based_on = {"basedOn": [{"reference": f"ServiceRequest/{request_id}"}]}
    assert outcome(kosum.post("DiagnosticReport", report_body("x", **based_on)), 422)[3] == (
        "reference-not-found"
    )
    empty = report_body("", **based_on)
    assert outcome(hub.post("DiagnosticReport", empty), 422)[3] == "no-report-text"
    assert (
        outcome(
            hub.post("DiagnosticReport", {**report_body("x", **based_on), "status": "registered"}),
            422,
        )[3]
        == "status"
    )
    assert outcome(hub.post("DiagnosticReport", report_body("x")), 422)[3] == "no-request"


def test_request_made_by_models_can_be_booked(kudrang, network, now):
    request = make_request(utcnow(), patient=patient_named("กัญญารัตน์"), placer="KR-7")
    slot = free_slots(kudrang)[0]
    assert parsed(kudrang.post("Appointment", booking(slot.id, request.id)), 201).status == (
        "booked"
    )


def test_every_radbook_status_has_a_fhir_status():
    from integrations.fhir.mappers import APPOINTMENT_STATUS, REQUEST_STATUS
    from scheduling.models import AppointmentStatus

    assert set(APPOINTMENT_STATUS) == set(AppointmentStatus)
    assert set(REQUEST_STATUS) == set(RequestStatus)


def test_reschedule_and_cancel_show_in_fhir(kudrang, scheduled, db):
    from scheduling.booking import cancel_appointment, reschedule
    from scheduling.models import Device

    request_id, first = scheduled
    actor = Actor(interface=Interface.WEB, name="test", hospital_id=first.hub_hospital_id)
    # Another time on the same scanner (the network's first free slots are all 08:30).
    same_device = free_slots(kudrang, extra=f"&schedule=Schedule/{first.device_id}")
    later = next(s for s in same_device if s.start != first.start_at)
    device = db.session.get(Device, int(later.schedule.reference.split("/")[1]))
    moved_to = reschedule(actor, utcnow(), first, device, later.start, reason="เครื่องเสีย")
    old = parsed(kudrang.get(f"Appointment/{first.id}"))
    assert old.status == "cancelled" and old.cancellationReason.text
    new = parsed(kudrang.get(f"Appointment/{moved_to.id}"))
    assert new.status == "booked" and new.previousAppointment.reference == (
        f"Appointment/{first.id}"
    )
    assert ids(parsed(kudrang.get(f"Appointment?based-on={request_id}&status=booked"))) == [
        str(moved_to.id)
    ]
    cancel_appointment(actor, utcnow(), moved_to, "ผู้ป่วยขอยกเลิก")
    cancelled = parsed(kudrang.get(f"Appointment/{moved_to.id}"))
    assert cancelled.status == "cancelled"
    assert cancelled.cancellationReason.text == "ผู้ป่วยขอยกเลิก"
    sr = parsed(kudrang.get(f"ServiceRequest/{request_id}"))
    assert sr.extension[0].valueCode == "accepted" and sr.occurrencePeriod is None


def test_draft_order_stays_unsubmitted(kudrang, db):
    somsri = {"reference": f"Patient/{patient_named('สมศรี').id}"}
    sr = parsed(kudrang.post("ServiceRequest", order(somsri, status="draft", priority="asap")), 201)
    row = db.session.get(ImagingRequest, int(sr.id))
    assert row.status is RequestStatus.DRAFT and row.submitted_at is None
    assert row.priority is Priority.URGENT  # FHIR asap is RadBook's urgent
    assert sr.status == "draft" and sr.priority == "urgent"
