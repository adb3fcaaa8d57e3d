"""Vetting and protocol: a radiologist of the hub looks at a request before the exam.

Which requests: those whose procedure is on the hub's vetting list (``VettingRule``).
Vetting does not hold up booking (requesters book inside their quota the moment they
request); it must be done before the exam, and the queue shows the exam date. The
radiologist approves with a protocol from the hub's list (``HubProtocol``), contrast
yes or no and notes, may change the priority, or declines with a reason (the booking
is cancelled, the request rejected, the requesting hospital told). Each decision is
audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, case, exists, select

from scheduling import events, notices
from scheduling.access import require_hub_side
from scheduling.audit import Actor, record
from scheduling.booking import cancel_live_appointment
from scheduling.db import db
from scheduling.errors import Conflict, NotAllowed, ValidationFailed
from scheduling.i18n import N_
from scheduling.locks import lock_request
from scheduling.models import (
    HubProtocol,
    ImagingRequest,
    Priority,
    Procedure,
    RequestStatus,
    Role,
    VettingDecision,
    VettingRule,
)
from scheduling.requests import close_rejected
from scheduling.states import LIVE_APPOINTMENT_STATUSES, OPEN_REQUEST_STATUSES, transition
from scheduling.tx import check_aware, finish, rollback_on_error

PRIORITY_RANK = case(
    (ImagingRequest.priority == Priority.STAT, 0),
    (ImagingRequest.priority == Priority.URGENT, 1),
    else_=2,
)


def _rule_exists(hub_id_column, procedure_id_column):
    return exists().where(
        VettingRule.hospital_id == hub_id_column, VettingRule.procedure_id == procedure_id_column
    )


def needs_vetting(request: ImagingRequest) -> bool:
    """The hub's rules send this request to a radiologist (decided or not)."""
    if request.hub_hospital_id is None:
        return False
    return db.session.get(VettingRule, (request.hub_hospital_id, request.procedure_id)) is not None


def awaiting_vetting(request: ImagingRequest) -> bool:
    return (
        request.vetting_decision is None
        and request.status in OPEN_REQUEST_STATUSES
        and needs_vetting(request)
    )


def queue(hub_id: int) -> Select:
    """Open requests addressed to ``hub_id`` that wait for vetting: STAT first, then oldest."""
    return (
        select(ImagingRequest)
        .where(
            ImagingRequest.hub_hospital_id == hub_id,
            ImagingRequest.status.in_(OPEN_REQUEST_STATUSES),
            ImagingRequest.vetting_decision.is_(None),
            _rule_exists(ImagingRequest.hub_hospital_id, ImagingRequest.procedure_id),
        )
        .order_by(PRIORITY_RANK, ImagingRequest.created_at, ImagingRequest.id)
    )


def _require_radiologist(actor: Actor, request: ImagingRequest) -> None:
    require_hub_side(actor, request.hub_hospital_id)
    user = actor.user
    if user is not None and user.role not in (Role.RADIOLOGIST, Role.ADMIN):
        raise NotAllowed(N_("Only a radiologist can vet a request"), code="radiologist-only")
    if request.status not in OPEN_REQUEST_STATUSES:
        raise Conflict(N_("This request can no longer be changed"), code="request-closed")


def protocols_for(hub_id: int, modality_code: str) -> list[HubProtocol]:
    return list(
        db.session.scalars(
            select(HubProtocol)
            .where(
                HubProtocol.hospital_id == hub_id,
                HubProtocol.modality_code == modality_code,
                HubProtocol.is_active.is_(True),
            )
            .order_by(HubProtocol.code)
        )
    )


def approve(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    *,
    protocol: HubProtocol,
    contrast: bool,
    notes: str = "",
    priority: Priority | None = None,
    commit: bool = True,
) -> ImagingRequest:
    """Approve with a protocol of the hub's list (a later approval replaces it)."""
    check_aware(now)
    with rollback_on_error(commit):
        lock_request(request)
        _require_radiologist(actor, request)
        if (
            protocol.hospital_id != request.hub_hospital_id
            or not protocol.is_active
            or protocol.modality_code != request.procedure.modality_code
        ):
            raise ValidationFailed(N_("Choose a protocol of this hub's list"), code="protocol")
        changes = {}
        if priority is not None and priority is not request.priority:
            changes["priority"] = [request.priority.name, priority.name]
            request.priority = priority
        request.vetting_decision = VettingDecision.APPROVED
        request.protocol_id = protocol.id
        request.protocol = protocol
        request.protocol_contrast = bool(contrast)
        request.protocol_notes = (notes or "").strip()[:2000] or None
        request.vetted_at = now
        request.vetted_by_id = actor.user.id if actor.user is not None else None
        request.updated_at = now
        record(
            actor,
            "request.vet",
            now,
            entity=request,
            hospital_id=request.hub_hospital_id,
            decision=VettingDecision.APPROVED.name,
            protocol=protocol.code,
            contrast=request.protocol_contrast,
            notes=request.protocol_notes,
            **changes,
        )
        events.request_protocolled.send(request, actor=actor, now=now, request=request)
        finish(commit)
    return request


def decline(
    actor: Actor, now: datetime, request: ImagingRequest, reason: str, commit: bool = True
) -> ImagingRequest:
    """Decline: the booking (if any) is cancelled and the request rejected, with the reason."""
    check_aware(now)
    with rollback_on_error(commit):
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed(N_("Give a reason for the rejection"), code="reason")
        lock_request(request)
        _require_radiologist(actor, request)
        live = [a for a in request.appointments if a.status in LIVE_APPOINTMENT_STATUSES]
        for appointment in live:
            cancel_live_appointment(actor, now, appointment, reason)
        if request.status is RequestStatus.SCHEDULED:
            transition(request, RequestStatus.ACCEPTED)
        request.vetting_decision = VettingDecision.DECLINED
        request.vetted_at = now
        request.vetted_by_id = actor.user.id if actor.user is not None else None
        close_rejected(
            actor,
            now,
            request,
            reason,
            hub_id=request.hub_hospital_id,
            action="request.decline",
            notice=("request.declined", notices.DECLINED),
            appointments=[a.id for a in live],
        )
        finish(commit)
    return request


# --- the hub's lists ----------------------------------------------------------------------


def add_protocol(
    actor: Actor,
    now: datetime,
    hub_id: int,
    *,
    modality_code: str,
    code: str,
    name_th: str,
    name_en: str,
    contrast: bool,
    commit: bool = True,
) -> HubProtocol:
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, hub_id)
        code = (code or "").strip().upper()
        if not code or len(code) > 16 or not (name_th or "").strip():
            raise ValidationFailed(N_("Enter a code and a Thai name"), code="protocol")
        taken = db.session.scalar(
            select(HubProtocol.id).where(
                HubProtocol.hospital_id == hub_id, HubProtocol.code == code
            )
        )
        if taken is not None:
            raise Conflict(
                N_("Order number %(number)s already exists"), code="duplicate", number=code
            )
        row = HubProtocol(
            hospital_id=hub_id,
            modality_code=modality_code,
            code=code,
            name_th=name_th.strip()[:200],
            name_en=(name_en or name_th).strip()[:200],
            contrast=bool(contrast),
            is_active=True,
        )
        db.session.add(row)
        db.session.flush()
        record(actor, "protocol.add", now, entity=row, hospital_id=hub_id, code=code)
        finish(commit)
    return row


def set_protocol_active(
    actor: Actor, now: datetime, protocol: HubProtocol, active: bool, commit: bool = True
) -> HubProtocol:
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, protocol.hospital_id)
        if protocol.is_active != active:
            protocol.is_active = active
            record(
                actor,
                "protocol.activate" if active else "protocol.retire",
                now,
                entity=protocol,
                hospital_id=protocol.hospital_id,
                code=protocol.code,
            )
        finish(commit)
    return protocol


def set_vetting_rule(
    actor: Actor,
    now: datetime,
    hub_id: int,
    procedure: Procedure,
    needed: bool,
    commit: bool = True,
) -> None:
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, hub_id)
        row = db.session.get(VettingRule, (hub_id, procedure.id))
        if needed and row is None:
            db.session.add(VettingRule(hospital_id=hub_id, procedure_id=procedure.id))
        elif not needed and row is not None:
            db.session.delete(row)
        else:
            finish(commit)
            return
        record(
            actor,
            "vetting_rule.set",
            now,
            hospital_id=hub_id,
            procedure=procedure.code,
            needed=needed,
        )
        finish(commit)
