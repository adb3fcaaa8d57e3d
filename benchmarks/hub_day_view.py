"""Server time of the hub scheduler's day view (and week view, radiologist's exams) on the
region-sized dataset of ``benchmarks/region_dataset.py``.

    .venv/bin/python -m benchmarks.region_dataset sqlite        # once: build the dataset
    .venv/bin/python -m benchmarks.hub_day_view sqlite
    .venv/bin/python -m benchmarks.hub_day_view postgresql

Server time is measured inside the app (``before_request`` to ``after_request``: routing,
login check, queries, template rendering), for a scheduler of the hub with the most
devices, over the busiest fortnight (95 % of the grid booked). Target: ≤ 100 ms for the day view.
"SQL ms" is the time inside ``cursor.execute``; SQLite fetches rows after it, so there
it understates the database's share.
"""

from __future__ import annotations

import argparse
import statistics
import time as clock
from datetime import timedelta

from flask import g
from sqlalchemy import event, func, select

try:
    from benchmarks.common import FIRST_DAY, default_urls, make_app
except ImportError:  # the generator comes with the scheduling engine's benchmarks
    raise SystemExit(
        "needs benchmarks/common.py and benchmarks/region_dataset.py (the scheduling "
        "engine's region dataset generator)"
    ) from None

USERNAME = "bench.scheduler"
PASSWORD = "bench-password-2569"


def _bench_user(app) -> tuple[int, int]:
    """A scheduler at the hub with the most devices; returns (hub id, its device count)."""
    from app.extensions import db
    from scheduling.clock import utcnow
    from scheduling.models import Device, Role, User

    with app.app_context():
        hub_id, devices = db.session.execute(
            select(Device.hospital_id, func.count(Device.id))
            .group_by(Device.hospital_id)
            .order_by(func.count(Device.id).desc(), Device.hospital_id)
            .limit(1)
        ).one()
        user = db.session.scalar(select(User).where(User.username == USERNAME))
        if user is None:
            user = User(
                username=USERNAME,
                full_name="Bench scheduler",
                role=Role.SCHEDULER,
                hospital_id=hub_id,
                created_at=utcnow(),
            )
            user.set_password(PASSWORD)
            db.session.add(user)
        user.hospital_id = hub_id
        db.session.commit()
        return hub_id, devices


def _instrument(app) -> dict[str, list[float]]:
    """Time each request inside the app and count its SQL statements."""
    from app.extensions import db

    timings: dict[str, list[float]] = {"server_ms": [], "queries": [], "sql_ms": []}

    @app.before_request
    def _start() -> None:
        g.bench_started = clock.perf_counter()
        g.bench_queries = 0
        g.bench_sql = 0.0

    @app.after_request
    def _stop(response):
        timings["server_ms"].append((clock.perf_counter() - g.bench_started) * 1000)
        timings["queries"].append(g.bench_queries)
        timings["sql_ms"].append(g.bench_sql * 1000)
        return response

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = clock.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        try:
            g.bench_queries += 1
            g.bench_sql += clock.perf_counter() - conn.info.pop("bench_t0")
        except (AttributeError, RuntimeError, KeyError):
            pass  # outside a request (login set-up)

    return timings


def _run(client, path: str, timings: dict[str, list[float]]) -> tuple[int, int]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    text = response.get_data(as_text=True)
    # Table rows (exams list) or blocks (the day board).
    return len(response.data), text.count('<tr id="appt-') + text.count('<details id="appt-')


def measure(url: str, rounds: int) -> None:
    app = make_app(url)
    # The test client logs in over plain http with a plain form post; the pages measured
    # are GETs, so neither flag changes what is timed.
    app.config.update(WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)
    hub_id, device_count = _bench_user(app)
    timings = _instrument(app)
    client = app.test_client()
    with app.app_context():
        response = client.post("/login", data={"username": USERNAME, "password": PASSWORD})
        assert response.status_code == 302, "login failed"

    def day(k: int) -> str:
        return (FIRST_DAY + timedelta(days=k)).isoformat()

    pages = {
        "day view": lambda k: f"/hub/day?date={day(k % 14)}",
        "week view": lambda k: f"/hub/week?date={day(7 * (k % 2))}",
        "exams (one day)": lambda k: f"/hub/exams?date={day(k % 7)}",
    }
    print(f"database: {url.split('://')[0]}  hub id {hub_id} with {device_count} devices")
    with app.app_context():
        from app.extensions import db
        from scheduling.models import Appointment

        total = db.session.scalar(select(func.count(Appointment.id)))
    print(f"appointments in the database: {total:,}")
    print(
        f"{'page':<16} {'median ms':>9} {'p90 ms':>8} {'max ms':>8} {'SQL ms':>7} "
        f"{'queries':>7} {'rows':>5} {'KiB':>5}"
    )
    for name, path_for in pages.items():
        for key in timings:
            timings[key].clear()
        for k in range(3):  # warm caches and the connection pool
            _run(client, path_for(k), timings)
        for key in timings:
            timings[key].clear()
        rows, size = [], []
        for k in range(rounds):
            nbytes, count = _run(client, path_for(k), timings)
            rows.append(count)
            size.append(nbytes)
        server = sorted(timings["server_ms"])
        p90 = server[int(len(server) * 0.9) - 1]
        print(
            f"{name:<16} {statistics.median(server):9.1f} {p90:8.1f} {server[-1]:8.1f} "
            f"{statistics.median(timings['sql_ms']):7.1f} "
            f"{statistics.median(timings['queries']):7.0f} "
            f"{statistics.median(rows):5.0f} {statistics.median(size) / 1024:5.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", choices=["sqlite", "postgresql"])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    measure(default_urls()[args.database], args.rounds)


if __name__ == "__main__":
    main()
