"""``kill -9`` of the jobs process (``flask --app wsgi jobs run``) while both outboxes send.

Bookings of LINE-linked patients leave an HL7 order per booking for the PACS and a LINE
confirmation per booking. Both receivers answer slowly, so that the kill lands with
messages in flight: sent but not yet marked sent. After the restart the outboxes
drain; nothing is lost, nothing is marked sent that the receiver did not take, the PACS
gets its orders in booking order (a message in flight at the kill may come once more,
with the same MSH-10, which the receiver recognises), and no patient gets a LINE
message twice (LINE's retry key).
"""

from __future__ import annotations

import time

from sqlalchemy import select

from app.extensions import db
from integrations.hl7.mllp import MllpServer
from integrations.hl7.models import Hl7Destination, Hl7OutboxMessage, OutboxStatus
from integrations.line.models import LineOutbox, LineOutboxStatus
from integrations.line.standin import LineStandIn
from scheduling.availability import find_slots
from scheduling.booking import book
from scheduling.clock import utcnow
from scheduling.models import Device, User
from tests.app.requests.conftest import procedure, web_actor_for
from tests.faults import harness, invariants
from tests.integrations.hl7.conftest import Receiver
from tests.integrations.line.conftest import link
from tests.scheduling.factories import create_patient, create_req

BOOKINGS = 30
TOKEN = "faults-line-token"


class SlowReceiver(Receiver):
    """The PACS stand-in, taking ``delay`` seconds per message."""

    delay = 0.05

    def __call__(self, block, peer):
        time.sleep(self.delay)
        return super().__call__(block, peer)

    def control_ids(self) -> list[str]:
        return [m.control_id for m in self.messages()]


class SlowLine(LineStandIn):
    delay = 0.15

    def _handle_push(self, headers, body):
        time.sleep(self.delay)
        return super()._handle_push(headers, body)


def book_linked_patients(pacs_port: int | None, count: int = BOOKINGS) -> None:
    if pacs_port is not None:
        db.session.add(Hl7Destination(name="PACS", host="127.0.0.1", port=pacs_port))
    staff = db.session.scalar(select(User).where(User.username == "staff.kudrang"))
    actor = web_actor_for(db, "staff.kudrang")
    us = procedure(db, "US-UPABD")
    now = utcnow()
    for slot in find_slots(now, us, requesting_hospital_id=staff.hospital_id, limit=count):
        patient = create_patient()
        link(patient, now)
        req = create_req(now, staff.hospital, us, patient=patient, actor=actor)
        book(actor, now, req, db.session.get(Device, slot.device_id), slot.start_at)


def outbox_rows():
    db.session.rollback()
    hl7 = db.session.scalars(select(Hl7OutboxMessage).order_by(Hl7OutboxMessage.id)).all()
    line = db.session.scalars(select(LineOutbox).where(LineOutbox.due_at <= utcnow())).all()
    return hl7, line


def check_sent_means_received(pacs: SlowReceiver, line: LineStandIn) -> None:
    hl7_rows, line_rows = outbox_rows()
    received = set(pacs.control_ids())
    accepted_keys = {a.retry_key for a in line.accepted}
    assert all(r.control_id in received for r in hl7_rows if r.status is OutboxStatus.SENT)
    assert all(r.retry_key in accepted_keys for r in line_rows if r.status is LineOutboxStatus.SENT)
    assert invariants.violations() == []


def test_kill_9_jobs_while_sending_loses_and_doubles_nothing(demo, services):
    pacs = SlowReceiver()
    server = MllpServer(pacs, "127.0.0.1", 0).start()
    line = SlowLine(access_token=TOKEN, validate="light").start()
    try:
        book_linked_patients(server.port)
        hl7_rows, line_rows = outbox_rows()
        assert len(hl7_rows) == BOOKINGS and len(line_rows) >= BOOKINGS
        env = dict(
            HL7_OUTBOX_INTERVAL_SECONDS="1",
            LINE_SEND_INTERVAL="1",
            LINE_API_BASE_URL=line.base_url,
            LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
            LINE_QUIET_HOURS="",
            LINE_SEND_WORKERS="2",
            LINE_SEND_BATCH="6",
        )
        jobs = services(harness.jobs_service, **env)

        # First kill: the PACS orders are in flight.
        harness.wait_for(lambda: len(pacs.blocks) >= BOOKINGS // 3, 120, "HL7 orders sending")
        jobs.kill9()
        assert len(set(pacs.control_ids())) < BOOKINGS
        check_sent_means_received(pacs, line)

        # Second kill: the LINE pushes are in flight (LINE is the slower receiver).
        jobs.start()
        harness.wait_for(
            lambda: len(line.accepted) >= 2 * len(line_rows) // 3, 120, "LINE pushes sending"
        )
        jobs.kill9()
        assert len(line.accepted) < len(line_rows)
        check_sent_means_received(pacs, line)

        jobs.start()

        def drained() -> bool:
            hl7, due = outbox_rows()
            return all(r.status is OutboxStatus.SENT for r in hl7) and all(
                r.status is LineOutboxStatus.SENT for r in due
            )

        harness.wait_for(drained, 120, "both outboxes drained")
        jobs.stop()

        hl7_rows, line_rows = outbox_rows()
        order = [r.control_id for r in hl7_rows]
        arrivals = pacs.control_ids()
        first_seen = list(dict.fromkeys(arrivals))
        assert first_seen == order, "the PACS got the orders out of order, or not all"
        assert len(arrivals) - len(first_seen) <= jobs.kills  # at most the one in flight
        assert all(
            arrivals[i] != arrivals[j] or j == i + 1  # a repeat comes straight after
            for i in range(len(arrivals))
            for j in range(i + 1, len(arrivals))
        )
        assert {a.retry_key for a in line.accepted} == {r.retry_key for r in line_rows}
        assert len(line.accepted) == len(line_rows) and line.duplicate_count() == 0
        assert invariants.violations() == []
    finally:
        line.stop()
        server.stop()
