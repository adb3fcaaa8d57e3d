"""Earliest-slot search on the region dataset: median, p90 and p99 of ``find_slots``.

    .venv/bin/python -m benchmarks.search sqlite
    .venv/bin/python -m benchmarks.search postgresql

Each search: a random procedure (weighted by the number of devices of its modality),
a random community hospital as requester (some hold quotas), half of them with a
patient (patient-overlap and preparation checks), no hub chosen (every hub that can
perform it), the earliest 10 slots. A fresh session per search: nothing cached
between searches beyond what the database itself caches.

``--dump FILE`` writes every search's slots (the same seeded searches every run), so
two versions of the code can be compared slot for slot on the same data.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import time

from benchmarks.common import COMMUNITY, DEVICES, HUBS, NOW, PATIENTS, default_urls, make_app


def run(
    url: str,
    searches: int,
    warmup: int,
    freeze: bool = True,
    profile=None,
    dump: list | None = None,
    callgrind: bool = False,
) -> dict:
    app = make_app(url)
    with app.app_context():
        from app.extensions import db
        from scheduling.availability import find_slots
        from scheduling.models import Patient, Procedure

        procedures = {p.modality_code: p.id for p in db.session.query(Procedure)}
        modalities = list(DEVICES)
        weights = [DEVICES[m][0] for m in modalities]
        rng = random.Random(21)
        timings, cpu, found, days_out = [], [], [], []
        for n in range(warmup + searches):
            modality = rng.choices(modalities, weights)[0]
            requester = HUBS + 1 + rng.randrange(COMMUNITY)
            patient_id = 1 + rng.randrange(PATIENTS) if rng.random() < 0.5 else None
            db.session.remove()
            procedure = db.session.get(Procedure, procedures[modality])
            patient = db.session.get(Patient, patient_id) if patient_id else None
            if profile is not None and n >= warmup:
                profile.enable()
            if callgrind and n == warmup:
                subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True)
            started, cpu_started = time.perf_counter(), time.process_time()
            slots = find_slots(
                NOW, procedure, requesting_hospital_id=requester, patient=patient, limit=10
            )
            elapsed = time.perf_counter() - started
            if profile is not None:
                profile.disable()
            if n == warmup - 1 and freeze:
                # Move everything the app has loaded so far out of the collector's way:
                # a full collection otherwise walks every module-level object (about
                # 130 ms here) every few searches. See README.md.
                gc.collect()
                gc.freeze()
            if dump is not None:
                dump.append(
                    [modality, requester, patient_id]
                    + [
                        [s.device_id, s.start_at.isoformat(), s.remaining, list(s.warnings)]
                        for s in slots
                    ]
                )
            if n >= warmup:
                timings.append(elapsed * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
                found.append(len(slots))
                if slots:
                    days_out.append((slots[0].start_at - NOW).total_seconds() / 86400)
        if callgrind:
            subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True)
        timings.sort()
        return {
            "database": db.engine.dialect.name,
            "searches": searches,
            "median_ms": statistics.median(timings),
            "p90_ms": timings[int(len(timings) * 0.9) - 1],
            "p99_ms": timings[int(len(timings) * 0.99) - 1],
            "mean_ms": statistics.fmean(timings),
            # This process's CPU per search: the Python side alone, whatever else the
            # machine is doing (wall time above includes waiting for a CPU and the DB).
            "cpu_median_ms": statistics.median(cpu),
            "slots_found_mean": statistics.fmean(found),
            "first_slot_days_out_median": statistics.median(days_out) if days_out else None,
            "appointments": db.session.execute(
                db.text("SELECT count(*) FROM appointment")
            ).scalar(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", choices=["sqlite", "postgresql"])
    parser.add_argument("--url")
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave Python's garbage collector as it is"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the timed searches and print where the time goes (slows them)",
    )
    parser.add_argument(
        "--dump", metavar="FILE", help="write every search's slots (JSON) to compare two versions"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="switch callgrind's instrumentation on around the timed searches only "
        "(run under valgrind --tool=callgrind --instr-atstart=no)",
    )
    args = parser.parse_args()

    dump = [] if args.dump else None
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile(time.process_time)
    result = run(
        args.url or default_urls()[args.database],
        args.searches,
        args.warmup,
        freeze=not args.no_gc_freeze,
        profile=profile,
        dump=dump,
        callgrind=args.callgrind,
    )
    if dump is not None:
        with open(args.dump, "w") as f:
            json.dump(dump, f)
    print(
        f"earliest-slot search on {result['database']} "
        f"({result['appointments']:,} appointments), {result['searches']} searches"
        f"{'' if not args.no_gc_freeze else ', gc not frozen'}:"
    )
    print(
        f"  median {result['median_ms']:.1f} ms   p90 {result['p90_ms']:.1f} ms   "
        f"p99 {result['p99_ms']:.1f} ms   mean {result['mean_ms']:.1f} ms"
    )
    print(
        f"  client CPU per search: median {result['cpu_median_ms']:.1f} ms; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"  slots returned per search (mean) {result['slots_found_mean']:.1f}; first slot "
        f"{result['first_slot_days_out_median']:.1f} days out (median)"
    )
    if profile is not None:
        import pstats

        pstats.Stats(profile).sort_stats("tottime").print_stats(35)


if __name__ == "__main__":
    main()
