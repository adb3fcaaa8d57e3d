"""Factories for hub tests: requests and appointments over the demo network.

``make_request``/``make_appointment`` write rows directly, for read-side tests
(day view, exams, dashboards) that need a given state without walking the
operations; action tests go through the ``scheduling`` operations instead.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    RequestStatus,
)

_seq = itertools.count(1)


def hospital(code: str) -> Hospital:
    return db.session.scalar(select(Hospital).where(Hospital.code == code))


def device(ae_title: str) -> Device:
    return db.session.scalar(select(Device).where(Device.ae_title == ae_title))


def procedure(code: str) -> Procedure:
    return db.session.scalar(select(Procedure).where(Procedure.code == code))


def patient(given_name_th: str) -> Patient:
    return db.session.scalar(select(Patient).where(Patient.given_name_th == given_name_th))


def make_request(
    *,
    now: datetime,
    patient_name: str = "สมศรี",
    procedure_code: str = "US-UPABD",
    requester: str = "11008",
    hub: str = "10707",
    status: RequestStatus = RequestStatus.SUBMITTED,
    priority: Priority = Priority.ROUTINE,
    indication: str = "ปวดท้องด้านขวาบน",
    created_at: datetime | None = None,
) -> ImagingRequest:
    n = next(_seq)
    created = created_at or now
    req = ImagingRequest(
        placer_order_number=f"T-{n}",
        requesting_hospital_id=hospital(requester).id,
        hub_hospital_id=hospital(hub).id,
        patient_id=patient(patient_name).id,
        procedure_id=procedure(procedure_code).id,
        priority=priority,
        status=status,
        indication=indication,
        created_at=created,
        updated_at=created,
        submitted_at=created,
    )
    db.session.add(req)
    db.session.flush()
    return req


def make_appointment(
    req: ImagingRequest,
    *,
    ae_title: str,
    start_at: datetime,
    minutes: int | None = None,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
) -> Appointment:
    n = next(_seq)
    dev = device(ae_title)
    minutes = minutes or db.session.get(Procedure, req.procedure_id).duration_minutes
    appt = Appointment(
        request_id=req.id,
        patient_id=req.patient_id,
        hub_hospital_id=dev.hospital_id,
        device_id=dev.id,
        start_at=start_at,
        end_at=start_at + timedelta(minutes=minutes),
        status=status,
        accession_number=f"ACC{n:06d}",
        study_instance_uid=f"2.25.{uuid.uuid4().int}",
        requested_procedure_id=f"RP{n}",
        sps_id=f"SPS{n}",
        appointment_code=f"C{n:07d}",
        created_at=req.created_at,
        updated_at=req.created_at,
    )
    db.session.add(appt)
    if req.status in (RequestStatus.SUBMITTED, RequestStatus.ACCEPTED):
        req.status = RequestStatus.SCHEDULED
    db.session.flush()
    return appt


def user(username: str):
    from scheduling.models import User

    return db.session.scalar(select(User).where(User.username == username))


def actor_for(username: str):
    from scheduling.audit import Actor
    from scheduling.models import Interface

    return Actor(interface=Interface.WEB, user=user(username))


def submit_request(
    *,
    patient_name: str = "สมศรี",
    procedure_code: str = "US-UPABD",
    requester: str = "11008",
    requester_user: str = "staff.kudrang",
    hub: str = "10707",
    priority: Priority = Priority.ROUTINE,
    indication: str = "ปวดท้องด้านขวาบน",
) -> ImagingRequest:
    """A submitted request made through the scheduling operation, as a requester would."""
    from scheduling.clock import utcnow
    from scheduling.requests import create_request

    return create_request(
        actor_for(requester_user),
        utcnow(),
        patient=patient(patient_name),
        procedure=procedure(procedure_code),
        requesting_hospital_id=hospital(requester).id,
        hub_hospital_id=hospital(hub).id,
        priority=priority,
        indication=indication,
    )


def free_slots(
    req: ImagingRequest, *, days_ahead: int = 7, ae_title: str | None = None, limit: int = 5
):
    """Bookable slots for the request a week or more from today (clear of the lead time)."""
    from scheduling.availability import find_slots
    from scheduling.clock import local_today, utcnow

    return find_slots(
        utcnow(),
        req.procedure,
        requesting_hospital_id=req.requesting_hospital_id,
        patient=req.patient,
        hub_hospital_id=req.hub_hospital_id,
        device_id=device(ae_title).id if ae_title else None,
        date_from=local_today() + timedelta(days=days_ahead),
        priority=req.priority,
        limit=limit,
    )


def book_request(req: ImagingRequest, *, days_ahead: int = 7, ae_title: str | None = None):
    """Book the request's first free slot through the scheduling operation."""
    from scheduling.booking import book
    from scheduling.clock import utcnow

    slot = free_slots(req, days_ahead=days_ahead, ae_title=ae_title, limit=1)[0]
    return book(
        actor_for("scheduler.mkh"),
        utcnow(),
        req,
        db.session.get(Device, slot.device_id),
        slot.start_at,
    )
