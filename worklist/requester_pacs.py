"""A requesting hospital's own PACS: find the studies of a patient to send with a referral.

RadBook is the SCU: a Study Root C-FIND at STUDY level by the hospital's own Patient ID
(its HN, else the national ID) and optionally a study-date range, to the Q/R address an
admin registered for that hospital (``HospitalPacs``). Only the requesting hospital's
own staff search it, for a request of theirs (the web view checks that).
"""

from __future__ import annotations

from datetime import date, datetime

from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import FieldRefused
from scheduling.hospitals import hospital_by_id_or_code
from scheduling.i18n import N_
from worklist.models import HospitalPacs
from worklist.pacs_query import PacsStudy, _reachable, find_studies_by

MAX_STUDIES = 50


class PacsUnavailable(Exception):
    """The hospital's PACS could not be asked (unreachable, refused, failed)."""


def find_patient_studies(
    pacs: HospitalPacs, patient_id: str, *, since: date | None, calling_ae_title: str
) -> list[PacsStudy]:
    """The patient's studies in ``pacs``, newest first (at most ``MAX_STUDIES``)."""
    if (problem := _reachable(pacs.host, pacs.port, timeout=5)) is not None:
        raise PacsUnavailable(problem)
    # pynetdicom loads here, not when the admin pages import this module (start-up).
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    ae = AE(ae_title=calling_ae_title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 15
    assoc = ae.associate(pacs.host, pacs.port, ae_title=pacs.ae_title)
    if not assoc.is_established:
        raise PacsUnavailable("association refused")
    try:
        keys = {"PatientID": patient_id}
        if since is not None:
            keys["StudyDate"] = f"{since:%Y%m%d}-"
        studies = find_studies_by(assoc, **keys)
    except ConnectionError as exc:
        raise PacsUnavailable(str(exc)) from None
    finally:
        if assoc.is_established:
            assoc.release()
    # A PACS that ignores the Patient ID key must not hand over another patient's studies.
    mine = [s for s in studies if s.patient_id.strip() == patient_id]
    mine.sort(key=lambda s: s.study_date or date.min, reverse=True)
    return mine[:MAX_STUDIES]


def register_hospital_pacs(
    actor: Actor, now: datetime, *, hospital_id: int, host: str, port: int, ae_title: str
) -> HospitalPacs:
    """Register (or change) a hospital's PACS Q/R address (audited ``pacs.register``)."""
    hospital = hospital_by_id_or_code(hospital_id)
    host, ae_title = (host or "").strip(), (ae_title or "").strip()
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise FieldRefused("host", N_("Enter the PACS host name or address"), code="pacs-host")
    if not 0 < int(port or 0) < 65536:
        raise FieldRefused("port", N_("Enter a port between 1 and 65535"), code="pacs-port")
    if not ae_title or len(ae_title) > 16 or "\\" in ae_title:
        raise FieldRefused(
            "ae_title", N_("An AE title has 1 to 16 characters"), code="pacs-ae-title"
        )
    pacs = db.session.get(HospitalPacs, hospital.id) or HospitalPacs(hospital_id=hospital.id)
    pacs.host, pacs.port, pacs.ae_title, pacs.updated_at = host, int(port), ae_title, now
    db.session.add(pacs)
    db.session.flush()
    record(
        actor,
        "pacs.register",
        now,
        entity=pacs,
        hospital_id=hospital.id,
        host=host,
        port=pacs.port,
        ae_title=ae_title,
    )
    db.session.commit()
    return pacs


def remove_hospital_pacs(actor: Actor, now: datetime, hospital_id: int) -> None:
    pacs = db.session.get(HospitalPacs, hospital_id)
    if pacs is None:
        return
    record(actor, "pacs.remove", now, entity=pacs, hospital_id=hospital_id, host=pacs.host)
    db.session.delete(pacs)
    db.session.commit()
