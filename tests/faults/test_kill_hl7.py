"""``kill -9`` of the HL7 listener (``flask --app wsgi hl7 serve``) while a HIS sends orders.

Four HIS connections send ORM^O01 orders, each waiting for its ACK as MLLP senders do.
The listener is killed once a third are acknowledged. Every order answered AA must be
in the database with its journal entry and audit event; started again on the same port,
the listener gets *every* order again (a HIS resends what it has no ACK for, and some
resend everything): each becomes exactly one request, and a repeat is answered with
the original ACK.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from integrations.hl7.message import Hl7Message, decode_message
from integrations.hl7.mllp import MllpSendError, send_block
from integrations.hl7.models import Hl7InboundMessage, Hl7Outcome
from scheduling.models import ImagingRequest
from tests.faults import harness, invariants
from tests.integrations.hl7.conftest import cid, network, orm  # noqa: F401 - fixture

ORDERS = 48


def orders(first: int = 1, count: int = ORDERS) -> list[tuple[str, str, bytes]]:
    """(control ID, placer order number, message) for each order, every one a new patient."""
    return [
        (
            f"KILL{n:05d}",
            f"KR-K{n:05d}",
            orm(f"KILL{n:05d}", cid(f"3{n:011d}"), f"KR-K{n:05d}", hn=f"HNK{n:05d}").encode(),
        )
        for n in range(first, first + count)
    ]


def send_all(
    port: int,
    messages: list[tuple[str, str, bytes]],
    connections: int,
    answers: dict[str, str],
    stop: threading.Event | None = None,
) -> None:
    """Send each message and wait for its ACK; ``answers[control ID]`` = MSA-1 received."""
    lock = threading.Lock()

    def sender(share) -> None:
        for control_id, _placer, message in share:
            if stop is not None and stop.is_set():
                return
            try:
                ack = send_block("127.0.0.1", port, message, timeout=60)
            except (MllpSendError, OSError):
                continue  # no answer: not acknowledged
            msa = Hl7Message(decode_message(ack)[0]).segment("MSA")
            assert msa.get(2) == control_id
            with lock:
                answers[control_id] = msa.get(1)

    threads = [
        threading.Thread(target=sender, args=(messages[n::connections],))
        for n in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)


@pytest.mark.parametrize("processes", [1, 2])
def test_kill_9_hl7_listener_while_orders_arrive_loses_no_acknowledged_order(
    network,  # noqa: F811
    services,
    processes,
):
    """Also with two listener processes on the port (``HL7_PROCESSES``): the forked
    one dies with the one killed, and neither answered before its commit."""
    messages = orders()
    listener = services(harness.hl7_service, HL7_PROCESSES=str(processes))

    answers: dict[str, str] = {}
    stop = threading.Event()
    load = threading.Thread(target=send_all, args=(listener.port, messages, 4, answers, stop))
    load.start()
    harness.wait_for(lambda: len(answers) >= ORDERS // 3, 120, "a third acknowledged")
    listener.kill9()
    stop.set()
    load.join(60)

    acknowledged = {c for c, code in answers.items() if code == "AA"}
    assert acknowledged == set(answers), answers  # nothing refused before the kill
    assert 0 < len(acknowledged) < ORDERS
    db.session.rollback()
    placers = set(db.session.scalars(select(ImagingRequest.placer_order_number)))
    journal = set(
        db.session.scalars(
            select(Hl7InboundMessage.control_id).where(
                Hl7InboundMessage.outcome == Hl7Outcome.ACCEPTED
            )
        )
    )
    by_control = {c: p for c, p, _ in messages}
    assert {by_control[c] for c in acknowledged} <= placers, "an AA order is missing"
    assert acknowledged <= journal
    assert journal == {c for c, p in by_control.items() if p in placers}  # one with the other
    assert invariants.violations() == []

    listener.start()
    again: dict[str, str] = {}
    send_all(listener.port, messages, 2, again)
    assert set(again) == {c for c, _, _ in messages}
    assert set(again.values()) == {"AA"}

    db.session.rollback()
    assert invariants.violations() == []
    assert db.session.scalar(select(func.count(ImagingRequest.id))) == ORDERS
    assert set(db.session.scalars(select(ImagingRequest.placer_order_number))) == set(
        by_control.values()
    )
    repeats = db.session.scalar(select(func.sum(Hl7InboundMessage.duplicates)))
    assert repeats == len(journal)  # each order stored before the kill came back once more
