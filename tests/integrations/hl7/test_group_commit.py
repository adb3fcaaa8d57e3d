"""Group commit: messages that arrive together on several connections are stored in one
transaction, each ACK only after its commit; a failed message costs the others nothing."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from integrations.hl7.handlers import HANDLERS, handle_order
from integrations.hl7.inbound import InboundProcessor
from integrations.hl7.message import Hl7Message, decode_message
from integrations.hl7.mllp import Block, MllpServer, send_block
from integrations.hl7.models import Hl7InboundMessage, Hl7Outcome
from scheduling.models import AuditEvent, ImagingRequest
from tests.integrations.hl7.conftest import cid

from .conftest import orm

CID1 = cid("110170023077")
CID2 = cid("340150012399")


def answer_of(ack: bytes) -> tuple[str, str, str]:
    """(MSA-1, MSA-2, ERR-3 code) of an ACK."""
    msg = Hl7Message(decode_message(ack)[0])
    err = msg.segment("ERR")
    return msg.segment("MSA").get(1), msg.segment("MSA").get(2), err.get(3) if err else ""


def block(text: str) -> tuple[Block, str]:
    return Block(text.encode("utf-8")), "127.0.0.1"


def placers() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(ImagingRequest.placer_order_number)))


def test_a_group_keeps_each_message_apart(app, network):
    """Good, failed (unknown procedure), good, and a repeat of the first in one group:
    AA, AE, AA and the first ACK again; both requests and the AE's journal row stored
    by the group's one commit, and nothing of the failed order."""
    processor = InboundProcessor(app)
    first = orm("GC0001", CID1, "PG1", hn="HNG1")
    answers = processor.process_batch(
        [
            block(first),
            block(orm("GC0002", CID1, "PG2", hn="HNG1", procedure_code="XX-NOPE")),
            block(orm("GC0003", CID2, "PG3", hn="HNG2")),
            block(first),
        ]
    )
    assert [answer_of(a)[:2] for a in answers] == [
        ("AA", "GC0001"),
        ("AE", "GC0002"),
        ("AA", "GC0003"),
        ("AA", "GC0001"),
    ]
    assert answers[3] == answers[0]  # the original ACK, not a second request
    assert placers() == {"PG1", "PG3"}
    rows = {
        r.control_id: r
        for r in db.session.scalars(select(Hl7InboundMessage).order_by(Hl7InboundMessage.id))
    }
    assert [r.outcome for r in rows.values()] == [
        Hl7Outcome.ACCEPTED,
        Hl7Outcome.ERROR,
        Hl7Outcome.ACCEPTED,
    ]
    assert rows["GC0001"].duplicates == 1
    assert rows["GC0002"].error_code == "unknown-procedure"
    created = db.session.scalars(
        select(AuditEvent.entity_id).where(AuditEvent.action == "request.create")
    ).all()
    assert sorted(created) == sorted(rows[c].request_id for c in ("GC0001", "GC0003"))


def test_a_group_that_cannot_be_stored_is_stored_one_message_at_a_time(app, network):
    """A storage failure in one message (here a lost connection) would undo the whole
    group: the listener stores the messages again one at a time, so the others are
    accepted and only that one is answered AR (send again)."""

    def flaky_order(work):
        if work.msg.control_id == "GC0012":
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        handle_order(work)

    processor = InboundProcessor(app, handlers={**HANDLERS, "ORM^O01": flaky_order})
    answers = processor.process_batch(
        [
            block(orm("GC0011", CID1, "PG11", hn="HNG1")),
            block(orm("GC0012", CID2, "PG12", hn="HNG2")),
            block(orm("GC0013", CID2, "PG13", hn="HNG2")),
        ]
    )
    assert [answer_of(a) for a in answers] == [
        ("AA", "GC0011", ""),
        ("AR", "GC0012", "207"),  # not stored: send again
        ("AA", "GC0013", ""),
    ]
    assert placers() == {"PG11", "PG13"}


def test_every_ack_of_a_group_leaves_after_its_commit(app, network):
    """Eight connections at once: when a group's answers are handed to the sockets,
    another database connection already sees every journal row and request they claim."""
    seen: list[tuple[int, int, int]] = []

    class Spy(InboundProcessor):
        def process_batch(self, items):
            answers = super().process_batch(items)
            with app.app_context(), db.engine.connect() as other:
                seen.append(
                    (
                        len(items),
                        other.scalar(select(func.count()).select_from(Hl7InboundMessage)),
                        other.scalar(select(func.count()).select_from(ImagingRequest)),
                    )
                )
            return answers

    spy = Spy(app)
    server = MllpServer(spy, "127.0.0.1", 0, batch_handler=spy.process_batch).start()
    acks: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def sender(k: int) -> None:
        for n in range(6):
            text = orm(f"GC1{k}{n:02d}", cid(f"3{k:05d}{n:06d}"), f"PG{k}-{n}", hn=f"H{k}-{n}")
            answer = answer_of(send_block("127.0.0.1", server.port, text.encode(), timeout=60))
            with lock:
                acks.append(answer)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        server.stop()
    assert len(acks) == 48 and {a[0] for a in acks} == {"AA"}
    assert sum(size for size, _, _ in seen) == 48
    answered = 0
    for size, journaled, requests in seen:
        answered += size
        assert journaled >= answered and requests >= answered
