"""Shared set-up for the benchmark scripts: the app on a given database, the fixed clock."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

# The region dataset's clock: Tuesday 1 December 2026, 07:00 in Bangkok. Appointments
# fill the 90 days from this date; searches and bookings run "at" this moment.
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
FIRST_DAY = date(2026, 12, 1)
HORIZON_DAYS = 90

# modality: (devices, slot minutes); window 08:00-20:00 every day, one at a time.
DEVICES = {
    "CT": (60, 10),
    "MR": (20, 30),
    "US": (80, 20),
    "DX": (100, 10),
    "MG": (20, 20),
    "BMD": (20, 20),
}
HUBS = 40
COMMUNITY = 60
PATIENTS = 100_000


def make_app(database_url: str, pool_size: int = 5):
    os.environ.setdefault("SECRET_KEY", "benchmark")
    from app import create_app
    from app.config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = database_url
        SQLALCHEMY_ENGINE_OPTIONS = (
            {"pool_pre_ping": False, "pool_size": pool_size, "max_overflow": 4}
            if database_url.startswith("postgresql")
            else {}
        )

    return create_app(BenchConfig)


def default_urls() -> dict[str, str]:
    return {
        "sqlite": os.environ.get("BENCH_SQLITE_URL", "sqlite:////tmp/radbook_bench.sqlite"),
        "postgresql": os.environ.get(
            "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/radbook_bench"
        ),
    }
