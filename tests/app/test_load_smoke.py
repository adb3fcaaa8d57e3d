"""The web load benchmark's users, a few of them, against a live server: no errors, no
double bookings.

``benchmarks/load_web.py`` runs 50 users for 10 minutes against gunicorn and prints the
latency figures; this runs its requesters, a scheduler and a radiologist (real forms,
real CSRF tokens) against a threaded server on the test database until each has done
some work, so the script's flows and integrity checks cannot rot unnoticed. Nothing
here is timed.
"""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from benchmarks.load_web import Stats, add_users, integrity, run_users


@pytest.fixture
def server(database_url, demo_bookings):
    class LiveConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        WTF_CSRF_ENABLED = True  # the users fetch and send the tokens, as a browser does

    server_app = create_app(LiveConfig)
    demo_bookings.session.commit()  # the demo is visible to the server's connections
    wsgi = make_server("127.0.0.1", 0, server_app, threaded=True)
    thread = threading.Thread(target=wsgi.serve_forever, name="load-smoke", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.server_port}"
    finally:
        wsgi.shutdown()
        wsgi.server_close()
        thread.join(timeout=10)
        with server_app.app_context():
            _db.engine.dispose()


def enough(stats: Stats) -> bool:
    done = stats.outcomes
    return (
        done["bookings"] >= 3
        and done["steps done: scheduler"] >= 3
        and done["steps done: radiologist"] >= 2
    ) or stats.error_count > 0


def test_simulated_users_book_and_browse_without_errors_or_double_bookings(server, database_url):
    plan = add_users(database_url, requesters=3, schedulers=1, radiologists=1)
    plan.base_url, plan.think, plan.seed = server, 0.0, 1
    stats = Stats()
    # Stops as soon as every role has done its share; the 300 s cap is only a backstop.
    run_users(plan, duration=300, stats=stats, ramp=0, until=enough)

    assert stats.errors == []
    assert stats.outcomes["bookings"] >= 3
    assert stats.outcomes["steps done: scheduler"] >= 3
    assert stats.outcomes["steps done: radiologist"] >= 2
    figures = integrity(database_url, stats.booked_ids)
    assert figures.pop("appointments in the database") >= 3
    assert figures == {
        "appointments overlapping beyond capacity": 0,
        "duplicate accession numbers (per hub)": 0,
        "duplicate Study Instance UIDs": 0,
        "requests holding two live appointments": 0,
        "confirmed bookings missing from the database": 0,
    }
