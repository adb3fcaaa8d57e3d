"""Admin pages: journal, outbox, destinations; admins only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.extensions import db
from integrations.hl7.models import (
    Hl7Charset,
    Hl7Destination,
    Hl7InboundMessage,
    Hl7OrderFormat,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7Outcome,
    OutboxStatus,
)
from scheduling.models import Appointment
from tests.conftest import login

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def _entry(**values) -> Hl7InboundMessage:
    entry = Hl7InboundMessage(
        received_at=NOW,
        sending_application="HOSXP",
        sending_facility="11008",
        message_type="ADT^A04",
        control_id=values.pop("control_id", "C1"),
        version="2.5.1",
        charset="utf-8",
        raw="MSH|^~\\&|HOSXP|11008\rPID|1||HN1\r",
        ack="MSH|^~\\&\rMSA|AA|C1\r",
        **values,
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def test_only_admins_see_the_hl7_pages(demo, client):
    login(client, "scheduler.mkh")
    assert client.get("/admin/hl7/journal").status_code == 403
    assert client.get("/admin/hl7/outbox").status_code == 403
    assert "HL7" not in client.get("/requests").get_data(as_text=True)
    client.post("/logout")
    login(client, "admin")
    page = client.get("/requests").get_data(as_text=True)
    assert "/admin/hl7/journal" in page and "/admin/hl7/outbox" in page


def test_journal_lists_and_filters_and_shows_thai_errors(demo, client):
    _entry(outcome=Hl7Outcome.ACCEPTED, control_id="OK1")
    bad = _entry(
        outcome=Hl7Outcome.ERROR,
        control_id="BAD1",
        error_code="cid-checksum",
        error_en="Invalid national ID",
        error_th="เลขบัตรประชาชนไม่ถูกต้อง",
    )
    login(client, "admin")
    page = client.get("/admin/hl7/journal").get_data(as_text=True)
    assert "OK1" in page and "BAD1" in page and "เลขบัตรประชาชนไม่ถูกต้อง" in page
    page = client.get("/admin/hl7/journal?outcome=ERROR").get_data(as_text=True)
    assert "BAD1" in page and "OK1" not in page
    page = client.get("/admin/hl7/journal?q=OK").get_data(as_text=True)
    assert "OK1" in page and "BAD1" not in page
    detail = client.get(f"/admin/hl7/journal/{bad.id}").get_data(as_text=True)
    assert "PID|1||HN1" in detail and "MSA|AA|C1" in detail and "cid-checksum" in detail


def test_outbox_shows_failures_and_an_admin_can_resend(demo, client, us_capacity, now):
    from tests.integrations.hl7.test_outbound import booked, destination

    destination()
    appointment = booked(now, us_capacity)
    row = db.session.scalar(select(Hl7OutboxMessage))
    row.status, row.attempts, row.last_error = OutboxStatus.FAILED, 12, "ConnectionRefused"
    db.session.commit()
    login(client, "admin")
    page = client.get("/admin/hl7/outbox").get_data(as_text=True)
    assert "ConnectionRefused" in page and row.control_id in page
    assert appointment.accession_number in client.get(f"/admin/hl7/outbox/{row.id}").get_data(
        as_text=True
    )
    response = client.post(f"/admin/hl7/outbox/{row.id}/retry")
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(Hl7OutboxMessage, row.id)
    assert row.status is OutboxStatus.PENDING and row.attempts == 0
    assert isinstance(row.appointment, Appointment)
    assert row.event is Hl7OutboundEvent.BOOKED


def test_admin_adds_and_disables_a_destination(demo, client):
    login(client, "admin")
    response = client.post(
        "/admin/hl7/destinations",
        data={
            "name": "MKH PACS",
            "host": "10.0.0.5",
            "port": "2575",
            "hub_hospital_id": "0",
            "order_format": "ORM_O01",
            "charset": "TIS620",
            "receiving_application": "PACS",
            "receiving_facility": "10707",
            "is_enabled": "y",
        },
    )
    assert response.status_code == 302
    row = db.session.scalar(select(Hl7Destination))
    assert (row.host, row.port, row.hub_hospital_id) == ("10.0.0.5", 2575, None)
    assert row.order_format is Hl7OrderFormat.ORM_O01 and row.charset is Hl7Charset.TIS620
    client.post(f"/admin/hl7/destinations/{row.id}/toggle")
    db.session.expire_all()
    assert db.session.get(Hl7Destination, row.id).is_enabled is False
    page = client.get("/admin/hl7/destinations").get_data(as_text=True)
    assert "10.0.0.5:2575" in page
