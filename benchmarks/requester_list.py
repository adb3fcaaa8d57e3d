"""Server time of the requester's request list (``GET /requests``) on the region dataset.

One community hospital's staff member opens their list (newest first, 50 a page) with
each status filter, and a page deep in the history. Server time is measured inside the
app, ``before_request`` to ``after_request`` (login check, scoping query, eager loads,
filter counts, template), requests sent through Flask's test client after warm-up.

    .venv/bin/python -m benchmarks.region_dataset sqlite        # once: build the dataset
    .venv/bin/python -m benchmarks.requester_list sqlite
    .venv/bin/python -m benchmarks.requester_list postgresql

The dataset is ``benchmarks/region_dataset.py`` (100 hospitals, 300 devices, 1,000,000
booked requests, about 16,700 per community hospital). Target: ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

from flask import g

try:
    from benchmarks.common import HUBS, default_urls, make_app
except ImportError:  # the generator comes with the scheduling engine's benchmarks
    raise SystemExit(
        "needs benchmarks/common.py and benchmarks/region_dataset.py (the scheduling "
        "engine's region dataset generator)"
    ) from None

USERNAME = "bench.requester"
PASSWORD = "bench-password"
TARGET_MS = 100.0
CASES = [
    ("all, page 1", {}),
    ("scheduled", {"status": "scheduled"}),
    ("submitted (none)", {"status": "submitted"}),
    ("images in PACS", {"status": "images"}),
    ("reported", {"status": "reported"}),
    ("all, page 100", {"before": None}),  # the key is filled in: 99 pages deep
]


def ensure_requester(hospital_id: int) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from scheduling.clock import utcnow
    from scheduling.models import Role, User

    user = db.session.scalar(select(User).where(User.username == USERNAME))
    if user is None:
        user = User(
            username=USERNAME,
            full_name="Benchmark requester",
            role=Role.REQUESTER,
            hospital_id=hospital_id,
            created_at=utcnow(),
        )
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()


def vacuum(app) -> None:
    """PostgreSQL: VACUUM ANALYZE the list's tables, as autovacuum would have after the
    bulk load (it is off on some machines, e.g. this one). Without it the visibility
    map is empty and index-only scans fetch every heap row."""
    from app.extensions import db

    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("imaging_request", "appointment", "study", "patient"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    print("VACUUM ANALYZE done (autovacuum's work after a bulk load)")


def logged_in_client(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    data = {"username": USERNAME, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    response = client.post("/login", data=data)
    if response.status_code != 302:
        raise SystemExit("benchmark login failed")
    return client


def instrument(app) -> list[tuple[float, float]]:
    """(server ms, CPU ms) of each request, from ``before_request`` to ``after_request``.

    On a busy machine the wall time mostly measures waiting for a core; the CPU time is
    this process's own work (on SQLite the database's too: it runs in-process).
    """
    samples: list[tuple[float, float]] = []

    @app.before_request
    def _start() -> None:
        g.bench_started = (time.perf_counter(), time.process_time())

    @app.after_request
    def _stop(response):
        wall, cpu = g.bench_started
        samples.append(((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000))
        return response

    return samples


def time_case(
    client, samples, query: dict[str, str], runs: int, warmup: int
) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        client.get("/requests", query_string=query)
    samples.clear()
    for _ in range(runs):
        response = client.get("/requests", query_string=query)
        if response.status_code != 200:
            raise SystemExit(f"/requests {query} answered {response.status_code}")
    return [w for w, _ in samples], [c for _, c in samples]


def rows_on_page(client, query: dict[str, str]) -> int:
    html = client.get("/requests", query_string=query).get_data(as_text=True)
    return len(re.findall(r'<a href="/requests/\d+">', html))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", choices=["sqlite", "postgresql"])
    parser.add_argument("--url", help="override the database URL")
    parser.add_argument("--build", action="store_true", help="build the region dataset first")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    url = args.url or default_urls()[args.database]
    if args.build:
        from benchmarks.region_dataset import APPOINTMENTS, build

        print(f"building the region dataset in {url}")
        build(url, APPOINTMENTS)

    app = make_app(url)
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks plain http
    samples = instrument(app)
    with app.app_context():
        from sqlalchemy import func, select

        from app.extensions import db
        from scheduling.models import ImagingRequest

        hospital_id = HUBS + 1  # a community hospital
        total = db.session.scalar(select(func.count(ImagingRequest.id)))
        mine = db.session.scalar(
            select(func.count(ImagingRequest.id)).where(
                ImagingRequest.requesting_hospital_id == hospital_id
            )
        )
        ensure_requester(hospital_id)
        vacuum(app)
        deep = db.session.scalar(
            select(ImagingRequest.id)
            .where(ImagingRequest.requesting_hospital_id == hospital_id)
            .order_by(ImagingRequest.created_at.desc(), ImagingRequest.id.desc())
            .offset(99 * 50 - 1)
            .limit(1)
        )
        CASES[-1][1]["before"] = str(deep)
    client = logged_in_client(app)
    print(f"database: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    print(f"requests: {total:,} in the region, {mine:,} of this requester's hospital")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{args.runs} timed runs per case after {args.warmup} warm-up; milliseconds\n")
    print(f"{'case':<20} {'rows':>5} {'median':>8} {'p95':>8} {'max':>8} {'CPU med':>8}")
    worst = worst_p95 = 0.0
    for name, query in CASES:
        wall, cpu = time_case(client, samples, query, args.runs, args.warmup)
        p95 = statistics.quantiles(wall, n=20)[-1]
        worst = max(worst, statistics.median(wall))
        worst_p95 = max(worst_p95, p95)
        print(
            f"{name:<20} {rows_on_page(client, query):>5} {statistics.median(wall):>8.1f} "
            f"{p95:>8.1f} {max(wall):>8.1f} {statistics.median(cpu):>8.1f}"
        )
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    for label, value in (("median", worst), ("p95", worst_p95)):
        verdict = "met" if value <= TARGET_MS else "NOT met"
        print(f"target {label} <= {TARGET_MS:.0f} ms in every case: {verdict} (worst {value:.1f})")


if __name__ == "__main__":
    main()
