"""What the hot operations cost in SQL, counted (never timed) on the demo network.

Each guard runs one operation, adds more of the rows the operation reads (patients,
requests and bookings where it looks, through the same factories at either size), runs
it again and compares:

- the number of SQL statements must not change with the data (an N+1 query grows it)
  and must stay within the operation's budget (a constant in the test);
- the rows loaded may grow by at most a fixed number per added item (the page's own
  rows), never by a scan of everything.

So the bounds depend on the operation, not on how many rows the demo happens to hold.
Rows are counted where the ORM session returns them (every ``session.execute``,
Core statements on the session's connection included), statements at the cursor.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import event, select

from app.extensions import db as _db
from scheduling.audit import Actor
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Hospital,
    IdentifierType,
    Interface,
    Patient,
    Sex,
)
from scheduling.patients import national_id_check_digit, register_patient
from tests.app.hub.factories import make_appointment, make_request

_patients = itertools.count(1)
SETUP = Actor(interface=Interface.CLI, name="perf-guard")


@dataclass
class Cost:
    statements: list[str] = field(default_factory=list)
    rows: int = 0

    def __str__(self) -> str:
        listing = "\n".join(
            f"  {s.split()[0]} {' '.join(s.split())[:160]}" for s in self.statements
        )
        return f"{len(self.statements)} statements, {self.rows} rows:\n{listing}"


class _CountingCursor:
    """A DBAPI cursor that counts the rows fetched through it."""

    def __init__(self, cursor, cost: Cost):
        self._cursor = cursor
        self._cost = cost

    def fetchone(self):
        row = self._cursor.fetchone()
        if row is not None:
            self._cost.rows += 1
        return row

    def fetchmany(self, *args, **kwargs):
        rows = self._cursor.fetchmany(*args, **kwargs)
        self._cost.rows += len(rows)
        return rows

    def fetchall(self):
        rows = self._cursor.fetchall()
        self._cost.rows += len(rows)
        return rows

    def __iter__(self):
        for row in self._cursor:
            self._cost.rows += 1
            yield row

    def __getattr__(self, name):
        return getattr(self._cursor, name)


@contextmanager
def counted() -> Iterator[Cost]:
    """Count the statements the engine sends and the rows fetched back, whatever sent
    them (ORM, Core on the session's connection, other threads such as the DICOM
    server's)."""
    cost = Cost()
    engine = _db.engine
    context_class = engine.dialect.execution_ctx_cls
    create_cursor = context_class.create_cursor

    def on_cursor(conn, cursor, statement, parameters, context, executemany):
        cost.statements.append(statement)

    def counting_cursor(self, *args, **kwargs):
        return _CountingCursor(create_cursor(self, *args, **kwargs), cost)

    event.listen(engine, "before_cursor_execute", on_cursor)
    context_class.create_cursor = counting_cursor
    try:
        yield cost
    finally:
        context_class.create_cursor = create_cursor
        event.remove(engine, "before_cursor_execute", on_cursor)


def cost_of(operation: Callable[[], object]) -> Cost:
    """The steady cost: run once (caches warm, as in a running server), then count."""
    _db.session.remove()
    operation()
    _db.session.remove()
    with counted() as cost:
        operation()
    _db.session.remove()
    return cost


def assert_flat(small: Cost, large: Cost, *, budget: int, added: int, rows_per_item: int):
    """Statements equal at both sizes and within budget; rows grow at most linearly in
    the rows added, with a fixed factor."""
    if os.environ.get("PERF_GUARDS_SHOW"):  # for setting a budget: pytest -s
        print(
            f"\nstatements/rows: small {len(small.statements)}/{small.rows}, "
            f"large {len(large.statements)}/{large.rows}"
        )
    assert len(small.statements) == len(large.statements), (
        f"statements grew with the data:\nsmall: {small}\nlarge: {large}"
    )
    assert len(large.statements) <= budget, f"over the budget of {budget}:\n{large}"
    assert large.rows - small.rows <= added * rows_per_item, (
        f"rows grew by {large.rows - small.rows} for {added} added items "
        f"(at most {rows_per_item} each):\nsmall: {small}\nlarge: {large}"
    )


def new_patient(hospital_code: str, now: datetime) -> Patient:
    """A patient registered at ``hospital_code`` through the domain operation."""
    n = next(_patients)
    stem = f"5{n:011d}"
    hospital = _db.session.scalar(select(Hospital).where(Hospital.code == hospital_code))
    return register_patient(
        SETUP,
        now,
        id_type=IdentifierType.NATIONAL_ID,
        id_value=stem + national_id_check_digit(stem),
        prefix="MRS",
        given_name_th=f"ผู้ป่วยทดสอบ{n}",
        family_name_th="ใจดี",
        birth_date=datetime(1970, 1, 1).date(),
        sex=Sex.FEMALE,
        hospital_id=hospital.id,
        hn=f"PG{n:05d}",
        commit=False,
    )


def add_bookings(
    now: datetime,
    count: int,
    *,
    ae_title: str,
    start_at: datetime,
    requester: str = "11008",
    procedure_code: str = "US-UPABD",
    minutes: int = 20,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
) -> list[Appointment]:
    """``count`` new patients of ``requester``, each with a request and a booking on
    ``ae_title``, one after another from ``start_at``."""
    made = []
    for i in range(count):
        patient = new_patient(requester, now)
        request = make_request(
            now=now,
            patient_name=patient.given_name_th,
            procedure_code=procedure_code,
            requester=requester,
        )
        made.append(
            make_appointment(
                request,
                ae_title=ae_title,
                start_at=start_at + timedelta(minutes=minutes * i),
                minutes=minutes,
                status=status,
            )
        )
    _db.session.commit()
    return made
