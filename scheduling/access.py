"""Who may see what. Written once here; every adapter filters through these.

- requesters see their own hospital's patients and requests;
- hub schedulers and radiologists also see the requests addressed to their hub
  (and the patients of those requests);
- admins see everything.
"""

from __future__ import annotations

from sqlalchemy import Select, exists, or_, select

from app.models import ImagingRequest, Patient, PatientHN, Role, User


def request_scope(user: User, query: Select | None = None) -> Select:
    query = query if query is not None else select(ImagingRequest)
    if user.role is Role.ADMIN:
        return query
    own = ImagingRequest.requesting_hospital_id == user.hospital_id
    if user.role in (Role.SCHEDULER, Role.RADIOLOGIST):
        return query.where(or_(own, ImagingRequest.hub_hospital_id == user.hospital_id))
    return query.where(own)


def can_view_request(user: User, request: ImagingRequest) -> bool:
    if user.role is Role.ADMIN or request.requesting_hospital_id == user.hospital_id:
        return True
    return user.role in (Role.SCHEDULER, Role.RADIOLOGIST) and (
        request.hub_hospital_id == user.hospital_id
    )


def patient_scope(user: User, query: Select | None = None) -> Select:
    query = query if query is not None else select(Patient)
    if user.role is Role.ADMIN:
        return query
    has_hn = exists().where(
        PatientHN.patient_id == Patient.id, PatientHN.hospital_id == user.hospital_id
    )
    if user.role in (Role.SCHEDULER, Role.RADIOLOGIST):
        addressed = exists().where(
            ImagingRequest.patient_id == Patient.id,
            ImagingRequest.hub_hospital_id == user.hospital_id,
        )
        return query.where(or_(has_hn, addressed))
    return query.where(has_hn)


def can_view_patient(user: User, patient: Patient) -> bool:
    from app.extensions import db

    return (
        db.session.scalar(patient_scope(user, select(Patient.id)).where(Patient.id == patient.id))
        is not None
    )
