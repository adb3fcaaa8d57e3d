"""Who may see what, and who may act on what. Written once here; every adapter filters
through these, and every operation checks its actor with them.

- requesters see their own hospital's patient records and requests;
- hub schedulers and radiologists also see the requests addressed to their hub
  (and the patients of those requests);
- admins see everything;
- health region offices see no request and no patient: only aggregates
  (``scheduling.region_stats``), and they act on nothing.

Acting: only the hub's side (its staff, an admin, a system actor with no hospital)
runs the hub's operations (:func:`require_hub_side`); a request is changed only by
its parties (:func:`require_party`).
"""

from __future__ import annotations

from sqlalchemy import Select, exists, false, or_, select

from scheduling.audit import Actor
from scheduling.errors import NotAllowed
from scheduling.i18n import N_
from scheduling.models import ImagingRequest, Patient, Role, User


def request_scope(user: User, query: Select | None = None) -> Select:
    query = query if query is not None else select(ImagingRequest)
    if user.role is Role.ADMIN:
        return query
    if user.role is Role.REGION_OFFICE:
        return query.where(false())
    return hospital_request_scope(user.hospital_id, as_hub=_works_for_hub(user), query=query)


def _works_for_hub(user: User) -> bool:
    return user.role in (Role.SCHEDULER, Role.RADIOLOGIST)


def hospital_request_scope(
    hospital_id: int, *, as_hub: bool, query: Select | None = None
) -> Select:
    """Requests a hospital sees: its own, and (acting as a hub) those addressed to it.

    For callers that act for a hospital rather than a user, e.g. a FHIR client system.
    """
    query = query if query is not None else select(ImagingRequest)
    own = ImagingRequest.requesting_hospital_id == hospital_id
    if as_hub:
        return query.where(or_(own, ImagingRequest.hub_hospital_id == hospital_id))
    return query.where(own)


def can_view_request(user: User, request: ImagingRequest) -> bool:
    if user.role is Role.REGION_OFFICE:
        return False
    if user.role is Role.ADMIN or request.requesting_hospital_id == user.hospital_id:
        return True
    return user.role in (Role.SCHEDULER, Role.RADIOLOGIST) and (
        request.hub_hospital_id == user.hospital_id
    )


def patient_scope(user: User, query: Select | None = None) -> Select:
    query = query if query is not None else select(Patient)
    if user.role is Role.ADMIN:
        return query
    if user.role is Role.REGION_OFFICE:
        return query.where(false())
    return hospital_patient_scope(user.hospital_id, as_hub=_works_for_hub(user), query=query)


def hospital_patient_scope(
    hospital_id: int, *, as_hub: bool, query: Select | None = None
) -> Select:
    """Patient records a hospital sees: its own, and (as a hub) those of requests to it.

    Another hospital's record of the same person (same national ID) is not among them.
    """
    query = query if query is not None else select(Patient)
    own = Patient.hospital_id == hospital_id
    if as_hub:
        addressed = exists().where(
            ImagingRequest.patient_id == Patient.id,
            ImagingRequest.hub_hospital_id == hospital_id,
        )
        return query.where(or_(own, addressed))
    return query.where(own)


def can_view_patient(user: User, patient: Patient) -> bool:
    from scheduling.db import db

    return (
        db.session.scalar(patient_scope(user, select(Patient.id)).where(Patient.id == patient.id))
        is not None
    )


# -- acting -----------------------------------------------------------------------------


def is_hub_side(actor: Actor, hub_hospital_id: int | None) -> bool:
    user = actor.user
    if user is not None and user.role is Role.ADMIN:
        return True
    if user is not None and user.role in (Role.REQUESTER, Role.REGION_OFFICE):
        return False
    acting = actor.acting_hospital_id
    # Machines with no hospital (jobs, CLI) act for the system.
    return acting is None or (hub_hospital_id is not None and acting == hub_hospital_id)


def require_hub_side(actor: Actor, hub_hospital_id: int | None) -> None:
    if not is_hub_side(actor, hub_hospital_id):
        raise NotAllowed(N_("Only the hub's staff can do this"), code="hub-only")


def require_party(actor: Actor, request: ImagingRequest, hub_hospital_id: int | None) -> None:
    """The requesting hospital, the hub, an admin or a system actor."""
    acting = actor.acting_hospital_id
    if actor.user is not None and actor.user.role is Role.ADMIN:
        return
    if actor.user is not None and actor.user.role is Role.REGION_OFFICE:
        raise NotAllowed(N_("A region office reads aggregates only"), code="read-only")
    if acting is None or acting in (
        request.requesting_hospital_id,
        hub_hospital_id,
        request.hub_hospital_id,
    ):
        return
    raise NotAllowed(N_("You cannot change another hospital's request"), code="not-party")
