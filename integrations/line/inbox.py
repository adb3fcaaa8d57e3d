"""Patients' answers from LINE buttons, for the hub scheduler's inbox (the web UI shows them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from integrations.line.models import LinePatientReply
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import NotAllowed
from scheduling.i18n import N_
from scheduling.models import Appointment, ImagingRequest


def pending_patient_replies(hub_hospital_id: int) -> list[LinePatientReply]:
    """Unhandled replies for a hub, oldest first, with what a list needs already loaded."""
    return list(
        db.session.scalars(
            select(LinePatientReply)
            .where(
                LinePatientReply.hub_hospital_id == hub_hospital_id,
                LinePatientReply.handled.is_(False),
            )
            .order_by(LinePatientReply.received_at, LinePatientReply.id)
            .options(
                selectinload(LinePatientReply.patient),
                selectinload(LinePatientReply.appointment).selectinload(Appointment.device),
                selectinload(LinePatientReply.request).selectinload(ImagingRequest.procedure),
            )
        )
    )


def mark_reply_handled(
    actor: Actor, now: datetime, reply: LinePatientReply, commit: bool = True
) -> LinePatientReply:
    """A scheduler has dealt with the answer (called, moved, cancelled, or noted it)."""
    hub = actor.acting_hospital_id
    if (
        hub is not None
        and actor.user is not None
        and actor.user.role.name != "ADMIN"
        and (hub != reply.hub_hospital_id)
    ):
        raise NotAllowed(N_("This reply belongs to another hospital."))
    if not reply.handled:
        reply.handled = True
        reply.handled_at = now
        reply.handled_by_id = actor.user.id if actor.user is not None else None
        record(
            actor,
            "line.reply_handled",
            now,
            entity=reply,
            hospital_id=reply.hub_hospital_id,
            kind=reply.kind.value,
            appointment_id=reply.appointment_id,
        )
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return reply
