"""Writing audit events. Called inside the operation's own transaction, never after it.

Writes go through ``record`` (an ORM row committed with the change it describes). Reads
of patient data go through ``record_read``: one Core INSERT per page, query or message,
never one ORM object per row shown, because reads are the hot path (a worklist answer,
a day view). An event names its patients: one in ``audit_event.patient_id``; several
(a list) in ``audit_event_patient``, one row each, written by one executemany.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, TextClause, insert, or_, select, text

from scheduling.db import db
from scheduling.models import AuditEvent, AuditEventPatient, Interface, User


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in user, or a machine peer (an HIS, a scanner, a job)."""

    interface: Interface
    user: User | None = None
    name: str | None = None  # e.g. "MKH_US1", "HOSXP_KUDRANG"
    hospital_id: int | None = None
    remote_addr: str | None = None

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.username
        return f"{self.interface.value}:{self.name or 'system'}"

    @property
    def acting_hospital_id(self) -> int | None:
        return self.user.hospital_id if self.user is not None else self.hospital_id


def patient_of(entity: Any) -> int | None:
    """The patient a row is about, without loading anything that is not loaded yet."""
    if entity is None:
        return None
    if getattr(entity, "__tablename__", None) == "patient":
        return entity.id
    patient_id = getattr(entity, "patient_id", None)
    if patient_id is None and "patient" in getattr(entity, "__dict__", {}):
        patient = entity.__dict__["patient"]  # set but not flushed yet
        patient_id = getattr(patient, "id", None)
    return patient_id


def record(
    actor: Actor,
    action: str,
    now: datetime,
    *,
    entity: Any = None,
    hospital_id: int | None = None,
    patient_id: int | None = None,
    patient_ids: Iterable[int | None] | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit event to the current session (committed with the change it describes).

    The patient is taken from ``entity`` (a patient, or any row with a ``patient_id``)
    unless given; ``patient_ids`` names several (e.g. a search's results).
    """
    many = sorted({p for p in patient_ids or () if p is not None})
    if len(many) == 1 and patient_id is None:
        patient_id, many = many[0], []
    event = AuditEvent(
        at=now,
        user_id=actor.user.id if actor.user is not None else None,
        actor=actor.label,
        interface=actor.interface,
        action=action,
        entity_type=type(entity).__tablename__ if entity is not None else None,
        entity_id=getattr(entity, "id", None),
        hospital_id=hospital_id if hospital_id is not None else actor.acting_hospital_id,
        detail=detail or None,
        remote_addr=actor.remote_addr,
        patient_id=patient_id if patient_id is not None else patient_of(entity),
    )
    db.session.add(event)
    if many:
        db.session.flush()
        _link(event.id, many)
    return event


def cli_actor(tool: str) -> Actor:
    """The operator running a command-line tool, named by the tool and the login name."""
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = "unknown"
    return Actor(interface=Interface.CLI, name=f"{tool}:{who}"[:90])


def update_recorded(
    actor: Actor, action: str, now: datetime, row: Any, new: dict[str, Any], **detail: Any
) -> dict[str, list]:
    """Set ``new``'s values on ``row`` and, when anything changed, record ``action`` with
    the fields before and after (``changes``). Returns those changes."""
    changes = {k: [getattr(row, k), v] for k, v in new.items() if getattr(row, k) != v}
    for key, (_old, value) in changes.items():
        setattr(row, key, value)
    if changes:
        record(actor, action, now, entity=row, changes=changes, **detail)
    return changes


_INSERT_EVENT = insert(AuditEvent.__table__)
_LINK_STATEMENTS: dict[int, TextClause] = {}


def _link(event_id: int, patients: list[int]) -> None:
    # One INSERT ... VALUES (...), (...) per list, its text made once per list length:
    # an executemany went to PostgreSQL as one INSERT per patient (psycopg's pipeline: a
    # day's list of 20 cost 20 statements and half the CPU of a worklist query), and
    # SQLAlchemy compiles a multi-row insert() afresh on every execution.
    statement = _LINK_STATEMENTS.get(len(patients))
    if statement is None:
        table = AuditEventPatient.__table__
        rows = ", ".join(f"(:event_id, :p{i})" for i in range(len(patients)))
        statement = text(f"INSERT INTO {table.name} (audit_event_id, patient_id) VALUES {rows}")
        if len(_LINK_STATEMENTS) < 256:
            _LINK_STATEMENTS[len(patients)] = statement
    params = {f"p{i}": p for i, p in enumerate(patients)}
    params["event_id"] = event_id
    db.session.connection().execute(statement, params)


def record_read(
    actor: Actor,
    action: str,
    now: datetime,
    patient_ids: Iterable[int | None],
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    hospital_id: int | None = None,
    **detail: Any,
) -> int | None:
    """Record that ``actor`` was shown these patients' data; returns the event id.

    One INSERT for the event, plus one executemany of its patients when there is
    more than one. Runs in the session's transaction; the caller commits. Nothing is
    written when no patient was shown (an empty list discloses nothing).
    """
    patients = sorted({p for p in patient_ids if p is not None})
    if not patients:
        return None
    event_id = record_row(
        actor,
        action,
        now,
        entity_type=entity_type,
        entity_id=entity_id,
        hospital_id=hospital_id,
        patient_id=patients[0] if len(patients) == 1 else None,
        **detail,
    )
    if len(patients) > 1:
        _link(event_id, patients)
    return event_id


def record_row(
    actor: Actor,
    action: str,
    now: datetime,
    *,
    entity_type: str | None,
    entity_id: int | None,
    hospital_id: int | None,
    patient_id: int | None,
    **detail: Any,
) -> int:
    """``record`` as one Core INSERT on the session's connection (so in its transaction),
    for a hot path that has the entity's id rather than an ORM object; returns the id."""
    row = {
        "at": now,
        "user_id": actor.user.id if actor.user is not None else None,
        "actor": actor.label[:100],
        "interface": actor.interface,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "hospital_id": hospital_id if hospital_id is not None else actor.acting_hospital_id,
        "detail": detail or None,
        "remote_addr": actor.remote_addr,
        "patient_id": patient_id,
    }
    # Statements built once: the ORM's execute path cost more than the INSERT itself.
    return db.session.connection().execute(_INSERT_EVENT, row).inserted_primary_key[0]


def about_patients(patient_ids: Iterable[int]) -> ColumnElement[bool]:
    """WHERE clause: events naming any of these patients, alone or in a list."""
    ids = list(patient_ids)
    return or_(
        AuditEvent.patient_id.in_(ids),
        AuditEvent.id.in_(
            select(AuditEventPatient.audit_event_id).where(AuditEventPatient.patient_id.in_(ids))
        ),
    )
