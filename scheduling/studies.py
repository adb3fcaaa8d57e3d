"""Studies that come back for a request (MPPS, HL7, FHIR, PACS query) and the report.

Whichever interface learns of a study first creates the link; later ones only
confirm it and fill in what they know. Two interfaces reporting the same new study
at the same moment meet at the unique Study Instance UID: the loser's insert runs
in a savepoint, fails, and it updates the winner's row instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from scheduling import events, notices
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Hospital,
    ImagingRequest,
    Interface,
    ReconciliationStatus,
    ReportStatus,
    ReportVersion,
    Role,
    Study,
    StudyReconciliation,
    StudySource,
)
from scheduling.patients import PREFIXES, record_at
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


# --- is it this patient's study? ------------------------------------------------------------

# Issuers (Issuer of Patient ID, CX-4) that name the Thai national ID.
NATIONAL_ID_ISSUERS = frozenset(
    {"HTTPS://TERMS.SIL-TH.ORG/ID/TH-CID", "TH-CID", "TH CID", "CID", "DOPA", "NNTHA"}
)
_NAME_SPLIT = re.compile(r"[\s^=,.]+")
_PREFIX_WORDS = frozenset(
    word.upper()
    for code, (th, en) in PREFIXES.items()
    for word in (code, th, en.rstrip("."), en)
    if word
)


@dataclass(frozen=True)
class ReportedIdentity:
    """The patient of a study as its source (PACS, scanner, RIS) reports it."""

    patient_id: str = ""
    issuer: str = ""
    name: str = ""  # a DICOM PN (``Family^Given=ไทย^ชื่อ``) or free text
    birth_date: date | None = None
    sex: str = ""  # M, F, O

    @property
    def empty(self) -> bool:
        return not (self.patient_id or self.name or self.birth_date or self.sex)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["birth_date"] = self.birth_date.isoformat() if self.birth_date else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportedIdentity:
        born = data.get("birth_date")
        return cls(
            patient_id=data.get("patient_id") or "",
            issuer=data.get("issuer") or "",
            name=data.get("name") or "",
            birth_date=date.fromisoformat(born) if born else None,
            sex=data.get("sex") or "",
        )


class IdentityMismatch(Conflict):
    """The study's patient is not the request's: it is not linked (PACS query and MPPS
    put it on the hub's reconciliation list; HL7 and FHIR answer with an error)."""

    def __init__(self, problems: list[str]):
        super().__init__(
            N_("The study's patient does not match the request's patient (%(problems)s)"),
            code="patient-mismatch",
            problems=", ".join(problems),
        )
        self.problems = problems


def _name_words(*names: str) -> set[str]:
    words = set()
    for name in names:
        for word in _NAME_SPLIT.split((name or "").upper()):
            if len(word) > 1 and word not in _PREFIX_WORDS:
                words.add(word)
    return words


def identity_problems(request: ImagingRequest, identity: ReportedIdentity) -> list[str]:
    """How the reported identity contradicts the request's patient; empty when it fits.

    Compared with the request's record and the hub's own record of the person:
    the Patient ID must be the national ID (no issuer, or a national-ID issuer), the
    hub's HN (no issuer, or the hub's code) or the requester's HN (with the requester's
    code as issuer); a birth date, a sex (M/F) or a name that the source reports must
    not contradict both records. A name matches when it shares a word (prefixes left
    out) with the Thai or romanised name of either record.
    """
    if identity.empty:
        return []
    hub_id = request.hub_hospital_id
    live = request.current_appointment
    if live is not None:
        hub_id = live.hub_hospital_id
    records = [request.patient]
    hub_record = record_at(request.patient, hub_id) if hub_id is not None else None
    if hub_record is not None and hub_record.id != request.patient.id:
        records.append(hub_record)
    problems = []
    value, issuer = identity.patient_id.strip(), identity.issuer.strip().upper()
    if value:
        hub = db.session.get(Hospital, hub_id) if hub_id is not None else None
        accepted = {(request.patient.id_value, frozenset({""}) | NATIONAL_ID_ISSUERS)}
        if hub_record is not None and hub_record.hn and hub is not None:
            accepted.add((hub_record.hn, frozenset({"", hub.code})))
        if request.patient.hn:
            accepted.add((request.patient.hn, frozenset({request.requesting_hospital.code})))
        if not any(value == v and issuer in issuers for v, issuers in accepted):
            problems.append("patient-id")
    if identity.birth_date is not None:
        known = {r.birth_date for r in records if r.birth_date is not None}
        if known and identity.birth_date not in known:
            problems.append("birth-date")
    if identity.sex in ("M", "F"):
        known_sex = {r.sex.value for r in records if r.sex.value in ("M", "F")}
        if known_sex and identity.sex not in known_sex:
            problems.append("sex")
    reported = _name_words(identity.name)
    if reported:
        ours = _name_words(
            *(
                name
                for r in records
                for name in (r.given_name_th, r.family_name_th, r.given_name_en, r.family_name_en)
            )
        )
        if ours and not reported & ours:
            problems.append("name")
    return problems


def _refuse_rejected(request: ImagingRequest, uid: str) -> None:
    rejected = db.session.scalar(
        select(StudyReconciliation.id).where(
            StudyReconciliation.request_id == request.id,
            StudyReconciliation.study_instance_uid == uid,
            StudyReconciliation.status == ReconciliationStatus.REJECTED,
        )
    )
    if rejected is not None:
        raise Conflict(
            N_("The hub rejected this study for this request at reconciliation"),
            code="study-rejected",
        )


def link_or_hold(
    actor: Actor,
    now: datetime,
    *,
    source: StudySource,
    study_instance_uid: str,
    appointment: Appointment,
    identity: ReportedIdentity,
    commit: bool = True,
    **values: Any,
) -> Study | StudyReconciliation:
    """Link the study when its reported patient is the booking's; otherwise put it on
    the hub's reconciliation list (for sources that cannot be told "no": the PACS query
    job and MPPS). A study already on the list stays there until the hub decides."""
    request = appointment.request
    uid = (study_instance_uid or "").strip()
    held = db.session.scalar(
        select(StudyReconciliation).where(
            StudyReconciliation.request_id == request.id,
            StudyReconciliation.study_instance_uid == uid,
        )
    )
    linked = db.session.scalar(select(Study).where(Study.study_instance_uid == uid))
    if held is not None and held.status is not ReconciliationStatus.CONFIRMED and linked is None:
        return held
    problems = [] if linked is not None else identity_problems(request, identity)
    if not problems:
        return link_study(
            actor,
            now,
            source=source,
            study_instance_uid=uid,
            appointment=appointment,
            request=request,
            commit=commit,
            **values,
        )
    with rollback_on_error(commit):
        held = StudyReconciliation(
            request_id=request.id,
            appointment_id=appointment.id,
            hub_hospital_id=appointment.hub_hospital_id,
            study_instance_uid=uid,
            accession_number=values.get("accession_number") or appointment.accession_number,
            source=source,
            reported=identity.as_dict(),
            problems=",".join(problems),
            link_values={k: v for k, v in values.items() if v is not None},
            status=ReconciliationStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        db.session.add(held)
        db.session.flush()
        record(
            actor,
            "study.hold",
            now,
            entity=held,
            hospital_id=appointment.hub_hospital_id,
            patient_id=request.patient_id,
            request_id=request.id,
            study_instance_uid=uid,
            source=source.name,
            problems=held.problems,
        )
        finish(commit)
    return held


def decide_reconciliation(
    actor: Actor,
    now: datetime,
    held: StudyReconciliation,
    *,
    confirm: bool,
    commit: bool = True,
) -> StudyReconciliation:
    """The hub's decision on a held study: confirmed, it is linked to the request as if
    its source had matched; rejected, it is never linked to this request."""
    check_aware(now)
    with rollback_on_error(commit):
        is_admin = actor.user is not None and actor.user.role is Role.ADMIN
        if not is_admin and actor.acting_hospital_id != held.hub_hospital_id:
            raise NotAllowed(
                N_("Only the hub that performs the exam may reconcile its studies"),
                code="reconcile-not-hub",
            )
        if held.status is not ReconciliationStatus.PENDING:
            raise Conflict(N_("This study has already been reconciled"), code="reconciled")
        if confirm:
            values = dict(held.link_values or {})
            link_study(
                actor,
                now,
                source=held.source,
                study_instance_uid=held.study_instance_uid,
                appointment=held.appointment,
                request=held.request,
                accession_number=held.accession_number,
                series_count=values.get("series_count"),
                instance_count=values.get("instance_count"),
                viewer_url=values.get("viewer_url"),
                mpps_instance_uid=values.get("mpps_instance_uid"),
                performed_series=values.get("performed_series"),
                images_in_pacs=bool(values.get("images_in_pacs")),
                mpps_status=values.get("mpps_status"),
                commit=False,
            )
        held.status = ReconciliationStatus.CONFIRMED if confirm else ReconciliationStatus.REJECTED
        held.decided_at = held.updated_at = now
        held.decided_by_id = actor.user.id if actor.user is not None else None
        record(
            actor,
            "study.reconcile_confirm" if confirm else "study.reconcile_reject",
            now,
            entity=held,
            hospital_id=held.hub_hospital_id,
            patient_id=held.request.patient_id,
            request_id=held.request_id,
            study_instance_uid=held.study_instance_uid,
            problems=held.problems,
        )
        finish(commit)
    return held


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
    identity: ReportedIdentity | None = None,
    commit: bool = True,
) -> Study:
    """Create or confirm the link between a DICOM study and its request.

    With ``identity`` (the patient as the source reports the study's), a new link is
    made only when it matches the request's patient (``identity_problems``); otherwise
    ``IdentityMismatch`` is raised and nothing changes. A study the hub rejected at
    reconciliation is never linked to that request.
    """
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
            _refuse_rejected(request, uid)
            if identity is not None and (problems := identity_problems(request, identity)):
                raise IdentityMismatch(problems)
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
        if version == 1 or status is not ReportStatus.PRELIMINARY:
            notices.tell_requester(actor, now, request, "report.arrived", notices.REPORTED)
        finish(commit)
    return request
