"""Studies that come back for a request (MPPS, HL7, FHIR, PACS query) and the report.

Whichever interface learns of a study first creates the link; later ones only
confirm it and fill in what they know. Two interfaces reporting the same new study
at the same moment meet at the unique Study Instance UID: the loser's insert runs
in a savepoint, fails, and it updates the winner's row instead.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from scheduling import events
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import Conflict, NotFound, ValidationFailed
from scheduling.i18n import N_
from scheduling.models import Appointment, ImagingRequest, Study, StudySource
from scheduling.tx import check_aware, finish, rollback_on_error


def find_appointment_for_study(
    study_instance_uid: str, accession_number: str | None
) -> Appointment | None:
    """The appointment a study belongs to: by the UID made at booking, else by accession."""
    appointment = db.session.scalar(
        select(Appointment).where(Appointment.study_instance_uid == study_instance_uid)
    )
    if appointment is None and accession_number:
        matches = db.session.scalars(
            select(Appointment).where(Appointment.accession_number == accession_number).limit(2)
        ).all()
        # Accession numbers are unique per hub only; two hubs' numbers could meet.
        if len(matches) == 1:
            appointment = matches[0]
    return appointment


def _apply(
    study: Study, now: datetime, source: StudySource, values: dict[str, Any], images_in_pacs: bool
) -> None:
    sources = [s for s in study.confirmed_by.split(",") if s]
    if source.value not in sources:
        sources.append(source.value)
    study.confirmed_by = ",".join(sources)
    for name, value in values.items():
        if value is not None:
            setattr(study, name, value)
    if images_in_pacs and study.images_in_pacs_at is None:
        study.images_in_pacs_at = now
    study.updated_at = now


def link_study(
    actor: Actor,
    now: datetime,
    *,
    source: StudySource,
    study_instance_uid: str,
    appointment: Appointment | None = None,
    request: ImagingRequest | None = None,
    accession_number: str | None = None,
    series_count: int | None = None,
    instance_count: int | None = None,
    viewer_url: str | None = None,
    mpps_instance_uid: str | None = None,
    performed_series: list | str | None = None,
    images_in_pacs: bool = False,
    mpps_status: str | None = None,
    commit: bool = True,
) -> Study:
    """Create or confirm the link between a DICOM study and its request."""
    check_aware(now)
    with rollback_on_error(commit):
        uid = (study_instance_uid or "").strip()
        if not uid or len(uid) > 64:
            raise ValidationFailed(N_("Invalid Study Instance UID"), code="study-uid")
        if appointment is None and request is None:
            appointment = find_appointment_for_study(uid, accession_number)
        if request is None and appointment is not None:
            request = appointment.request
        if isinstance(performed_series, list | tuple):
            performed_series = json.dumps(performed_series, ensure_ascii=False)
        values = {
            "accession_number": accession_number
            or (appointment.accession_number if appointment is not None else None),
            "series_count": series_count,
            "instance_count": instance_count,
            "viewer_url": viewer_url,
            "mpps_instance_uid": mpps_instance_uid,
            "performed_series": performed_series,
            "mpps_status": mpps_status,
        }
        study = db.session.scalar(select(Study).where(Study.study_instance_uid == uid))
        if study is not None and request is not None and study.request_id != request.id:
            # Confirming would rewrite another request's study, maybe another hospital's
            # (an HL7 result or an MPPS naming a Study Instance UID that is not theirs).
            raise Conflict(
                N_("This Study Instance UID is already linked to another request"),
                code="study-elsewhere",
            )
        created = False
        if study is None:
            if request is None:
                raise NotFound(N_("No request matches this study"), code="study-unmatched")
            study = Study(
                request_id=request.id,
                appointment_id=appointment.id if appointment is not None else None,
                study_instance_uid=uid,
                first_source=source,
                confirmed_by="",
                created_at=now,
                updated_at=now,
            )
            _apply(study, now, source, values, images_in_pacs)
            try:
                with db.session.begin_nested():
                    db.session.add(study)
                created = True
            except IntegrityError:
                study = db.session.scalar(select(Study).where(Study.study_instance_uid == uid))
                if study is None:
                    raise
        if not created:
            if study.appointment_id is None and appointment is not None:
                study.appointment_id = appointment.id
            _apply(study, now, source, values, images_in_pacs)
        db.session.flush()
        record(
            actor,
            "study.link" if created else "study.confirm",
            now,
            entity=study,
            hospital_id=actor.acting_hospital_id or (request.hub_hospital_id if request else None),
            source=source.name,
            request_id=study.request_id,
            study_instance_uid=uid,
        )
        events.study_linked.send(
            study, actor=actor, now=now, study=study, request=study.request, created=created
        )
        finish(commit)
    return study


def attach_report(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    *,
    text: str,
    reported_by: str | None = None,
    reported_at: datetime | None = None,
    commit: bool = True,
) -> ImagingRequest:
    """Store the radiologist's report (HL7 ORU or FHIR DiagnosticReport) on the request."""
    check_aware(now, reported_at)
    with rollback_on_error(commit):
        if not text or not text.strip():
            raise ValidationFailed(N_("The report is empty"), code="report-empty")
        amended = request.report_text is not None
        request.report_text = text.strip()
        request.reported_by = (reported_by or "").strip() or None
        request.reported_at = reported_at or now
        request.updated_at = now
        record(
            actor,
            "request.report_amend" if amended else "request.report",
            now,
            entity=request,
            hospital_id=actor.acting_hospital_id or request.hub_hospital_id,
            reported_by=request.reported_by,
        )
        finish(commit)
    return request
