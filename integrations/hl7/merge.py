"""ADT^A40: merge patient identifiers — the hub's "modify patient ID" step, done by message.

The scheduling core has no merge operation, so it lives here (DESIGN.md lets an
adapter add one in its own module). It follows the house rules of an operation:
actor and now first, one audit event, ``commit=False`` to share the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import NotAllowed, NotFound, ValidationFailed
from scheduling.i18n import N_
from scheduling.models import IdentifierType, Patient
from scheduling.patients import attach_hn, find_patient, validate_national_id


def merge_patient_identifiers(
    actor: Actor,
    now: datetime,
    *,
    survivor: Patient | None,
    prior: Patient | None,
    hospital_id: int,
    hn: str | None = None,
    id_type: IdentifierType | None = None,
    id_value: str | None = None,
    commit: bool = True,
) -> Patient:
    """Make ``prior``'s rows and identifiers belong to ``survivor``: two records of the
    sending hospital (``hospital_id``) that were the same person.

    A merge stays inside the sender's own records (docs/patient-identity.md): both must
    be ``hospital_id``'s, and other hospitals' records of the person are never touched.

    - both known and different: every row that points at ``prior`` (requests,
      appointments, and any other table with a foreign key to ``patient``) is moved to
      ``survivor``; ``prior``'s HN moves too unless ``survivor`` already has one;
      ``prior`` is deleted.
    - only ``prior`` known: it simply takes the new identifiers (national ID, HN).
    - only ``survivor`` known: refused, nothing to merge (MRG names no record of the
      sender's).
    """
    if survivor is None and prior is None:
        raise NotFound(
            N_("Neither the patient to merge (MRG) nor the surviving patient (PID) is known"),
            code="merge-unknown",
        )
    if prior is None:
        raise NotFound(
            N_(
                "No patient record of the sending hospital has the identifiers in MRG-1: "
                "nothing was merged"
            ),
            code="merge-prior-unknown",
        )
    for patient in (survivor, prior):
        if patient is not None and patient.hospital_id != hospital_id:
            raise NotAllowed(
                N_("A hospital may only merge or re-identify its own patient records"),
                code="merge-other-hospital",
            )
    if id_type is IdentifierType.NATIONAL_ID and id_value:
        id_value = validate_national_id(id_value)
    elif id_value:
        id_value = id_value.strip().upper()

    if survivor is None or prior is None or survivor.id == prior.id:
        patient = survivor or prior
        assert patient is not None
        changed: dict[str, str] = {}
        if (
            id_type is not None
            and id_value
            and (patient.id_type, patient.id_value) != (id_type, id_value)
        ):
            # Only the sender's own records can clash; another hospital's record with
            # this identifier is simply the same person there (linked, not touched).
            holder = find_patient(id_type, id_value, hospital_id=hospital_id)
            if holder is not None and holder.id != patient.id:
                raise ValidationFailed(
                    N_("Another patient already has this identifier"), code="merge-id-taken"
                )
            changed["id"] = [
                f"{patient.id_type.value}:{patient.id_value}",
                f"{id_type.value}:{id_value}",
            ]
            patient.id_type, patient.id_value = id_type, id_value
        if hn and patient.hn_at(hospital_id) != hn:
            changed["hn"] = [patient.hn_at(hospital_id), hn]
            attach_hn(patient, hospital_id, hn)
        patient.updated_at = now
        db.session.flush()
        record(actor, "patient.identifiers_change", now, entity=patient, changes=changed)
        if commit:
            db.session.commit()
        return patient

    prior_id, survivor_id = prior.id, survivor.id
    detail = {
        "merged_patient_id": prior_id,
        "merged_identifier": f"{prior.id_type.value}:{prior.id_value}",
    }
    db.session.flush()
    for hn_row in list(prior.hospital_numbers):
        if survivor.hn_at(hn_row.hospital_id) is None:
            hn_row.patient = survivor
        else:
            prior.hospital_numbers.remove(hn_row)  # delete-orphan
    db.session.flush()
    # Every other table that refers to the patient, including ones added by other modules.
    for table in db.metadata.sorted_tables:
        if table.name == "patient_hn":
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == "patient" and fk.column.name == "id":
                column = fk.parent
                db.session.execute(
                    update(table).where(column == prior_id).values({column.name: survivor_id})
                )
    db.session.expire_all()
    prior = db.session.get(Patient, prior_id)
    survivor = db.session.get(Patient, survivor_id)
    db.session.delete(prior)
    db.session.flush()
    if hn and survivor.hn_at(hospital_id) != hn:
        attach_hn(survivor, hospital_id, hn)
    survivor.updated_at = now
    db.session.flush()
    record(actor, "patient.merge", now, entity=survivor, **detail)
    if commit:
        db.session.commit()
    return survivor
