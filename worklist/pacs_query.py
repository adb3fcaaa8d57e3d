"""Images in PACS: ask the PACS about completed exams whose images are not confirmed yet.

Hub staff used to check by hand that a referred patient's images had arrived in
PACS before the doctor opened them. This job does it: for each completed
appointment without a study confirmed in PACS, a Study Root C-FIND at STUDY level
by accession number. An accession number alone does not make a study this patient's:
the patient the PACS reports for it (Patient ID and issuer, name, birth date, sex) is
compared with the booking's (``scheduling.studies.identity_problems``). A match links
the study (``link_study`` with ``images_in_pacs=True``), recording the Study Instance
UID, series and instance counts and a viewer URL from ``PACS_VIEWER_URL_TEMPLATE``; a
mismatch is not linked but put on the hub's reconciliation list, where a scheduler or
radiologist confirms or rejects it (docs/patient-identity.md).

An exam whose images are not there yet is asked about again later, with a growing
interval per appointment (``PacsQueryState``), and given up after the look-back
window, so a study that never arrives does not cost a query every minute forever.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import exists, or_, select

from scheduling.audit import Actor
from scheduling.clock import utcnow
from scheduling.db import db
from scheduling.errors import DomainError
from scheduling.hosting import AdapterHost
from scheduling.models import Appointment, AppointmentStatus, Interface, Study, StudySource
from scheduling.studies import ReportedIdentity, link_or_hold
from worklist.models import PacsQueryState

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# pydicom and pynetdicom load when a query runs: the web processes configure this
# module (its settings, its job) but never talk DICOM.

log = logging.getLogger(__name__)

JOB_ID = "pacs-images-query"

# Environment (docs/deploy.md); the job is registered only when PACS_HOST is set.
DEFAULTS = {
    "PACS_HOST": "",
    "PACS_PORT": "104",
    "PACS_AE_TITLE": "PACS",
    "PACS_CALLING_AE_TITLE": "",  # empty: DICOM_AE_TITLE
    "PACS_VIEWER_URL_TEMPLATE": "",
    "PACS_QUERY_INTERVAL_SECONDS": "60",
    "PACS_QUERY_LOOKBACK_DAYS": "14",
}

FIRST_RETRY = timedelta(minutes=2)
MAX_RETRY = timedelta(hours=6)


@dataclass(frozen=True)
class PacsSettings:
    host: str
    port: int
    ae_title: str
    calling_ae_title: str
    viewer_url_template: str = ""
    lookback: timedelta = timedelta(days=14)
    batch: int = 50

    @classmethod
    def from_config(cls, config: Any) -> PacsSettings | None:
        host = str(config.get("PACS_HOST") or "").strip()
        if not host:
            return None
        return cls(
            host=host,
            port=int(config.get("PACS_PORT") or 104),
            ae_title=str(config.get("PACS_AE_TITLE") or "PACS"),
            calling_ae_title=str(
                config.get("PACS_CALLING_AE_TITLE") or config.get("DICOM_AE_TITLE") or "RADBOOK"
            ),
            viewer_url_template=str(config.get("PACS_VIEWER_URL_TEMPLATE") or ""),
            lookback=timedelta(days=int(config.get("PACS_QUERY_LOOKBACK_DAYS") or 14)),
        )


@dataclass
class PacsStudy:
    study_instance_uid: str
    series_count: int | None
    instance_count: int | None
    patient_id: str
    identity: ReportedIdentity = field(default_factory=ReportedIdentity)
    accession_number: str = ""
    study_date: date | None = None
    description: str = ""
    modalities: list[str] = field(default_factory=list)


@dataclass
class PacsCheckResult:
    asked: int = 0
    found: list[int] = field(default_factory=list)  # appointment ids now linked
    not_yet: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # a study waits for reconciliation
    error: str | None = None


def viewer_url(
    template: str, *, study_instance_uid: str, accession_number: str, patient_id: str
) -> str | None:
    """``PACS_VIEWER_URL_TEMPLATE`` with ``{study_instance_uid}``, ``{accession_number}``
    and ``{patient_id}`` filled in; None when no template is set."""
    if not template:
        return None
    return template.format(
        study_instance_uid=study_instance_uid,
        accession_number=accession_number,
        patient_id=patient_id,
    )


def due_appointments(now: datetime, settings: PacsSettings) -> list[Appointment]:
    """Completed within the look-back window, no study confirmed in PACS, check due."""
    confirmed = exists().where(
        Study.appointment_id == Appointment.id, Study.images_in_pacs_at.is_not(None)
    )
    return list(
        db.session.scalars(
            select(Appointment)
            .outerjoin(PacsQueryState, PacsQueryState.appointment_id == Appointment.id)
            .where(
                Appointment.status == AppointmentStatus.COMPLETED,
                Appointment.completed_at >= now - settings.lookback,
                ~confirmed,
                or_(PacsQueryState.appointment_id.is_(None), PacsQueryState.next_check_at <= now),
            )
            .order_by(Appointment.completed_at, Appointment.id)
            .limit(settings.batch)
        )
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# The keys every STUDY-level C-FIND here asks the PACS to return.
RETURN_KEYS = (
    "StudyInstanceUID",
    "AccessionNumber",
    "PatientID",
    "IssuerOfPatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyDescription",
    "ModalitiesInStudy",
)


def study_query(**keys: str) -> Dataset:
    """A STUDY-level identifier matching on ``keys`` (DICOM keywords), returning
    ``RETURN_KEYS`` and the series and instance counts."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in dict.fromkeys((*keys, *RETURN_KEYS)):
        setattr(ds, keyword, keys.get(keyword, ""))
    ds.NumberOfStudyRelatedSeries = None
    ds.NumberOfStudyRelatedInstances = None
    return ds


def find_studies(assoc, accession_number: str) -> list[PacsStudy]:
    """One C-FIND by accession number on an open association; raises ConnectionError."""
    return find_studies_by(assoc, AccessionNumber=accession_number)


def find_studies_by(assoc, **keys: str) -> list[PacsStudy]:
    """One C-FIND on an open association; raises ConnectionError on failure."""
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    studies = []
    for status, identifier in assoc.send_c_find(
        study_query(**keys), StudyRootQueryRetrieveInformationModelFind
    ):
        if not status:
            raise ConnectionError("PACS did not answer the C-FIND")
        if status.Status in (0xFF00, 0xFF01) and identifier is not None:
            uid = str(identifier.get("StudyInstanceUID") or "").strip()
            if uid:
                studies.append(
                    PacsStudy(
                        study_instance_uid=uid,
                        series_count=_int(identifier.get("NumberOfStudyRelatedSeries")),
                        instance_count=_int(identifier.get("NumberOfStudyRelatedInstances")),
                        patient_id=str(identifier.get("PatientID") or ""),
                        identity=reported_identity(identifier),
                        accession_number=_text(identifier, "AccessionNumber"),
                        study_date=_date(_text(identifier, "StudyDate")),
                        description=_text(identifier, "StudyDescription"),
                        modalities=_modalities(identifier),
                    )
                )
        elif status.Status not in (0x0000, 0xFF00, 0xFF01):
            raise ConnectionError(f"PACS C-FIND failed with status 0x{status.Status:04X}")
    return studies


def _modalities(identifier: Dataset) -> list[str]:
    value = identifier.get("ModalitiesInStudy")
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _text(identifier: Dataset, keyword: str) -> str:
    value = identifier.get(keyword)
    return str(value).strip() if value is not None else ""


def _date(text: str) -> date | None:
    try:
        return datetime.strptime(text[:8], "%Y%m%d").date() if text else None
    except ValueError:
        return None


def reported_identity(identifier: Dataset) -> ReportedIdentity:
    """The patient as a DICOM data set names them (a C-FIND answer, an MPPS N-CREATE)."""
    birth_date = _date(_text(identifier, "PatientBirthDate"))
    return ReportedIdentity(
        patient_id=_text(identifier, "PatientID"),
        issuer=_text(identifier, "IssuerOfPatientID"),
        name=_text(identifier, "PatientName"),
        birth_date=birth_date,
        sex=_text(identifier, "PatientSex").upper()[:1],
    )


def _in_order(studies: list[PacsStudy], appointment: Appointment) -> list[PacsStudy]:
    # The UID made at booking first, if the scanner kept it; then what else the PACS holds.
    return sorted(studies, key=lambda s: s.study_instance_uid != appointment.study_instance_uid)


def _not_yet(appointment: Appointment, now: datetime, error: str | None = None) -> None:
    state = db.session.get(PacsQueryState, appointment.id)
    if state is None:
        state = PacsQueryState(appointment_id=appointment.id, attempts=0)
        db.session.add(state)
    state.attempts = (state.attempts or 0) + 1
    state.last_checked_at = now
    state.next_check_at = now + min(FIRST_RETRY * 2 ** (state.attempts - 1), MAX_RETRY)
    state.last_error = error


def _reachable(host: str, port: int, timeout: float = 10) -> str | None:
    """None when a TCP connection opens, else why not.

    Checked before associating because pynetdicom leaks the socket of a refused
    connection (shut down, never closed), once per job run while the PACS is down.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc)


def check_pacs(
    app: Flask, settings: PacsSettings | None = None, now: datetime | None = None
) -> PacsCheckResult:
    """The job body (needs an app context, as the jobs process gives it)."""
    settings = settings or PacsSettings.from_config(app.config)
    result = PacsCheckResult()
    if settings is None:
        return result
    now = now or utcnow()
    appointments = due_appointments(now, settings)
    if not appointments:
        return result

    if (problem := _reachable(settings.host, settings.port)) is not None:
        result.error = f"PACS unreachable: {problem}"
        log.warning("PACS query: %s:%s unreachable: %s", settings.host, settings.port, problem)
        return result
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    ae = AE(ae_title=settings.calling_ae_title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    assoc = ae.associate(settings.host, settings.port, ae_title=settings.ae_title)
    if not assoc.is_established:
        result.error = "association with the PACS failed"
        log.warning(
            "PACS query: cannot associate with %s@%s:%s",
            settings.ae_title,
            settings.host,
            settings.port,
        )
        return result
    try:
        for appointment in appointments:
            result.asked += 1
            try:
                studies = find_studies(assoc, appointment.accession_number)
            except ConnectionError as exc:
                result.error = str(exc)
                log.warning("PACS query for %s: %s", appointment.accession_number, exc)
                break
            if not studies:
                _not_yet(appointment, now)
                db.session.commit()
                result.not_yet.append(appointment.id)
                continue
            if _link(appointment, _in_order(studies, appointment), settings, now):
                result.found.append(appointment.id)
            else:
                result.held.append(appointment.id)
    finally:
        if assoc.is_established:
            assoc.release()
    return result


def _link(
    appointment: Appointment, studies: list[PacsStudy], settings: PacsSettings, now: datetime
) -> bool:
    """Link the first study that is this patient's; put the others on the hub's
    reconciliation list. True when one was linked."""
    actor = Actor(
        interface=Interface.JOBS, name="pacs-query", hospital_id=appointment.hub_hospital_id
    )
    error = None
    for study in studies:
        try:
            outcome = link_or_hold(
                actor,
                now,
                source=StudySource.PACS_QUERY,
                study_instance_uid=study.study_instance_uid,
                appointment=appointment,
                identity=study.identity,
                accession_number=appointment.accession_number,
                series_count=study.series_count,
                instance_count=study.instance_count,
                images_in_pacs=True,
                viewer_url=viewer_url(
                    settings.viewer_url_template,
                    study_instance_uid=study.study_instance_uid,
                    accession_number=appointment.accession_number,
                    patient_id=study.patient_id,
                ),
                commit=False,
            )
        except DomainError as exc:
            db.session.rollback()
            error = exc.message("en")
            continue
        db.session.commit()
        if isinstance(outcome, Study):
            state = db.session.get(PacsQueryState, appointment.id)
            if state is not None:
                db.session.delete(state)
                db.session.commit()
            return True
        error = "the patient in PACS does not match: waiting for reconciliation at the hub"
    _not_yet(appointment, now, error)
    db.session.commit()
    return False


def configure(app: Flask, host: AdapterHost) -> None:
    """Settings from the environment; the job only when a PACS is configured."""
    for key, default in DEFAULTS.items():
        app.config.setdefault(key, os.environ.get(key, default))
    if PacsSettings.from_config(app.config) is not None:
        host.add_job(
            JOB_ID,
            check_pacs,
            "interval",
            seconds=int(app.config["PACS_QUERY_INTERVAL_SECONDS"]),
        )
