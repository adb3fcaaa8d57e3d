"""HL7 listener fuzz: mutated ADT, ORM, OMI and ORU messages over real MLLP.

Each message must get one ACK (AA, AE or AR; MSA-2 echoing MSH-10 when there is one),
the listener must stay up, and afterwards journal and domain must agree (every ACK
journaled once with its outcome, no request from a message answered AE or AR). The
cases are ``tests/fuzz/hl7_cases.py``; the suite runs a few hundred of them
(``tests/fuzz/test_hl7_fuzz.py``), this runs the full set.

    .venv/bin/python benchmarks/hl7_fuzz.py                      # 10,000 cases, SQLite
    .venv/bin/python benchmarks/hl7_fuzz.py --database-url postgresql+psycopg://postgres@127.0.0.1/radbook_fuzz
    .venv/bin/python benchmarks/hl7_fuzz.py --seed 8 --only 4711 --show   # one case again

Exits non-zero when any case failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="emptied first! default: a new SQLite file in a temporary directory",
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", type=int, default=None, help="send just this case")
    parser.add_argument("--show", action="store_true", help="print each case as it is sent")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app import create_app
    from app.config import Config
    from app.demo import load_network
    from app.extensions import db
    from integrations.hl7 import _warm_up, make_listener
    from integrations.hl7.models import Hl7InboundMessage
    from scheduling.models import ImagingRequest, Patient
    from tests.conftest import reset_schema
    from tests.fuzz import hl7_cases

    # The listener logs each internal error with its traceback; counted below instead.
    logging.basicConfig(level=logging.CRITICAL)
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'fuzz.sqlite'}"

    class FuzzConfig(Config):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(FuzzConfig)
    with app.app_context():
        reset_schema(db.engine)
        upgrade()
        load_network()
        db.session.commit()
    _warm_up()
    listener = make_listener(app, "127.0.0.1", 0).start()
    indexes = [args.only] if args.only is not None else range(args.cases)
    cases = (hl7_cases.case(args.seed, i) for i in indexes)
    if args.show:
        cases = (print(c.show()) or c for c in cases)
    try:
        report = hl7_cases.send_cases(
            "127.0.0.1",
            listener.port,
            cases,
            seed=args.seed,
            progress=lambda r: print(f"  ... {r.sent} sent, {dict(r.codes)}", flush=True),
        )
        alive = hl7_cases.alive("127.0.0.1", listener.port, args.seed)
        thread_alive = listener._thread is not None and listener._thread.is_alive()
    finally:
        listener.stop()
    with app.app_context():
        problems = hl7_cases.check_database(report, args.seed)
        journal = dict(
            db.session.execute(
                select(Hl7InboundMessage.outcome, func.count()).group_by(Hl7InboundMessage.outcome)
            ).all()
        )
        requests = db.session.scalar(select(func.count()).select_from(ImagingRequest))
        patients = db.session.scalar(select(func.count()).select_from(Patient))
        internal = db.session.scalar(
            select(func.count())
            .select_from(Hl7InboundMessage)
            .where(Hl7InboundMessage.error_code == "internal")
        )
        dialect = db.engine.dialect.name
        db.session.remove()
        db.engine.dispose()
    for failure in report.failures[:30]:
        print("FAIL", failure)
    for problem in problems[:30]:
        print("DB", problem)
    print(f"database: {dialect}; seed {args.seed}")
    print(f"HL7 fuzz: {report.summary()}; {report.reconnects} reconnects")
    print(
        f"journal: {', '.join(f'{k.value} {v}' for k, v in sorted(journal.items(), key=str))}"
        f"; internal errors (AE 'internal') {internal}; requests {requests}, patients "
        f"{patients}"
    )
    print(
        f"listener alive afterwards: {alive and thread_alive}; database consistency "
        f"problems: {len(problems)}"
    )
    tmp.cleanup()
    if report.failures or problems or not alive or internal:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
