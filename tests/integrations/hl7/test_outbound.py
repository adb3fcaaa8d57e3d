"""Bookings out as OMI^O23 / ORM^O01: the outbox rows, the messages, sending and retrying."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from sqlalchemy import select

from app.extensions import db
from integrations.hl7 import outbound
from integrations.hl7.message import Hl7Message, decode_message
from integrations.hl7.models import (
    Hl7Charset,
    Hl7Destination,
    Hl7OrderFormat,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    OutboxStatus,
)
from integrations.hl7.outbound import backoff, drain_outbox, payload_bytes
from scheduling.booking import book, cancel_appointment, reschedule
from scheduling.models import IdentifierType, Priority, Sex
from scheduling.patients import register_patient
from tests.integrations.hl7.conftest import KUDRANG, MKH, cid, hospital, procedure
from tests.scheduling.factories import SYSTEM

MON_0900 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CID1 = cid("110170023077")


def destination(
    receiver_port: int = 9,
    *,
    name: str = "PACS",
    hub: str | None = MKH,
    order_format=Hl7OrderFormat.OMI_O23,
    charset=Hl7Charset.UTF8,
    enabled: bool = True,
) -> Hl7Destination:
    row = Hl7Destination(
        name=name,
        host="127.0.0.1",
        port=receiver_port,
        hub_hospital_id=hospital(hub).id if hub else None,
        order_format=order_format,
        charset=charset,
        receiving_application="PACS",
        receiving_facility=MKH,
        is_enabled=enabled,
    )
    db.session.add(row)
    db.session.commit()
    return row


def booked(now, device, *, start=MON_0900, priority=Priority.ROUTINE):
    from scheduling.requests import create_request

    kudrang = hospital(KUDRANG)
    patient = register_patient(
        SYSTEM,
        now,
        id_type=IdentifierType.NATIONAL_ID,
        id_value=CID1,
        prefix="MRS",
        given_name_th="สมศรี",
        family_name_th="ทองดี",
        birth_date=datetime(1968, 3, 14).date(),
        sex=Sex.FEMALE,
        hospital_id=kudrang.id,
        hn="KRT001",
    )
    request = create_request(
        SYSTEM,
        now,
        patient=patient,
        procedure=procedure("US-UPABD"),
        requesting_hospital_id=kudrang.id,
        priority=priority,
        indication="ปวดท้อง | ตรวจ^ดู",
        placer_order_number="PO-1",
        icd10_code="R10.1",
    )
    return book(SYSTEM, now, request, device, start)


def outbox() -> list[Hl7OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(select(Hl7OutboxMessage).order_by(Hl7OutboxMessage.id)).all()


def test_booking_queues_a_valid_omi_for_the_hub_destination(us_capacity, now):
    destination(name="MKH PACS")
    destination(name="Other hub", hub="10671")
    destination(name="Off", enabled=False)
    appointment = booked(now, us_capacity)
    [row] = outbox()
    assert row.destination.name == "MKH PACS" and row.event is Hl7OutboundEvent.BOOKED
    assert row.status is OutboxStatus.PENDING and row.message_type == "OMI^O23"
    parsed = parse_message(row.payload, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    parsed.validate()
    msg = Hl7Message(row.payload)
    assert msg.message_type == "OMI^O23" and msg.control_id == row.control_id
    assert msg.msh.get(4) == MKH and msg.msh.get(18) == "UNICODE UTF-8"
    pid = msg.segment("PID")
    # The hub sends its HN first (policy HN); this patient has none there yet, so the
    # national ID leads, with the TH Core system as assigning authority.
    assert pid.get(3) == CID1 and pid.get(3, 5) == "NI"
    assert pid.get(3, 4, 2) == "https://terms.sil-th.org/id/th-cid"
    assert pid.components(5, 0)[:2] == ["ทองดี", "สมศรี"] and pid.get(5, 5) == "นาง"
    orc, ipc = msg.segment("ORC"), msg.segment("IPC")
    assert (orc.get(1), orc.get(5)) == ("NW", "SC")
    assert orc.get(2) == "PO-1" and orc.get(2, 2) == KUDRANG
    assert orc.get(3) == str(appointment.request_id) and orc.get(3, 2) == "RADBOOK"
    assert ipc.get(1) == appointment.accession_number
    assert ipc.get(3) == appointment.study_instance_uid and ipc.get(3, 4) == "DICOM"
    assert ipc.get(4) == appointment.sps_id and ipc.get(5) == "US" and ipc.get(9) == "MKH_US1"
    assert msg.segment("TQ1").get(7) == "20261123090000+0700"
    assert msg.segment("OBR").get(13) == "ปวดท้อง | ตรวจ^ดู"  # escaped, read back whole


def test_orm_destination_gets_v231_with_zds_and_obr18(us_capacity, now):
    destination(order_format=Hl7OrderFormat.ORM_O01)
    appointment = booked(now, us_capacity, priority=Priority.URGENT)
    [row] = outbox()
    msg = Hl7Message(row.payload)
    assert msg.message_type == "ORM^O01" and msg.version == "2.3.1"
    assert msg.segment("ZDS").get(1) == appointment.study_instance_uid
    assert msg.segment("OBR").get(18) == appointment.accession_number
    assert msg.segment("ORC").get(7, 6) == "A"
    # hl7apy parses it strictly (data types, known segments); its validate() cannot be used
    # on ORM_O01 v2.3.1, whose choice group it checks as if every branch were required.
    parsed = parse_message(
        row.payload.rsplit("ZDS", 1)[0].rstrip("\r"),
        validation_level=VALIDATION_LEVEL.STRICT,
        find_groups=True,
    )
    assert parsed.ORM_O01_ORDER.ORM_O01_ORDER_DETAIL.ORM_O01_CHOICE.obr.obr_18.value == (
        appointment.accession_number
    )


def test_tis620_and_ascii_destinations(us_capacity, now):
    destination(name="Thai PACS", charset=Hl7Charset.TIS620)
    destination(name="dcm4chee", charset=Hl7Charset.TIS620_DCM4CHE)
    destination(name="Old RIS", charset=Hl7Charset.ASCII)
    booked(now, us_capacity)
    thai, dcm, ascii_ = outbox()
    data = payload_bytes(thai.payload)
    assert "สมศรี".encode("tis-620") in data
    text, codec, msh18 = decode_message(data)
    assert msh18 == "TIS-620" and "ทองดี^สมศรี" in text
    assert decode_message(payload_bytes(dcm.payload))[2] == "CNS 11643-1992"
    plain = payload_bytes(ascii_.payload)
    plain.decode("ascii")
    assert b"Somsri".upper() in plain.upper() and Hl7Message(plain.decode()).msh.get(18) == ""


def test_drain_sends_and_checks_the_ack(us_capacity, now, receiver):
    destination(receiver.port)
    booked(now, us_capacity)
    assert drain_outbox(now=now) == {"sent": 1, "retry": 0, "failed": 0}
    [row] = outbox()
    assert row.status is OutboxStatus.SENT and row.ack_code == "AA" and row.attempts == 1
    [received] = receiver.messages()
    assert received.control_id == row.control_id and received.message_type == "OMI^O23"
    assert drain_outbox(now=now) == {"sent": 0, "retry": 0, "failed": 0}  # nothing twice
    # The delivery is a disclosure to another system: audited, naming the patient.
    from scheduling.models import AuditEvent, Interface

    [sent] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "hl7.send")).all()
    assert sent.interface is Interface.HL7 and sent.actor == f"hl7:{row.destination.name}"
    assert sent.patient_id == row.appointment.patient_id and sent.entity_id == row.id


def test_refused_message_is_retried_with_backoff_then_fails(app, us_capacity, now, receiver):
    destination(receiver.port)
    booked(now, us_capacity)
    receiver.answer = "AE"
    app.config["HL7_OUTBOX_MAX_ATTEMPTS"] = 3
    try:
        assert drain_outbox(now=now)["retry"] == 1
        [row] = outbox()
        assert row.status is OutboxStatus.PENDING and row.ack_code == "AE"
        assert row.next_attempt_at == now + timedelta(seconds=30)
        assert "refused" in row.last_error
        assert drain_outbox(now=now + timedelta(seconds=10))["retry"] == 0  # not due yet
        drain_outbox(now=now + timedelta(seconds=30))
        assert outbox()[0].next_attempt_at == now + timedelta(seconds=90)
        assert drain_outbox(now=now + timedelta(minutes=5))["failed"] == 1
        assert outbox()[0].status is OutboxStatus.FAILED
    finally:
        app.config["HL7_OUTBOX_MAX_ATTEMPTS"] = 12
    assert len(receiver.blocks) == 3
    # An admin sends it again; the receiver now takes it.
    receiver.answer = "AA"
    outbound.retry(outbox()[0], now)
    db.session.commit()
    assert drain_outbox(now=now)["sent"] == 1


def test_unreachable_destination_keeps_later_messages_in_order(us_capacity, now, receiver):
    dead = destination(name="Down")
    appointment = booked(now, us_capacity)
    cancel_appointment(SYSTEM, now, appointment, "ผู้ป่วยขอเลื่อน")
    first, second = outbox()
    assert (first.event, second.event) == (Hl7OutboundEvent.BOOKED, Hl7OutboundEvent.CANCELLED)
    assert drain_outbox(now=now) == {"sent": 0, "retry": 1, "failed": 0}
    first, second = outbox()
    assert first.last_error and second.attempts == 0  # waited behind the first
    dead.port = receiver.port
    db.session.commit()
    assert drain_outbox(now=now + backoff(1))["sent"] == 2
    assert [m.segment("ORC").get(1) for m in receiver.messages()] == ["NW", "CA"]


def test_reschedule_cancels_the_old_study_and_schedules_the_new_one(us_capacity, now):
    destination()
    appointment = booked(now, us_capacity)
    moved = reschedule(SYSTEM, now, appointment, us_capacity, MON_0900 + timedelta(hours=2))
    rows = outbox()
    assert [r.event for r in rows] == [
        Hl7OutboundEvent.BOOKED,
        Hl7OutboundEvent.CANCELLED,
        Hl7OutboundEvent.BOOKED,
    ]
    cancel_msg, new_msg = Hl7Message(rows[1].payload), Hl7Message(rows[2].payload)
    assert cancel_msg.segment("IPC").get(1) == appointment.accession_number
    assert (cancel_msg.segment("ORC").get(1), cancel_msg.segment("ORC").get(5)) == ("CA", "CA")
    assert new_msg.segment("IPC").get(3) == moved.study_instance_uid


def test_rescheduled_signal_with_the_same_study_is_an_update(us_capacity, now):
    from scheduling import events

    destination()
    appointment = booked(now, us_capacity)
    events.appointment_rescheduled.send(
        appointment, actor=SYSTEM, now=now, appointment=appointment, previous=appointment
    )
    db.session.commit()
    row = outbox()[-1]
    assert row.event is Hl7OutboundEvent.RESCHEDULED
    assert Hl7Message(row.payload).segment("ORC").get(1) == "XO"


def test_a_message_that_cannot_be_built_never_undoes_the_booking(monkeypatch, us_capacity, now):
    destination()

    def broken(*args, **kwargs):
        raise RuntimeError("template bug")

    monkeypatch.setattr(outbound, "build_order_message", broken)
    appointment = booked(now, us_capacity)
    assert appointment.id is not None
    [row] = outbox()
    assert row.status is OutboxStatus.FAILED and "template bug" in row.last_error


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 30), (2, 60), (5, 480), (12, 3600)])
def test_backoff(attempts, seconds):
    assert backoff(attempts) == timedelta(seconds=seconds)
