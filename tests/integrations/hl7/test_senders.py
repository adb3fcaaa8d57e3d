"""Registered HL7 senders: a message counts only from a registered sender's address and
with that sender's hospital in MSH-4; the listener's limits on what a caller may hold.

Every exchange here goes through a real listener from a client socket bound to a
loopback address of its own (127.0.0.2, 127.0.0.3: Linux routes all of 127/8 to lo).
"""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc

import pytest
from sqlalchemy import func, select

from app.extensions import db
from integrations.hl7 import make_listener
from integrations.hl7.inbound import InboundProcessor
from integrations.hl7.mllp import START_BLOCK, Deframer, MllpServer, frame
from integrations.hl7.models import Hl7InboundMessage, Hl7Outcome, Hl7Sender
from integrations.hl7.senders import SenderDirectory, update_sender
from scheduling.audit import Actor
from scheduling.models import AuditEvent, ImagingRequest, Interface, RequestStatus
from tests.integrations.hl7.conftest import KOSUM, KUDRANG, MKH, adt, cid, hospital, orm

CID1 = cid("110170023077")
ADMIN = Actor(interface=Interface.CLI, name="test")


def talk(port: int, source: str, *messages: str, timeout: float = 20) -> list[str]:
    """Send each message from a socket bound to ``source``; the answers' texts in order
    ("" once the listener has closed the connection)."""
    answers = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        deframer = Deframer()
        for message in messages:
            try:
                sock.sendall(frame(message.encode()))
            except (BrokenPipeError, ConnectionResetError):
                answers.append("")
                continue
            answer = ""
            while not answer:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:  # closed by the listener, our data unread
                    chunk = b""
                if not chunk:
                    break
                blocks = deframer.feed(chunk)
                if blocks:
                    answer = blocks[0].data.decode()
            answers.append(answer)
    return answers


def msa_of(answer: str) -> tuple[str, str]:
    msa = next(s for s in answer.split("\r") if s.startswith("MSA|")).split("|")
    return msa[1], msa[2]


def err_code(answer: str) -> str:
    """ERR-5 (RadBook's own code)."""
    err = next(s for s in answer.split("\r") if s.startswith("ERR|")).split("|")
    return err[5].split("^")[0]


def journal() -> list[Hl7InboundMessage]:
    db.session.expire_all()
    return db.session.scalars(select(Hl7InboundMessage).order_by(Hl7InboundMessage.id)).all()


def sender_of(code: str) -> Hl7Sender:
    return db.session.scalar(select(Hl7Sender).where(Hl7Sender.hospital_id == hospital(code).id))


def move_sender(code: str, addresses: str, now) -> None:
    update_sender(ADMIN, now, sender_of(code), addresses_text=addresses)


@pytest.fixture
def listener(app, network):
    server = make_listener(app, "127.0.0.1", 0).start()
    yield server
    server.stop()


def test_demo_registers_the_two_his_and_the_hub_ris_from_loopback(network):
    senders = {s.hospital.code: s for s in db.session.scalars(select(Hl7Sender))}
    assert set(senders) == {KUDRANG, KOSUM, MKH}
    assert all(s.addresses == "127.0.0.1" and s.is_enabled for s in senders.values())


def test_a_second_loopback_address_is_refused_journaled_and_disconnected(listener):
    """The demo senders call from 127.0.0.1: the same message from 127.0.0.2 is AR."""
    refused, after = talk(listener.port, "127.0.0.2", adt("FAR0001", CID1), adt("FAR0002", CID1))
    assert msa_of(refused) == ("AR", "FAR0001")
    assert err_code(refused) == "sender-not-registered"
    assert "127.0.0.2" in refused
    assert after == ""  # one answer, then the connection is closed
    [entry] = journal()
    assert entry.outcome is Hl7Outcome.REJECTED and entry.remote_addr == "127.0.0.2"
    assert entry.error_code == "sender-not-registered" and entry.error_th
    assert entry.dedupe_control_id is None and entry.hospital_id is None
    # The registered address is still served.
    [ok] = talk(listener.port, "127.0.0.1", adt("NEAR0001", CID1))
    assert msa_of(ok) == ("AA", "NEAR0001")


def test_msh4_spoofing_is_refused(app, network, now):
    """Kosum's HIS (127.0.0.2) cancels Kud Rang's order by writing Kud Rang's code in
    MSH-4: refused. The same cancel from Kud Rang's own HIS (127.0.0.3) is accepted."""
    move_sender(KUDRANG, "127.0.0.3", now)
    move_sender(KOSUM, "127.0.0.2", now)
    server = make_listener(app, "127.0.0.1", 0).start()
    try:
        [placed] = talk(server.port, "127.0.0.3", orm("SPF0001", CID1, "PO7001"))
        assert msa_of(placed) == ("AA", "SPF0001")
        cancel = orm("SPF0002", CID1, "PO7001", control="CA")  # MSH-4 = Kud Rang
        [spoofed] = talk(server.port, "127.0.0.2", cancel)
        assert msa_of(spoofed) == ("AR", "SPF0002")
        assert err_code(spoofed) == "facility-not-registered"
        request = db.session.scalar(
            select(ImagingRequest).where(ImagingRequest.placer_order_number == "PO7001")
        )
        db.session.refresh(request)
        assert request.status is RequestStatus.SUBMITTED
        # Kosum's HIS naming Kosum reaches the scope check (a different refusal).
        [own] = talk(
            server.port,
            "127.0.0.2",
            orm("SPF0003", CID1, "PO7001", control="CA", sender=KOSUM, hn="KS9"),
        )
        assert msa_of(own)[0] == "AE"
        [real] = talk(server.port, "127.0.0.3", orm("SPF0002", CID1, "PO7001", control="CA"))
        assert msa_of(real) == ("AA", "SPF0002")
        db.session.refresh(request)
        assert request.status is RequestStatus.CANCELLED
    finally:
        server.stop()
    spoof = [e for e in journal() if e.error_code == "facility-not-registered"]
    assert len(spoof) == 1 and spoof[0].remote_addr == "127.0.0.2"


def test_a_network_allows_every_address_in_it_and_disabled_senders_nothing(app, network, now):
    move_sender(KUDRANG, "127.0.0.0/29", now)
    update_sender(ADMIN, now, sender_of(KOSUM), is_enabled=False)
    server = make_listener(app, "127.0.0.1", 0).start()
    try:
        [inside] = talk(server.port, "127.0.0.5", adt("NET0001", CID1))
        [outside] = talk(server.port, "127.0.0.9", adt("NET0002", CID1))
        [kosum] = talk(server.port, "127.0.0.1", adt("NET0003", CID1, sender=KOSUM))
    finally:
        server.stop()
    assert msa_of(inside)[0] == "AA"
    assert err_code(outside) == "sender-not-registered"
    assert err_code(kosum) == "facility-not-registered"


def test_the_listener_sees_a_change_within_the_refresh_time(app, network, now):
    processor = InboundProcessor(app, senders=SenderDirectory(max_age=0.2))
    server = MllpServer(processor, "127.0.0.1", 0).start()
    try:
        assert msa_of(talk(server.port, "127.0.0.1", adt("REF0001", CID1))[0])[0] == "AA"
        move_sender(KUDRANG, "10.7.1.20", now)
        time.sleep(0.3)
        [gone] = talk(server.port, "127.0.0.1", adt("REF0002", CID1))
    finally:
        server.stop()
    assert err_code(gone) == "facility-not-registered"


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_add_list_remove_each_audited(app, network):
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=[
            "hl7-sender", "add", "--hospital", KUDRANG, "--address", "10.7.1.20",
            "--address", "10.7.2.0/24", "--name", "HOSxP",
        ]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    new = db.session.scalar(select(Hl7Sender).where(Hl7Sender.name == "HOSxP"))
    assert new.addresses == "10.7.1.20 10.7.2.0/24"
    listed = runner.invoke(args=["hl7-sender", "list"])
    assert listed.exit_code == 0
    line = next(x for x in listed.output.splitlines() if x.startswith(f"{new.id}\t"))
    assert KUDRANG in line and "10.7.2.0/24" in line and "HOSxP" in line
    removed = runner.invoke(args=["hl7-sender", "remove", str(new.id)])
    assert removed.exit_code == 0, removed.output
    assert db.session.get(Hl7Sender, new.id) is None
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.entity_type == "hl7_sender")
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["hl7.sender.create", "hl7.sender.remove"]


@pytest.mark.parametrize(
    "args",
    [
        ["--hospital", "99999", "--address", "10.7.1.20"],
        ["--hospital", KUDRANG, "--address", "10.7.1.300"],
        ["--hospital", KUDRANG, "--address", "10.7.1.5/24"],
        ["--hospital", KUDRANG, "--address", "his.kudrang.local"],
    ],
)
def test_cli_refuses_what_is_not_a_hospital_or_an_address(app, network, args):
    result = app.test_cli_runner().invoke(args=["hl7-sender", "add", *args])
    assert result.exit_code != 0 and "Error" in result.output
    assert db.session.scalar(select(func.count()).select_from(Hl7Sender)) == 3


def test_cli_remove_unknown_id(app, network):
    result = app.test_cli_runner().invoke(args=["hl7-sender", "remove", "4242"])
    assert result.exit_code != 0 and "4242" in result.output


# --- what one caller may hold ---------------------------------------------------------------


def _closed_soon(sock: socket.socket, within: float = 5.0) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_connections_beyond_the_cap_are_closed_at_once(app, network):
    server = MllpServer(InboundProcessor(app), "127.0.0.1", 0, max_connections=3).start()
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", server.port))
        try:
            assert _closed_soon(extra) or server.refused_connections == 1
        finally:
            extra.close()
        assert server.refused_connections == 1
        # One of the three leaves: the next caller gets its place.
        held.pop().close()
        time.sleep(0.2)
        [ok] = talk(server.port, "127.0.0.1", adt("CAP0001", CID1))
        assert msa_of(ok)[0] == "AA"
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_idle_connection_is_closed(app, network):
    server = MllpServer(InboundProcessor(app), "127.0.0.1", 0, idle_timeout=0.3).start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        with sock:
            started = time.monotonic()
            assert _closed_soon(sock)
            assert time.monotonic() - started < 4
        time.sleep(0.1)
        assert server.open_connections == 0
    finally:
        server.stop()


def test_a_block_trickled_too_slowly_is_cut_and_journaled(app, network):
    """Slowloris: a byte every 0.1 s keeps the connection busy but never finishes the block."""
    server = MllpServer(
        InboundProcessor(app), "127.0.0.1", 0, idle_timeout=5, block_timeout=0.5
    ).start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        closed = False
        with sock:
            sock.sendall(START_BLOCK + b"MSH|^~\\&|HOSXP|11008|")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    sock.sendall(b"x")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                sock.settimeout(0.1)
                try:
                    if sock.recv(1) == b"":
                        closed = True
                        break
                except TimeoutError:
                    pass
        assert closed
    finally:
        server.stop()
    [entry] = journal()
    assert entry.error_code == "truncated" and entry.outcome is Hl7Outcome.REJECTED


def test_unfinished_blocks_are_bounded_and_their_memory_freed_on_close(app, network):
    """Eight connections each hold an unfinished block of almost 1 MiB, then go away:
    the listener's Python memory comes back to where it was."""
    server = MllpServer(InboundProcessor(app), "127.0.0.1", 0, max_connections=8).start()
    chunk = START_BLOCK + b"MSH|^~\\&|" + b"A" * (1024 * 1024 - 100)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        socks = []
        for _ in range(8):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(chunk)
            socks.append(sock)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            held = tracemalloc.get_traced_memory()[0] - baseline
            if held > 7 * 1024 * 1024:
                break
            time.sleep(0.05)
        assert held > 7 * 1024 * 1024  # the blocks were really held
        for sock in socks:
            sock.close()
        deadline = time.monotonic() + 10
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        left = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
        server.stop()
    assert server.open_connections == 0
    assert left < 1024 * 1024, left


def test_oversized_data_on_one_connection_is_not_kept(app, network):
    """3 MiB without an end block against a 1 MiB limit: the listener keeps the head only."""
    server = MllpServer(
        InboundProcessor(app), "127.0.0.1", 0, max_message_bytes=1024 * 1024
    ).start()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        peak_seen = 0
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(START_BLOCK + b"MSH|^~\\&|")
            for _ in range(48):
                sock.sendall(b"B" * 65536)
            time.sleep(0.3)
            peak_seen = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
        server.stop()
    assert peak_seen < 2 * 1024 * 1024, peak_seen


def test_default_listener_binds_loopback(app):
    assert app.config["HL7_HOST"] == "127.0.0.1"
    server = make_listener(app, port=0)
    assert server.host == "127.0.0.1"
    assert server.max_connections == app.config["HL7_MAX_CONNECTIONS"]


def test_concurrent_refusals_do_not_disturb_a_registered_sender(app, network):
    """Strangers hammering the port while the HIS sends: the HIS gets its AAs."""
    server = make_listener(app, "127.0.0.1", 0).start()
    results: list[str] = []

    def stranger(n: int) -> None:
        results.extend(talk(server.port, "127.0.0.2", adt(f"STR{n:04d}", CID1)))

    threads = [threading.Thread(target=stranger, args=(n,)) for n in range(6)]
    try:
        for t in threads:
            t.start()
        mine = talk(server.port, "127.0.0.1", *[adt(f"MINE{n:03d}", CID1) for n in range(3)])
        for t in threads:
            t.join(30)
    finally:
        server.stop()
    assert [msa_of(a)[0] for a in mine] == ["AA"] * 3
    assert [err_code(a) for a in results] == ["sender-not-registered"] * 6
