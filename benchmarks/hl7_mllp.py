"""HL7 MLLP benchmark: ORM^O01 over one connection, each ACK awaited before the next send.

Every message is journaled and becomes an ImagingRequest, committed before its ACK
(the listener's normal path: decode, split, duplicate check, patient lookup,
``scheduling.requests.create_request(commit=False)``, journal row, one commit).

    .venv/bin/python benchmarks/hl7_mllp.py                       # SQLite file in a temp dir
    .venv/bin/python benchmarks/hl7_mllp.py --database-url postgresql+psycopg://postgres@127.0.0.1/radbook_bench

The client (the ``hl7`` package's MLLP client) runs in its own process, so it does not
share the listener's interpreter lock. Prints messages/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
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


def orm(i: int) -> bytes:
    patient = i % PATIENTS
    return (
        "\r".join(
            [
                f"MSH|^~\\&|HOSXP|{SENDER}|RADBOOK|{HUB}|20261121090000||ORM^O01^ORM_O01|B{i:08d}|P|"
                "2.5.1|||AL|NE|THA|UNICODE UTF-8",
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


def client(port: int, start: int, count: int, results) -> None:
    """Runs in a child process: send, await the ACK, check it, next."""
    from hl7.mllp import open_hl7_connection

    async def run():
        reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
        latencies = []
        t0 = time.perf_counter()
        for i in range(start, start + count):
            sent = time.perf_counter()
            writer.writeblock(orm(i))
            await writer.drain()
            ack = await reader.readmessage()
            latencies.append(time.perf_counter() - sent)
            msa = ack.segment("MSA")
            if str(msa[1]) != "AA" or str(msa[2]) != f"B{i:08d}":
                raise SystemExit(f"unexpected ACK for B{i:08d}: {ack}")
        elapsed = time.perf_counter() - t0
        writer.close()
        await writer.wait_closed()
        return elapsed, latencies

    results.put(asyncio.run(run()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=None, help="default: a new SQLite file in a temporary directory"
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--warmup",
        type=int,
        default=PATIENTS,
        help="messages sent first, not timed (registers the patients)",
    )
    parser.add_argument(
        "--journal-only",
        action="store_true",
        help="no domain operation: measures the listener, journal and ACK alone",
    )
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app import create_app
    from app.config import Config
    from app.demo import load_network
    from app.extensions import db
    from integrations.hl7 import _warm_up, make_listener
    from integrations.hl7.models import Hl7InboundMessage, Hl7Outcome
    from scheduling.models import ImagingRequest
    from tests.conftest import reset_schema

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.sqlite'}"

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(BenchConfig)
    with app.app_context():
        reset_schema(db.engine)
        upgrade()
        load_network()
        db.session.commit()
    _warm_up()
    listener = make_listener(app, "127.0.0.1", 0)
    if args.journal_only:
        listener.handler.handlers = {"ORM^O01": lambda work: None}
    listener.start()
    ctx = multiprocessing.get_context("spawn")
    try:
        for start, count in ((0, args.warmup), (args.warmup, args.messages)):
            results = ctx.Queue()
            proc = ctx.Process(target=client, args=(listener.port, start, count, results))
            proc.start()
            cpu_before = time.process_time()
            elapsed, latencies = results.get(timeout=3600)
            server_cpu = time.process_time() - cpu_before  # listener + workers, this process
            proc.join()
            if proc.exitcode:
                raise SystemExit(f"client failed with exit code {proc.exitcode}")
    finally:
        listener.stop()

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
    total = args.warmup + args.messages
    expected_requests = 0 if args.journal_only else total
    assert journaled == total and requests == expected_requests, (journaled, requests, total)
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000  # noqa: E731
    print(
        f"database: {dialect}"
        + (" (journal only, no domain operation)" if args.journal_only else "")
    )
    print(
        f"ORM^O01 over one MLLP connection, ACK awaited: {args.messages} messages "
        f"in {elapsed:.2f} s = {args.messages / elapsed:,.0f} messages/s"
    )
    print(
        f"latency ms: median {statistics.median(latencies) * 1000:.2f}, p90 {pct(90):.2f}, "
        f"p99 {pct(99):.2f}, max {latencies[-1] * 1000:.2f}"
    )
    print(f"journal rows (AA) {journaled}, requests {requests}: each committed before its ACK")
    print(
        f"listener CPU per message: {server_cpu / args.messages * 1000:.2f} ms; "
        f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    tmp.cleanup()


if __name__ == "__main__":
    main()
