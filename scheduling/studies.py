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

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from scheduling import events
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    ImagingRequest,
    Interface,
    ReportStatus,
    ReportVersion,
    Role,
    Study,
    StudySource,
)
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


def report_owners(request: ImagingRequest) -> set[int]:
    """The hospitals that may write the request's report: the hub it is addressed to and
    any hub holding a live booking of it (a moved or cancelled booking's hub has no part
    in it any more)."""
    owners = {request.hub_hospital_id} if request.hub_hospital_id is not None else set()
    owners |= {
        a.hub_hospital_id
        for a in request.appointments
        if a.status not in (AppointmentStatus.MOVED, AppointmentStatus.CANCELLED)
    }
    return owners


def check_report_owner(actor: Actor, request: ImagingRequest) -> None:
    """Only the performing hub (its users, its registered systems) writes the report;
    admins and the operator's own tools (CLI, jobs) may too."""
    if actor.user is not None and actor.user.role is Role.ADMIN:
        return
    hospital_id = actor.acting_hospital_id
    if hospital_id is None and actor.interface in (Interface.CLI, Interface.JOBS):
        return
    if hospital_id is None or hospital_id not in report_owners(request):
        raise NotAllowed(
            N_("Only the hub that performs the exam may write or amend its report"),
            code="report-not-hub",
        )


def attach_report(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    *,
    text: str,
    reported_by: str | None = None,
    reported_at: datetime | None = None,
    status: ReportStatus = ReportStatus.FINAL,
    commit: bool = True,
) -> ImagingRequest:
    """Store a version of the radiologist's report (HL7 ORU or FHIR DiagnosticReport).

    Refused unless ``actor`` acts for the performing hub. Every version is kept
    (``ReportVersion``); the request shows the current one. A final report can be
    amended but not replaced by a preliminary one; a final report after a final one is
    an amendment. The same report sent again adds nothing.
    """
    check_aware(now, reported_at)
    with rollback_on_error(commit):
        if not text or not text.strip():
            raise ValidationFailed(N_("The report is empty"), code="report-empty")
        check_report_owner(actor, request)
        text = text.strip()
        reported_by = (reported_by or "").strip() or None
        current = request.report_status
        final = (ReportStatus.FINAL, ReportStatus.AMENDED)
        if current is None and request.report_text is not None:
            current = ReportStatus.FINAL  # stored before statuses were kept
        if status is ReportStatus.PRELIMINARY and current in final:
            raise Conflict(
                N_("The report is final: it can only be amended, not made preliminary again"),
                code="report-final",
            )
        if status is not ReportStatus.PRELIMINARY:
            status = ReportStatus.AMENDED if current in final else ReportStatus.FINAL
        if (request.report_text, request.report_status, request.reported_by) == (
            text,
            status if status is not ReportStatus.AMENDED else current,
            reported_by,
        ):
            return request  # a resend of what is already there
        version = (
            db.session.scalar(
                select(func.max(ReportVersion.version)).where(
                    ReportVersion.request_id == request.id
                )
            )
            or 0
        ) + 1
        db.session.add(
            ReportVersion(
                request_id=request.id,
                version=version,
                status=status,
                text=text,
                reported_by=reported_by,
                reported_at=reported_at or now,
                received_at=now,
                actor=actor.label[:100],
                user_id=actor.user.id if actor.user is not None else None,
                interface=actor.interface,
                hospital_id=actor.acting_hospital_id,
            )
        )
        request.report_text = text
        request.reported_by = reported_by
        request.reported_at = reported_at or now
        request.report_status = status
        request.updated_at = now
        db.session.flush()
        db.session.expire(request, ["reports"])
        record(
            actor,
            "request.report" if version == 1 else "request.report_amend",
            now,
            entity=request,
            hospital_id=actor.acting_hospital_id or request.hub_hospital_id,
            reported_by=request.reported_by,
            status=status.name,
            version=version,
        )
        finish(commit)
    return request
