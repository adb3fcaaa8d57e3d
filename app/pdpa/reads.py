"""Web reads of patient data, one audit event per page.

A view that shows patient data calls ``audit_read`` once, naming every patient on
the page (a list names them all in one event, never one event per row). The events
are written after the view has rendered, in one short transaction of their own, so
the view's queries and its objects are untouched and a page costs one INSERT (two for
a list of several patients). A redirect or a failed page (5xx) records nothing:
it showed nothing. If the INSERT itself fails, the response becomes an error: patient data is
not served without its audit line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g

from app.extensions import db
from app.webkit.views import web_actor
from scheduling.audit import record_read
from scheduling.clock import utcnow


@dataclass
class _Read:
    action: str
    patient_ids: list[int]
    entity_type: str | None
    entity_id: int | None
    detail: dict[str, Any] = field(default_factory=dict)


def audit_read(action: str, patients: Iterable[Any], *, entity: Any = None, **detail: Any) -> None:
    """This response shows these patients (rows with ``patient_id``, patients, or ids)."""
    ids = []
    for p in patients:
        if p is None:
            continue
        if isinstance(p, int):
            ids.append(p)
        elif getattr(p, "__tablename__", None) == "patient":
            ids.append(p.id)
        else:
            ids.append(p.patient_id)
    g.setdefault("pdpa_reads", []).append(
        _Read(
            action,
            ids,
            getattr(entity, "__tablename__", None),
            getattr(entity, "id", None),
            detail,
        )
    )


def _write(response: Response) -> Response:
    reads: list[_Read] | None = g.pop("pdpa_reads", None)
    # A redirect shows nothing; a failed page (5xx) showed nothing either. A 4xx page
    # that re-renders a form beside the record (422, 409) did show it.
    if not reads or 300 <= response.status_code < 400 or response.status_code >= 500:
        return response
    actor = web_actor()
    now = utcnow()
    # Whatever the view left uncommitted would be rolled back at teardown anyway.
    db.session.rollback()
    seen = set()
    for read in reads:
        key = (read.action, read.entity_type, read.entity_id, tuple(read.patient_ids))
        if key in seen:  # a helper and the page both noted the same record
            continue
        seen.add(key)
        record_read(
            actor,
            read.action,
            now,
            read.patient_ids,
            entity_type=read.entity_type,
            entity_id=read.entity_id,
            **read.detail,
        )
    db.session.commit()
    return response


def init_app(app: Flask) -> None:
    app.after_request(_write)
