"""Stand-in for ``scheduling.requests.create_request`` until the scheduling branch lands.

Same signature and behaviour as documented in the helper brief; removed once the
domain operation is on main.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import Hospital, ImagingRequest, Patient, Priority, Procedure, RequestStatus
from scheduling.audit import Actor, record


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
    submit: bool = True,
    commit: bool = True,
) -> ImagingRequest:
    if placer_order_number is None:
        hospital = db.session.get(Hospital, requesting_hospital_id)
        count = db.session.scalar(
            select(func.count(ImagingRequest.id)).where(
                ImagingRequest.requesting_hospital_id == requesting_hospital_id
            )
        )
        placer_order_number = f"{hospital.code}-{count + 1:06d}"
    req = ImagingRequest(
        placer_order_number=placer_order_number,
        requesting_hospital_id=requesting_hospital_id,
        hub_hospital_id=hub_hospital_id,
        patient_id=patient.id,
        procedure_id=procedure.id,
        priority=priority,
        indication=indication,
        requesting_clinician=requesting_clinician,
        icd10_code=icd10_code,
        created_by_id=actor.user.id if actor.user else None,
        status=RequestStatus.SUBMITTED if submit else RequestStatus.DRAFT,
        created_at=now,
        updated_at=now,
        submitted_at=now if submit else None,
    )
    db.session.add(req)
    db.session.flush()
    record(actor, "request.create", now, entity=req)
    if commit:
        db.session.commit()
    return req
