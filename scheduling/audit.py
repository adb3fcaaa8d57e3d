"""Writing audit events. Called inside the operation's own transaction, never after it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.extensions import db
from app.models import AuditEvent, Interface, User


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


def record(
    actor: Actor,
    action: str,
    now: datetime,
    *,
    entity: Any = None,
    hospital_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit event to the current session (committed with the change it describes)."""
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
    )
    db.session.add(event)
    return event
