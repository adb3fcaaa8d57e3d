"""HL7 listener fuzz, the suite's share: a seeded run of mutated messages over real MLLP.

``benchmarks/hl7_fuzz.py`` sends the full 10,000; ``RADBOOK_FUZZ_HL7_CASES`` and
``RADBOOK_FUZZ_SEED`` change this run's size and seed.
"""

from __future__ import annotations

import os

from sqlalchemy import func, select

from app.extensions import db
from integrations.hl7.models import Hl7InboundMessage
from tests.fuzz import hl7_cases

CASES = int(os.environ.get("RADBOOK_FUZZ_HL7_CASES", "500"))
SEED = int(os.environ.get("RADBOOK_FUZZ_SEED", "20261121"))


def test_every_mutated_message_gets_an_ack_and_the_journal_agrees(listener):
    report = hl7_cases.send_cases(
        "127.0.0.1", listener.port, (hl7_cases.case(SEED, i) for i in range(CASES)), seed=SEED
    )
    print(f"\nHL7 fuzz, seed {SEED}: {report.summary()}")
    assert report.failures == []
    assert report.reconnects == 0
    assert hl7_cases.alive("127.0.0.1", listener.port, SEED)
    # All three answers occur, so the cases reach past the parser into the handlers.
    assert {"AA", "AE", "AR"} <= set(report.codes)
    db.session.expire_all()
    assert hl7_cases.check_database(report, SEED) == []
    internal = db.session.scalar(
        select(func.count())
        .select_from(Hl7InboundMessage)
        .where(Hl7InboundMessage.error_code.in_(("internal", "not-stored")))
    )
    assert internal == 0


def test_a_nul_byte_is_rejected_and_journaled(listener):
    """Found by the fuzz: PostgreSQL refused to journal a message with a NUL in it, so the
    sender was told "not stored, send again" forever."""
    from tests.integrations.hl7.conftest import adt, cid, err, exchange, msa

    message = adt("NUL0001", cid("110000000001")).replace("สมชาย", "สม\x00ชาย")
    [ack] = exchange(listener.port, message)
    assert msa(ack) == ("AR", "NUL0001")
    assert str(err(ack)[5][0][0]) == "unreadable"
    db.session.expire_all()
    [row] = db.session.scalars(select(Hl7InboundMessage)).all()
    assert row.control_id == "NUL0001" and "สม\u2400ชาย" in row.raw


def test_too_long_values_are_an_error_not_a_lost_message(listener):
    """Found by the fuzz: an HN or phone longer than its column was a PostgreSQL
    DataError (message not journaled); now AE on both databases."""
    from tests.integrations.hl7.conftest import adt, cid, err, exchange, msa

    [ack] = exchange(listener.port, adt("LONG0001", cid("110000000002"), hn="H" * 25))
    assert msa(ack) == ("AE", "LONG0001")
    assert str(err(ack)[5][0][0]) == "too-long"
    assert "20" in str(err(ack)[8])  # the Thai message names the limit
    db.session.expire_all()
    [row] = db.session.scalars(select(Hl7InboundMessage)).all()
    assert row.error_code == "too-long"


def test_an_hn_taken_by_another_patient_in_a_merge_is_an_error(listener):
    """Found by the fuzz: ADT^A40 giving a patient an HN another patient holds was an
    IntegrityError at commit (logged as one); now a domain Conflict."""
    from tests.integrations.hl7.conftest import adt, cid, err, exchange, msa, msh

    exchange(
        listener.port,
        adt("HNT0001", cid("110000000003"), hn="HNA"),
        adt("HNT0002", cid("110000000004"), hn="HNB"),
    )
    merge = (
        msh("ADT^A40^ADT_A39", "HNT0003")
        + f"\rPID|1||HNB^^^11008^MR~{cid('110000000003')}^^^^NI\rMRG|HNA^^^11008^MR\r"
    )
    [ack] = exchange(listener.port, merge)
    assert msa(ack) == ("AE", "HNT0003")
    assert str(err(ack)[5][0][0]) == "hn-taken"


def test_a_filler_number_beyond_integer_is_not_found(listener):
    """A filler order number (ORC-3, namespace RADBOOK) beyond INTEGER reached the query
    (an OverflowError, or on PostgreSQL a message "not stored"): now AE not found."""
    from tests.integrations.hl7.conftest import cid, err, exchange, msa, orm

    message = orm(
        "FILL0001",
        cid("110000000005"),
        "PO-F1",
        control="CA",
        filler="99999999999999999999^RADBOOK",
    )
    [ack] = exchange(listener.port, message)
    assert msa(ack) == ("AE", "FILL0001")
    assert str(err(ack)[5][0][0]) == "request-not-found"
