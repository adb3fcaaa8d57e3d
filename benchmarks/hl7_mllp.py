"""HL7 MLLP benchmark: ORM^O01 over one or more connections, each ACK awaited before the next send.

Every message is journaled and becomes an ImagingRequest, committed before its ACK
(the listener's normal path: decode, split, duplicate check, patient lookup,
``scheduling.requests.create_request_id(commit=False)``, journal row, the group's one
commit; see integrations/hl7/inbound.py).

    .venv/bin/python benchmarks/hl7_mllp.py                       # SQLite file in a temp dir
    .venv/bin/python benchmarks/hl7_mllp.py --database-url postgresql+psycopg://postgres@127.0.0.1/radbook_bench
    .venv/bin/python benchmarks/hl7_mllp.py --connections 8       # eight senders at once
    .venv/bin/python benchmarks/hl7_mllp.py --connections 8 --processes 2  # 2 listeners, 1 port

Each round runs the full path, then the floor (the same listener with a do-nothing
ORM^O01 handler: decode, journal, commit, ACK), so both see the same load. The floor's
messages carry an MSH-10 starting with "F"; the listeners' ORM^O01 handler does
nothing for those, so the same listener processes serve both phases.

The listeners (``--processes`` of them, bound to one port with SO_REUSEPORT, as
``flask hl7 serve --processes`` runs them) and the client (the ``hl7`` package's MLLP
client) each run in their own process; every message is built before the clock starts.
Prints messages/s, latency and the listeners' CPU per message (from /proc/<pid>/stat).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PATIENTS = 200
SENDER = "11008"  # รพ.กุดรัง in the demo network
HUB = "10707"


def national_id(n: int) -> str:
    from scheduling.patients import national_id_check_digit

    stem = f"3{n:011d}"
    return stem + national_id_check_digit(stem)


def orm(i: int, floor: bool = False) -> bytes:
    patient = i % PATIENTS
    control = f"{'F' if floor else 'B'}{i:08d}"
    return (
        "\r".join(
            [
                f"MSH|^~\\&|HOSXP|{SENDER}|RADBOOK|{HUB}|20261121090000||ORM^O01^ORM_O01|"
                f"{control}|P|2.5.1|||AL|NE|THA|UNICODE UTF-8",
                f"PID|1||HN{patient:05d}^^^{SENDER}^MR~{national_id(patient)}^^^TH-CID^NI||"
                "ใจดี^สมชาย^^^นาย~JAIDEE^SOMCHAI^^^MR||19800115|M",
                "PV1|1|O",
                f"ORC|NW|PO{i:08d}^{SENDER}|||||^^^^^R|||||D001^รักษา^วิชัย^^^นพ.",
                f"OBR|1|PO{i:08d}^{SENDER}||US-UPABD^อัลตราซาวด์ช่องท้องส่วนบน^RADBOOK|||||||||"
                "ปวดท้องด้านขวาบน",
            ]
        ).encode("utf-8")
        + b"\r"
    )


def client(port: int, start: int, count: int, connections: int, floor: bool, results) -> None:
    """Runs in a child process: ``connections`` MLLP connections, each sending its share
    of the messages one by one (send, await the ACK, check it, next). Every message is
    built before the clock starts: nothing is imported or encoded inside the timed loop."""
    from hl7.mllp import open_hl7_connection

    numbers = list(range(start, start + count))
    messages = {i: orm(i, floor) for i in numbers}
    prefix = "F" if floor else "B"

    async def one_connection(share: list[int], latencies: list[float]) -> None:
        reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
        for i in share:
            sent = time.perf_counter()
            writer.writeblock(messages[i])
            await writer.drain()
            ack = await reader.readmessage()
            latencies.append(time.perf_counter() - sent)
            msa = ack.segment("MSA")
            if str(msa[1]) != "AA" or str(msa[2]) != f"{prefix}{i:08d}":
                raise SystemExit(f"unexpected ACK for {prefix}{i:08d}: {ack}")
        writer.close()
        await writer.wait_closed()

    async def run():
        latencies: list[float] = []
        t0 = time.perf_counter()
        await asyncio.gather(
            *(one_connection(numbers[k::connections], latencies) for k in range(connections))
        )
        return time.perf_counter() - t0, latencies

    results.put(asyncio.run(run()))


def bench_app(url: str):
    from app import create_app
    from app.config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url

    return create_app(BenchConfig)


def listener_process(url: str, port: int, ready) -> None:
    """Runs in a child process: one listener on ``port`` (SO_REUSEPORT), its ORM^O01
    handler doing nothing for the floor's messages (MSH-10 "F...")."""
    from integrations.hl7 import _warm_up, make_listener
    from integrations.hl7.handlers import handle_order

    def order_or_floor(work) -> None:
        if not work.msg.control_id.startswith("F"):
            handle_order(work)

    app = bench_app(url)
    _warm_up()
    listener = make_listener(app, "127.0.0.1", port, reuse_port=True)
    listener.handler.handlers = {**listener.handler.handlers, "ORM^O01": order_or_floor}
    listener.start()
    ready.put(os.getpid())
    threading.Event().wait()  # until terminated


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc/<pid>/stat, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=None, help="default: a new SQLite file in a temporary directory"
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--connections", type=int, default=1, help="MLLP connections sending at once"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="listener processes sharing the port"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=PATIENTS,
        help="messages sent first, not timed (registers the patients)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of (full, floor) phases, interleaved; the figures are medians",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the floor phases (the listener, journal and ACK with a do-nothing "
        "ORM^O01 handler)",
    )
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app.demo import load_network
    from app.extensions import db
    from integrations.hl7.models import Hl7InboundMessage, Hl7Outcome
    from scheduling.models import ImagingRequest
    from tests.conftest import reset_schema

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.sqlite'}"
    app = bench_app(url)
    with app.app_context():
        reset_schema(db.engine)
        upgrade()
        load_network()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    ready = ctx.Queue()
    listeners = [
        ctx.Process(target=listener_process, args=(url, port, ready), daemon=True)
        for _ in range(args.processes)
    ]
    for proc in listeners:
        proc.start()
    pids = [ready.get(timeout=300) for _ in listeners]

    def phase(start: int, count: int, floor: bool) -> tuple[float, list[float], float]:
        results = ctx.Queue()
        proc = ctx.Process(
            target=client, args=(port, start, count, args.connections, floor, results)
        )
        proc.start()
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        elapsed, latencies = results.get(timeout=3600)
        server_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        proc.join()
        if proc.exitcode:
            raise SystemExit(f"client failed with exit code {proc.exitcode}")
        return elapsed, latencies, server_cpu

    kinds = ["full"] + ([] if args.no_floor else ["floor"])
    figures: dict[str, list[tuple[float, list[float], float]]] = {k: [] for k in kinds}
    loads = []
    next_number, floor_messages = 0, 0
    try:
        phase(0, args.warmup, False)  # registers the patients; not timed
        next_number = args.warmup
        for round_no in range(args.rounds):
            for kind in kinds:
                figures[kind].append(phase(next_number, args.messages, kind == "floor"))
                next_number += args.messages
                floor_messages += args.messages if kind == "floor" else 0
            loads.append(os.getloadavg()[0])
            print(f"  round {round_no + 1}/{args.rounds}; load average {loads[-1]:.1f}", flush=True)
    finally:
        for proc in listeners:
            proc.terminate()
            proc.join(10)

    with app.app_context():
        journaled = db.session.scalar(
            select(func.count())
            .select_from(Hl7InboundMessage)
            .where(Hl7InboundMessage.outcome == Hl7Outcome.ACCEPTED)
        )
        requests = db.session.scalar(select(func.count()).select_from(ImagingRequest))
        dialect = db.engine.dialect.name
        db.session.remove()
        db.engine.dispose()
    assert journaled == next_number and requests == next_number - floor_messages, (
        journaled,
        requests,
        next_number,
    )
    print(
        f"database: {dialect}; ORM^O01 over {args.connections} MLLP connection(s), each ACK "
        f"awaited, {args.processes} listener process(es); {args.rounds} rounds of "
        f"{args.messages} messages per phase, full and floor interleaved; load average "
        f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs"
    )
    print(
        "| path | messages/s | median latency ms | p99 ms | listener CPU ms/message |"
        "\n|---|---:|---:|---:|---:|"
    )
    for kind in kinds:
        rates = [args.messages / e for e, _, _ in figures[kind]]
        latencies = sorted(x for _, lat, _ in figures[kind] for x in lat)
        cpu = statistics.median(c / args.messages for _, _, c in figures[kind])
        label = "RadBook (request created)" if kind == "full" else "floor: do-nothing handler"
        print(
            f"| {label} | {statistics.median(rates):,.0f} | "
            f"{statistics.median(latencies) * 1000:.2f} | "
            f"{latencies[int(0.99 * (len(latencies) - 1))] * 1000:.2f} | {cpu * 1000:.2f} |"
        )
    print(f"journal rows (AA) {journaled}, requests {requests}: each committed before its ACK")
    tmp.cleanup()


if __name__ == "__main__":
    main()
