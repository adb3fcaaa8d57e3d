"""Referral images: watch the hub's PACS for the studies a requester said it sent.

For each listed study not on CD (``scheduling.referrals.due_for_pacs``) a Study Root
C-FIND at STUDY level to the hub's PACS (the one ``PACS_HOST`` names, as for the
images-in-PACS job): by Study Instance UID when the requester gave one, else by
accession number and the requester's own Patient ID. The Issuer of Patient ID is asked
for as a return key, not matched on: community-hospital PACSs mostly send none, and a
PACS matching on it would then find nothing. An answer whose issuer names another
hospital is not the requester's study.

What is found goes to ``scheduling.referrals.record_arrival`` (series and image counts,
the patient the PACS files it under); once a hub user has confirmed the patient and the
ADT has gone out, the same job asks again by Study UID until the PACS reports the hub's
Patient ID (``record_pacs_identity``). Studies still missing the day before the exam are
flagged on every run (``flag_missing``), whether or not the PACS answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask

from scheduling.audit import Actor
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.models import Interface, PriorIdentity, ReferralStudy
from scheduling.referrals import (
    NATIONAL_ID_SYSTEM,
    due_for_pacs,
    flag_missing,
    hub_of,
    record_arrival,
    record_not_found,
    record_pacs_identity,
    sender_patient_id,
)
from scheduling.studies import NATIONAL_ID_ISSUERS
from worklist.pacs_query import PacsSettings, PacsStudy, _reachable, find_studies_by

log = logging.getLogger(__name__)

JOB_ID = "referral-images-watch"
ACTOR_NAME = "referral-watch"


@dataclass
class WatchResult:
    asked: int = 0
    arrived: list[int] = field(default_factory=list)
    verified: list[int] = field(default_factory=list)
    not_yet: list[int] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)
    error: str | None = None


def _issuer_is_senders(study: PacsStudy, code: str, national: bool) -> bool:
    issuer = study.identity.issuer.strip().upper()
    allowed = {"", code.upper()} | (NATIONAL_ID_ISSUERS if national else set())
    return issuer in allowed


def find_prior(assoc, prior: ReferralStudy) -> PacsStudy | None:
    """The hub PACS's copy of a listed study: by Study UID, else by accession and the
    requester's Patient ID. Raises ConnectionError when the PACS fails."""
    if prior.study_instance_uid:
        found = find_studies_by(assoc, StudyInstanceUID=prior.study_instance_uid)
        if found:
            return found[0]
    if prior.accession_number:
        request = prior.request
        patient_id, issuer = sender_patient_id(request)
        found = find_studies_by(assoc, AccessionNumber=prior.accession_number, PatientID=patient_id)
        national = issuer == NATIONAL_ID_SYSTEM
        code = request.requesting_hospital.code
        mine = [s for s in found if _issuer_is_senders(s, code, national)]
        if mine:
            return mine[0]
    return None


def _actor(prior: ReferralStudy) -> Actor:
    return Actor(interface=Interface.JOBS, name=ACTOR_NAME, hospital_id=hub_of(prior.request))


def _look(assoc, prior: ReferralStudy, now: datetime, result: WatchResult) -> None:
    if prior.identity is PriorIdentity.CONFIRMED:
        found = find_studies_by(assoc, StudyInstanceUID=prior.found_study_uid)
        if found:
            record_pacs_identity(_actor(prior), now, prior, found[0].identity, commit=False)
            if prior.identity is PriorIdentity.VERIFIED:
                result.verified.append(prior.id)
        else:
            record_not_found(now, prior, "the PACS no longer finds the study")
        return
    study = find_prior(assoc, prior)
    if study is None:
        record_not_found(now, prior)
        result.not_yet.append(prior.id)
        return
    record_arrival(
        _actor(prior),
        now,
        prior,
        study_instance_uid=study.study_instance_uid,
        series_count=study.series_count,
        instance_count=study.instance_count,
        identity=study.identity,
        commit=False,
    )
    result.arrived.append(prior.id)


def watch_referral_images(
    app: Flask, settings: PacsSettings | None = None, now: datetime | None = None
) -> WatchResult:
    """The job body (in an app context): ask the PACS, then flag what is still missing."""
    result = WatchResult()
    now = now or utcnow()
    settings = settings or PacsSettings.from_config(app.config)
    if settings is not None:
        _ask_pacs(settings, now, result)
    system = Actor(interface=Interface.JOBS, name=ACTOR_NAME)
    result.flagged = [p.id for p in flag_missing(system, now)]
    return result


def _ask_pacs(settings: PacsSettings, now: datetime, result: WatchResult) -> None:
    due = due_for_pacs(now, settings.batch, settings.lookback)
    if not due:
        return
    if (problem := _reachable(settings.host, settings.port)) is not None:
        result.error = f"PACS unreachable: {problem}"
        log.warning("referral images: PACS %s:%s unreachable", settings.host, settings.port)
        return
    # pynetdicom loads when the watch runs, not when the CLI imports this module.
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    ae = AE(ae_title=settings.calling_ae_title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    assoc = ae.associate(settings.host, settings.port, ae_title=settings.ae_title)
    if not assoc.is_established:
        result.error = "association with the PACS failed"
        return
    try:
        for prior in due:
            result.asked += 1
            try:
                _look(assoc, prior, now, result)
            except ConnectionError as exc:
                db.session.rollback()
                result.error = str(exc)
                log.warning("referral images: %s", exc)
                break
            db.session.commit()
    finally:
        if assoc.is_established:
            assoc.release()


def configure(app: Flask, host) -> None:
    """Registered beside the images-in-PACS job, when a PACS is configured; the same
    interval. Without one, flagging missing images still needs the job: registered too."""
    host.add_job(
        JOB_ID,
        watch_referral_images,
        "interval",
        seconds=int(app.config.get("PACS_QUERY_INTERVAL_SECONDS") or 60),
    )
