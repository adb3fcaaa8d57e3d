"""Prior images that travel with a referral: listed by the requester, watched for in the
hub's PACS, filed under the hub's patient ID once a hub user confirms who it is.

The requester lists the studies it sends (or says they go on CD); a job (the DICOM
adapter's) asks the hub's PACS for each one and reports here what it found
(``record_arrival``); a study filed under the requester's own Patient ID waits for a hub
user to confirm the match (``decide_identity``), which signals the adapters
(``events.referral_identity_confirmed``) to queue the PACS patient update; the job's
next look confirms the PACS now files it under the hub's ID (``record_pacs_identity``).
Everything is audited in the change's own transaction, and the staff of both hospitals
hear of arrivals and of studies still missing the day before the exam.
docs/referral-images.md says why each rule is what it is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select

from scheduling import events
from scheduling.access import require_hub_side
from scheduling.audit import Actor, record
from scheduling.clock import local_today, to_local
from scheduling.db import db
from scheduling.errors import Conflict, FieldRefused, NotAllowed
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    Hospital,
    IdentifierType,
    ImagingRequest,
    Modality,
    PatientIdPolicy,
    RequestStatus,
    Role,
)
from scheduling.models.referrals import PriorIdentity, ReferralStudy
from scheduling.notifications import notify_hospital
from scheduling.patients import record_at
from scheduling.states import LIVE_APPOINTMENT_STATUSES, OPEN_REQUEST_STATUSES
from scheduling.studies import ReportedIdentity, identity_problems
from scheduling.thaidate import thai_date
from scheduling.tx import check_aware, finish, rollback_on_error

# The TH Core identifier system: the Issuer of Patient ID the hub's worklist gives a
# national ID (worklist.mwl), and so what a study filed under it carries.
NATIONAL_ID_SYSTEM = "https://terms.sil-th.org/id/th-cid"
MAX_PRIOR_STUDIES = 20
FIRST_RETRY = timedelta(minutes=5)
MAX_RETRY = timedelta(hours=6)
# After the hub confirms, the PACS is asked again this soon whether it applied the update.
VERIFY_AFTER = timedelta(minutes=2)
_UID = re.compile(r"^[0-9]+(\.[0-9]+)+$")
_SH_BAD = re.compile(r"[\\\x00-\x1f]")  # DICOM SH: no backslash, no control characters


# --- who may do what --------------------------------------------------------------------------


def hub_of(request: ImagingRequest) -> int | None:
    """The hub whose PACS should receive the images: the live booking's, else the one
    the request is addressed to."""
    live = request.current_appointment
    return live.hub_hospital_id if live is not None else request.hub_hospital_id


def _require_requester(actor: Actor, request: ImagingRequest) -> None:
    if actor.user is not None and actor.user.role is Role.ADMIN:
        return
    if actor.acting_hospital_id != request.requesting_hospital_id:
        raise NotAllowed(
            N_("Only the requesting hospital lists the images it sends"), code="prior-not-requester"
        )


def _require_open(request: ImagingRequest) -> None:
    if request.status not in OPEN_REQUEST_STATUSES and request.status is not RequestStatus.DRAFT:
        raise Conflict(N_("This request is closed: its images list cannot change"), code="closed")


# --- the requester's list ---------------------------------------------------------------------


def _clean_accession(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 16 or _SH_BAD.search(value):
        raise FieldRefused(
            "accession_number",
            N_("An accession number has at most 16 characters, without backslashes"),
            code="prior-accession",
        )
    return value


def _clean_uid(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 64 or not _UID.fullmatch(value):
        raise FieldRefused(
            "study_instance_uid",
            N_("A Study Instance UID is digits separated by dots, at most 64 characters"),
            code="prior-uid",
        )
    return value


def add_prior_study(
    actor: Actor,
    now: datetime,
    request: ImagingRequest,
    *,
    modality_code: str,
    study_date: date | None = None,
    description: str = "",
    accession_number: str | None = None,
    study_instance_uid: str | None = None,
    sent_on_cd: bool = False,
    picked_from_pacs: bool = False,
    commit: bool = True,
) -> ReferralStudy:
    """List a study the requester sends with the request (audited ``referral.study_add``).

    A study sent online needs its accession number or Study Instance UID (that is how the
    hub's PACS is asked for it); one on CD needs neither.
    """
    check_aware(now)
    with rollback_on_error(commit):
        _require_requester(actor, request)
        _require_open(request)
        if db.session.get(Modality, modality_code or "") is None:
            raise FieldRefused("modality_code", N_("Choose a modality"), code="prior-modality")
        if study_date is not None and study_date > local_today(now):
            raise FieldRefused(
                "study_date", N_("The study date cannot be in the future"), code="prior-date"
            )
        accession = _clean_accession(accession_number)
        uid = _clean_uid(study_instance_uid)
        if not sent_on_cd and accession is None and uid is None:
            raise FieldRefused(
                "accession_number",
                N_(
                    "Give the accession number or the Study Instance UID, "
                    "or mark the study as sent on CD"
                ),
                code="prior-no-key",
            )
        listed = prior_studies(request)
        if len(listed) >= MAX_PRIOR_STUDIES:
            raise Conflict(
                N_("A request lists at most %(n)s studies"),
                code="prior-too-many",
                n=MAX_PRIOR_STUDIES,
            )
        for other in listed:
            if (uid and other.study_instance_uid == uid) or (
                accession and other.accession_number == accession
            ):
                raise Conflict(N_("This study is already listed"), code="prior-duplicate")
        prior = ReferralStudy(
            request_id=request.id,
            modality_code=modality_code,
            study_date=study_date,
            description=(description or "").strip()[:200],
            accession_number=accession,
            study_instance_uid=uid,
            sent_on_cd=bool(sent_on_cd),
            picked_from_pacs=bool(picked_from_pacs),
            created_at=now,
            created_by_id=actor.user.id if actor.user is not None else None,
            next_check_at=None if sent_on_cd else now,
            attempts=0,
            identity=PriorIdentity.UNCHECKED,
            problems="",
        )
        db.session.add(prior)
        db.session.flush()
        record(
            actor,
            "referral.study_add",
            now,
            entity=prior,
            hospital_id=request.requesting_hospital_id,
            patient_id=request.patient_id,
            request_id=request.id,
            modality=modality_code,
            accession_number=accession,
            study_instance_uid=uid,
            sent_on_cd=prior.sent_on_cd,
        )
        finish(commit)
    return prior


def _require_changeable(actor: Actor, prior: ReferralStudy) -> ImagingRequest:
    """The requester may still change a listed study: its request is open and the images
    have not arrived online (the hub has them then). Returns the request."""
    request = prior.request
    _require_requester(actor, request)
    _require_open(request)
    if prior.arrived_at is not None:
        raise Conflict(N_("These images have already arrived online"), code="prior-arrived")
    return request


def set_sent_on_cd(
    actor: Actor, now: datetime, prior: ReferralStudy, *, on_cd: bool, commit: bool = True
) -> ReferralStudy:
    """The requester says the study goes on CD after all (or online again)."""
    check_aware(now)
    with rollback_on_error(commit):
        request = _require_changeable(actor, prior)
        if not on_cd and not (prior.accession_number or prior.study_instance_uid):
            raise Conflict(
                N_("Give the accession number or the Study Instance UID, or remove the study"),
                code="prior-no-key",
            )
        prior.sent_on_cd = bool(on_cd)
        prior.next_check_at = None if on_cd else now
        record(
            actor,
            "referral.study_cd",
            now,
            entity=prior,
            hospital_id=request.requesting_hospital_id,
            patient_id=request.patient_id,
            request_id=request.id,
            sent_on_cd=prior.sent_on_cd,
        )
        finish(commit)
    return prior


def remove_prior_study(
    actor: Actor, now: datetime, prior: ReferralStudy, *, commit: bool = True
) -> ImagingRequest:
    """Take a study off the list (not once it has arrived: the hub has it); returns its
    request."""
    check_aware(now)
    with rollback_on_error(commit):
        request = _require_changeable(actor, prior)
        record(
            actor,
            "referral.study_remove",
            now,
            entity=prior,
            hospital_id=request.requesting_hospital_id,
            patient_id=request.patient_id,
            request_id=request.id,
            accession_number=prior.accession_number,
            study_instance_uid=prior.study_instance_uid,
        )
        db.session.delete(prior)
        finish(commit)
    return request


def prior_studies(request: ImagingRequest) -> list[ReferralStudy]:
    return list(
        db.session.scalars(
            select(ReferralStudy)
            .where(ReferralStudy.request_id == request.id)
            .order_by(ReferralStudy.id)
        )
    )


# --- identity: the hub's ID, and whether a study's patient is the request's ----------------


def hub_patient_identifier(request: ImagingRequest, hub_id: int) -> tuple[str, str]:
    """(Patient ID, Issuer) the hub files the person's images under, as its worklist
    gives them to its scanners: the hub's HN with its MOPH code, else the national ID."""
    hub = db.session.get(Hospital, hub_id)
    hub_record = record_at(request.patient, hub_id)
    hn = hub_record.hn if hub_record is not None else None
    if hn and hub is not None and hub.patient_id_policy is PatientIdPolicy.HN:
        return hn, hub.code
    patient = request.patient
    issuer = NATIONAL_ID_SYSTEM if patient.id_type is IdentifierType.NATIONAL_ID else ""
    return patient.id_value, issuer


def _issuer_fits(reported: str, wanted: str, hub_code: str | None) -> bool:
    # A PACS that keeps no issuer reports none; ours must then be implied by the value.
    return reported.strip().upper() in {"", wanted.upper(), (hub_code or "").upper()}


def is_hub_id(identity: ReportedIdentity, hub_id_value: str, hub_issuer: str) -> bool:
    if identity.patient_id.strip() != hub_id_value:
        return False
    if hub_issuer == NATIONAL_ID_SYSTEM:
        return _issuer_fits(identity.issuer, hub_issuer, "TH-CID")
    return _issuer_fits(identity.issuer, hub_issuer, None)


def prior_identity_problems(request: ImagingRequest, identity: ReportedIdentity) -> list[str]:
    """``identity_problems`` for a study the requester sent from its own PACS: its HN
    there usually travels without an issuer, which here means the requester's."""
    patient = request.patient
    if not identity.issuer.strip() and patient.hn and identity.patient_id.strip() == patient.hn:
        identity = replace(identity, issuer=request.requesting_hospital.code)
    return identity_problems(request, identity)


def sender_patient_id(request: ImagingRequest) -> tuple[str, str]:
    """The Patient ID (and issuer) the requesting hospital's PACS files the person under:
    its HN with its MOPH code, else the national ID."""
    patient = request.patient
    if patient.hn:
        return patient.hn, request.requesting_hospital.code
    return (
        patient.id_value,
        NATIONAL_ID_SYSTEM if patient.id_type is IdentifierType.NATIONAL_ID else "",
    )


# --- what the watcher found -------------------------------------------------------------------


def due_for_pacs(
    now: datetime, limit: int = 50, lookback: timedelta = timedelta(days=14)
) -> list[ReferralStudy]:
    """Listed studies the hub's PACS should be asked about now: not on CD, not settled
    (arrived and filed under the hub's ID), on a request with a hub that is open or was
    completed within ``lookback`` (images that never came are not asked for forever)."""
    recently_done = and_(
        ImagingRequest.status == RequestStatus.COMPLETED,
        ImagingRequest.updated_at >= now - lookback,
    )
    return list(
        db.session.scalars(
            select(ReferralStudy)
            .join(ImagingRequest, ImagingRequest.id == ReferralStudy.request_id)
            .where(
                ReferralStudy.next_check_at.is_not(None),
                ReferralStudy.next_check_at <= now,
                ReferralStudy.sent_on_cd.is_(False),
                or_(ImagingRequest.status.in_(OPEN_REQUEST_STATUSES), recently_done),
                ImagingRequest.hub_hospital_id.is_not(None),
            )
            .order_by(ReferralStudy.next_check_at, ReferralStudy.id)
            .limit(limit)
        )
    )


def record_not_found(now: datetime, prior: ReferralStudy, error: str | None = None) -> None:
    """Ask again later, a little later each time (no commit)."""
    prior.attempts = (prior.attempts or 0) + 1
    prior.last_checked_at = now
    prior.next_check_at = now + min(FIRST_RETRY * 2 ** (prior.attempts - 1), MAX_RETRY)
    prior.last_error = error[:2000] if error else None


def record_arrival(
    actor: Actor,
    now: datetime,
    prior: ReferralStudy,
    *,
    study_instance_uid: str,
    series_count: int | None,
    instance_count: int | None,
    identity: ReportedIdentity,
    commit: bool = True,
) -> ReferralStudy:
    """The hub's PACS holds the study: record it, judge whose ID it is filed under, and
    tell both hospitals (the first time)."""
    check_aware(now)
    with rollback_on_error(commit):
        request = prior.request
        hub_id = hub_of(request)
        first = prior.arrived_at is None
        prior.found_study_uid = study_instance_uid
        prior.series_count = series_count
        prior.instance_count = instance_count
        prior.reported = identity.as_dict()
        prior.last_checked_at = now
        prior.last_error = None
        if first:
            prior.arrived_at = now
            _judge_identity(prior, request, hub_id, identity)
            record(
                actor,
                "referral.study_arrived",
                now,
                entity=prior,
                hospital_id=hub_id,
                patient_id=request.patient_id,
                request_id=request.id,
                study_instance_uid=study_instance_uid,
                series=series_count,
                images=instance_count,
                identity=prior.identity.value,
                problems=prior.problems,
            )
            _notify_arrival(prior, request, hub_id, now, actor)
        finish(commit)
    return prior


def _judge_identity(
    prior: ReferralStudy, request: ImagingRequest, hub_id: int | None, identity: ReportedIdentity
) -> None:
    if hub_id is None:
        prior.next_check_at = None
        return
    value, issuer = hub_patient_identifier(request, hub_id)
    prior.hub_patient_id, prior.hub_issuer = value, issuer
    if is_hub_id(identity, value, issuer):
        prior.identity = PriorIdentity.HUB_ID
        prior.next_check_at = None
        return
    prior.identity = PriorIdentity.PENDING
    prior.problems = ",".join(prior_identity_problems(request, identity))
    prior.next_check_at = None  # nothing to ask the PACS until the hub decides


def _params(prior: ReferralStudy, request: ImagingRequest) -> dict[str, object]:
    return {
        "order": request.placer_order_number,
        "hospital": request.requesting_hospital.name_th,
        "modality": prior.modality_code,
        "series": prior.series_count if prior.series_count is not None else "-",
        "images": prior.instance_count if prior.instance_count is not None else "-",
    }


def _notify_arrival(
    prior: ReferralStudy, request: ImagingRequest, hub_id: int | None, now: datetime, actor: Actor
) -> None:
    params = _params(prior, request)
    if hub_id is not None:
        notify_hospital(
            hub_id,
            "referral.images_arrived",
            now,
            message=N_(
                "Referral images arrived: order %(order)s from %(hospital)s, "
                "%(modality)s, %(series)s series, %(images)s images"
            ),
            params=params,
            request_id=request.id,
            actor=actor,
        )
    notify_hospital(
        request.requesting_hospital_id,
        "referral.images_received",
        now,
        message=N_("The hub received the %(modality)s images sent with order %(order)s"),
        params=params,
        request_id=request.id,
        actor=actor,
    )


def decide_identity(
    actor: Actor, now: datetime, prior: ReferralStudy, *, confirm: bool, commit: bool = True
) -> ReferralStudy:
    """A hub user confirms that the arrived study is this request's patient (it is then
    to be filed under the hub's Patient ID: ``events.referral_identity_confirmed``), or
    rejects it (another patient's: nothing is sent)."""
    check_aware(now)
    with rollback_on_error(commit):
        request = prior.request
        hub_id = hub_of(request)
        if actor.user is not None and actor.user.role is Role.REQUESTER:
            raise NotAllowed(N_("Only the hub's staff can do this"), code="hub-only")
        require_hub_side(actor, hub_id)
        if prior.identity is not PriorIdentity.PENDING:
            raise Conflict(N_("This study has already been reconciled"), code="reconciled")
        prior.identity = PriorIdentity.CONFIRMED if confirm else PriorIdentity.REJECTED
        prior.decided_at = now
        prior.decided_by_id = actor.user.id if actor.user is not None else None
        prior.next_check_at = now + VERIFY_AFTER if confirm else None
        prior.attempts = 0
        record(
            actor,
            "referral.identity_confirm" if confirm else "referral.identity_reject",
            now,
            entity=prior,
            hospital_id=hub_id,
            patient_id=request.patient_id,
            request_id=request.id,
            study_instance_uid=prior.found_study_uid,
            reported_patient_id=(prior.reported or {}).get("patient_id"),
            hub_patient_id=prior.hub_patient_id,
            problems=prior.problems,
        )
        if confirm:
            events.referral_identity_confirmed.send(prior, actor=actor, now=now, prior=prior)
        finish(commit)
    return prior


def record_pacs_identity(
    actor: Actor, now: datetime, prior: ReferralStudy, identity: ReportedIdentity, *, commit=True
) -> ReferralStudy:
    """What the PACS reports after the hub confirmed: VERIFIED once it files the study
    under the hub's Patient ID, else asked again later."""
    check_aware(now)
    with rollback_on_error(commit):
        prior.reported = identity.as_dict()
        if is_hub_id(identity, prior.hub_patient_id or "", prior.hub_issuer or ""):
            prior.identity = PriorIdentity.VERIFIED
            prior.verified_at = prior.last_checked_at = now
            prior.next_check_at = None
            prior.last_error = None
            record(
                actor,
                "referral.identity_verified",
                now,
                entity=prior,
                hospital_id=hub_of(prior.request),
                patient_id=prior.request.patient_id,
                request_id=prior.request_id,
                study_instance_uid=prior.found_study_uid,
                hub_patient_id=prior.hub_patient_id,
            )
        else:
            record_not_found(
                now, prior, f"the PACS still files the study under {identity.patient_id!r}"
            )
        finish(commit)
    return prior


# --- missing the day before the exam ----------------------------------------------------------


def flag_missing(actor: Actor, now: datetime, *, commit: bool = True) -> list[ReferralStudy]:
    """Studies listed as sent online, not arrived, whose exam is tomorrow (or sooner):
    tell the requester and the hub, once per study."""
    check_aware(now)
    tomorrow = local_today(now) + timedelta(days=1)
    with rollback_on_error(commit):
        rows = db.session.execute(
            select(ReferralStudy, Appointment)
            .join(Appointment, Appointment.request_id == ReferralStudy.request_id)
            .where(
                ReferralStudy.sent_on_cd.is_(False),
                ReferralStudy.arrived_at.is_(None),
                ReferralStudy.missing_flagged_at.is_(None),
                Appointment.status.in_(LIVE_APPOINTMENT_STATUSES),
                Appointment.start_at > now,
            )
        ).all()
        flagged = []
        for prior, appointment in rows:
            if prior in flagged or to_local(appointment.start_at).date() > tomorrow:
                continue
            prior.missing_flagged_at = now
            flagged.append(prior)
            _notify_missing(prior, appointment, now, actor)
        finish(commit)
    return flagged


def _notify_missing(
    prior: ReferralStudy, appointment: Appointment, now: datetime, actor: Actor
) -> None:
    request = prior.request
    exam_day = to_local(appointment.start_at).date()
    params = _params(prior, request) | {"exam_date": thai_date(exam_day)}
    message = N_(
        "Referral images not in the hub's PACS yet: order %(order)s from %(hospital)s, "
        "%(modality)s, exam on %(exam_date)s"
    )
    for hospital_id in {appointment.hub_hospital_id, request.requesting_hospital_id}:
        notify_hospital(
            hospital_id,
            "referral.images_missing",
            now,
            message=message,
            params=params,
            request_id=request.id,
            actor=actor,
        )
    record(
        actor,
        "referral.study_missing",
        now,
        entity=prior,
        hospital_id=appointment.hub_hospital_id,
        patient_id=request.patient_id,
        request_id=request.id,
    )


# --- what other pages ask ---------------------------------------------------------------------


@dataclass
class ReferralImageStatus:
    """One request's referral images at a glance (the hub's day grid, lists)."""

    listed: int = 0
    on_cd: int = 0
    arrived: int = 0
    missing: int = 0  # online, not arrived
    to_confirm: int = 0  # arrived under the requester's ID, waiting for the hub

    @property
    def all_arrived(self) -> bool:
        return self.listed > self.on_cd and self.missing == 0


def referral_image_status(request_ids: list[int]) -> dict[int, ReferralImageStatus]:
    """Per request id (only those listing any study): counts of listed, on CD, arrived,
    missing and awaiting the hub's confirmation. One query, whatever the number."""
    result: dict[int, ReferralImageStatus] = {}
    if not request_ids:
        return result
    for prior in db.session.scalars(
        select(ReferralStudy).where(ReferralStudy.request_id.in_(list(request_ids)))
    ):
        status = result.setdefault(prior.request_id, ReferralImageStatus())
        status.listed += 1
        if prior.sent_on_cd:
            status.on_cd += 1
        elif prior.arrived_at is not None:
            status.arrived += 1
        else:
            status.missing += 1
        if prior.identity is PriorIdentity.PENDING:
            status.to_confirm += 1
    return result


@dataclass
class OnlineShare:
    """Referrals of one community hospital with prior images of one modality."""

    hospital: Hospital
    modality_code: str
    online: int = 0  # images came online (arrived in the hub's PACS)
    on_cd: int = 0  # noted as sent on CD
    waiting: int = 0  # listed as online, not arrived (yet)

    @property
    def share(self) -> float | None:
        done = self.online + self.on_cd
        return self.online / done if done else None


def online_share(
    *,
    hub_hospital_id: int | None = None,
    requesting_hospital_ids: list[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[OnlineShare]:
    """Per requesting hospital and modality of the images: how many referrals' images
    came online against those noted as sent on CD. A referral counts once per modality:
    online if any of its studies of that modality arrived, else on CD if any went on
    CD, else waiting. Scoped by hub (the hub's dashboard) or by requesting hospitals
    (a region office), and by when the request was made."""
    query = select(ReferralStudy, ImagingRequest).join(
        ImagingRequest, ImagingRequest.id == ReferralStudy.request_id
    )
    if hub_hospital_id is not None:
        query = query.where(ImagingRequest.hub_hospital_id == hub_hospital_id)
    if requesting_hospital_ids is not None:
        query = query.where(ImagingRequest.requesting_hospital_id.in_(requesting_hospital_ids))
    if since is not None:
        query = query.where(ImagingRequest.created_at >= since)
    if until is not None:
        query = query.where(ImagingRequest.created_at < until)
    query = query.where(ImagingRequest.status != RequestStatus.DRAFT)
    per_referral: dict[tuple[int, str, int], str] = {}
    rank = {"waiting": 0, "on_cd": 1, "online": 2}
    for prior, request in db.session.execute(query):
        outcome = (
            "online" if prior.arrived_at is not None else "on_cd" if prior.sent_on_cd else "waiting"
        )
        key = (request.requesting_hospital_id, prior.modality_code, request.id)
        if key not in per_referral or rank[outcome] > rank[per_referral[key]]:
            per_referral[key] = outcome
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (hospital_id, modality, _request_id), outcome in per_referral.items():
        counts[(hospital_id, modality)][outcome] += 1
    hospitals = {
        h.id: h
        for h in db.session.scalars(
            select(Hospital).where(Hospital.id.in_({h for h, _m in counts}))
        )
    }
    rows = [
        OnlineShare(
            hospital=hospitals[hospital_id],
            modality_code=modality,
            online=c["online"],
            on_cd=c["on_cd"],
            waiting=c["waiting"],
        )
        for (hospital_id, modality), c in counts.items()
    ]
    return sorted(rows, key=lambda r: (r.hospital.code, r.modality_code))
