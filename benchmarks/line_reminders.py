"""Benchmark: 10,000 LINE reminders to the local stand-in, once clean and once killed halfway.

    .venv/bin/python benchmarks/line_reminders.py            # 10,000 reminders, SQLite
    .venv/bin/python benchmarks/line_reminders.py --count 2000
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/radbook_bench \\
        .venv/bin/python benchmarks/line_reminders.py

What it does: builds a database (fresh SQLite file in a temporary folder unless
DATABASE_URL is set; that database is wiped) with 1,000 LINE-linked patients and
``--count`` booked appointments, each with one reminder due now in the outbox
(composed by the real Flex composer). The stand-in runs in its own process; the
sender is ``flask line send``'s code in its own process, with the real
line-bot-sdk client. Two runs:

1. clean: time from starting the sender until every row is SENT;
2. crash: the sender SIGKILLs itself when its push number count/2 + 97 returns (so
   mid-batch, other pushes in flight, the batch not committed), then a new sender is
   started; time from the first start until every row is SENT.

Both runs check against the stand-in's record: duplicates (a message accepted twice)
and lost rows (a row not SENT, or SENT without the stand-in having its retry key).
Target: <= 10 s per run, zero duplicates, zero lost.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "bench-token"
PATIENTS = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def post(url: str, body: dict | None = None) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()


def make_app():
    from app import create_app
    from app.config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]

    return create_app(BenchConfig)


def build(count: int) -> None:
    """A fresh schema with ``count`` appointments, each with a reminder due now."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.extensions import db
    from integrations.line import linking, outbox
    from integrations.line.models import LinePatientLink
    from integrations.line.settings import ReminderRule
    from scheduling.clock import utcnow
    from scheduling.models import (
        Appointment,
        AppointmentStatus,
        Device,
        Hospital,
        HospitalLevel,
        IdentifierType,
        ImagingRequest,
        Modality,
        Patient,
        Procedure,
        RequestStatus,
    )
    from scheduling.patients import national_id_check_digit

    app = make_app()
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        now = utcnow()
        hub = Hospital(
            code="10707",
            name_th="โรงพยาบาลมหาสารคาม",
            name_en="Mahasarakham Hospital",
            level=HospitalLevel.GENERAL,
            province_th="มหาสารคาม",
            province_en="Maha Sarakham",
            is_hub=True,
            map_url="https://maps.google.com/?q=Mahasarakham+Hospital",
            phone="043-740-993",
        )
        requester = Hospital(
            code="11008",
            name_th="โรงพยาบาลกุดรัง",
            name_en="Kut Rang Hospital",
            level=HospitalLevel.COMMUNITY,
            province_th="มหาสารคาม",
            province_en="Maha Sarakham",
            is_hub=False,
        )
        db.session.add_all(
            [hub, requester, Modality(code="US", name_th="อัลตราซาวด์", name_en="Ultrasound")]
        )
        db.session.flush()
        device = Device(
            hospital_id=hub.id,
            modality_code="US",
            name="US 1",
            ae_title="MKH_US1",
            room_th="ห้องอัลตราซาวด์ 1 อาคารรังสีวิทยา ชั้น 1",
            room_en="Ultrasound room 1, Radiology building",
        )
        procedure = Procedure(
            code="US-UPABD",
            name_th="อัลตราซาวด์ช่องท้องส่วนบน",
            name_en="Ultrasound upper abdomen",
            modality_code="US",
            duration_minutes=20,
            prep_th="งดน้ำและอาหารทุกชนิด 6–8 ชั่วโมงก่อนตรวจ",
            prep_en="Nothing to eat or drink for 6–8 hours before the exam.",
        )
        db.session.add_all([device, procedure])
        db.session.flush()
        patients = []
        for n in range(PATIENTS):
            stem = f"3{n:011d}"
            patient = Patient(
                id_type=IdentifierType.NATIONAL_ID,
                id_value=stem + national_id_check_digit(stem),
                prefix="MRS",
                given_name_th=f"ผู้ป่วย{n}",
                family_name_th="ทดสอบ",
                preferred_language="en" if n % 10 == 0 else "th",
            )
            db.session.add(patient)
            patients.append(patient)
        db.session.flush()
        accounts = []
        for patient in patients:
            account = linking.account_for("U" + uuid.uuid4().hex, now)
            db.session.add(LinePatientLink(account=account, patient=patient, linked_at=now))
            accounts.append(account)
        db.session.flush()
        rule = ReminderRule(-1, (now - timedelta(minutes=1)).time())
        for n in range(count):
            patient = patients[n % PATIENTS]
            start = now + timedelta(days=1, minutes=20 * n)
            request = ImagingRequest(
                placer_order_number=f"B{n:08d}",
                requesting_hospital_id=requester.id,
                hub_hospital_id=hub.id,
                patient_id=patient.id,
                procedure_id=procedure.id,
                status=RequestStatus.SCHEDULED,
                created_at=now,
                updated_at=now,
            )
            db.session.add(request)
            db.session.flush()
            appointment = Appointment(
                request=request,
                patient_id=patient.id,
                hub_hospital_id=hub.id,
                device_id=device.id,
                start_at=start,
                end_at=start + timedelta(minutes=20),
                status=AppointmentStatus.BOOKED,
                accession_number=f"{n:013d}",
                study_instance_uid=f"2.25.{uuid.uuid4().int}",
                requested_procedure_id=f"{n}",
                sps_id=f"{n}S1",
                appointment_code=f"B{n:07d}",
                created_at=now,
                updated_at=now,
            )
            db.session.add(appointment)
            db.session.flush()
            msgs, summary = outbox.messages.reminder(appointment, outbox.locale_of(patient), rule)
            outbox._add(
                accounts[n % PATIENTS],
                outbox.LineMessageKind.REMINDER,
                now,
                msgs,
                summary,
                appointment=appointment,
                locale=outbox.locale_of(patient),
                due_at=now - timedelta(minutes=1),
                quiet_exempt=True,
                dedupe_key=f"bench:{n}",
            )
            if n % 1000 == 999:
                db.session.commit()
        db.session.commit()


def reset_outbox() -> None:
    """Every row back to PENDING with a fresh retry key, as if just queued."""
    from sqlalchemy import select

    from app.extensions import db
    from integrations.line.models import LineOutbox, LineOutboxStatus
    from scheduling.clock import utcnow

    app = make_app()
    with app.app_context():
        now = utcnow()
        for row in db.session.scalars(select(LineOutbox)):
            row.status = LineOutboxStatus.PENDING
            row.retry_key = str(uuid.uuid4())
            row.attempts = 0
            row.first_attempt_at = row.last_attempt_at = row.next_attempt_at = None
            row.sent_at = None
            row.last_error = None
            row.due_at = now - timedelta(minutes=1)
        db.session.commit()


def send() -> None:
    """The sender process: send until nothing is due (what the jobs process runs).

    With ``LINE_BENCH_KILL_AFTER=N`` it SIGKILLs itself as the N-th push returns: in
    the middle of a batch, other pushes in flight, the batch not committed.
    """
    from integrations.line import delivery
    from integrations.line.delivery import send_due

    kill_after = int(os.environ.get("LINE_BENCH_KILL_AFTER") or 0)
    if kill_after:
        import itertools
        import threading

        counter, lock = itertools.count(1), threading.Lock()
        push = delivery.LineClient.push

        def push_then_maybe_die(self, item):
            outcome = push(self, item)
            with lock:
                if next(counter) >= kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
            return outcome

        delivery.LineClient.push = push_then_maybe_die

    app = make_app()
    with app.app_context():
        while True:
            report = send_due()
            if report.sent == 0 and report.retried == 0:
                break


def check(standin_url: str) -> dict:
    from datetime import datetime

    from sqlalchemy import select

    from app.extensions import db
    from integrations.line.models import LineOutbox, LineOutboxStatus

    accepted = get_json(standin_url + "/_standin/accepted")
    stats = get_json(standin_url + "/_standin/stats")
    moments = sorted(datetime.fromisoformat(a["at"]) for a in accepted)
    span = (moments[-1] - moments[0]).total_seconds() if moments else 0.0
    keys = {a["retryKey"] for a in accepted}
    app = make_app()
    with app.app_context():
        rows = db.session.execute(select(LineOutbox.status, LineOutbox.retry_key)).all()
    not_sent = sum(1 for status, _ in rows if status is not LineOutboxStatus.SENT)
    missing = sum(1 for _, key in rows if key not in keys)
    return {
        "rows": len(rows),
        "accepted": len(accepted),
        "duplicates": stats["duplicates"],
        "lost": max(not_sent, missing),
        "409": stats["requests"].get("push 409", 0),
        "span": span,
    }


def run_sender(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--send"], env=env, cwd=ROOT)


def wait_all_accepted(standin_url: str, count: int, process: subprocess.Popen) -> None:
    while process.poll() is None:
        time.sleep(0.02)
    if process.returncode != 0:
        raise SystemExit(f"sender exited with {process.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument(
        "--validate",
        choices=["full", "light"],
        default="light",
        help="stand-in request checks (full: the SDK's schema models, slow)",
    )
    parser.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reset", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        return send()
    if args.build:
        return build(args.build)
    if args.reset:
        return reset_outbox()
    if args.check:
        print(json.dumps(check(args.check)))
        return

    tmp = tempfile.mkdtemp(prefix="radbook-line-bench-")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite"
    port = free_port()
    standin_url = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        LINE_API_BASE_URL=standin_url,
        LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
        LINE_QUIET_HOURS="",
        SECRET_KEY="bench",
        PYTHONPATH=str(ROOT),
    )
    py = [sys.executable, __file__]
    started = time.perf_counter()
    subprocess.run([*py, "--build", str(args.count)], env=env, cwd=ROOT, check=True)
    print(
        f"database {database_url.split('@')[-1]}: {args.count} reminders queued in "
        f"{time.perf_counter() - started:.1f} s"
    )

    standin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integrations.line.standin",
            "--port",
            str(port),
            "--token",
            TOKEN,
            "--validate",
            args.validate,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    print(
        f"stand-in validation: {args.validate}; sender batch "
        f"{env.get('LINE_SEND_BATCH', 200)}, {env.get('LINE_SEND_WORKERS', 8)} workers"
    )
    try:
        for _ in range(200):
            try:
                get_json(standin_url + "/_standin/stats")
                break
            except OSError:
                time.sleep(0.05)

        def report(name: str, seconds: float, extra: str = "") -> dict:
            figures = json.loads(
                subprocess.run(
                    [*py, "--check", standin_url],
                    env=env,
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            span = figures["span"]
            rate = figures["rows"] / span if span else 0
            print(
                f"{name}: {figures['rows']} reminders delivered in {span:.2f} s "
                f"({rate:,.0f}/s, first to last accepted by the stand-in; {seconds:.2f} s "
                f"including sender start-up); accepted {figures['accepted']}, duplicates "
                f"{figures['duplicates']}, lost {figures['lost']}, 409 answers "
                f"{figures['409']}{extra}"
            )
            return figures

        # 1. clean run
        t0 = time.perf_counter()
        sender = run_sender(env)
        wait_all_accepted(standin_url, args.count, sender)
        clean = report("clean run", time.perf_counter() - t0)

        # 2. killed halfway (the sender SIGKILLs itself mid-batch), restarted
        subprocess.run([*py, "--reset"], env=env, cwd=ROOT, check=True)
        post(standin_url + "/_standin/reset")
        t0 = time.perf_counter()
        # Off the 200-row batch boundary, so the batch's other pushes are in flight.
        sender = run_sender(dict(env, LINE_BENCH_KILL_AFTER=str(args.count // 2 + 97)))
        sender.wait()
        if sender.returncode != -signal.SIGKILL:
            raise SystemExit(f"the sender was not killed (exit {sender.returncode})")
        killed_at = get_json(standin_url + "/_standin/stats")["accepted"]
        restart = run_sender(env)
        wait_all_accepted(standin_url, args.count, restart)
        crash = report(
            "killed at half and restarted",
            time.perf_counter() - t0,
            f"; SIGKILL after {killed_at} accepted",
        )
    finally:
        standin.send_signal(signal.SIGTERM)
        standin.wait()
    ok = all(f["duplicates"] == 0 and f["lost"] == 0 for f in (clean, crash))
    print("result:", "OK (zero duplicates, zero lost)" if ok else "FAILED")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
