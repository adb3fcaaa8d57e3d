"""The issue's "done when", FHIR part: an order arrives over MLLP from the HIS, is booked
through FHIR against a free Slot, the RIS's ORU^R01 brings the report, and the PACS's
FHIR ImagingStudy links to that same request: one study, images in PACS, one report."""

from __future__ import annotations

from sqlalchemy import func, select

from app.demo import DEMO_PATIENTS
from app.extensions import db
from integrations.fhir import systems
from scheduling.models import ImagingRequest, RequestStatus, Study, StudySource
from tests.conftest import login
from tests.integrations.fhir.conftest import ids, parsed
from tests.integrations.fhir.test_writes import booking, free_slots, study_body
from tests.integrations.hl7.conftest import KUDRANG, MKH, cid, exchange, msa, msh, orm, segment


def test_hl7_order_fhir_booking_hl7_report_fhir_study(app, kudrang, hub, client):
    from integrations.hl7 import make_listener

    listener = make_listener(app, "127.0.0.1", 0).start()
    try:
        stem, *_ = DEMO_PATIENTS[0]  # สมศรี ทองดี, HN KR0001 at รพ.กุดรัง
        patient_cid = cid(stem)
        [ack] = exchange(listener.port, orm("HOSXP-900001", patient_cid, "KR-ORD-88", hn="KR0001"))
        assert msa(ack) == ("AA", "HOSXP-900001")

        # The HIS finds the order it sent, and books it on a free slot through FHIR.
        [order_id] = ids(
            parsed(
                kudrang.get(f"ServiceRequest?identifier={systems.placer_system(KUDRANG)}|KR-ORD-88")
            )
        )
        slot = free_slots(kudrang)[0]
        appointment = parsed(kudrang.post("Appointment", booking(slot.id, order_id)), 201)
        accession = next(
            i.value for i in appointment.identifier if i.system == systems.accession_system(MKH)
        )
        request = db.session.get(ImagingRequest, int(order_id))
        uid = request.current_appointment.study_instance_uid

        # The hub's RIS reports over HL7, naming the Study UID (it links the study first).
        oru = (
            "\r".join(
                [
                    msh("ORU^R01^ORU_R01", "RIS-900", sender=MKH, app="RIS"),
                    f"PID|1||KR0001^^^{KUDRANG}^MR~{patient_cid}^^^TH-CID^NI||ทองดี^สมศรี",
                    segment("ORC", {1: "RE", 2: f"KR-ORD-88^{KUDRANG}", 5: "CM"}),
                    segment(
                        "OBR",
                        {
                            1: "1",
                            2: f"KR-ORD-88^{KUDRANG}",
                            4: "US-UPABD",
                            18: accession,
                            25: "F",
                            32: "R001&รักษ์ภาพ&วีระ&&&นพ.",
                        },
                    ),
                    segment("OBX", {1: "1", 2: "TX", 3: "IMP", 5: "ตับและถุงน้ำดีปกติ", 11: "F"}),
                    f"ZDS|{uid}^RADBOOK^Application^DICOM",
                ]
            )
            + "\r"
        )
        [ack] = exchange(listener.port, oru)
        assert msa(ack) == ("AA", "RIS-900")
    finally:
        listener.stop()

    # The hub's PACS tells FHIR the images are in: same study, confirmed, not a second one.
    response = hub.post("ImagingStudy", study_body(uid, accession=accession))
    study = parsed(response, 200)
    assert study.basedOn[0].reference == f"ServiceRequest/{order_id}"

    db.session.expire_all()
    request = db.session.get(ImagingRequest, int(order_id))
    assert request.status is RequestStatus.COMPLETED
    assert db.session.scalar(select(func.count(Study.id))) == 1
    [row] = request.studies
    assert row.first_source is StudySource.HL7 and row.confirmed_by == "hl7,fhir"
    assert row.images_in_pacs_at is not None and row.instance_count == 64

    # Both hospitals read the result back through FHIR.
    report = parsed(kudrang.get(f"DiagnosticReport?based-on=ServiceRequest/{order_id}"))
    assert report.entry[0].resource.conclusion == "ตับและถุงน้ำดีปกติ"
    studies = parsed(hub.get(f"ImagingStudy?based-on=ServiceRequest/{order_id}"))
    assert [e.resource.status for e in studies.entry] == ["available"]
    assert parsed(kudrang.get(f"ServiceRequest/{order_id}")).status == "completed"

    # And the request page shows the images once, in PACS, with the report.
    login(client, "staff.kudrang")
    page = client.get(f"/requests/{order_id}").get_data(as_text=True)
    assert page.count("ภาพอยู่ใน PACS แล้ว") == 1
    assert "ตับและถุงน้ำดีปกติ" in page
