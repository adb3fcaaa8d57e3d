"""Concurrent booking on the region dataset: bookings per second and double bookings.

    .venv/bin/python -m benchmarks.booking postgresql --clients 32 --seconds 30
    .venv/bin/python -m benchmarks.booking postgresql --clients 32 --mode book-only

32 clients = ``--processes`` × threads (the GIL would make 32 threads in one process
measure Python, not the database); each thread has its own session and connection,
like a web worker or the HL7 listener. Two modes:

- ``search+book`` (default): each booking is what a requester does: ``find_slots`` on
  a random device and day for a fresh request, then ``book`` the first offer; a lost
  race (``Conflict``) moves on to the next offer.
- ``book-only``: offers are found before the clock starts; only ``book`` is timed.
  With ``--hot-devices N`` every client aims at the first N devices of each modality,
  so that races happen (a lost race tries the next offer).

Afterwards the script counts double bookings with SQL (two occupying appointments on
one device overlapping; every benchmark device has capacity 1) and prints both, with
the CPU per booking of the client processes and of their PostgreSQL backends (from
``/proc/<pid>/stat``, so other work on the machine is not counted) and the load average.

``--serial N`` books N planned offers one after another in this process (no
concurrency): CPU per booking of the client and of its backend, ``--profile`` for a
cProfile of the bookings, and ``--callgrind`` to switch valgrind's instrumentation on
around them only (run under ``valgrind --tool=callgrind --instr-atstart=no``).
``--pgbench SECONDS`` runs pgbench TPC-B (same clients) right after, on a database of
its own, as the floor of the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import threading
import time
from datetime import timedelta

from benchmarks.common import COMMUNITY, HORIZON_DAYS, HUBS, NOW, default_urls, make_app

HOT_DEVICES = 0  # set from --hot-devices (in each process)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process on this machine has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def track_backends(engine) -> set[int]:
    """The PostgreSQL backend pids of the engine's connections (filled as they open)."""
    pids: set[int] = set()
    if engine.dialect.name != "postgresql":
        return pids
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.add(cursor.fetchone()[0])
        dbapi_connection.commit()

    return pids


DOUBLE_BOOKINGS_SQL = """
SELECT count(*) FROM (
  SELECT start_at, lag(end_at) OVER (PARTITION BY device_id ORDER BY start_at, id) AS prev_end
  FROM appointment WHERE status IN ('BOOKED', 'ARRIVED', 'IN_PROGRESS', 'COMPLETED',
                                    'DISCONTINUED')
) t WHERE start_at < prev_end
"""


def make_requests(app, count: int, seed: int, run: int) -> list[int]:
    """Fresh SUBMITTED requests for fresh patients (no patient-lock contention between
    clients: requesters book different people)."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from scheduling.models import ImagingRequest, Patient, Procedure

    rng = random.Random(seed)
    with app.app_context():
        procedures = list(db.session.scalars(select(Procedure.id)))
        now = NOW
        patients = [
            {
                "id_type": "NATIONAL_ID",
                "id_value": f"8{run:05d}{seed:04d}{i:06d}",
                "prefix": "MR",
                "given_name_th": "B",
                "family_name_th": "",
                "given_name_en": "",
                "family_name_en": "",
                "romanised_by_staff": False,
                "sex": "MALE",
                "preferred_language": "th",
            }
            for i in range(count)
        ]
        db.session.execute(insert(Patient.__table__), patients)
        ids = list(
            db.session.scalars(
                select(Patient.id)
                .where(Patient.id_value.like(f"8{run:05d}{seed:04d}%"))
                .order_by(Patient.id)
            )
        )
        rows = [
            {
                "placer_order_number": f"BK{run:05d}{seed:04d}{i:06d}",
                "requesting_hospital_id": HUBS + 1 + rng.randrange(COMMUNITY),
                "patient_id": pid,
                "procedure_id": rng.choice(procedures),
                "priority": "ROUTINE",
                "status": "SUBMITTED",
                "indication": "",
                "requesting_clinician": "",
                "created_at": now,
                "updated_at": now,
            }
            for i, pid in enumerate(ids)
        ]
        db.session.execute(insert(ImagingRequest.__table__), rows)
        db.session.commit()
        return list(
            db.session.scalars(
                select(ImagingRequest.id).where(
                    ImagingRequest.placer_order_number.like(f"BK{run:05d}{seed:04d}%")
                )
            )
        )


def plan_offers(app, request_ids: list[int], seed: int) -> list[tuple[int, list]]:
    """For book-only runs: each request's offers, found before the clock starts."""
    from sqlalchemy import select

    from app.extensions import db
    from scheduling.availability import find_slots
    from scheduling.models import Device, ImagingRequest

    rng = random.Random(seed)
    plans = []
    with app.app_context():
        devices_by_modality: dict[str, list[int]] = {}
        for device_id, modality in db.session.execute(select(Device.id, Device.modality_code)):
            devices_by_modality.setdefault(modality, []).append(device_id)
        for request_id in request_ids:
            request = db.session.get(ImagingRequest, request_id)
            candidates = devices_by_modality[request.procedure.modality_code]
            hot = candidates[:HOT_DEVICES] if HOT_DEVICES else candidates
            day = NOW.date() + timedelta(days=rng.randrange(20, 80))
            slots = find_slots(
                NOW,
                request.procedure,
                requesting_hospital_id=request.requesting_hospital_id,
                device_id=rng.choice(hot),
                date_from=day,
                date_to=day,
                limit=4,
            )
            plans.append((request_id, [(s.device_id, s.start_at) for s in slots]))
        db.session.remove()
    return plans


def client_loop(
    app,
    request_ids: list[int],
    plans: list,
    deadline_start,
    seconds: float,
    mode: str,
    seed: int,
    results: list,
    lock: threading.Lock,
) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from scheduling.audit import Actor
    from scheduling.availability import find_slots
    from scheduling.booking import book
    from scheduling.errors import Conflict
    from scheduling.models import Device, ImagingRequest, Interface

    actor = Actor(interface=Interface.CLI, name="bench")
    rng = random.Random(seed)
    booked = conflicts = 0
    latencies: list[float] = []
    with app.app_context():
        devices_by_modality: dict[str, list[int]] = {}
        for device_id, modality in db.session.execute(select(Device.id, Device.modality_code)):
            devices_by_modality.setdefault(modality, []).append(device_id)
        start = deadline_start()
        end = start + seconds
        index = 0
        while time.time() < end and index < len(request_ids):
            request_id = request_ids[index]
            index += 1
            request = db.session.get(ImagingRequest, request_id)
            t0 = time.perf_counter()
            if mode == "book-only":
                offers = plans[index - 1][1]
            else:
                modality = request.procedure.modality_code
                device_id = rng.choice(devices_by_modality[modality])
                day = NOW.date() + timedelta(days=rng.randrange(1, HORIZON_DAYS - 5))
                offers = [
                    (s.device_id, s.start_at)
                    for s in find_slots(
                        NOW,
                        request.procedure,
                        requesting_hospital_id=request.requesting_hospital_id,
                        patient=request.patient,
                        device_id=device_id,
                        date_from=day,
                        date_to=day + timedelta(days=3),
                        limit=3,
                    )
                ]
            for device_id, start_at in offers:
                try:
                    book(actor, NOW, request, db.session.get(Device, device_id), start_at)
                    booked += 1
                    break
                except Conflict:
                    conflicts += 1
                    request = db.session.get(ImagingRequest, request_id)
            latencies.append(time.perf_counter() - t0)
            db.session.remove()
    with lock:
        results.append((booked, conflicts, latencies))


def process_main(
    url: str,
    threads: int,
    seconds: float,
    mode: str,
    proc: int,
    requests_per_thread: int,
    run: int,
    hot: int,
    barrier,
    queue,
) -> None:
    global HOT_DEVICES
    HOT_DEVICES = hot
    app = make_app(url, pool_size=threads + 2)
    with app.app_context():
        from app.extensions import db

        backends = track_backends(db.engine)
    lists = [make_requests(app, requests_per_thread, proc * 100 + t, run) for t in range(threads)]
    plans = [
        plan_offers(app, ids, proc * 1000 + t) if mode == "book-only" else []
        for t, ids in enumerate(lists)
    ]
    results: list = []
    lock = threading.Lock()
    start_at: list[float] = []

    def deadline_start() -> float:
        return start_at[0]

    barrier.wait()
    start_at.append(time.time())
    cpu_started = time.process_time()
    backend_started = {pid: proc_cpu(pid) for pid in backends}
    workers = [
        threading.Thread(
            target=client_loop,
            args=(
                app,
                lists[t],
                plans[t],
                deadline_start,
                seconds,
                mode,
                proc * 1000 + t,
                results,
                lock,
            ),
        )
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.time() - start_at[0]
    cpu = time.process_time() - cpu_started
    backend_cpu = sum(proc_cpu(pid) - backend_started.get(pid, 0.0) for pid in set(backends))
    queue.put((results, elapsed, cpu, backend_cpu))


def serial(url: str, count: int, profile: bool, callgrind: bool) -> None:
    """Book ``count`` planned offers one after another: CPU per booking, no concurrency."""
    import gc

    from scheduling.audit import Actor
    from scheduling.booking import book
    from scheduling.errors import Conflict
    from scheduling.models import Device, ImagingRequest, Interface

    app = make_app(url)
    run = int(time.time()) % 100_000
    warmup = 20
    request_ids = make_requests(app, count + warmup, 9999, run)
    plans = plan_offers(app, request_ids, run)  # runs at once aim at different slots
    actor = Actor(interface=Interface.CLI, name="bench")
    booked = conflicts = 0
    cpu = backend_cpu = 0.0
    profiler = None
    with app.app_context():
        from app.extensions import db

        backends = track_backends(db.engine)
        db.engine.dispose()  # reconnect, so the backend is tracked
        for n, (request_id, offers) in enumerate(plans):
            if n == warmup:
                gc.collect()
                gc.freeze()
                if profile:
                    import cProfile

                    profiler = cProfile.Profile(time.process_time)
                    profiler.enable()
                if callgrind:
                    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True)
                cpu = time.process_time()
                backend_cpu = sum(proc_cpu(pid) for pid in backends)
            request = db.session.get(ImagingRequest, request_id)
            for device_id, start_at in offers:
                try:
                    book(actor, NOW, request, db.session.get(Device, device_id), start_at)
                    booked += n >= warmup
                    break
                except Conflict:
                    conflicts += n >= warmup
                    request = db.session.get(ImagingRequest, request_id)
            db.session.remove()
        cpu = time.process_time() - cpu
        backend_cpu = sum(proc_cpu(pid) for pid in backends) - backend_cpu
        if callgrind:
            subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True)
        if profiler is not None:
            profiler.disable()
        dialect = db.engine.dialect.name
    print(
        f"serial booking on {dialect}: {booked} booked, {conflicts} conflicts "
        f"(after {warmup} warm-up); CPU per booking: client {cpu / max(booked, 1) * 1000:.2f} ms, "
        f"backend {backend_cpu / max(booked, 1) * 1000:.2f} ms; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    if profiler is not None:
        import pstats

        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(r"scheduling|integrations|app/", 45)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", choices=["sqlite", "postgresql"])
    parser.add_argument("--url")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--mode", choices=["search+book", "book-only"], default="search+book")
    parser.add_argument("--requests-per-client", type=int, default=400)
    parser.add_argument("--hot-devices", type=int, default=0)
    parser.add_argument("--pgbench", type=float, default=0, metavar="SECONDS")
    parser.add_argument("--serial", type=int, default=0, metavar="N")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--callgrind", action="store_true")
    args = parser.parse_args()
    url = args.url or default_urls()[args.database]
    if args.serial:
        serial(url, args.serial, args.profile, args.callgrind)
        return
    threads = max(1, args.clients // args.processes)
    run = int(time.time()) % 100_000  # fresh patients and order numbers per run
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(args.processes)
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=process_main,
            args=(
                url,
                threads,
                args.seconds,
                args.mode,
                p,
                args.requests_per_client,
                run,
                args.hot_devices,
                barrier,
                queue,
            ),
        )
        for p in range(args.processes)
    ]
    for p in procs:
        p.start()
    outcomes = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    load_before = os.getloadavg()
    booked = sum(b for results, *_ in outcomes for b, _, _ in results)
    conflicts = sum(c for results, *_ in outcomes for _, c, _ in results)
    latencies = sorted(x for results, *_ in outcomes for _, _, lat in results for x in lat)
    elapsed = max(o[1] for o in outcomes)
    client_cpu = sum(o[2] for o in outcomes)
    backend_cpu = sum(o[3] for o in outcomes)
    app = make_app(url)
    with app.app_context():
        from app.extensions import db

        doubles = db.session.execute(db.text(DOUBLE_BOOKINGS_SQL)).scalar()
        dialect = db.engine.dialect.name
    print(
        f"concurrent booking on {dialect}: {args.processes} processes x {threads} threads "
        f"= {args.processes * threads} clients, mode {args.mode}"
        f"{f', hot devices {args.hot_devices}' if args.hot_devices else ''}, {elapsed:.1f} s"
    )
    print(
        f"  bookings {booked:,}  ->  {booked / elapsed:.0f} bookings/s   "
        f"lost races (Conflict) {conflicts:,}"
    )
    if latencies:
        print(
            f"  per booking attempt: median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p90 {latencies[int(len(latencies) * 0.9) - 1] * 1000:.1f} ms"
        )
    if booked:
        print(
            f"  CPU per booking: clients {client_cpu / booked * 1000:.1f} ms, "
            f"PostgreSQL backends {backend_cpu / booked * 1000:.1f} ms "
            f"(total {(client_cpu + backend_cpu) / booked * 1000:.1f} ms; includes lost races)"
        )
    print(f"  double bookings in the database: {doubles}")
    print(f"  load average at the end of the run: {' '.join(f'{x:.1f}' for x in load_before)}")
    if args.pgbench:
        tps = run_pgbench(url, args.clients, args.processes, args.pgbench)
        print(
            f"  pgbench TPC-B, {args.clients} clients, {args.pgbench:.0f} s, same server: "
            f"{tps:,.0f} transactions/s; RadBook books at {booked / elapsed / tps:.1%} of it "
            f"(load average {os.getloadavg()[0]:.1f})"
        )


def run_pgbench(url: str, clients: int, jobs: int, seconds: float) -> float:
    """pgbench TPC-B (scale 10) on a database of its own beside the benchmark's."""
    from sqlalchemy.engine import make_url

    target = make_url(url)
    name = f"{target.database}_pgbench"
    conn = ["-h", target.host or "127.0.0.1", "-U", target.username or "postgres"]
    if target.port:
        conn += ["-p", str(target.port)]
    exists = subprocess.run(
        ["psql", *conn, "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'", "postgres"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["createdb", *conn, name], check=True)
        subprocess.run(["pgbench", *conn, "-i", "-q", "-s", "10", name], check=True)
    out = subprocess.run(
        ["pgbench", *conn, "-c", str(clients), "-j", str(jobs), "-T", str(int(seconds)), name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("tps"))
    return float(line.split("=")[1].split()[0])


if __name__ == "__main__":
    main()
