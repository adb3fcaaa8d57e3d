"""Modality Performed Procedure Step SCP (PS3.4 Annex F.7): the scanner says what it did.

N-CREATE with status IN PROGRESS starts the exam (``scheduling.booking.start_exam``);
N-SET with COMPLETED or DISCONTINUED completes or discontinues it and links the
study with its performed series (``scheduling.studies.link_study``). The scheduling
operation, the MPPS row and the audit event are one transaction.

Retries change nothing twice: an N-CREATE for an instance that exists is answered
0x0111 (Duplicate SOP Instance); an N-SET repeated after the step was finished is
answered with success when it is byte-for-byte the one already applied, and with
0x0110 (may no longer be updated) when it tries to change a finished step.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import Flask
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import evt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from scheduling.audit import Actor
from scheduling.booking import complete_exam, discontinue_exam, start_exam
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.errors import DomainError
from scheduling.models import Appointment, AppointmentStatus, Interface, StudySource
from scheduling.studies import ReportedIdentity, link_or_hold
from worklist.devices import DeviceDirectory, DeviceInfo
from worklist.models import MppsStatus, PerformedProcedureStep
from worklist.pacs_query import reported_identity

log = logging.getLogger(__name__)

SUCCESS = 0x0000
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_SOP_INSTANCE = 0x0112
MISSING_ATTRIBUTE = 0x0120
# Error ID with 0x0110 when a finished step is changed (PS3.4 F.7.2.2.2, table F.7.2-2).
MAY_NO_LONGER_BE_UPDATED = 0xA710

# Type 1 attributes of an N-CREATE (PS3.4 table F.7.2-1).
REQUIRED_ON_CREATE = (
    "ScheduledStepAttributesSequence",
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepStatus",
    "Modality",
)
# What must be there when a step is finished (F.7.2.2.2: Final State requirements).
REQUIRED_ON_FINISH = (
    "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime",
    "PerformedSeriesSequence",
)

_APPOINTMENT_STARTABLE = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)


class MppsRefused(Exception):
    def __init__(
        self,
        status: int,
        comment: str,
        *,
        error_id: int | None = None,
        missing: tuple[str, ...] = (),
    ):
        super().__init__(comment)
        self.status = status
        self.comment = comment
        self.error_id = error_id
        self.missing = missing

    def as_status(self) -> Dataset:
        ds = Dataset()
        ds.Status = self.status
        ds.ErrorComment = self.comment[:64]
        if self.error_id is not None:
            ds.ErrorID = self.error_id
        return ds


def _actor(caller: DeviceInfo, event: evt.Event) -> Actor:
    return Actor(
        interface=Interface.DICOM,
        name=caller.ae_title,
        hospital_id=caller.hospital_id,
        remote_addr=event.assoc.requestor.address,
    )


# Sequences that must have at least one item when present.
_NON_EMPTY_SEQUENCES = frozenset({"ScheduledStepAttributesSequence"})


def _missing(ds: Dataset, keywords: tuple[str, ...]) -> tuple[str, ...]:
    missing = []
    for keyword in keywords:
        value = ds[keyword].value if keyword in ds else None
        if keyword not in ds or (
            len(value or []) == 0
            if keyword in _NON_EMPTY_SEQUENCES
            else (value is None or value == "") and not keyword.endswith("Sequence")
        ):
            missing.append(keyword)
    return tuple(missing)


def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    """The items of a sequence attribute; [] when absent or empty.

    A scanner can send the attribute with another VR (explicit VR ``LO`` instead of
    ``SQ``): its value is then text, not items, and the request is refused with
    0x0106 rather than failing in the handler (found by tests/fuzz).
    """
    value = ds.get(keyword)
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, Sequence) and all(isinstance(item, Dataset) for item in value):
        return list(value)
    raise MppsRefused(INVALID_ATTRIBUTE_VALUE, f"{keyword} is not a sequence")


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return str(value).strip() if value is not None else ""


def _find_appointment(ds: Dataset, caller: DeviceInfo) -> Appointment | None:
    """The booking the step performs: by Study Instance UID, else accession at the caller's hub."""
    for item in _items(ds, "ScheduledStepAttributesSequence"):
        uid = _text(item, "StudyInstanceUID")
        if uid:
            appointment = db.session.scalar(
                select(Appointment).where(Appointment.study_instance_uid == uid)
            )
            if appointment is not None and appointment.hub_hospital_id == caller.hospital_id:
                return appointment
        accession = _text(item, "AccessionNumber")
        if accession:
            appointment = db.session.scalar(
                select(Appointment).where(
                    Appointment.hub_hospital_id == caller.hospital_id,
                    Appointment.accession_number == accession,
                    Appointment.status != AppointmentStatus.MOVED,
                )
            )
            if appointment is not None:
                return appointment
    return None


def _study_uid(ds: Dataset) -> str | None:
    for item in _items(ds, "ScheduledStepAttributesSequence"):
        if uid := _text(item, "StudyInstanceUID"):
            return uid
    return None


def performed_series(ds: Dataset) -> list[dict[str, Any]]:
    """Performed Series Sequence as plain JSON-able dicts (what the request page shows)."""
    series = []
    for item in _items(ds, "PerformedSeriesSequence"):
        images = len(_items(item, "ReferencedImageSequence"))
        others = len(_items(item, "ReferencedNonImageCompositeSOPInstanceSequence"))
        series.append(
            {
                "series_instance_uid": _text(item, "SeriesInstanceUID"),
                "description": _text(item, "SeriesDescription"),
                "protocol": _text(item, "ProtocolName"),
                "retrieve_ae_title": _text(item, "RetrieveAETitle"),
                "instances": images + others,
            }
        )
    return series


def create(caller: DeviceInfo, actor: Actor, sop_instance_uid: str, ds: Dataset) -> None:
    """Apply an N-CREATE (needs an app context). Raises MppsRefused."""
    missing = _missing(ds, REQUIRED_ON_CREATE)
    if missing:
        raise MppsRefused(MISSING_ATTRIBUTE, "Missing " + ", ".join(missing), missing=missing)
    status = _text(ds, "PerformedProcedureStepStatus")
    if status != MppsStatus.IN_PROGRESS.value:
        raise MppsRefused(INVALID_ATTRIBUTE_VALUE, "N-CREATE status must be IN PROGRESS")
    exists = db.session.scalar(
        select(PerformedProcedureStep.id).where(
            PerformedProcedureStep.sop_instance_uid == sop_instance_uid
        )
    )
    if exists is not None:
        raise MppsRefused(DUPLICATE_SOP_INSTANCE, "MPPS instance already exists")

    now = utcnow()
    appointment = _find_appointment(ds, caller)
    if appointment is not None:
        if appointment.status in _APPOINTMENT_STARTABLE:
            start_exam(actor, now, appointment, commit=False)
        elif appointment.status is not AppointmentStatus.IN_PROGRESS:
            # A second MPPS for an exam already running is fine; a cancelled, moved or
            # finished booking cannot be started again.
            raise MppsRefused(
                PROCESSING_FAILURE, f"Booking is {appointment.status.name}, cannot start"
            )
    else:
        log.info(
            "MPPS %s from %s matches no booking (unscheduled)", sop_instance_uid, caller.ae_title
        )
    db.session.add(
        PerformedProcedureStep(
            sop_instance_uid=sop_instance_uid,
            appointment_id=appointment.id if appointment is not None else None,
            calling_ae=caller.ae_title,
            status=MppsStatus.IN_PROGRESS,
            study_instance_uid=_study_uid(ds)
            or (appointment.study_instance_uid if appointment else None),
            performed_series=performed_series(ds) or None,
            patient_identity=reported_identity(ds).as_dict(),
            created_at=now,
            updated_at=now,
        )
    )
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same N-CREATE raced in on another association
        db.session.rollback()
        raise MppsRefused(DUPLICATE_SOP_INSTANCE, "MPPS instance already exists") from exc


def update(
    caller: DeviceInfo, actor: Actor, sop_instance_uid: str, mods: Dataset, digest: str
) -> None:
    """Apply an N-SET (needs an app context). Raises MppsRefused."""
    step = db.session.scalar(
        select(PerformedProcedureStep)
        .where(PerformedProcedureStep.sop_instance_uid == sop_instance_uid)
        .with_for_update()
    )
    if step is None:
        raise MppsRefused(NO_SUCH_SOP_INSTANCE, "No such MPPS instance")
    if step.calling_ae != caller.ae_title:
        raise MppsRefused(NO_SUCH_SOP_INSTANCE, "MPPS instance belongs to another station")
    if step.status is not MppsStatus.IN_PROGRESS:
        if step.last_set_sha256 == digest:
            return  # the same final N-SET again: already applied, answer as before
        raise MppsRefused(
            PROCESSING_FAILURE,
            "Performed Procedure Step may no longer be updated",
            error_id=MAY_NO_LONGER_BE_UPDATED,
        )

    new_status = _text(mods, "PerformedProcedureStepStatus") or MppsStatus.IN_PROGRESS.value
    try:
        target = MppsStatus(new_status)
    except ValueError as exc:
        raise MppsRefused(INVALID_ATTRIBUTE_VALUE, f"Unknown status {new_status[:30]}") from exc

    series = performed_series(mods)
    now = utcnow()
    if target is not MppsStatus.IN_PROGRESS:
        missing = _missing(mods, REQUIRED_ON_FINISH)
        if (
            target is MppsStatus.COMPLETED
            and "PerformedSeriesSequence" not in missing
            and not series
        ):
            missing += ("PerformedSeriesSequence",)
        if missing:
            raise MppsRefused(MISSING_ATTRIBUTE, "Missing " + ", ".join(missing), missing=missing)
        appointment = step.appointment
        if appointment is not None:
            _finish_appointment(actor, now, appointment, target, mods)
            # A discontinued step without series made no images: nothing to link.
            # The study is linked only if the patient the scanner reported is the
            # booking's; otherwise the hub reconciles it (docs/patient-identity.md).
            if step.study_instance_uid and series:
                link_or_hold(
                    actor,
                    now,
                    source=StudySource.MPPS,
                    study_instance_uid=step.study_instance_uid,
                    appointment=appointment,
                    identity=ReportedIdentity.from_dict(step.patient_identity or {}),
                    mpps_instance_uid=step.sop_instance_uid,
                    performed_series=series,
                    mpps_status=target.value,
                    commit=False,
                )
    if series:
        step.performed_series = series
    step.status = target
    step.last_set_sha256 = digest
    step.updated_at = now
    db.session.commit()


def _finish_appointment(
    actor: Actor, now, appointment: Appointment, target: MppsStatus, mods: Dataset
) -> None:
    if target is MppsStatus.COMPLETED:
        if appointment.status is AppointmentStatus.COMPLETED:
            return  # staff clicked "completed" first; the MPPS confirms it
        complete_exam(actor, now, appointment, commit=False)
    else:
        if appointment.status is AppointmentStatus.DISCONTINUED:
            return
        reason = ""
        for item in _items(mods, "PerformedProcedureStepDiscontinuationReasonCodeSequence"):
            reason = _text(item, "CodeMeaning") or _text(item, "CodeValue")
        discontinue_exam(
            actor, now, appointment, reason=reason or "MPPS DISCONTINUED", commit=False
        )


# ---------------------------------------------------------------------------
# pynetdicom handlers
# ---------------------------------------------------------------------------


def _run(app: Flask, work) -> Dataset | None:
    """Run ``work`` in its own app context; a refusal or error becomes a status dataset."""
    with app.app_context():
        try:
            work()
            return None
        except MppsRefused as refused:
            db.session.rollback()
            return refused.as_status()
        except DomainError as exc:  # e.g. a transition the state machine refuses
            db.session.rollback()
            return MppsRefused(PROCESSING_FAILURE, exc.message("en")).as_status()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("MPPS: database error")
            return MppsRefused(PROCESSING_FAILURE, "Database error").as_status()


def handle_create(event: evt.Event, app: Flask, directory: DeviceDirectory):
    caller = directory.get_from(event.assoc.requestor.ae_title, event.assoc.requestor.address)
    if caller is None:
        return MppsRefused(PROCESSING_FAILURE, "Calling AE is not a known device").as_status(), None
    ds = event.attribute_list
    uid = event.request.AffectedSOPInstanceUID
    reply = Dataset()
    if not uid:
        # The SCU may leave the UID to the SCP (PS3.7 10.1.5.1.4); it goes back in the reply.
        uid = generate_uid()
        reply.AffectedSOPInstanceUID = uid
    failure = _run(app, lambda: create(caller, _actor(caller, event), str(uid), ds))
    if failure is not None:
        return failure, None
    for elem in ds:
        reply.add(elem)
    return SUCCESS, reply


def handle_set(event: evt.Event, app: Flask, directory: DeviceDirectory):
    caller = directory.get_from(event.assoc.requestor.ae_title, event.assoc.requestor.address)
    if caller is None:
        return MppsRefused(PROCESSING_FAILURE, "Calling AE is not a known device").as_status(), None
    mods = event.modification_list
    raw = event.request.ModificationList
    digest = hashlib.sha256(raw.getvalue() if raw is not None else b"").hexdigest()
    uid = str(event.request.RequestedSOPInstanceUID)
    failure = _run(app, lambda: update(caller, _actor(caller, event), uid, mods, digest))
    if failure is not None:
        return failure, None
    return SUCCESS, mods
