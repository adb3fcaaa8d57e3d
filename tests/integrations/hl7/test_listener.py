"""The MLLP listener end to end with the hl7 package's client: journal, ACKs, duplicates,
broken frames, character sets, concurrency."""

from __future__ import annotations

import asyncio
import socket
import threading

from sqlalchemy import func, select

from app.extensions import db
from integrations.hl7.inbound import InboundProcessor
from integrations.hl7.mllp import BLOCK_END, START_BLOCK, MllpServer, frame
from integrations.hl7.models import Hl7InboundMessage, Hl7Outcome
from scheduling.models import AuditEvent, IdentifierType, Patient, Sex
from scheduling.patients import find_patient
from tests.integrations.hl7.conftest import (
    KUDRANG,
    adt,
    cid,
    err,
    exchange,
    hospital,
    msa,
    msh,
    run_in_thread,
)

CID1 = cid("110170023077")
CID2 = cid("340150012399")


def journal() -> list[Hl7InboundMessage]:
    db.session.expire_all()
    return db.session.scalars(select(Hl7InboundMessage).order_by(Hl7InboundMessage.id)).all()


def raw_exchange(
    port: int, data: bytes, *, expect_answer: bool = True, timeout: float = 20
) -> bytes:
    """Write raw bytes and read one MLLP block back (or b"" when the server sends none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if not expect_answer:
            sock.shutdown(socket.SHUT_WR)
        buf = b""
        while BLOCK_END not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf[1:-2] if buf.startswith(START_BLOCK) else buf


def test_adt_a04_registers_the_patient_and_journals_before_acking(listener):
    [ack] = exchange(listener.port, adt("ADT0001", CID1))
    assert msa(ack) == ("AA", "ADT0001")
    assert str(ack.segment("MSH")[9]) == "ACK^A04^ACK"
    patient = find_patient(IdentifierType.NATIONAL_ID, CID1, hospital_id=hospital(KUDRANG).id)
    assert patient.given_name_th == "สมชาย" and patient.family_name_th == "ใจดี"
    assert patient.prefix == "MR" and patient.sex is Sex.MALE
    assert patient.given_name_en == "SOMCHAI" and patient.birth_date.year == 1980
    assert patient.hn_at(hospital(KUDRANG).id) == "HN0001"
    [entry] = journal()
    assert entry.outcome is Hl7Outcome.ACCEPTED
    assert (entry.sending_application, entry.sending_facility) == ("HOSXP", KUDRANG)
    assert entry.message_type == "ADT^A04" and entry.control_id == "ADT0001"
    assert entry.hospital_id == hospital(KUDRANG).id and entry.patient_id == patient.id
    assert "ใจดี^สมชาย" in entry.raw and "MSA|AA|ADT0001" in entry.ack
    audit = db.session.scalars(select(AuditEvent)).all()
    assert [a.action for a in audit] == ["patient.register"]
    assert audit[0].actor == f"hl7:HOSXP@{KUDRANG}"


def test_journal_is_committed_before_the_ack_leaves(app, network):
    """A spy between the processor and the socket: when the ACK is handed over to be
    written, another connection must already see the journal row and the patient."""
    seen = []

    class Spy(InboundProcessor):
        def __call__(self, block, peer):
            answer = super().__call__(block, peer)
            with app.app_context(), db.engine.connect() as other:
                seen.append(
                    (
                        other.scalar(select(func.count()).select_from(Hl7InboundMessage)),
                        other.scalar(select(func.count()).select_from(Patient)),
                    )
                )
            return answer

    server = MllpServer(Spy(app), "127.0.0.1", 0).start()
    try:
        [ack] = exchange(server.port, adt("ADT0002", CID1))
    finally:
        server.stop()
    assert msa(ack)[0] == "AA"
    assert seen == [(1, 1)]


def test_adt_a08_updates_the_patient(listener):
    exchange(
        listener.port,
        adt("ADT0003", CID1),
        adt("ADT0004", CID1, event="A08", given="สมชาติ", latin="JAIDEE^SOMCHAT^^^MR"),
    )
    patient = find_patient(IdentifierType.NATIONAL_ID, CID1, hospital_id=hospital(KUDRANG).id)
    db.session.refresh(patient)
    assert patient.given_name_th == "สมชาติ" and patient.given_name_en == "SOMCHAT"
    assert [e.outcome for e in journal()] == [Hl7Outcome.ACCEPTED] * 2


def test_repeated_control_id_is_acked_again_and_not_processed_twice(listener):
    message = adt("DUP0001", CID1)
    first, second = exchange(listener.port, message, message)
    assert msa(first) == msa(second) == ("AA", "DUP0001")
    assert str(first) == str(second)  # the very same ACK, stored with the journal entry
    [entry] = journal()
    assert entry.duplicates == 1 and entry.last_duplicate_at is not None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1
    # The same MSH-10 from another sender is another message.
    [other] = exchange(listener.port, adt("DUP0001", CID2, app="OTHERHIS", hn="HN0002"))
    assert msa(other) == ("AA", "DUP0001")
    assert len(journal()) == 2


def test_a_failed_message_is_acked_ae_with_err_and_its_repeat_gets_the_same_ae(listener):
    bad = adt("BAD0001", "1101700230700")  # wrong check digit
    first, again = exchange(listener.port, bad, bad)
    assert msa(first) == ("AE", "BAD0001")
    assert str(first) == str(again)
    segment = err(first)
    assert str(segment[3][0][0]) == "102"
    assert str(segment[5][0][0]) == "cid-checksum"
    assert "เลขบัตรประชาชน" in str(segment[8])  # Thai for the people at the HIS
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 0
    [entry] = journal()
    assert entry.outcome is Hl7Outcome.ERROR and entry.error_code == "cid-checksum"
    assert "check digit" in entry.error_en and entry.error_th and entry.duplicates == 1


def test_hn_of_another_patient_is_an_error(listener):
    first, second = exchange(listener.port, adt("HN00001", CID1), adt("HN00002", CID2))
    assert msa(first)[0] == "AA" and msa(second)[0] == "AE"
    assert str(err(second)[5][0][0]) == "hn-taken"
    assert "HN0001" in str(err(second)[8])


def test_unsupported_type_and_unknown_sender_are_rejected_ar(listener):
    siu = msh("SIU^S12^SIU_S12", "SIU0001") + "\rSCH|1\r"
    adt_a99 = msh("ADT^A99^ADT_A01", "A990001") + "\rPID|1\r"
    unknown = adt("UNK0001", CID1, sender="99999")
    answers = exchange(listener.port, siu, adt_a99, unknown)
    assert [msa(a) for a in answers] == [("AR", "SIU0001"), ("AR", "A990001"), ("AR", "UNK0001")]
    assert [str(err(a)[3][0][0]) for a in answers] == ["200", "201", "103"]
    assert "99999" in str(err(answers[2])[8])
    entries = journal()
    assert [e.outcome for e in entries] == [Hl7Outcome.REJECTED] * 3
    assert entries[0].message_type == "SIU^S12" and entries[0].dedupe_control_id is None
    # A rejected message changed nothing: once the sender is fixed it may be sent again.
    [retry] = exchange(listener.port, adt("UNK0001", CID1))
    assert msa(retry) == ("AA", "UNK0001")


def test_malformed_message_is_rejected_and_journaled(listener):
    answer = raw_exchange(listener.port, frame(b"this is not HL7"))
    assert b"MSA|AR" in answer
    [entry] = journal()
    assert entry.outcome is Hl7Outcome.REJECTED and entry.raw == "this is not HL7"
    assert entry.error_code == "unreadable"


def test_message_without_control_id_is_rejected(listener):
    [ack] = exchange(listener.port, adt("", CID1))
    assert msa(ack) == ("AR", "")
    assert str(err(ack)[2]) == "MSH^1^10"


def test_truncated_block_is_journaled_and_the_next_one_answered(listener):
    cut = adt("CUT0001", CID1).encode()[:60]
    answer = raw_exchange(listener.port, START_BLOCK + cut + frame(adt("OK0001", CID2).encode()))
    assert b"MSA|AA|OK0001" in answer
    # A block cut off by the end of the connection gets no answer, but is in the journal.
    assert raw_exchange(listener.port, START_BLOCK + cut, expect_answer=False) == b""
    entries = journal()
    truncated = [e for e in entries if e.error_code == "truncated"]
    assert len(truncated) == 2 and all(e.outcome is Hl7Outcome.REJECTED for e in truncated)
    assert all(e.ack == "" for e in truncated)
    assert find_patient(IdentifierType.NATIONAL_ID, CID1, hospital_id=hospital(KUDRANG).id) is None


def test_oversized_message_is_rejected_with_its_control_id_and_the_stream_resyncs(app, network):
    app.config["HL7_MAX_MESSAGE_BYTES"] = 2000
    server = MllpServer(InboundProcessor(app), "127.0.0.1", 0, max_message_bytes=2000).start()
    try:
        big = adt("BIG0001", CID1).rstrip("\r") + "\rNTE|1||" + "ก" * 5000 + "\r"
        too_big, fine = exchange(server.port, big, adt("SMALL001", CID2))
    finally:
        server.stop()
        app.config["HL7_MAX_MESSAGE_BYTES"] = 1024 * 1024
    assert msa(too_big) == ("AR", "BIG0001")
    assert msa(fine) == ("AA", "SMALL001")
    entries = journal()
    assert entries[0].error_code == "too-large" and len(entries[0].raw) < 5000
    assert find_patient(IdentifierType.NATIONAL_ID, CID1, hospital_id=hospital(KUDRANG).id) is None


def test_tis620_message_and_its_ack(listener):
    text = adt(
        "TIS0001",
        CID1,
        charset="TIS-620",
        given="วิไลวรรณ",
        family="ศรีสุข",
        prefix="นางสาว",
        latin="",
        sex="F",
    )
    [ack] = exchange(listener.port, text.encode("tis-620"), encoding="tis-620")
    assert msa(ack) == ("AA", "TIS0001")
    assert str(ack.segment("MSH")[18]) == "TIS-620"
    patient = find_patient(IdentifierType.NATIONAL_ID, CID1, hospital_id=hospital(KUDRANG).id)
    assert (patient.prefix, patient.given_name_th, patient.family_name_th) == (
        "MISS",
        "วิไลวรรณ",
        "ศรีสุข",
    )
    assert patient.given_name_en  # romanised by RadBook, since none was sent
    [entry] = journal()
    assert entry.charset == "cp874" and "วิไลวรรณ" in entry.raw


def test_thai_error_text_reaches_a_tis620_sender_in_tis620(listener):
    text = adt("TIS0002", "1101700230700", charset="TIS-620", latin="")
    [ack] = exchange(listener.port, text.encode("tis-620"), encoding="tis-620")
    assert msa(ack)[0] == "AE"
    assert "เลขบัตรประชาชน" in str(err(ack)[8])


def test_undeclared_tis620_is_read_as_thai(listener):
    text = adt("TIS0003", CID1, charset="", latin="")
    [ack] = exchange(listener.port, text.encode("tis-620"), encoding="tis-620")
    assert msa(ack) == ("AA", "TIS0003")
    assert (
        find_patient(
            IdentifierType.NATIONAL_ID, CID1, hospital_id=hospital(KUDRANG).id
        ).given_name_th
        == "สมชาย"
    )


def test_many_connections_at_once(listener):
    results: list = []
    stems = [f"3{n:011d}" for n in range(6)]

    def client(n: int) -> None:
        messages = [adt(f"C{n}M{i}", cid(stems[n]), hn=f"HN{n}") for i in range(8)]
        results.extend(exchange(listener.port, *messages))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 48 and {msa(a)[0] for a in results} == {"AA"}
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 6
    assert len(journal()) == 48


def test_empty_block_gets_no_answer_and_no_journal(listener):
    async def run():
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(frame(b"") + frame(adt("AFTER01", CID1).encode()))
        await writer.drain()
        data = await asyncio.wait_for(reader.readuntil(BLOCK_END), 20)
        writer.close()
        await writer.wait_closed()
        return data

    assert b"MSA|AA|AFTER01" in run_in_thread(run)
    assert len(journal()) == 1
