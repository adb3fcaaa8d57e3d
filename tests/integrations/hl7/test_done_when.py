"""The issue's "done when", HL7 part: an order sent by MLLP with the hl7 package's client
becomes a request a hub scheduler books; the booking goes out as OMI^O23 to a receiver;
an ORU^R01 links the report and the study back to that same request, which shows them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.demo import DEMO_PATIENTS
from app.extensions import db
from integrations.hl7.models import Hl7Destination, Hl7OrderFormat
from integrations.hl7.outbound import drain_outbox
from scheduling.audit import Actor
from scheduling.booking import book
from scheduling.models import Device, ImagingRequest, Interface, RequestStatus, StudySource, User
from tests.conftest import login
from tests.integrations.hl7.conftest import KUDRANG, MKH, cid, exchange, msa, msh, orm, segment

# Monday 23 November 2026, 08:30 in Bangkok: the first slot of the demo office hours.
MON_0830 = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


def test_order_in_booking_out_report_back(app, demo, client, receiver, now):
    from integrations.hl7 import make_listener

    listener = make_listener(app, "127.0.0.1", 0).start()
    try:
        stem, *_ = DEMO_PATIENTS[0]  # สมศรี ทองดี, HN KR0001 at รพ.กุดรัง
        patient_cid = cid(stem)
        [ack] = exchange(
            listener.port, orm("HOSXP-000123", patient_cid, "KR-ORD-77", hn="KR0001", omi=True)
        )
        assert msa(ack) == ("AA", "HOSXP-000123")
        request = db.session.scalar(
            select(ImagingRequest).where(ImagingRequest.placer_order_number == "KR-ORD-77")
        )
        assert request.status is RequestStatus.SUBMITTED
        assert request.patient.given_name_th == "สมศรี"  # the demo patient, not a new one

        # The hub's scheduler books it (the operation behind the web booking page).
        db.session.add(
            Hl7Destination(
                name="MKH PACS",
                host="127.0.0.1",
                port=receiver.port,
                order_format=Hl7OrderFormat.OMI_O23,
                receiving_application="PACS",
                receiving_facility=MKH,
            )
        )
        db.session.commit()
        scheduler = db.session.scalar(select(User).where(User.username == "scheduler.mkh"))
        device = db.session.scalar(select(Device).where(Device.ae_title == "MKH_US1"))
        appointment = book(Actor(Interface.WEB, user=scheduler), now, request, device, MON_0830)

        assert drain_outbox(app, now=now)["sent"] == 1
        [omi] = receiver.messages()
        assert omi.message_type == "OMI^O23"
        assert omi.segment("ORC").get(2) == "KR-ORD-77"
        assert omi.segment("IPC").get(1) == appointment.accession_number
        assert omi.segment("IPC").get(3) == appointment.study_instance_uid

        # The RIS at the hub reports, echoing the filler order number and the Study UID.
        oru = (
            "\r".join(
                [
                    msh("ORU^R01^ORU_R01", "RIS-555", sender=MKH, app="RIS"),
                    f"PID|1||KR0001^^^{KUDRANG}^MR~{patient_cid}^^^TH-CID^NI||ทองดี^สมศรี",
                    segment(
                        "ORC",
                        {1: "RE", 2: f"KR-ORD-77^{KUDRANG}", 3: omi.segment("ORC").raw(3), 5: "CM"},
                    ),
                    segment(
                        "OBR",
                        {
                            1: "1",
                            2: f"KR-ORD-77^{KUDRANG}",
                            3: omi.segment("ORC").raw(3),
                            4: "US-UPABD",
                            25: "F",
                            32: "R001&รักษ์ภาพ&วีระ&&&นพ.",
                        },
                    ),
                    segment("OBX", {1: "1", 2: "TX", 3: "IMP", 5: "ถุงน้ำดีมีนิ่วขนาด 8 มม.", 11: "F"}),
                    f"ZDS|{appointment.study_instance_uid}^RADBOOK^Application^DICOM",
                ]
            )
            + "\r"
        )
        [ack] = exchange(listener.port, oru)
        assert msa(ack) == ("AA", "RIS-555")
    finally:
        listener.stop()

    db.session.expire_all()
    request = db.session.get(ImagingRequest, request.id)
    assert request.status is RequestStatus.COMPLETED
    assert request.report_text == "ถุงน้ำดีมีนิ่วขนาด 8 มม."
    [study] = request.studies
    assert study.first_source is StudySource.HL7
    assert study.study_instance_uid == appointment.study_instance_uid

    login(client, "scheduler.mkh")
    page = client.get(f"/requests/{request.id}").get_data(as_text=True)
    assert "ถุงน้ำดีมีนิ่วขนาด 8 มม." in page
    assert appointment.study_instance_uid in page
