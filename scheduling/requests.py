"""Imaging request operations: create, accept, reject, change, cancel.

Each takes the acting ``actor`` and ``now`` first, locks the request row (see
``scheduling/locks.py``), validates the transition through ``scheduling.states``,
writes one audit event, sends ``request_status_changed`` inside the transaction and
commits, unless ``commit=False`` (then it only flushes; the caller commits or rolls
back).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, insert, select

from scheduling import events, notices
from scheduling import screening as screening_rules
from scheduling.access import require_hub_side, require_party
from scheduling.audit import Actor, record, record_row
from scheduling.booking import cancel_live_appointment
from scheduling.clock import local_today
from scheduling.db import db
from scheduling.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from scheduling.i18n import N_
from scheduling.locks import lock_request
from scheduling.models import (
    AppointmentStatus,
    Hospital,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    RequestStatus,
    Role,
    TreatmentRight,
)
from scheduling.regions import REFERRAL_REFUSED, accepts_referral
from scheduling.states import LIVE_APPOINTMENT_STATUSES, OPEN_REQUEST_STATUSES, transition
from scheduling.tx import check_aware, finish, rollback_on_error

_ORDER_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

# Built once: building this SELECT cost more than running it (HL7 orders check it on
# every message).
_DUPLICATE_ORDER = select(ImagingRequest.id).where(
    ImagingRequest.requesting_hospital_id == bindparam("hospital_id"),
    ImagingRequest.placer_order_number == bindparam("number"),
)
_INSERT_REQUEST = insert(ImagingRequest.__table__)


def _signal(request: ImagingRequest, actor: Actor, now: datetime, previous: RequestStatus) -> None:
    events.request_status_changed.send(
        request, actor=actor, now=now, request=request, previous_status=previous
    )


def new_placer_order_number(now: datetime) -> str:
    suffix = "".join(secrets.choice(_ORDER_ALPHABET) for _ in range(8))
    return f"RB{now:%y%m%d}{suffix}"


def create_request(
    actor: Actor,
    now: datetime,
    *,
    patient: Patient,
    procedure: Procedure,
    requesting_hospital_id: int,
    hub_hospital_id: int | None = None,
    priority: Priority = Priority.ROUTINE,
    indication: str = "",
    requesting_clinician: str = "",
    icd10_code: str | None = None,
    placer_order_number: str | None = None,
    treatment_right: TreatmentRight | None = None,
    referral_number: str | None = None,
    screening: Mapping[str, object] | None = None,
    submit: bool = True,
    commit: bool = True,
    as_id: bool = False,
) -> ImagingRequest:
    """A new request, submitted to the hub unless ``submit=False`` (kept as a draft).

    ``screening``, when given, is checked (``scheduling.screening.clean``) and kept;
    orders from an HIS usually come without it and are completed on the web.
    ``as_id`` (``create_request_id``): the same rules, audit event and signal, but the
    row is written with one Core INSERT and its id returned, no ORM object built (the
    HL7 listener's hot path).
    """
    check_aware(now)
    with rollback_on_error(commit):
        acting = actor.acting_hospital_id
        is_admin = actor.user is not None and actor.user.role is Role.ADMIN
        if not is_admin and acting is not None and acting != requesting_hospital_id:
            raise NotAllowed(
                N_("You can only request exams for your own hospital"), code="not-own-hospital"
            )
        if db.session.get(Hospital, requesting_hospital_id) is None:
            raise NotFound(N_("Unknown hospital"), code="hospital")
        if patient.hospital_id != requesting_hospital_id:
            # A request carries the requesting hospital's own record of the patient
            # (scheduling/patients.py), never another hospital's.
            raise NotAllowed(
                N_("The patient is not registered at the requesting hospital"),
                code="patient-not-own",
            )
        if hub_hospital_id is not None:
            hub = db.session.get(Hospital, hub_hospital_id)
            if hub is None or not hub.is_hub:
                raise ValidationFailed(N_("That hospital does not take bookings"), code="not-hub")
            requester = db.session.get(Hospital, requesting_hospital_id)
            if not accepts_referral(hub, requester, priority):
                raise NotAllowed(REFERRAL_REFUSED, code="out-of-region")
        if not procedure.is_active:
            raise ValidationFailed(N_("This procedure is no longer offered"), code="procedure")
        if placer_order_number:
            placer_order_number = placer_order_number.strip()
            duplicate = db.session.scalar(
                _DUPLICATE_ORDER,
                {"hospital_id": requesting_hospital_id, "number": placer_order_number},
            )
            if duplicate is not None:
                raise Conflict(
                    N_("Order number %(number)s already exists"),
                    code="duplicate-order",
                    number=placer_order_number,
                )
        if screening is not None:
            screening = screening_rules.clean(procedure, patient, screening, local_today(now))
        status = RequestStatus.SUBMITTED if submit else RequestStatus.DRAFT
        values = dict(
            placer_order_number=placer_order_number or new_placer_order_number(now),
            treatment_right=treatment_right,
            referral_number=(referral_number or "").strip()[:40] or None,
            screening=screening,
            requesting_hospital_id=requesting_hospital_id,
            hub_hospital_id=hub_hospital_id,
            patient_id=patient.id,
            procedure_id=procedure.id,
            priority=priority,
            status=status,
            indication=indication.strip(),
            icd10_code=(icd10_code or "").strip().upper() or None,
            requesting_clinician=requesting_clinician.strip(),
            created_by_id=actor.user.id if actor.user is not None else None,
            created_at=now,
            updated_at=now,
            submitted_at=now if submit else None,
        )
        request: ImagingRequest | None = None
        if as_id:
            request_id = (
                db.session.connection().execute(_INSERT_REQUEST, values).inserted_primary_key[0]
            )
        else:
            request = ImagingRequest(**values)
            db.session.add(request)
            db.session.flush()
            request_id = request.id
        record_row(
            actor,
            "request.create",
            now,
            entity_type=ImagingRequest.__tablename__,
            entity_id=request_id,
            hospital_id=requesting_hospital_id,
            patient_id=patient.id,
            status=status.name,
            procedure=procedure.code,
            priority=priority.name,
        )
        if events.request_status_changed.receivers:
            if request is None:
                request = db.session.get(ImagingRequest, request_id)
            events.request_status_changed.send(
                request, actor=actor, now=now, request=request, previous_status=None
            )
        finish(commit)
    return request_id if as_id else request


def create_request_id(actor: Actor, now: datetime, **order) -> int:
    """``create_request`` (same arguments, rules, audit event and signal) returning only
    the new request's id: one Core INSERT instead of an ORM object and its flush."""
    return create_request(actor, now, as_id=True, **order)  # type: ignore[return-value]


def submit_request(
    actor: Actor, now: datetime, request: ImagingRequest, commit: bool = True
) -> ImagingRequest:
    """Send a draft to the hub."""
    check_aware(now)
    with rollback_on_error(commit):
        lock_request(request)
        require_party(actor, request, None)
        previous = transition(request, RequestStatus.SUBMITTED)
        request.submitted_at = now
        request.updated_at = now
        record(
            actor, "request.submit", now, entity=request, hospital_id=request.requesting_hospital_id
        )
        _signal(request, actor, now, previous)
        finish(commit)
    return request


def accept_request(
    actor: Actor, now: datetime, request: ImagingRequest, commit: bool = True
) -> ImagingRequest:
    check_aware(now)
    with rollback_on_error(commit):
        lock_request(request)
        hub_id = request.hub_hospital_id or actor.acting_hospital_id
        require_hub_side(actor, hub_id)
        previous = transition(request, RequestStatus.ACCEPTED)
        if request.hub_hospital_id is None and hub_id is not None:
            request.hub_hospital_id = hub_id
        request.status_reason = None
        request.updated_at = now
        record(actor, "request.accept", now, entity=request, hospital_id=request.hub_hospital_id)
        _signal(request, actor, now, previous)
        finish(commit)
    return request


def reject_request(
    actor: Actor, now: datetime, request: ImagingRequest, reason: str, commit: bool = True
) -> ImagingRequest:
    check_aware(now)
    with rollback_on_error(commit):
        if not reason or not reason.strip():
            raise ValidationFailed(N_("Give a reason for the rejection"), code="reason")
        lock_request(request)
        hub_id = request.hub_hospital_id or actor.acting_hospital_id
        require_hub_side(actor, hub_id)
        if request.status is RequestStatus.SCHEDULED:
            raise Conflict(
                N_("Cancel the booking before rejecting this request"), code="request-booked"
            )
        close_rejected(actor, now, request, reason.strip(), hub_id=hub_id)
        finish(commit)
    return request


def close_rejected(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    reason: str,
    *,
    hub_id: int | None,
    action: str = "request.reject",
    notice: tuple[str, str] = ("request.rejected", notices.REJECTED),
    **audit: object,
) -> None:
    """The step every rejection ends with (here and a decline at vetting): the request,
    locked and checked by the caller, goes to REJECTED with ``reason`` (addressed to
    ``hub_id`` if it was not yet), one audit event ``action``, the requesting hospital
    told (``notice`` is its kind and text) and the change signalled. No commit."""
    previous = transition(request, RequestStatus.REJECTED)
    if request.hub_hospital_id is None and hub_id is not None:
        request.hub_hospital_id = hub_id
    request.status_reason = reason
    request.updated_at = now
    record(
        actor,
        action,
        now,
        entity=request,
        hospital_id=request.hub_hospital_id,
        reason=reason,
        **audit,
    )
    kind, message = notice
    notices.tell_requester(actor, now, request, kind, message, reason=reason)
    _signal(request, actor, now, previous)


def change_request(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    *,
    procedure: Procedure | None = None,
    priority: Priority | None = None,
    commit: bool = True,
) -> ImagingRequest:
    """Change the procedure (not once booked: the slot was sized for it) or the priority."""
    check_aware(now)
    with rollback_on_error(commit):
        lock_request(request)
        require_party(actor, request, None)
        if request.status not in (
            RequestStatus.DRAFT,
            RequestStatus.SUBMITTED,
            RequestStatus.ACCEPTED,
            RequestStatus.SCHEDULED,
        ):
            raise Conflict(N_("This request can no longer be changed"), code="request-closed")
        changes: dict[str, str] = {}
        if procedure is not None and procedure.id != request.procedure_id:
            if request.status is RequestStatus.SCHEDULED:
                raise Conflict(
                    N_("Cancel the booking before changing the procedure"),
                    code="request-booked",
                )
            if not procedure.is_active:
                raise ValidationFailed(N_("This procedure is no longer offered"), code="procedure")
            changes["procedure"] = procedure.code
            request.procedure_id = procedure.id
            request.procedure = procedure
        if priority is not None and priority is not request.priority:
            changes["priority"] = priority.name
            request.priority = priority
        request.updated_at = now
        record(
            actor,
            "request.change",
            now,
            entity=request,
            hospital_id=request.requesting_hospital_id,
            **changes,
        )
        finish(commit)
    return request


def cancel_request(
    actor: Actor, now: datetime, request: ImagingRequest, reason: str, commit: bool = True
) -> ImagingRequest:
    """End the request; its live appointment (if any) is cancelled with it."""
    check_aware(now)
    with rollback_on_error(commit):
        lock_request(request)
        require_party(actor, request, None)
        live = [a for a in request.appointments if a.status in LIVE_APPOINTMENT_STATUSES]
        if any(a.status is AppointmentStatus.IN_PROGRESS for a in live):
            raise Conflict(
                N_("The exam is in progress and cannot be cancelled"), code="exam-in-progress"
            )
        previous = transition(request, RequestStatus.CANCELLED)
        request.status_reason = (reason or "").strip() or None
        request.updated_at = now
        for appointment in live:
            cancel_live_appointment(actor, now, appointment, request.status_reason)
        record(
            actor,
            "request.cancel",
            now,
            entity=request,
            hospital_id=actor.acting_hospital_id or request.requesting_hospital_id,
            reason=request.status_reason,
            appointments=[a.id for a in live],
        )
        if live:
            notices.tell_requester(
                actor,
                now,
                request,
                "appointment.cancelled",
                notices.CANCELLED,
                reason=request.status_reason,
            )
        _signal(request, actor, now, previous)
        finish(commit)
    return request


def update_screening(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    *,
    screening: Mapping[str, object],
    treatment_right: TreatmentRight | None,
    referral_number: str | None,
    commit: bool = True,
) -> ImagingRequest:
    """Complete or correct the screening, treatment right and referral number (the
    requesting hospital, while the exam has not been done)."""
    check_aware(now)
    with rollback_on_error(commit):
        lock_request(request)
        require_party(actor, request, None)
        if request.status not in (RequestStatus.DRAFT, *OPEN_REQUEST_STATUSES):
            raise Conflict(N_("This request can no longer be changed"), code="request-closed")
        cleaned = screening_rules.clean(
            request.procedure, request.patient, screening, local_today(now)
        )
        request.screening = cleaned
        request.treatment_right = treatment_right
        request.referral_number = (referral_number or "").strip()[:40] or None
        request.updated_at = now
        record(
            actor,
            "request.screening",
            now,
            entity=request,
            hospital_id=actor.acting_hospital_id or request.requesting_hospital_id,
            answered=sorted(cleaned),
        )
        finish(commit)
    return request
