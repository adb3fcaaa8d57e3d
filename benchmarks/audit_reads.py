"""What the read audit adds to a worklist query: the transaction's end, with and without it.

Before the read audit, a worklist C-FIND ended its read-only transaction with a
ROLLBACK; now it writes one ``worklist.find`` event (one INSERT, plus one multi-row
INSERT of the patients when there are several) and COMMITs. This times exactly that
difference in-process, without the network and the DICOM encoding around it (those
are in ``benchmarks/dicom_mwl.py``, whose figures on a shared machine move by more
than this):

* ``rollback``: SELECT of the steps + ROLLBACK (the old end of the query);
* ``audit 1``: the same + ``record_read`` naming one patient + COMMIT;
* ``audit 20``: naming 20 patients (a day's list on one scanner);
* on PostgreSQL also with ``synchronous_commit = off`` for the audit transaction.

    .venv/bin/python benchmarks/audit_reads.py                     # SQLite (WAL) in a temp dir
    .venv/bin/python benchmarks/audit_reads.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/radbook_audit_bench

The PostgreSQL database named is emptied.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()

    from sqlalchemy import select, text

    from app.extensions import db
    from benchmarks.dicom_mwl import make_app, reset_and_migrate
    from scheduling.audit import Actor, record_read
    from scheduling.models import AuditEvent, Interface

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/audit.sqlite"
    app = make_app(url)
    reset_and_migrate(app)
    actor = Actor(Interface.DICOM, name="MKH_US1", remote_addr="10.0.0.5")
    steps = list(range(1000, 1020))

    def end_rollback() -> None:
        db.session.execute(select(AuditEvent.id).limit(20)).all()
        db.session.rollback()

    def end_audit(patients: int, async_commit: bool = False):
        def run() -> None:
            db.session.execute(select(AuditEvent.id).limit(20)).all()
            if async_commit:
                db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            record_read(
                actor,
                "worklist.find",
                datetime.now(UTC),
                range(1, patients + 1),
                entity_type="device",
                entity_id=1,
                appointments=steps[:patients],
            )
            db.session.commit()

        return run

    cases = {"rollback": end_rollback, "audit 1": end_audit(1), "audit 20": end_audit(20)}
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            cases["audit 20, synchronous_commit off"] = end_audit(20, True)
        timings: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(50):  # warm-up
            for run in cases.values():
                run()
        # Interleaved, so the machine's load hits every case alike.
        for _ in range(args.repeat):
            for name, run in cases.items():
                t0 = time.perf_counter()
                run()
                timings[name].append(time.perf_counter() - t0)
        dialect = db.engine.dialect.name
    base = statistics.median(timings["rollback"])
    print(f"database: {dialect}; {args.repeat} interleaved repeats; median per query end")
    print("| case | median µs | p95 µs | added to the query (median) µs |")
    print("|---|---:|---:|---:|")
    for name, values in timings.items():
        values.sort()
        p95 = values[int(len(values) * 0.95)]
        med = statistics.median(values)
        print(f"| {name} | {med * 1e6:.0f} | {p95 * 1e6:.0f} | {(med - base) * 1e6:+.0f} |")


if __name__ == "__main__":
    main()
