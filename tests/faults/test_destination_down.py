"""A PACS that is down, then back on the same address: the whole cycle of the HL7 outbox.

While the PACS is down the outbox waits, retrying the oldest message with growing
back-off, marks nothing sent and gives nothing up; the PACS comes back on the same port
and the next due run sends everything, once each, in booking order. (The images-in-PACS
query's cycle is in tests/worklist/test_pacs_query.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from integrations.hl7.mllp import MllpServer
from integrations.hl7.models import (
    Hl7Destination,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    OutboxStatus,
)
from integrations.hl7.outbound import backoff, drain_outbox
from scheduling.booking import book, cancel_appointment
from tests.faults.harness import free_port
from tests.integrations.hl7.conftest import (  # noqa: F401 - fixtures
    KUDRANG,
    Receiver,
    hospital,
    network,
    procedure,
    us_capacity,
)
from tests.scheduling.factories import SYSTEM, create_patient, create_req

MON_0900 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 09:00 in Bangkok


def outbox() -> list[Hl7OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(select(Hl7OutboxMessage).order_by(Hl7OutboxMessage.id)).all()


def test_hl7_outbox_waits_for_a_pacs_that_is_down_and_drains_in_order(us_capacity, now):  # noqa: F811
    port = free_port()  # nobody listens here yet
    db.session.add(Hl7Destination(name="PACS", host="127.0.0.1", port=port))
    db.session.commit()
    appointments = []
    for n in range(3):
        req = create_req(now, hospital(KUDRANG), procedure("US-UPABD"), patient=create_patient())
        appointments.append(
            book(SYSTEM, now, req, us_capacity, MON_0900 + timedelta(minutes=20 * n))
        )
    cancel_appointment(SYSTEM, now, appointments[1], "ผู้ป่วยขอยกเลิก")
    queued = [r.control_id for r in outbox()]
    assert [r.event for r in outbox()] == [Hl7OutboundEvent.BOOKED] * 3 + [
        Hl7OutboundEvent.CANCELLED
    ]

    # Down: each due run tries the oldest message only, and waits longer each time.
    moment = now
    for attempt in range(1, 5):
        assert drain_outbox(now=moment) == {"sent": 0, "retry": 1, "failed": 0}
        rows = outbox()
        assert {r.status for r in rows} == {OutboxStatus.PENDING}
        assert rows[0].attempts == attempt and "ConnectionRefusedError" in rows[0].last_error
        assert all(r.attempts == 0 for r in rows[1:])  # waiting behind the first
        assert rows[0].next_attempt_at == moment + backoff(attempt)
        assert drain_outbox(now=moment + backoff(attempt) - timedelta(seconds=1))["retry"] == 0
        moment += backoff(attempt)

    # Back, on the same port: the next due run sends all four, in order, once each.
    receiver = Receiver()
    server = MllpServer(receiver, "127.0.0.1", port).start()
    try:
        assert drain_outbox(now=moment) == {"sent": 4, "retry": 0, "failed": 0}
        assert [m.control_id for m in receiver.messages()] == queued
        assert [m.segment("ORC").get(1) for m in receiver.messages()] == ["NW", "NW", "NW", "CA"]
        rows = outbox()
        assert {(r.status, r.ack_code) for r in rows} == {(OutboxStatus.SENT, "AA")}
        assert drain_outbox(now=moment + timedelta(hours=2))["sent"] == 0
        assert len(receiver.blocks) == 4
    finally:
        server.stop()
