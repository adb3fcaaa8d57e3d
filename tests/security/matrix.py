"""Shared machinery of the access matrices: the worlds fixture, the database fingerprint
that tells whether a refused write changed anything, the figures printed at the end."""

from __future__ import annotations

import hashlib
from collections import Counter

from sqlalchemy import event, select, text

from app.extensions import db as _db

# The audit trail records refusals (and, with PDPA auditing, reads): that is not a write
# of patient data, so it is left out of the fingerprint.
NOT_FINGERPRINTED = {"audit_event", "audit_event_patient"}

# interface -> combinations tried; printed by the figures fixture, summed in the report.
FIGURES: Counter[str] = Counter()


def fingerprint() -> str:
    """A digest of every row of every table but the audit trail, read outside any session."""
    digest = hashlib.sha256()
    with _db.engine.connect() as conn:
        for table in _db.metadata.sorted_tables:
            if table.name in NOT_FINGERPRINTED:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            for row in conn.execute(select(table).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
            digest.update(b"|" + table.name.encode())
    return digest.hexdigest()


class WriteWatch:
    """Counts the INSERT/UPDATE/DELETE statements sent to the database (audit trail aside):
    when a request sent none, the database cannot have changed, and the (slower)
    fingerprint is not needed."""

    def __init__(self):
        self.writes = 0

    def __enter__(self) -> WriteWatch:
        event.listen(_db.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(_db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement: str, parameters, context, executemany) -> None:
        head = statement.lstrip()[:80].upper()
        if head.startswith(("INSERT", "UPDATE", "DELETE", "TRUNCATE")) and not any(
            name.upper() in head for name in NOT_FINGERPRINTED
        ):
            self.writes += 1


def table_counts() -> dict[str, int]:
    with _db.engine.connect() as conn:
        return {
            t.name: conn.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar_one()
            for t in _db.metadata.sorted_tables
        }


def report(request, interface: str, line: str) -> None:
    """Write a figure to the terminal even when output is captured (``pytest -q``)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[access matrix] {interface}: {line}")
