"""FHIR API benchmark: what one HIS client gets from ``/fhir`` on this machine.

In-process (Flask's WSGI test client, no sockets), against a fresh database with the
demo network. Measures, one request at a time, each answer built and validated by
fhir.resources and each read/search audited and committed:

- ``POST ServiceRequest`` (an HIS order → ``create_request``),
- ``GET ServiceRequest/<id>``,
- ``GET ServiceRequest?patient=…`` (searchset Bundle),
- ``GET Slot?service-type=US-UPABD&_count=10`` (computed availability),
- ``POST Patient`` (→ ``register_patient``, with romanisation of the Thai name),
- ``GET Slot`` then ``POST Appointment`` on the first free slot (→ ``book``).

    .venv/bin/python benchmarks/fhir_api.py                 # SQLite file in a temp dir
    .venv/bin/python benchmarks/fhir_api.py --database-url postgresql+psycopg://postgres@127.0.0.1/radbook_bench

The PostgreSQL database is emptied first. Prints requests/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "demo-his-token"  # รพ.กุดรัง's HIS in the demo data


def make_app(database_url: str):
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import create_app
    from app.config import Config
    from app.extensions import db

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = database_url
        SESSION_COOKIE_SECURE = False

    app = create_app(BenchConfig)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        from app.demo import load_demo

        load_demo()
    return app


def timed(label: str, n: int, call) -> list[float]:
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"{label:<42} {n:>5} requests  {n / total:8.1f} req/s   "
        f"median {statistics.median(latencies) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"
    )
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("-n", type=int, default=300, help="requests per measurement")
    parser.add_argument("--bookings", type=int, default=40, help="patients registered and booked")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
        app = make_app(url)
        client = app.test_client()
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/fhir+json",
            "Content-Type": "application/fhir+json",
        }

        def call(method: str, path: str, body: dict | None = None, status: int = 200) -> dict:
            with app.app_context():
                response = client.open(
                    f"/fhir/{path}",
                    method=method,
                    headers=headers,
                    data=json.dumps(body) if body is not None else None,
                )
            assert response.status_code == status, response.get_data(as_text=True)[:500]
            return response.get_json(force=True)

        patient_bundle = call("GET", "Patient?name=สมศรี")
        patient_id = patient_bundle["entry"][0]["resource"]["id"]
        from integrations.fhir import systems

        with app.app_context():
            procedure_system = systems.procedure_system()
            placer_system = systems.placer_system("11008")

        def order(i: int, prefix: str = "B") -> dict:
            return {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "identifier": [{"system": placer_system, "value": f"{prefix}{i:06d}"}],
                "code": {"concept": {"coding": [{"system": procedure_system, "code": "US-UPABD"}]}},
                "subject": {"reference": f"Patient/{patient_id}"},
                "performer": [{"identifier": {"system": systems.TH_HCODE, "value": "10707"}}],
                "reason": [{"concept": {"text": "ปวดท้องด้านขวาบน"}}],
            }

        print(f"database: {url.split('@')[-1]}")
        created: list[str] = []
        timed(
            "POST ServiceRequest (create_request)",
            args.n,
            lambda i: created.append(call("POST", "ServiceRequest", order(i), 201)["id"]),
        )
        timed(
            "GET ServiceRequest/<id>", args.n, lambda i: call("GET", f"ServiceRequest/{created[i]}")
        )
        timed(
            "GET ServiceRequest?patient=&_count=50",
            args.n // 3,
            lambda i: call("GET", f"ServiceRequest?patient={patient_id}&_count=50"),
        )
        timed(
            "GET Slot?service-type=US-UPABD&_count=10",
            args.n // 3,
            lambda i: call("GET", "Slot?service-type=US-UPABD&_count=10"),
        )

        # Book distinct patients so the "one exam at a time" rule does not refuse them.
        from scheduling.patients import national_id_check_digit

        def register(i: int) -> None:
            stem = f"1{i + 1:011d}"
            call(
                "POST",
                "Patient",
                {
                    "resourceType": "Patient",
                    "identifier": [
                        {"system": systems.TH_CID, "value": stem + national_id_check_digit(stem)},
                        {"system": systems.hn_system("11008"), "value": f"BN{i:05d}"},
                    ],
                    "name": [{"given": ["ทดสอบ"], "family": f"คนที่ {i}", "prefix": ["นาย"]}],
                    "gender": "male",
                    "birthDate": "1970-01-01",
                },
                201,
            )

        timed("POST Patient (register_patient)", args.bookings, register)
        others = [e["resource"]["id"] for e in call("GET", "Patient?_count=200")["entry"]]
        bookable = []
        for i, pid in enumerate(others):
            body = order(i, "K")
            body["subject"] = {"reference": f"Patient/{pid}"}
            bookable.append(call("POST", "ServiceRequest", body, 201)["id"])

        def book(i: int) -> None:
            slot = call("GET", "Slot?service-type=US-UPABD&_count=1")["entry"][0]["resource"]
            call(
                "POST",
                "Appointment",
                {
                    "resourceType": "Appointment",
                    "status": "booked",
                    "slot": [{"reference": f"Slot/{slot['id']}"}],
                    "basedOn": [{"reference": f"ServiceRequest/{bookable[i]}"}],
                    "participant": [{"actor": {"display": "patient"}, "status": "accepted"}],
                },
                201,
            )

        timed("GET Slot + POST Appointment (book)", len(bookable), book)


if __name__ == "__main__":
    main()
