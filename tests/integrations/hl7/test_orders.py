"""Orders (ORM^O01, OMI^O23), merges (ADT^A40) and results (ORU^R01) through the listener."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from app.extensions import db
from integrations.hl7.models import Hl7InboundMessage
from scheduling.booking import book, mark_arrived
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    IdentifierType,
    ImagingRequest,
    Patient,
    PatientHN,
    Priority,
    RequestStatus,
    Study,
    StudySource,
)
from scheduling.patients import find_patient
from tests.integrations.hl7.conftest import (
    KOSUM,
    KUDRANG,
    MKH,
    adt,
    cid,
    err,
    exchange,
    hospital,
    msa,
    msh,
    orm,
    segment,
)
from tests.scheduling.factories import SYSTEM

CID1 = cid("110170023077")
CID2 = cid("340150012399")
MON_0900 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def request_by_placer(placer: str, code: str = KUDRANG) -> ImagingRequest | None:
    db.session.expire_all()
    return db.session.scalar(
        select(ImagingRequest).where(
            ImagingRequest.placer_order_number == placer,
            ImagingRequest.requesting_hospital_id == hospital(code).id,
        )
    )


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_orm_new_order_becomes_a_submitted_request(listener):
    [ack] = exchange(listener.port, orm("ORM0001", CID1, "PO1001"))
    assert msa(ack) == ("AA", "ORM0001")
    request = request_by_placer("PO1001")
    assert request.status is RequestStatus.SUBMITTED
    assert request.procedure.code == "US-UPABD" and request.priority is Priority.ROUTINE
    assert request.hub_hospital_id == hospital(MKH).id  # MSH-6 names the hub
    assert "ปวดท้องด้านขวาบน" in request.indication and request.icd10_code == "R10.1"
    assert request.requesting_clinician == "นพ. วิชัย รักษา"
    # A patient RadBook had never seen is registered from the PID.
    assert request.patient.id_value == CID1 and request.patient.given_name_th == "สมชาย"
    entry = db.session.scalar(select(Hl7InboundMessage))
    assert entry.request_id == request.id and entry.patient_id == request.patient_id
    assert actions() == ["patient.register", "request.create"]


def test_omi_new_order_with_stat_priority_for_a_known_patient(listener):
    exchange(listener.port, adt("ADT0001", CID1))
    [ack] = exchange(listener.port, orm("OMI0001", CID1, "PO1002", omi=True, priority="S"))
    assert msa(ack) == ("AA", "OMI0001")
    request = request_by_placer("PO1002")
    assert request.priority is Priority.STAT
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 1


def test_same_placer_number_twice_is_an_error_the_second_time(listener):
    first, second = exchange(
        listener.port, orm("ORM0002", CID1, "PO1003"), orm("ORM0003", CID1, "PO1003")
    )
    assert msa(first)[0] == "AA" and msa(second) == ("AE", "ORM0003")
    assert str(err(second)[5][0][0]) == "duplicate-order"
    assert "PO1003" in str(err(second)[8])
    assert db.session.scalar(select(func.count()).select_from(ImagingRequest)) == 1


def test_unknown_procedure_code_is_an_error_pointing_at_obr4(listener):
    [ack] = exchange(listener.port, orm("ORM0004", CID1, "PO1004", procedure_code="XX-NOPE"))
    assert msa(ack) == ("AE", "ORM0004")
    e = err(ack)
    assert str(e[2]) == "OBR^1^4" and str(e[3][0][0]) == "103"
    assert "XX-NOPE" in str(e[8])
    # Nothing of the order stays, not even the patient it would have registered.
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 0


def test_cancel_order(listener):
    exchange(listener.port, orm("ORM0005", CID1, "PO1005"))
    [ack] = exchange(listener.port, orm("ORM0006", CID1, "PO1005", control="CA"))
    assert msa(ack) == ("AA", "ORM0006")
    request = request_by_placer("PO1005")
    assert request.status is RequestStatus.CANCELLED and request.status_reason == "HL7 CA"


def test_another_hospital_cannot_cancel_the_order(listener):
    exchange(listener.port, orm("ORM0007", CID1, "PO1007"))
    [ack] = exchange(
        listener.port, orm("ORM0008", CID1, "PO1007", control="CA", sender=KOSUM, hn="KS9")
    )
    assert msa(ack)[0] == "AE"
    assert str(err(ack)[5][0][0]) == "request-not-found"
    assert request_by_placer("PO1007").status is RequestStatus.SUBMITTED


def test_order_status_cm_from_the_hub_completes_the_exam(listener, us_capacity, now):
    exchange(listener.port, orm("ORM0010", CID1, "PO1010"))
    request = request_by_placer("PO1010")
    appointment = book(SYSTEM, now, request, us_capacity, MON_0900)
    filler = f"{request.id}^RADBOOK"
    # From the requesting hospital the status is refused: only the hub performs exams.
    [refused] = exchange(
        listener.port, orm("ORM0011", CID1, "PO1010", control="SC", status="CM", filler=filler)
    )
    assert msa(refused)[0] == "AE" and str(err(refused)[5][0][0]) == "hub-only"
    [ack] = exchange(
        listener.port,
        orm(
            "RIS0001",
            CID1,
            "PO1010",
            control="SC",
            status="CM",
            filler=filler,
            sender=MKH,
            receiver=MKH,
        ),
    )
    assert msa(ack) == ("AA", "RIS0001")
    db.session.expire_all()
    appointment = db.session.get(Appointment, appointment.id)
    assert appointment.status is AppointmentStatus.COMPLETED
    assert appointment.request.status is RequestStatus.COMPLETED
    # Nobody marked the patient in: the exam start is recorded before its completion.
    assert actions()[-2:] == ["appointment.start", "appointment.complete"]


def _oru(
    control_id: str,
    *,
    filler: str = "",
    accession: str = "",
    uid: str = "",
    placer: str = "",
    sender: str = MKH,
    status: str = "F",
    orc_status: str = "",
) -> str:
    segments = [
        msh("ORU^R01^ORU_R01", control_id, sender=sender, app="RIS"),
        f"PID|1||HN0001^^^{KUDRANG}^MR~{CID1}^^^TH-CID^NI||ใจดี^สมชาย",
        segment("ORC", {1: "RE", 2: placer, 3: filler, 5: orc_status}),
        segment(
            "OBR",
            {
                1: "1",
                2: placer,
                3: filler,
                4: "US-UPABD^Ultrasound upper abdomen",
                18: accession,
                22: "20261123103000",
                25: status,
                32: "R001&ภาพดี&วีระ&&&นพ.",
            },
        ),
        segment("OBX", {1: "1", 2: "TX", 3: "IMP^Impression", 5: "ตับปกติ ไม่พบก้อน", 11: "F"}),
        segment(
            "OBX",
            {1: "2", 2: "TX", 3: "IMP^Impression", 5: "Normal liver.~No focal lesion.", 11: "F"},
        ),
    ]
    if uid:
        segments.append(f"ZDS|{uid}^RADBOOK^Application^DICOM")
    return "\r".join(segments) + "\r"


def test_oru_links_the_study_and_attaches_the_report(listener, us_capacity, now):
    exchange(listener.port, orm("ORM0020", CID1, "PO1020"))
    request = request_by_placer("PO1020")
    appointment = book(SYSTEM, now, request, us_capacity, MON_0900)
    mark_arrived(SYSTEM, now, appointment)
    [ack] = exchange(
        listener.port,
        _oru(
            "ORU0001",
            filler=f"{request.id}^RADBOOK",
            uid=appointment.study_instance_uid,
            orc_status="CM",
        ),
    )
    assert msa(ack) == ("AA", "ORU0001")
    db.session.expire_all()
    request = db.session.get(ImagingRequest, request.id)
    assert request.report_text == "ตับปกติ ไม่พบก้อน\nNormal liver.\nNo focal lesion."
    assert request.reported_by == "นพ. วีระ ภาพดี"
    assert request.reported_at == datetime(2026, 11, 23, 3, 30, tzinfo=UTC)
    assert request.status is RequestStatus.COMPLETED
    [study] = request.studies
    assert study.study_instance_uid == appointment.study_instance_uid
    assert study.first_source is StudySource.HL7 and study.appointment_id == appointment.id
    assert study.accession_number == appointment.accession_number


def test_oru_found_by_accession_and_a_second_source_only_confirms(listener, us_capacity, now):
    from scheduling.studies import link_study

    exchange(listener.port, orm("ORM0021", CID1, "PO1021"))
    request = request_by_placer("PO1021")
    appointment = book(SYSTEM, now, request, us_capacity, MON_0900)
    link_study(
        SYSTEM,
        now,
        source=StudySource.MPPS,
        appointment=appointment,
        study_instance_uid=appointment.study_instance_uid,
    )
    [ack] = exchange(
        listener.port,
        _oru("ORU0002", accession=appointment.accession_number, uid=appointment.study_instance_uid),
    )
    assert msa(ack)[0] == "AA"
    db.session.expire_all()
    [study] = db.session.scalars(select(Study)).all()
    assert study.first_source is StudySource.MPPS
    assert study.confirmed_by.split(",") == ["mpps", "hl7"]
    assert db.session.get(ImagingRequest, request.id).report_text.startswith("ตับปกติ")


def test_oru_for_an_unknown_order_is_an_error(listener):
    [ack] = exchange(listener.port, _oru("ORU0003", filler="999999^RADBOOK", placer="NOPE"))
    assert msa(ack) == ("AE", "ORU0003")
    assert str(err(ack)[5][0][0]) == "request-not-found"


def test_adt_a40_merges_the_prior_patient_into_the_survivor(listener, us_capacity, now):
    # The hub registered the referred patient under a temporary record (HN TMP1, a passport
    # number) and ordered for it; the HIS then says TMP1 was really the patient HN0009.
    prior_pid = "PID|1||TMP1^^^11008^MR~AB123^^^^PPN||ใจดี^สมชาย"
    order = orm("ORM0100", CID2, "PO1100").split("\r")
    order[1] = prior_pid
    answers = exchange(
        listener.port,
        adt("ADT0100", CID2, hn="HN0009"),
        msh("ADT^A04^ADT_A01", "ADT0101") + "\r" + prior_pid + "\r",
        "\r".join(order),
    )
    assert [msa(a)[0] for a in answers] == ["AA"] * 3
    prior = find_patient(IdentifierType.PASSPORT, "AB123", hospital_id=hospital(KUDRANG).id)
    survivor = find_patient(IdentifierType.NATIONAL_ID, CID2, hospital_id=hospital(KUDRANG).id)
    moved = book(SYSTEM, now, request_by_placer("PO1100"), us_capacity, MON_0900)
    assert moved.patient_id == prior.id
    prior_id, survivor_id = prior.id, survivor.id
    merge = (
        msh("ADT^A40^ADT_A39", "ADT0102") + f"\rPID|1||HN0009^^^11008^MR~{CID2}^^^^NI\r"
        "MRG|TMP1^^^11008^MR\r"
    )
    [ack] = exchange(listener.port, merge)
    assert msa(ack) == ("AA", "ADT0102")
    db.session.expire_all()
    assert db.session.get(Patient, prior_id) is None
    assert db.session.get(Appointment, moved.id).patient_id == survivor_id
    assert db.session.get(ImagingRequest, moved.request_id).patient_id == survivor_id
    hns = db.session.scalars(select(PatientHN.hn).where(PatientHN.patient_id == survivor_id))
    assert set(hns) == {"HN0009"}
    assert actions()[-1] == "patient.merge"


def test_adt_a40_changes_the_hn_of_one_patient(listener):
    exchange(listener.port, adt("ADT0200", CID1, hn="OLD1"))
    merge = (
        msh("ADT^A40^ADT_A39", "ADT0201") + f"\rPID|1||NEW1^^^11008^MR~{CID1}^^^^NI\r"
        "MRG|OLD1^^^11008^MR\r"
    )
    [ack] = exchange(listener.port, merge)
    assert msa(ack)[0] == "AA"
    db.session.expire_all()
    patient = find_patient(IdentifierType.NATIONAL_ID, CID1, hospital_id=hospital(KUDRANG).id)
    assert patient.hn_at(hospital(KUDRANG).id) == "NEW1"


def test_adt_a40_with_nobody_known_is_an_error(listener):
    merge = msh("ADT^A40^ADT_A39", "ADT0300") + "\rPID|1||X1^^^11008^MR\rMRG|X2^^^11008^MR\r"
    [ack] = exchange(listener.port, merge)
    assert msa(ack)[0] == "AE" and str(err(ack)[5][0][0]) == "merge-unknown"


def _two_orders(control_id: str, second_code: str) -> str:
    lines = orm(control_id, CID1, "PO2001").rstrip("\r").split("\r")
    lines += [
        segment("ORC", {1: "NW", 2: f"PO2002^{KUDRANG}"}),
        segment("OBR", {1: "2", 2: f"PO2002^{KUDRANG}", 4: second_code}),
    ]
    return "\r".join(lines) + "\r"


def test_one_message_with_two_orders_is_all_or_nothing(listener):
    [bad] = exchange(listener.port, _two_orders("ORM3001", "XX-NOPE"))
    assert msa(bad)[0] == "AE"
    assert db.session.scalar(select(func.count()).select_from(ImagingRequest)) == 0
    [ok] = exchange(listener.port, _two_orders("ORM3002", "CT-BRAIN"))
    assert msa(ok)[0] == "AA"
    assert request_by_placer("PO2001").procedure.code == "US-UPABD"
    assert request_by_placer("PO2002").procedure.code == "CT-BRAIN"
