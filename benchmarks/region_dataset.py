"""Build the region-sized benchmark dataset: 100 hospitals, 300 devices, a 90-day
horizon and 1,000,000 existing appointments, with bulk inserts (COPY on PostgreSQL,
executemany on SQLite), never the ORM one row at a time.

    .venv/bin/python -m benchmarks.region_dataset sqlite
    .venv/bin/python -m benchmarks.region_dataset postgresql

Fill: 95 % of the grid in the first two weeks, falling to about 40 % at day 90, so
the earliest free slot is usually a few days out, as in a busy region.
"""

from __future__ import annotations

import argparse
import random
import time as clock
from datetime import datetime, time, timedelta

from sqlalchemy import text

from benchmarks.common import (
    COMMUNITY,
    DEVICES,
    FIRST_DAY,
    HORIZON_DAYS,
    HUBS,
    NOW,
    PATIENTS,
    default_urls,
    make_app,
)

APPOINTMENTS = 1_000_000
WINDOW = (time(8, 0), time(20, 0))
BANGKOK = timedelta(hours=7)


def fill_ratio(day_index: int) -> float:
    if day_index < 14:
        return 0.95
    return 0.95 - 0.55 * (day_index - 14) / (HORIZON_DAYS - 14)


def build(url: str, appointments: int) -> None:
    app = make_app(url)
    with app.app_context():
        from flask_migrate import upgrade

        from app.extensions import db
        from scheduling.audit import Actor
        from scheduling.capacity import prefill_public_holidays
        from scheduling.models import Interface
        from tests.conftest import reset_schema

        started = clock.perf_counter()
        reset_schema(db.engine)
        upgrade()
        engine = db.engine
        is_pg = engine.dialect.name == "postgresql"
        rng = random.Random(8)
        now_naive = sql_value(is_pg, NOW.replace(tzinfo=None))

        with engine.begin() as conn:
            for code in DEVICES:
                conn.execute(
                    text("INSERT INTO modality (code, name_th, name_en) VALUES (:c, :c, :c)"),
                    {"c": code},
                )
            for pid, (code, (_, slot)) in enumerate(DEVICES.items(), start=1):
                conn.execute(
                    text(
                        "INSERT INTO procedure (id, code, name_th, name_en, modality_code, "
                        "duration_minutes, prep_th, prep_en, uses_contrast, prep_tags, is_active) "
                        "VALUES (:id, :code, :code, :code, :m, :d, '', '', false, '', true)"
                    ),
                    {"id": pid, "code": f"BENCH-{code}", "m": code, "d": slot},
                )
            for hid in range(1, HUBS + COMMUNITY + 1):
                hub = hid <= HUBS
                conn.execute(
                    text(
                        "INSERT INTO hospital (id, code, name_th, name_en, level, province_th, "
                        "province_en, is_hub, patient_id_policy) VALUES (:id, :code, :n, :n, :lvl, "
                        "'x', 'x', :hub, 'HN')"
                    ),
                    {
                        "id": hid,
                        "code": f"{50000 + hid}",
                        "n": f"Hospital {hid}",
                        "lvl": "GENERAL" if hub else "COMMUNITY",
                        "hub": hub,
                    },
                )
            devices = []  # (id, hospital, modality, slot)
            did = 0
            for code, (count, slot) in DEVICES.items():
                for n in range(count):
                    did += 1
                    hospital = 1 + (did * 7 + n) % HUBS
                    devices.append((did, hospital, code, slot))
                    conn.execute(
                        text(
                            "INSERT INTO device (id, hospital_id, modality_code, name, ae_title, "
                            "room_th, room_en, charset, mwl_filter_by_calling_ae, is_active) "
                            "VALUES "
                            "(:id, :h, :m, :n, :ae, '', '', 'UTF8', true, true)"
                        ),
                        {
                            "id": did,
                            "h": hospital,
                            "m": code,
                            "n": f"{code} {did}",
                            "ae": f"B{did}_{code}",
                        },
                    )
                    conn.execute(
                        text(
                            "INSERT INTO capacity_template (id, device_id, name, slot_minutes, "
                            "lead_time_minutes, horizon_days, is_active, created_at, updated_at) "
                            "VALUES (:id, :id, 'bench', :s, 60, :hz, true, :now, :now)"
                        ),
                        {"id": did, "s": slot, "hz": HORIZON_DAYS, "now": now_naive},
                    )
                    for weekday in range(7):
                        conn.execute(
                            text(
                                "INSERT INTO capacity_window (template_id, weekday, start_time, "
                                "end_time, capacity) VALUES (:t, :w, :a, :b, 1)"
                            ),
                            {
                                "t": did,
                                "w": weekday,
                                "a": sql_value(is_pg, WINDOW[0]),
                                "b": sql_value(is_pg, WINDOW[1]),
                            },
                        )
            # Quotas at ten hubs: US for three community hospitals each plus a hub reserve.
            qid = 0
            for hub in range(1, 11):
                for k in range(3):
                    qid += 1
                    conn.execute(
                        text(
                            "INSERT INTO quota (id, hub_hospital_id, referring_hospital_id, "
                            "modality_code, slots, release_hours, is_active, created_at, "
                            "updated_at) "
                            "VALUES (:id, :hub, :ref, 'US', 3, 48, true, :now, :now)"
                        ),
                        {
                            "id": qid,
                            "hub": hub,
                            "ref": HUBS + 1 + (hub * 3 + k) % COMMUNITY,
                            "now": now_naive,
                        },
                    )
                qid += 1
                conn.execute(
                    text(
                        "INSERT INTO quota (id, hub_hospital_id, referring_hospital_id, "
                        "modality_code, slots, release_hours, is_active, created_at, updated_at) "
                        "VALUES (:id, :hub, NULL, 'US', 4, 48, true, :now, :now)"
                    ),
                    {"id": qid, "hub": hub, "now": now_naive},
                )

        prefill_public_holidays(
            Actor(interface=Interface.CLI, name="bench"), NOW, [FIRST_DAY.year, FIRST_DAY.year + 1]
        )
        print(f"network, templates, quotas, holidays: {clock.perf_counter() - started:.1f} s")

        # Patients
        t0 = clock.perf_counter()
        patient_rows = [
            (i, "NATIONAL_ID", f"9{i:012d}", "MR", f"P{i}", "T", "", "", False, "MALE", "th")
            for i in range(1, PATIENTS + 1)
        ]
        patient_cols = (
            "id",
            "id_type",
            "id_value",
            "prefix",
            "given_name_th",
            "family_name_th",
            "given_name_en",
            "family_name_en",
            "romanised_by_staff",
            "sex",
            "preferred_language",
        )
        bulk(engine, "patient", patient_cols, patient_rows)
        print(f"{PATIENTS:,} patients: {clock.perf_counter() - t0:.1f} s")

        # Appointments: choose grid cells per device and day by the fill curve.
        t0 = clock.perf_counter()
        weights = [fill_ratio(d) for d in range(HORIZON_DAYS)]
        cells_total = sum((12 * 60 // slot) * sum(weights) for _, _, _, slot in devices)
        # A hair over, then stop at exactly ``appointments`` (rounding per device-day).
        scale = appointments / cells_total * 1.002
        request_rows, appointment_rows = [], []
        aid = 0
        procedure_of = {code: pid for pid, code in enumerate(DEVICES, start=1)}
        for device_id, hospital, code, slot in devices:
            cells = 12 * 60 // slot
            for day_index in range(HORIZON_DAYS):
                day = FIRST_DAY + timedelta(days=day_index)
                take = min(cells, round(cells * weights[day_index] * scale + rng.random() - 0.5))
                base = datetime.combine(day, WINDOW[0]) - BANGKOK  # naive UTC
                for index in rng.sample(range(cells), take):
                    if aid == appointments:
                        break
                    aid += 1
                    start = base + timedelta(minutes=slot * index)
                    patient = 1 + (aid * 7919) % PATIENTS
                    requester = HUBS + 1 + aid % COMMUNITY
                    start_at = start
                    end_at = start + timedelta(minutes=slot)
                    request_rows.append(
                        (
                            aid,
                            f"B{aid:010d}",
                            requester,
                            hospital,
                            patient,
                            procedure_of[code],
                            "ROUTINE",
                            "SCHEDULED",
                            "",
                            "",
                            now_naive,
                            now_naive,
                        )
                    )
                    accession = f"{50000 + hospital}{aid:09d}"
                    appointment_rows.append(
                        (
                            aid,
                            aid,
                            patient,
                            hospital,
                            device_id,
                            sql_value(is_pg, start_at),
                            sql_value(is_pg, end_at),
                            "BOOKED",
                            accession,
                            f"2.25.{aid}",
                            accession,
                            f"{aid:09d}S1",
                            f"{aid:010X}",
                            now_naive,
                            now_naive,
                            1,
                        )
                    )
        request_cols = (
            "id",
            "placer_order_number",
            "requesting_hospital_id",
            "hub_hospital_id",
            "patient_id",
            "procedure_id",
            "priority",
            "status",
            "indication",
            "requesting_clinician",
            "created_at",
            "updated_at",
        )
        appointment_cols = (
            "id",
            "request_id",
            "patient_id",
            "hub_hospital_id",
            "device_id",
            "start_at",
            "end_at",
            "status",
            "accession_number",
            "study_instance_uid",
            "requested_procedure_id",
            "sps_id",
            "appointment_code",
            "created_at",
            "updated_at",
            "version",
        )
        bulk(engine, "imaging_request", request_cols, request_rows)
        bulk(engine, "appointment", appointment_cols, appointment_rows)
        print(
            f"{len(appointment_rows):,} requests and appointments: "
            f"{clock.perf_counter() - t0:.1f} s"
        )
        with engine.begin() as conn:
            if is_pg:
                for table in (
                    "imaging_request",
                    "appointment",
                    "patient",
                    "hospital",
                    "device",
                    "procedure",
                    "quota",
                    "closure",
                    "capacity_template",
                    "capacity_window",
                    "accession_counter",
                ):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                        )
                    )
            conn.execute(text("ANALYZE"))
        print(f"total: {clock.perf_counter() - started:.1f} s")


def sql_value(is_pg: bool, value):
    """Datetimes and times as each database's SQLAlchemy types store them.

    SQLite keeps them as text compared as text, so the format must be exactly
    SQLAlchemy's (with microseconds) or range comparisons go wrong at the boundaries.
    """
    if is_pg:
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.%f")
    return value


def bulk(engine, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    raw = engine.raw_connection()
    try:
        placeholders = ", ".join("?" for _ in columns)
        cursor = raw.cursor()
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
        )
        raw.commit()
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", choices=["sqlite", "postgresql"])
    parser.add_argument("--url", help="override the database URL")
    parser.add_argument("--appointments", type=int, default=APPOINTMENTS)
    args = parser.parse_args()
    url = args.url or default_urls()[args.database]
    print(f"building the region dataset in {url}")
    build(url, args.appointments)


if __name__ == "__main__":
    main()
