"""``kill -9`` under load, many times per process kind: the long version of tests/faults.

For each kind (web under gunicorn, DICOM MPPS, HL7 listener, jobs with both outboxes)
and each round: fresh work is made, the load runs, the service is killed at a random
point, the database is checked (every acknowledged booking/change present, SQL
invariants of tests/faults/invariants.py), the service starts again on the same port,
the clients resend everything, and the database is checked again. Figures per kind:
kills, acknowledged before the kill, of those found after it, lost (must be 0),
invariant violations (must be 0), seconds to serve again.

    .venv/bin/python -m benchmarks.faults                      # SQLite file in /tmp
    .venv/bin/python -m benchmarks.faults --rounds 10 --url postgresql+psycopg://postgres@127.0.0.1/radbook_faults

The database at ``--url`` is emptied first (its schema is dropped and migrated again):
give it one of its own.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import make_app


def setup(url: str, pacs_port: int):
    from flask_migrate import upgrade

    from app.demo import load_demo
    from app.extensions import db
    from integrations.hl7.models import Hl7Destination
    from tests.conftest import reset_schema

    app = make_app(url)
    with app.app_context():
        reset_schema(db.engine)
        upgrade()
        load_demo()
        # The PACS is there from the start, so that every booking of every round queues
        # its order; it answers only in the jobs rounds (nothing sends before them).
        db.session.add(Hl7Destination(name="PACS", host="127.0.0.1", port=pacs_port))
        db.session.commit()
    return app


class Figures:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, kind: str, **values: float) -> None:
        for key, value in values.items():
            self.rows[kind][key] += value

    def print(self) -> None:
        keys = (
            "kills",
            "acknowledged",
            "found",
            "lost",
            "violations",
            "resent",
            "final_rows",
            "expected_rows",
            "restart_s",
        )
        print("| kind | " + " | ".join(keys) + " |")
        print("|---" * (len(keys) + 1) + "|")
        for kind, row in self.rows.items():
            kills = row["kills"] or 1
            cells = [f"{row[k]:.0f}" for k in keys[:-1]]
            cells.append(f"{row['restart_s'] / kills:.1f} avg" if row["restart_s"] else "n/a")
            print(f"| {kind} | " + " | ".join(cells) + " |")


def kill_when(service, done: callable, total: int, rng: random.Random) -> int:
    from tests.faults import harness

    target = max(1, int(total * rng.uniform(0.15, 0.85)))
    harness.wait_for(lambda: done() >= target, 300, f"{target} answers")
    service.kill9()
    return target


def restart(service) -> float:
    started = time.perf_counter()
    service.start()
    return time.perf_counter() - started


# --- one round per kind ----------------------------------------------------------------


def web_round(service, figures: Figures, rng: random.Random, size: int) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from scheduling.models import Appointment
    from tests.faults import invariants
    from tests.faults.test_kill_web import Booking, Tally, prepare, run_clients

    bookings = prepare(size, destination=False)
    tally, stop = Tally(), threading.Event()
    load = threading.Thread(target=run_clients, args=(service.port, bookings, 4, tally, stop))
    load.start()
    kill_when(service, lambda: tally.confirmed, size, rng)
    stop.set()
    load.join(120)
    confirmed = {b.appointment_id for b in bookings if b.outcome == "booked"}
    db.session.rollback()
    found = set(db.session.scalars(select(Appointment.id).where(Appointment.id.in_(confirmed))))
    seconds = restart(service)
    run_clients(service.port, [b for b in bookings if b.outcome != "booked"], 2)
    again = [Booking(b.request_id, b.device_id, b.start_at) for b in bookings]
    run_clients(service.port, again, 2)  # every one once more: none may book twice
    db.session.rollback()
    ids = [b.request_id for b in bookings]
    rows = db.session.scalar(
        select(func.count(Appointment.id)).where(Appointment.request_id.in_(ids))
    )
    figures.add(
        "web (gunicorn)",
        kills=1,
        acknowledged=len(confirmed),
        found=len(found),
        lost=len(confirmed - found),
        violations=len(invariants.violations()),
        resent=len(again),
        final_rows=rows,
        expected_rows=size,
        restart_s=seconds,
    )


def hl7_round(service, figures: Figures, rng: random.Random, size: int, first: int) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from scheduling.models import ImagingRequest
    from tests.faults import invariants
    from tests.faults.test_kill_hl7 import orders, send_all

    messages = orders(first, size)
    answers: dict[str, str] = {}
    stop = threading.Event()
    load = threading.Thread(target=send_all, args=(service.port, messages, 4, answers, stop))
    load.start()
    kill_when(service, lambda: len(answers), size, rng)
    stop.set()
    load.join(120)
    placer = {c: p for c, p, _ in messages}
    acked = {placer[c] for c, code in answers.items() if code == "AA"}
    db.session.rollback()
    found = set(
        db.session.scalars(
            select(ImagingRequest.placer_order_number).where(
                ImagingRequest.placer_order_number.in_(acked)
            )
        )
    )
    seconds = restart(service)
    again: dict[str, str] = {}
    send_all(service.port, messages, 2, again)
    db.session.rollback()
    rows = db.session.scalar(
        select(func.count(ImagingRequest.id)).where(
            ImagingRequest.placer_order_number.in_(placer.values())
        )
    )
    figures.add(
        "HL7 listener",
        kills=1,
        acknowledged=len(acked),
        found=len(found),
        lost=len(acked - found) + sum(1 for v in again.values() if v != "AA"),
        violations=len(invariants.violations()),
        resent=len(messages),
        final_rows=rows,
        expected_rows=size,
        restart_s=seconds,
    )


def dicom_round(
    service, figures: Figures, rng: random.Random, per_scanner: int, round_: int
) -> None:
    from sqlalchemy import func, select

    from app.extensions import db
    from scheduling.models import Appointment, AppointmentStatus
    from tests.faults import invariants
    from tests.faults.test_kill_dicom import SUCCESS, booked_exams, scanners
    from worklist.models import PerformedProcedureStep

    exams = booked_exams(per_scanner, round_)
    stop = threading.Event()
    threads = scanners(service.port, exams, stop)
    kill_when(service, lambda: sum(len(e.answers) for e in exams), 2 * len(exams), rng)
    stop.set()
    for thread in threads:
        thread.join(120)
    acked = [
        (e.uid, step) for e in exams for step, status in e.answers.items() if status == SUCCESS
    ]
    db.session.rollback()
    steps = {
        s.sop_instance_uid: s
        for s in db.session.scalars(
            select(PerformedProcedureStep).where(
                PerformedProcedureStep.sop_instance_uid.in_([e.uid for e in exams])
            )
        )
    }
    found = sum(
        1
        for uid, step in acked
        if uid in steps and (step == "create" or steps[uid].status.value == "COMPLETED")
    )
    seconds = restart(service)
    for exam in exams:
        exam.answers.clear()
    for thread in scanners(service.port, exams):
        thread.join(300)
    db.session.rollback()
    uids = [e.uid for e in exams]
    rows = db.session.scalar(
        select(func.count(PerformedProcedureStep.id)).where(
            PerformedProcedureStep.sop_instance_uid.in_(uids)
        )
    )
    completed = db.session.scalar(
        select(func.count(Appointment.id))
        .join(PerformedProcedureStep, PerformedProcedureStep.appointment_id == Appointment.id)
        .where(
            PerformedProcedureStep.sop_instance_uid.in_(uids),
            Appointment.status == AppointmentStatus.COMPLETED,
        )
    )
    figures.add(
        "DICOM MPPS",
        kills=1,
        acknowledged=len(acked),
        found=found,
        lost=len(acked) - found + (len(exams) - completed),
        violations=len(invariants.violations()),
        resent=2 * len(exams),
        final_rows=rows,
        expected_rows=len(exams),
        restart_s=seconds,
    )


def jobs_round(service, figures: Figures, rng: random.Random, size: int, pacs, line) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from integrations.hl7.models import Hl7OutboxMessage, OutboxStatus
    from integrations.line.models import LineOutboxStatus
    from tests.faults import harness, invariants
    from tests.faults.test_kill_jobs import book_linked_patients, outbox_rows

    pacs.blocks.clear()
    line.reset()
    book_linked_patients(None, size)
    hl7_rows, line_rows = outbox_rows()
    pending = [r.control_id for r in hl7_rows if r.status is OutboxStatus.PENDING]
    due = {r.retry_key for r in line_rows if r.status is LineOutboxStatus.PENDING}
    service.start()
    kill_when(service, lambda: len(pacs.blocks) + len(line.accepted), len(pending) + len(due), rng)
    db.session.rollback()
    sent_hl7 = set(
        db.session.scalars(
            select(Hl7OutboxMessage.control_id).where(
                Hl7OutboxMessage.control_id.in_(pending),
                Hl7OutboxMessage.status == OutboxStatus.SENT,
            )
        )
    )
    received = set(pacs.control_ids())
    accepted = {a.retry_key for a in line.accepted}
    _, line_now = outbox_rows()
    sent_line = {
        r.retry_key for r in line_now if r.retry_key in due and r.status is LineOutboxStatus.SENT
    }
    service.start()  # (no port to wait for: the drain below is the proof it works)

    def drained() -> bool:
        hl7, due_now = outbox_rows()
        return all(r.status is OutboxStatus.SENT for r in hl7) and all(
            r.status is LineOutboxStatus.SENT for r in due_now
        )

    harness.wait_for(drained, 600, "outboxes drained")
    service.stop()
    arrivals = pacs.control_ids()
    in_order = list(dict.fromkeys(arrivals)) == pending
    delivered = {a.retry_key for a in line.accepted}
    figures.add(
        "jobs (HL7 + LINE outboxes)",
        kills=1,
        acknowledged=len(sent_hl7) + len(sent_line),
        found=len(sent_hl7 & received) + len(sent_line & accepted),
        lost=len(set(pending) - set(arrivals)) + (0 if in_order else 1) + len(due - delivered),
        violations=len(invariants.violations()) + line.duplicate_count(),
        resent=len(arrivals) - len(set(arrivals)),
        final_rows=len(set(arrivals)) + len(delivered & due),
        expected_rows=len(pending) + len(due),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="database (emptied first); default a SQLite file in /tmp")
    parser.add_argument("--rounds", type=int, default=5, help="kills per process kind")
    parser.add_argument("--size", type=int, default=60, help="bookings/orders per round")
    parser.add_argument("--kinds", default="web,dicom,hl7,jobs")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()

    from integrations.hl7.mllp import MllpServer
    from tests.faults import harness
    from tests.faults.test_kill_jobs import TOKEN, SlowLine, SlowReceiver

    workdir = Path(tempfile.mkdtemp(prefix="radbook-faults-"))
    url = args.url or f"sqlite:///{workdir / 'faults.sqlite'}"
    pacs_port = harness.free_port()
    app = setup(url, pacs_port)
    rng = random.Random(args.seed)
    figures = Figures()
    kinds = args.kinds.split(",")
    print(
        f"database {url.split('@')[-1]}; {args.rounds} kills per kind, {args.size} per round;"
        f" logs in {workdir}"
    )
    with app.app_context():
        if "web" in kinds:
            web = harness.web_service(url, workdir).start()
            try:
                for _ in range(args.rounds):
                    web_round(web, figures, rng, args.size)
            finally:
                web.stop()
        if "hl7" in kinds:
            hl7 = harness.hl7_service(url, workdir).start()
            try:
                for n in range(args.rounds):
                    hl7_round(hl7, figures, rng, args.size, 1 + n * args.size)
            finally:
                hl7.stop()
        if "dicom" in kinds:
            dicom = harness.dicom_service(url, workdir).start()
            try:
                for n in range(args.rounds):
                    dicom_round(dicom, figures, rng, max(2, args.size // 4), n)
            finally:
                dicom.stop()
        if "jobs" in kinds:
            pacs, line = SlowReceiver(), SlowLine(access_token=TOKEN, validate="light").start()
            pacs.delay = line.delay = 0.02
            server = MllpServer(pacs, "127.0.0.1", pacs_port).start()
            jobs = harness.jobs_service(
                url,
                workdir,
                HL7_OUTBOX_INTERVAL_SECONDS="1",
                LINE_SEND_INTERVAL="1",
                LINE_API_BASE_URL=line.base_url,
                LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
                LINE_QUIET_HOURS="",
                LINE_SEND_WORKERS="2",
                LINE_SEND_BATCH="10",
            )
            try:
                for _ in range(args.rounds):
                    jobs_round(jobs, figures, rng, args.size, pacs, line)
            finally:
                jobs.stop()
                server.stop()
                line.stop()
    figures.print()


if __name__ == "__main__":
    main()
