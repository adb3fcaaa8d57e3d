"""Read and search for every resource type, and each client's hospital scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from integrations.fhir import systems
from scheduling.models import AuditEvent, Device, Interface, RequestStatus, User
from tests.integrations.fhir.conftest import (
    KOSUM,
    KUDRANG,
    MKH,
    hospital,
    ids,
    make_appointment,
    make_request,
    make_study,
    outcome,
    parsed,
    patient_named,
)

CID = "https://terms.sil-th.org/id/th-cid"


@pytest.fixture
def booked(network, now):
    """Kud Rang's request for สมศรี, booked on MKH_US1, with its study linked."""
    request = make_request(
        now, patient=patient_named("สมศรี"), icd10_code="R10.1", requesting_clinician="นพ.ทดสอบ ใจดี"
    )
    appointment = make_appointment(now, request)
    study = make_study(
        now,
        appointment,
        series_count=3,
        instance_count=120,
        images_in_pacs_at=now,
        viewer_url="https://pacs.example/viewer?s=1",
    )
    return request, appointment, study


# -- Organization, Practitioner, Device, Schedule ------------------------------------------


def test_organization_read_and_search(kudrang):
    kud = hospital(KUDRANG)
    org = parsed(kudrang.get(f"Organization/{kud.id}"))
    assert org.identifier[0].system == "https://terms.sil-th.org/id/th-moph-hcode"
    assert org.identifier[0].value == "11008"
    assert org.name == "โรงพยาบาลกุดรัง" and org.alias == ["Kut Rang Hospital"]
    bundle = parsed(
        kudrang.get("Organization?identifier=https://terms.sil-th.org/id/th-moph-hcode|10707")
    )
    assert bundle.total == 1 and bundle.entry[0].resource.name == "โรงพยาบาลมหาสารคาม"
    assert (
        parsed(kudrang.get("Organization?name=Kosum")).entry[0].resource.identifier[0].value
        == KOSUM
    )
    assert parsed(kudrang.get("Organization?identifier=http://other|10707")).total == 0
    assert outcome(kudrang.get("Organization/99999"), 404)[0] == "not-found"
    assert outcome(kudrang.get("Organization/abc"), 404)[0] == "not-found"


def test_practitioners_are_the_radiologists(kudrang, db):
    bundle = parsed(kudrang.get("Practitioner"))
    radiologist = db.session.scalar(select(User).where(User.username == "radiologist.mkh"))
    assert ids(bundle) == [str(radiologist.id)]
    assert bundle.entry[0].resource.name[0].text.startswith("นพ.วีระ")
    scheduler = db.session.scalar(select(User).where(User.username == "scheduler.mkh"))
    assert outcome(kudrang.get(f"Practitioner/{scheduler.id}"), 404)[0] == "not-found"


def test_device_and_schedule(kudrang, db):
    us1 = db.session.scalar(select(Device).where(Device.ae_title == "MKH_US1"))
    device = parsed(kudrang.get(f"Device/{us1.id}"))
    assert device.identifier[0].value == "MKH_US1"
    assert device.owner.reference == f"Organization/{hospital(MKH).id}"
    assert ids(parsed(kudrang.get("Device?identifier=MKH_US1"))) == [str(us1.id)]
    mkh_devices = parsed(
        kudrang.get(f"Device?organization=Organization/{hospital(MKH).id}&type=US")
    )
    assert {e.resource.identifier[0].value for e in mkh_devices.entry} == {"MKH_US1", "MKH_US2"}

    schedule = parsed(kudrang.get(f"Schedule/{us1.id}"))
    assert schedule.actor[0].reference == f"Device/{us1.id}"
    codes = {c.concept.coding[0].code for c in schedule.serviceType}
    assert "US-UPABD" in codes and not any(code.startswith("CT") for code in codes)
    by_service = parsed(kudrang.get("Schedule?service-type=US-UPABD&_count=200"))
    # every ultrasound of the demo network: Mahasarakham's and Region 7's other hubs'
    assert {e.resource.identifier[0].value for e in by_service.entry} == {
        "MKH_US1",
        "MKH_US2",
        "KKH_US1",
        "KKH_US2",
        "RET_US1",
        "KSN_US1",
    }
    assert ids(parsed(kudrang.get(f"Schedule?actor=Device/{us1.id}"))) == [str(us1.id)]


# -- Patient and scope ----------------------------------------------------------------------


def test_patient_read_shows_cid_hn_and_thai_name(kudrang):
    somsri = patient_named("สมศรี")
    patient = parsed(kudrang.get(f"Patient/{somsri.id}"))
    assert patient.identifier[0].system == CID and patient.identifier[0].value == somsri.id_value
    hn = patient.identifier[1]
    assert hn.system == "https://terms.sil-th.org/hcode/5/11008/HN" and hn.value == "KR0001"
    thai = patient.name[0]
    assert thai.text == "นางสมศรี ทองดี" and thai.given == ["สมศรี"] and thai.prefix == ["นาง"]
    assert patient.gender == "female" and str(patient.birthDate) == "1968-03-14"


def test_kudrang_cannot_read_kosum_patient(kudrang, db):
    kosum_patient = patient_named("ประเสริฐ")
    # Answered as if it did not exist: the id must not confirm that the row is there.
    code, thai, english, error = outcome(kudrang.get(f"Patient/{kosum_patient.id}"), 404)
    assert (code, error) == ("not-found", "not-found")
    assert english == f"Patient/{kosum_patient.id} was not found"
    missing = outcome(kudrang.get("Patient/987654"), 404)
    assert (missing[0], missing[3]) == (code, error)
    assert missing[1] == thai.replace(str(kosum_patient.id), "987654")
    denied = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "fhir.denied"))
    assert denied.actor == "fhir:demo-his-kudrang" and denied.interface is Interface.FHIR
    # nor find it by its national ID
    found = parsed(kudrang.get(f"Patient?identifier={CID}|{kosum_patient.id_value}"))
    assert found.total == 0


def test_patient_search(kudrang, kosum):
    everyone = parsed(kudrang.get("Patient"))
    assert {e.resource.name[0].given[0] for e in everyone.entry} == {"สมศรี", "บุญเลิศ", "กัญญารัตน์"}
    somsri = patient_named("สมศรี")
    assert ids(parsed(kudrang.get(f"Patient?identifier={somsri.id_value}"))) == [str(somsri.id)]
    assert ids(
        parsed(kudrang.get("Patient?identifier=https://terms.sil-th.org/hcode/5/11008/HN|KR0001"))
    ) == [str(somsri.id)]
    assert ids(parsed(kudrang.get("Patient?identifier=KR0001"))) == [str(somsri.id)]
    assert ids(parsed(kudrang.get("Patient?name=ทองดี"))) == [str(somsri.id)]
    assert ids(parsed(kudrang.get("Patient?birthdate=1968-03-14"))) == [str(somsri.id)]
    assert ids(parsed(kudrang.get("Patient?birthdate=1968"))) == [str(somsri.id)]
    assert len(ids(parsed(kudrang.get("Patient?birthdate=lt1970-01-01")))) == 2
    assert len(ids(parsed(kudrang.get("Patient?gender=male")))) == 1
    assert len(ids(parsed(kosum.get("Patient")))) == 3
    assert "สมศรี" not in kosum.get("Patient?name=สมศรี").get_data(as_text=True)


def test_hub_sees_patients_of_requests_addressed_to_it(hub, network, now):
    somsri = patient_named("สมศรี")
    assert outcome(hub.get(f"Patient/{somsri.id}"), 404)[3] == "not-found"
    make_request(now, patient=somsri)
    patient = parsed(hub.get(f"Patient/{somsri.id}"))
    # the hub sees Kud Rang's HN? No: only its own and the hubs' HNs.
    assert [i.system for i in patient.identifier] == [CID]


def test_paging(kudrang):
    first = parsed(kudrang.get("Patient?_count=2"))
    assert first.total == 3 and len(first.entry) == 2
    next_url = next(link.url for link in first.link if link.relation == "next")
    second = parsed(kudrang.client.get(next_url, headers=kudrang.headers()))
    assert len(second.entry) == 1
    assert not [link for link in second.link if link.relation == "next"]
    assert set(ids(first)) | set(ids(second)) == set(ids(parsed(kudrang.get("Patient"))))


# -- ServiceRequest -------------------------------------------------------------------


def test_service_request_read(kudrang, booked):
    request, appointment, _study = booked
    sr = parsed(kudrang.get(f"ServiceRequest/{request.id}"))
    placer, accession = sr.identifier
    assert placer.system == "https://terms.sil-th.org/hcode/5/11008/PlacerOrder"
    assert placer.value == "KR-1" and placer.type.coding[0].code == "PLAC"
    assert accession.system == "https://terms.sil-th.org/hcode/5/10707/Accession"
    assert accession.value == "MKH0001"
    assert sr.status == "active" and sr.intent == "order"
    assert sr.extension[0].valueCode == "scheduled"
    assert sr.code.concept.coding[0].code == "US-UPABD"
    assert sr.subject.reference == f"Patient/{request.patient_id}"
    assert sr.performer[0].reference == f"Organization/{hospital(MKH).id}"
    assert sr.requester.display == "นพ.ทดสอบ ใจดี"
    assert sr.reason[0].concept.coding[0].code == "R10.1"
    assert sr.reason[0].concept.text == "ปวดท้องด้านขวาบน"
    assert (
        sr.occurrencePeriod.start.isoformat()
        == appointment.start_at.astimezone(sr.occurrencePeriod.start.tzinfo).isoformat()
    )
    assert sr.occurrencePeriod.start.utcoffset() == timedelta(hours=7)


def test_service_request_scope(kudrang, kosum, hub, booked, network, now):
    request = booked[0]
    assert outcome(kosum.get(f"ServiceRequest/{request.id}"), 404)[3] == "not-found"
    assert parsed(kosum.get("ServiceRequest")).total == 0
    assert ids(parsed(hub.get("ServiceRequest"))) == [str(request.id)]
    # a request Kud Rang addresses elsewhere is not the Mahasarakham hub's business
    other = make_request(now, patient=patient_named("บุญเลิศ"), placer="KR-2", hub="10671")
    assert outcome(hub.get(f"ServiceRequest/{other.id}"), 404)[3] == "not-found"
    assert set(ids(parsed(kudrang.get("ServiceRequest")))) == {str(request.id), str(other.id)}


def test_service_request_search(kudrang, booked, now):
    request = booked[0]
    boonlert = patient_named("บุญเลิศ")
    cancelled = make_request(
        now - timedelta(days=10),
        patient=boonlert,
        placer="KR-9",
        procedure="CT-BRAIN",
        status=RequestStatus.CANCELLED,
    )
    me = [str(request.id)]
    assert ids(parsed(kudrang.get("ServiceRequest?identifier=KR-1"))) == me
    assert (
        ids(
            parsed(
                kudrang.get(
                    "ServiceRequest?identifier=https://terms.sil-th.org/hcode/5/11008/PlacerOrder|KR-1"
                )
            )
        )
        == me
    )
    assert (
        ids(
            parsed(
                kudrang.get(
                    "ServiceRequest?identifier=https://terms.sil-th.org/hcode/5/11005/PlacerOrder|KR-1"
                )
            )
        )
        == []
    )
    assert ids(parsed(kudrang.get("ServiceRequest?identifier=MKH0001"))) == me
    assert (
        ids(
            parsed(
                kudrang.get(
                    "ServiceRequest?identifier=https://terms.sil-th.org/hcode/5/10707/Accession|MKH0001"
                )
            )
        )
        == me
    )
    assert ids(parsed(kudrang.get(f"ServiceRequest?patient=Patient/{request.patient_id}"))) == me
    assert ids(parsed(kudrang.get(f"ServiceRequest?subject={boonlert.id}"))) == [str(cancelled.id)]
    assert ids(parsed(kudrang.get("ServiceRequest?status=active"))) == me
    assert ids(parsed(kudrang.get("ServiceRequest?status=revoked"))) == [str(cancelled.id)]
    assert ids(
        parsed(kudrang.get(f"ServiceRequest?status={systems.request_status_system()}|cancelled"))
    ) == [str(cancelled.id)]
    assert ids(parsed(kudrang.get("ServiceRequest?status=active,revoked&code=CT-BRAIN"))) == [
        str(cancelled.id)
    ]
    assert ids(parsed(kudrang.get(f"ServiceRequest?authored=ge{now.date().isoformat()}"))) == me
    assert ids(
        parsed(kudrang.get(f"ServiceRequest?performer=Organization/{hospital(MKH).id}&_count=10"))
    ) == sorted([str(request.id), str(cancelled.id)], key=int)
    assert ids(parsed(kudrang.get("ServiceRequest?priority=stat"))) == []


# -- Appointment, ImagingStudy, DiagnosticReport ----------------------------------------------


def test_appointment_read_and_search(kudrang, kosum, booked, db):
    request, appointment, _ = booked
    resource = parsed(kudrang.get(f"Appointment/{appointment.id}"))
    assert resource.status == "booked"
    assert resource.basedOn[0].reference == f"ServiceRequest/{request.id}"
    assert resource.slot[0].reference == (
        f"Slot/slot-{appointment.device_id}-{int(appointment.start_at.timestamp())}-"
        f"{request.procedure_id}"
    )
    actors = [p.actor.reference for p in resource.participant]
    assert actors == [f"Patient/{request.patient_id}", f"Device/{appointment.device_id}"]
    assert resource.identifier[0].value == "MKH0001"
    assert resource.identifier[1].value == "ABC001"
    assert resource.patientInstruction[0].concept.text  # the preparation, in Thai

    me = [str(appointment.id)]
    start = appointment.start_at.astimezone(resource.start.tzinfo)
    day = start.date().isoformat()
    assert ids(parsed(kudrang.get(f"Appointment?date={day}"))) == me
    assert ids(parsed(kudrang.get(f"Appointment?date=lt{day}"))) == []
    assert (
        ids(
            parsed(
                kudrang.get(
                    f"Appointment?date=ge{day}T00:00:00%2B07:00&date=lt{day}T23:59:00%2B07:00"
                )
            )
        )
        == me
    )
    assert ids(parsed(kudrang.get(f"Appointment?actor=Device/{appointment.device_id}"))) == me
    assert ids(parsed(kudrang.get(f"Appointment?actor=Patient/{request.patient_id}"))) == me
    assert ids(parsed(kudrang.get(f"Appointment?patient={request.patient_id}"))) == me
    assert ids(parsed(kudrang.get(f"Appointment?based-on=ServiceRequest/{request.id}"))) == me
    assert ids(parsed(kudrang.get("Appointment?service-type=US-UPABD"))) == me
    assert ids(parsed(kudrang.get("Appointment?service-type=CT-BRAIN"))) == []
    assert ids(parsed(kudrang.get("Appointment?status=booked"))) == me
    assert ids(parsed(kudrang.get("Appointment?status=cancelled"))) == []
    assert ids(parsed(kudrang.get("Appointment?identifier=MKH0001"))) == me
    assert (
        ids(
            parsed(
                kudrang.get(f"Appointment?identifier={systems.appointment_code_system()}|ABC001")
            )
        )
        == me
    )
    assert outcome(kosum.get(f"Appointment/{appointment.id}"), 404)[3] == "not-found"
    assert parsed(kosum.get("Appointment")).total == 0


def test_imaging_study_read_and_search(kudrang, kosum, booked):
    request, appointment, study = booked
    resource = parsed(kudrang.get(f"ImagingStudy/{study.id}"))
    assert resource.identifier[0].system == "urn:dicom:uid"
    assert resource.identifier[0].value == f"urn:oid:{study.study_instance_uid}"
    assert resource.identifier[1].value == "MKH0001"
    assert resource.status == "available"
    assert (resource.numberOfSeries, resource.numberOfInstances) == (3, 120)
    assert resource.basedOn[0].reference == f"ServiceRequest/{request.id}"
    assert resource.modality[0].coding[0].code == "US"
    urls = {e.url: e for e in resource.extension}
    assert urls[systems.viewer_url_extension()].valueUrl == "https://pacs.example/viewer?s=1"
    assert urls[systems.images_in_pacs_extension()].valueBoolean is True
    me = [str(study.id)]
    assert (
        ids(
            parsed(
                kudrang.get(
                    f"ImagingStudy?identifier=urn:dicom:uid|urn:oid:{study.study_instance_uid}"
                )
            )
        )
        == me
    )
    assert ids(parsed(kudrang.get("ImagingStudy?identifier=MKH0001"))) == me
    assert ids(parsed(kudrang.get(f"ImagingStudy?based-on=ServiceRequest/{request.id}"))) == me
    assert ids(parsed(kudrang.get(f"ImagingStudy?patient=Patient/{request.patient_id}"))) == me
    assert ids(parsed(kudrang.get("ImagingStudy?status=available&modality=US"))) == me
    assert ids(parsed(kudrang.get("ImagingStudy?status=registered"))) == []
    assert outcome(kosum.get(f"ImagingStudy/{study.id}"), 404)[3] == "not-found"


def test_diagnostic_report_only_once_reported(kudrang, kosum, booked, db):
    request = booked[0]
    assert outcome(kudrang.get(f"DiagnosticReport/{request.id}"), 404)[0] == "not-found"
    assert parsed(kudrang.get("DiagnosticReport")).total == 0
    request.report_text = "ตับปกติ ไม่พบนิ่วในถุงน้ำดี"
    request.reported_by = "นพ.วีระ รักษ์ภาพ"
    request.reported_at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    db.session.commit()
    report = parsed(kudrang.get(f"DiagnosticReport/{request.id}"))
    assert report.status == "final"
    assert report.conclusion == "ตับปกติ ไม่พบนิ่วในถุงน้ำดี"
    assert report.presentedForm[0].data.decode() == report.conclusion  # base64 on the wire
    assert report.resultsInterpreter[0].display == "นพ.วีระ รักษ์ภาพ"
    assert report.basedOn[0].reference == f"ServiceRequest/{request.id}"
    assert report.study[0].reference == f"ImagingStudy/{booked[2].id}"
    me = [str(request.id)]
    assert ids(parsed(kudrang.get(f"DiagnosticReport?based-on=ServiceRequest/{request.id}"))) == me
    assert ids(parsed(kudrang.get("DiagnosticReport?identifier=MKH0001&status=final"))) == me
    assert ids(parsed(kudrang.get("DiagnosticReport?date=2026-11-23"))) == me
    assert ids(parsed(kudrang.get("DiagnosticReport?status=preliminary"))) == []
    assert outcome(kosum.get(f"DiagnosticReport/{request.id}"), 404)[3] == "not-found"


def test_reads_and_searches_are_audited(kudrang, booked, db):
    request = booked[0]
    parsed(kudrang.get(f"ServiceRequest/{request.id}"))
    parsed(kudrang.get("Appointment?status=booked"))
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action.in_(["fhir.read", "fhir.search"]))
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.entity_type, e.entity_id) for e in events] == [
        ("fhir.read", "imaging_request", request.id),
        ("fhir.search", None, None),
    ]
    assert all(e.interface is Interface.FHIR for e in events)
    assert events[0].hospital_id == hospital(KUDRANG).id
    assert events[1].detail == {"resource": "Appointment", "query": "status=booked", "total": 1}


def test_organization_carries_address_coordinates_and_health_region(kudrang):
    org = parsed(kudrang.get(f"Organization/{hospital(KUDRANG).id}"))
    address = org.contact[0].address
    assert (address.district, address.state, address.country) == ("กุดรัง", "มหาสารคาม", "TH")
    (geo,) = [e for e in address.extension if e.url == systems.GEOLOCATION_EXT]
    where = {e.url: float(e.valueDecimal) for e in geo.extension}
    assert where == {"latitude": 16.0466, "longitude": 102.9656}
    (region,) = [e for e in org.extension if e.url == systems.health_region_ext()]
    assert region.valueCoding.system == systems.health_region_system()
    assert (region.valueCoding.code, region.valueCoding.display) == ("7", "เขตสุขภาพที่ 7")
    udon = (
        parsed(
            kudrang.get("Organization?identifier=https://terms.sil-th.org/id/th-moph-hcode|10671")
        )
        .entry[0]
        .resource
    )
    assert [e.valueCoding.code for e in udon.extension] == ["8"]
    assert udon.contact[0].address.state == "อุดรธานี"
