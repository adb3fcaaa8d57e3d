"""Creates: each one validates the resource with fhir.resources, resolves its references
inside the client's scope, and calls the one scheduling operation the web calls too.

- ``Patient``          → ``scheduling.patients.register_patient`` (the client's hospital's record)
- ``ServiceRequest``   → ``scheduling.requests.create_request`` (an HIS order)
- ``Appointment``      → ``scheduling.booking.book`` against a free Slot
- ``ImagingStudy``     → ``scheduling.studies.link_study(source=FHIR)``
- ``DiagnosticReport`` → ``scheduling.studies.attach_report``

A creator returns ``(resource, row, created)``; ``created`` is False when a
conditional create (``If-None-Exist``) or a Study link found what already existed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.appointment import Appointment as FhirAppointment
from fhir.resources.diagnosticreport import DiagnosticReport
from fhir.resources.imagingstudy import ImagingStudy
from fhir.resources.patient import Patient as FhirPatient
from fhir.resources.servicerequest import ServiceRequest
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from flask import request as http_request
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from integrations.fhir import mappers, systems
from integrations.fhir.auth import FhirClient
from integrations.fhir.errors import MSG_BAD_RESOURCE, FhirError, as_if_missing
from integrations.fhir.mappers import Built
from integrations.fhir.resources import patient as patient_handler
from integrations.fhir.resources import service_request as request_handler
from integrations.fhir.search import parse as parse_search
from integrations.fhir.search import row_id
from scheduling.db import db
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    Hospital,
    IdentifierType,
    ImagingRequest,
    Patient,
    PatientHN,
    Priority,
    Procedure,
    ReportStatus,
    Study,
    StudySource,
)
from scheduling.patients import (
    PREFIXES,
    find_patient,
    register_or_update_patient,
    register_patient,
)

Creator = Callable[[FhirClient, dict, datetime], tuple[Built, Any, bool]]

MSG_REF_MISSING = N_("The referenced %(ref)s was not found")
MSG_REQUIRED = N_("%(field)s is required")
MSG_UNKNOWN_PROCEDURE = N_("Unknown procedure code %(procedure)s")
MSG_PATIENT_ID = N_("The patient needs a national ID, passport or foreigner ID")
MSG_FOREIGN_HN = N_("A client may only assign HNs of its own hospital")
MSG_FOREIGN_PLACER = N_("A client may only use placer order numbers of its own hospital")
MSG_STATUS = N_("A %(type)s cannot be created with status %(value)s")
MSG_BAD_SLOT = N_("Slot %(id)s does not exist")
MSG_SLOT_PROCEDURE = N_("The slot is for a different procedure than the request")
MSG_PATIENT_MISMATCH = N_("The patient does not match the request")
MSG_AMBIGUOUS = N_("The accession number %(number)s matches more than one request")
MSG_NO_REPORT_TEXT = N_("The report has no text: send conclusion or a text/plain presentedForm")
MSG_NOT_A_HUB = N_("The performer must be a hub hospital")
MSG_STUDY_ELSEWHERE = N_("This Study Instance UID is already linked to another request")
MSG_NEEDS_REQUEST = N_(
    "Link to the request with basedOn (ServiceRequest reference, placer order number or "
    "accession number)"
)


def _validate(model: type[FHIRAbstractModel], body: dict) -> FHIRAbstractModel:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        where = [".".join(str(p) for p in e["loc"]) for e in errors][:10]
        detail = "; ".join(f"{w}: {e['msg']}" for w, e in zip(where, errors, strict=False))
        raise FhirError(
            400,
            MSG_BAD_RESOURCE,
            code="invalid-resource",
            detail=detail,
            expression=[w for w in where if w] or None,
            type=model.get_resource_type(),
        ) from exc
    except (TypeError, AttributeError) as exc:
        # fhir_core's validators for some primitive types (url, uri, ...) call string methods
        # on the raw value before checking its type: `"url": false` or `"url": []` raised
        # here and was a 500 (found by tests/fuzz/fhir).
        raise FhirError(
            400,
            MSG_BAD_RESOURCE,
            code="invalid-resource",
            detail="a value has the wrong JSON type",
            type=model.get_resource_type(),
        ) from exc


def _required(field: str) -> FhirError:
    return FhirError(422, MSG_REQUIRED, code="required", expression=[field], field=field)


def _ref_missing(ref: str) -> FhirError:
    return FhirError(422, MSG_REF_MISSING, code="reference-not-found", ref=ref)


def _ref_id(reference: str | None, resource_type: str) -> str | None:
    """The id in ``Type/id`` or ``https://…/fhir/Type/id``; None for another type."""
    if not reference:
        return None
    parts = reference.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != resource_type:
        return None
    return parts[-1]


def _conditional(handler, client: FhirClient) -> Any | None:
    """``If-None-Exist: identifier=…``: the existing row, if exactly one matches."""
    header = http_request.headers.get("If-None-Exist")
    if not header:
        return None
    params = parse_search(MultiDict(parse_qsl(header.lstrip("?"))), handler.all_params())
    resources, total = handler.search(client, params)
    if total == 0:
        return None
    if total > 1:
        raise FhirError(
            412, N_("If-None-Exist matches more than one resource"), code="multiple-matches"
        )
    return resources[0]


# -- Patient -----------------------------------------------------------------------------


def _thai(text: str) -> bool:
    return any("\u0e00" <= ch <= "\u0e7f" for ch in text)


def _name_language(name) -> str | None:
    for ext in name.extension or []:
        if ext.url == systems.LANGUAGE_EXT:
            return ext.valueCode
    return None


def _prefix_code(prefixes: list[str] | None) -> str:
    for text in prefixes or []:
        for code, (th, en) in PREFIXES.items():
            if text.strip() and text.strip() in (th, en, code):
                return code
    return "OTHER"


def _patient_args(client: FhirClient, resource: FhirPatient) -> dict:
    id_type, id_value, hn = None, None, None
    own_hn_system = systems.hn_system(client.hospital.code)
    for identifier in resource.identifier or []:
        system = identifier.system or ""
        if system in systems.PATIENT_ID_TYPES and id_type is None:
            id_type, id_value = systems.PATIENT_ID_TYPES[system], identifier.value or ""
        elif system == own_hn_system:
            hn = identifier.value
        elif (local := systems.parse_local_system(system)) and local[1] == "HN":
            raise FhirError(422, MSG_FOREIGN_HN, code="foreign-hn")
    if id_type is None:
        raise FhirError(422, MSG_PATIENT_ID, code="patient-identifier")
    names = resource.name or []
    thai = (
        next((n for n in names if _name_language(n) == "th"), None)
        or next(
            (n for n in names if _thai(" ".join((n.given or []) + [n.family or "", n.text or ""]))),
            None,
        )
        or (names[0] if names else None)
    )
    english = next((n for n in names if _name_language(n) == "en"), None)
    if thai is None or not (thai.given or thai.text):
        raise _required("Patient.name")
    given = " ".join(thai.given or []) or (thai.text or "")
    phone = next((t.value for t in resource.telecom or [] if t.system == "phone"), None)
    return {
        "id_type": id_type,
        "id_value": id_value,
        "prefix": _prefix_code(thai.prefix),
        "given_name_th": given,
        "family_name_th": thai.family or "",
        "birth_date": _as_date(resource.birthDate),
        "sex": mappers.GENDER_TO_SEX.get(resource.gender or "unknown", mappers.Sex.UNKNOWN),
        "hospital_id": client.hospital_id,
        "hn": hn,
        "phone": phone,
        "given_name_en": " ".join(english.given or []) if english else None,
        "family_name_en": english.family if english else None,
    }


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def create_patient(client: FhirClient, body: dict, now: datetime):
    existing = _conditional(patient_handler, client)
    # A hub also sees the records of requests sent to it; those are the requesters', not
    # its own, so they do not stop it from registering the person itself.
    if existing is not None and _own_record(client, existing.id):
        return existing, None, False
    resource = _validate(FhirPatient, body)
    args = _patient_args(client, resource)
    # Only the client's own hospital's record is created or updated: another hospital's
    # record of the same person is linked by the identifier, never shown. Whether it was
    # created comes from the registration itself: a look-up here, before it, let two
    # racing creates both answer 201 (found by tests/fuzz on PostgreSQL).
    row, created = register_or_update_patient(client.actor, now, **args)
    return mappers.patient_resource(row, viewer_hospital_id=client.hospital_id), row, created


def _own_record(client: FhirClient, patient_id: str | None) -> bool:
    row = db.session.get(Patient, n) if (n := row_id(patient_id or "")) is not None else None
    return row is not None and row.hospital_id == client.hospital_id


def _normalised_id(id_type: IdentifierType, value: str) -> str:
    if id_type is IdentifierType.NATIONAL_ID:
        return "".join(ch for ch in value if ch.isdigit())
    return value.strip().upper()


# -- references --------------------------------------------------------------------------


def _visible_patient(client: FhirClient, patient: Patient) -> bool:
    return (
        db.session.scalar(client.patient_scope(select(Patient.id)).where(Patient.id == patient.id))
        is not None
    )


def _visible_request(client: FhirClient, row: ImagingRequest) -> bool:
    return (
        db.session.scalar(
            client.request_scope(select(ImagingRequest.id)).where(ImagingRequest.id == row.id)
        )
        is not None
    )


def _resolve_patient(
    client: FhirClient, subject, contained: dict[str, dict], now: datetime
) -> Patient:
    if subject is None:
        raise _required("subject")
    reference = subject.reference or ""
    if reference.startswith("#"):
        body = contained.get(reference[1:])
        if body is None or body.get("resourceType") != "Patient":
            raise _ref_missing(reference)
        args = _patient_args(client, _validate(FhirPatient, body))
        return register_patient(client.actor, now, commit=False, **args)
    if (id_ := _ref_id(reference, "Patient")) is not None:
        row = db.session.get(Patient, n) if (n := row_id(id_)) is not None else None
        missing = _ref_missing(reference)
    elif subject.identifier is not None:
        row = _patient_by_identifier(
            client, subject.identifier.system or "", subject.identifier.value or ""
        )
        missing = _ref_missing(f"Patient?identifier={subject.identifier.value}")
    else:
        raise _required("subject")
    if row is None:
        raise missing
    if not _visible_patient(client, row):
        raise as_if_missing(missing)
    return row


def _patient_by_identifier(client: FhirClient, system: str, value: str) -> Patient | None:
    if system in systems.PATIENT_ID_TYPES:
        id_type = systems.PATIENT_ID_TYPES[system]
        return find_patient(id_type, _normalised_id(id_type, value), hospital_id=client.hospital_id)
    local = systems.parse_local_system(system)
    if local is not None and local[1] == "HN":
        return db.session.scalar(
            select(Patient)
            .join(PatientHN)
            .join(Hospital, Hospital.id == PatientHN.hospital_id)
            .where(Hospital.code == local[0], PatientHN.hn == value)
        )
    return None


def _procedure(code_concept) -> Procedure:
    concept = code_concept.concept if code_concept is not None else None
    codings = (concept.coding or []) if concept is not None else []
    ours = [c for c in codings if c.system == systems.procedure_system()]
    unlabelled = [c for c in codings if not c.system]
    for coding in ours + unlabelled:
        procedure = db.session.scalar(select(Procedure).where(Procedure.code == coding.code))
        if procedure is not None and procedure.is_active:
            return procedure
    if not (ours or unlabelled):
        raise _required("code")
    raise FhirError(
        422, MSG_UNKNOWN_PROCEDURE, code="unknown-procedure", procedure=(ours + unlabelled)[0].code
    )


def _hub(performers) -> int | None:
    for performer in performers or []:
        hospital = None
        if (n := row_id(_ref_id(performer.reference, "Organization") or "")) is not None:
            hospital = db.session.get(Hospital, n)
        elif performer.identifier is not None and performer.identifier.system == systems.TH_HCODE:
            hospital = db.session.scalar(
                select(Hospital).where(Hospital.code == performer.identifier.value)
            )
        else:
            continue
        if hospital is None:
            raise _ref_missing(performer.reference or performer.identifier.value)
        if not hospital.is_hub:
            raise FhirError(422, MSG_NOT_A_HUB, code="not-a-hub")
        return hospital.id
    return None


def _accession_requests(
    client: FhirClient, system: str | None, value: str
) -> list[tuple[ImagingRequest, Appointment]]:
    query = (
        client.request_scope(select(ImagingRequest, Appointment))
        .join(Appointment, Appointment.request_id == ImagingRequest.id)
        .where(Appointment.accession_number == value)
    )
    if system:
        local = systems.parse_local_system(system)
        if local is None or local[1] != "Accession":
            return []
        query = query.join(Hospital, Hospital.id == Appointment.hub_hospital_id).where(
            Hospital.code == local[0]
        )
    return [tuple(r) for r in db.session.execute(query)]


def _is_accession(identifier) -> bool:
    system = identifier.system or ""
    local = systems.parse_local_system(system)
    if local is not None:
        return local[1] == "Accession"
    codes = [c.code for c in (identifier.type.coding or [])] if identifier.type else []
    return "ACSN" in codes


def _is_placer(identifier) -> bool:
    local = systems.parse_local_system(identifier.system or "")
    if local is not None:
        return local[1] == "PlacerOrder"
    codes = [c.code for c in (identifier.type.coding or [])] if identifier.type else []
    return "PLAC" in codes


def _request_by_identifier(
    client: FhirClient, identifier
) -> tuple[ImagingRequest, Appointment | None] | None:
    value = identifier.value or ""
    if _is_accession(identifier):
        found = _accession_requests(client, identifier.system, value)
        if len({r.id for r, _a in found}) > 1:
            raise FhirError(422, MSG_AMBIGUOUS, code="ambiguous-accession", number=value)
        return (found[0][0], found[0][1]) if found else None
    if _is_placer(identifier):
        query = client.request_scope().where(ImagingRequest.placer_order_number == value)
        local = systems.parse_local_system(identifier.system or "")
        if local is not None:
            query = query.join(
                Hospital, Hospital.id == ImagingRequest.requesting_hospital_id
            ).where(Hospital.code == local[0])
        rows = db.session.scalars(query).all()
        if len(rows) > 1:
            raise FhirError(422, MSG_AMBIGUOUS, code="ambiguous-placer", number=value)
        return (rows[0], None) if rows else None
    return None


def _resolve_request(
    client: FhirClient, references, identifiers=()
) -> tuple[ImagingRequest, Appointment | None]:
    """The request a result or booking is for: basedOn first, then own accession identifiers."""
    for reference in references or []:
        if (id_ := _ref_id(reference.reference, "ServiceRequest")) is not None:
            row = db.session.get(ImagingRequest, n) if (n := row_id(id_)) is not None else None
            if row is None:
                raise _ref_missing(reference.reference)
            if not _visible_request(client, row):
                raise as_if_missing(_ref_missing(reference.reference))
            return row, None
        if reference.identifier is not None:
            found = _request_by_identifier(client, reference.identifier)
            if found is None:
                raise _ref_missing(f"ServiceRequest?identifier={reference.identifier.value}")
            return found
    for identifier in identifiers or []:
        if _is_accession(identifier):
            found = _request_by_identifier(client, identifier)
            if found is not None:
                return found
    raise FhirError(422, MSG_NEEDS_REQUEST, code="no-request", expression=["basedOn"])


# -- ServiceRequest ------------------------------------------------------------------------


def create_service_request(client: FhirClient, body: dict, now: datetime):
    from scheduling.requests import create_request

    existing = _conditional(request_handler, client)
    if existing is not None:
        return existing, None, False
    resource: ServiceRequest = _validate(ServiceRequest, body)
    if resource.status not in ("active", "draft"):
        raise FhirError(
            422, MSG_STATUS, code="status", type="ServiceRequest", value=resource.status
        )
    if resource.intent not in ("order", "original-order"):
        raise FhirError(
            422, MSG_STATUS, code="intent", type="ServiceRequest", value=resource.intent
        )
    placer = None
    own_placer = systems.placer_system(client.hospital.code)
    for identifier in resource.identifier or []:
        if identifier.system == own_placer or (not identifier.system and _is_placer(identifier)):
            placer = identifier.value
        elif _is_placer(identifier):
            raise FhirError(422, MSG_FOREIGN_PLACER, code="foreign-placer")
    procedure = _procedure(resource.code)
    hub_id = _hub(resource.performer)
    contained = {
        c.id: c.model_dump(mode="json", exclude_none=True) for c in resource.contained or [] if c.id
    }
    patient = _resolve_patient(client, resource.subject, contained, now)
    icd10, indication = None, ""
    for reason in resource.reason or []:
        concept = reason.concept
        if concept is None:
            continue
        for coding in concept.coding or []:
            if coding.system == systems.ICD10 and icd10 is None:
                icd10 = coding.code
        indication = (
            indication
            or concept.text
            or next((c.display for c in concept.coding or [] if c.display), "")
        )
    if not indication:
        indication = " ".join(n.text for n in resource.note or [] if n.text)
    clinician = resource.requester.display if resource.requester is not None else ""
    row = create_request(
        client.actor,
        now,
        patient=patient,
        procedure=procedure,
        requesting_hospital_id=client.hospital_id,
        hub_hospital_id=hub_id,
        priority=mappers.PRIORITY_FROM_FHIR.get(resource.priority or "routine", Priority.ROUTINE),
        indication=indication,
        requesting_clinician=clinician or "",
        icd10_code=icd10,
        placer_order_number=placer,
        submit=resource.status == "active",
        commit=False,
    )
    db.session.commit()
    return mappers.service_request_resource(row), row, True


# -- Appointment -----------------------------------------------------------------------


def create_appointment(client: FhirClient, body: dict, now: datetime):
    from integrations.fhir.slots import parse_slot_id
    from scheduling.booking import book

    resource: FhirAppointment = _validate(FhirAppointment, body)
    if resource.status not in ("booked", "proposed", "pending"):
        raise FhirError(422, MSG_STATUS, code="status", type="Appointment", value=resource.status)
    slots = resource.slot or []
    if len(slots) != 1:
        raise _required("slot")
    slot_ref = _ref_id(slots[0].reference, "Slot")
    key = parse_slot_id(slot_ref or "")
    if key is None:
        raise FhirError(422, MSG_BAD_SLOT, code="unknown-slot", id=slots[0].reference or "")
    request_row, _appointment = _resolve_request(client, resource.basedOn)
    if key.procedure.id != request_row.procedure_id:
        raise FhirError(422, MSG_SLOT_PROCEDURE, code="slot-procedure")
    named = [
        _ref_id(p.actor.reference, "Patient")
        for p in resource.participant or []
        if p.actor is not None
    ]
    if resource.subject is not None:
        named.append(_ref_id(resource.subject.reference, "Patient"))
    if any(n is not None and n != str(request_row.patient_id) for n in named):
        raise FhirError(422, MSG_PATIENT_MISMATCH, code="patient-mismatch")
    row = book(client.actor, now, request_row, key.device, key.start_at)
    return mappers.appointment_resource(row), row, True


# -- ImagingStudy and DiagnosticReport ------------------------------------------------------


def _study_uid(resource: ImagingStudy) -> str:
    for identifier in resource.identifier or []:
        if identifier.system == systems.DICOM_UID and identifier.value:
            return identifier.value.removeprefix("urn:oid:")
    raise _required("ImagingStudy.identifier (urn:dicom:uid)")


def _extension(resource, url: str):
    for ext in resource.extension or []:
        if ext.url == url:
            return ext
    return None


def _study_patient(client: FhirClient, resource: ImagingStudy):
    """The patient an ImagingStudy names in ``subject`` (a Patient the client sees, or a
    national ID / passport identifier), to check against the request's before linking;
    None when it names none (a display text only)."""
    from scheduling.studies import ReportedIdentity

    subject = resource.subject
    if subject is None:
        return None
    if (id_ := _ref_id(subject.reference, "Patient")) is not None:
        row = db.session.get(Patient, n) if (n := row_id(id_)) is not None else None
        if row is None or not _visible_patient(client, row):
            raise as_if_missing(_ref_missing(subject.reference or ""))
        return ReportedIdentity(
            patient_id=row.id_value,
            issuer="TH-CID" if row.id_type is IdentifierType.NATIONAL_ID else "",
            name=f"{row.family_name_th}^{row.given_name_th}",
            birth_date=row.birth_date,
            sex=row.sex.value,
        )
    identifier = subject.identifier
    if identifier is not None and identifier.system in systems.PATIENT_ID_TYPES:
        id_type = systems.PATIENT_ID_TYPES[identifier.system]
        return ReportedIdentity(
            patient_id=_normalised_id(id_type, identifier.value or ""),
            issuer="TH-CID" if id_type is IdentifierType.NATIONAL_ID else "",
        )
    return None


def create_imaging_study(client: FhirClient, body: dict, now: datetime):
    from scheduling.studies import link_study

    resource: ImagingStudy = _validate(ImagingStudy, body)
    if resource.status in ("cancelled", "entered-in-error"):
        raise FhirError(422, MSG_STATUS, code="status", type="ImagingStudy", value=resource.status)
    uid = _study_uid(resource)
    request_row, appointment = _resolve_request(client, resource.basedOn, resource.identifier)
    if appointment is None:
        appointment = request_row.current_appointment
    accession = next((i.value for i in resource.identifier or [] if _is_accession(i)), None)
    if accession is None and appointment is not None:
        accession = appointment.accession_number
    viewer = _extension(resource, systems.viewer_url_extension())
    identity = _study_patient(client, resource)
    known = db.session.scalar(select(Study).where(Study.study_instance_uid == uid))
    if known is not None and known.request_id != request_row.id:
        # Confirming would rewrite another request's study (maybe another hospital's).
        raise FhirError(409, MSG_STUDY_ELSEWHERE, code="study-elsewhere")
    study = link_study(
        client.actor,
        now,
        source=StudySource.FHIR,
        study_instance_uid=uid,
        appointment=appointment,
        request=request_row,
        accession_number=accession,
        series_count=resource.numberOfSeries,
        instance_count=resource.numberOfInstances,
        viewer_url=viewer.valueUrl if viewer is not None else None,
        images_in_pacs=resource.status == "available",
        identity=identity,
    )
    return mappers.imaging_study_resource(study), study, known is None


REPORT_STATUS = {
    "preliminary": ReportStatus.PRELIMINARY,
    "partial": ReportStatus.PRELIMINARY,
    "final": ReportStatus.FINAL,
    "amended": ReportStatus.AMENDED,
    "corrected": ReportStatus.AMENDED,
    "appended": ReportStatus.AMENDED,
}


def _report_text(resource: DiagnosticReport) -> str:
    for form in resource.presentedForm or []:
        if (form.contentType or "").startswith("text/plain") and form.data:
            # fhir.resources has already decoded the base64 into bytes
            raw = form.data if isinstance(form.data, bytes) else base64.b64decode(form.data)
            try:
                return raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                continue
    return (resource.conclusion or "").strip()


def create_diagnostic_report(client: FhirClient, body: dict, now: datetime):
    from scheduling.access import is_hub_side
    from scheduling.booking import complete_reported_exam
    from scheduling.states import LIVE_APPOINTMENT_STATUSES
    from scheduling.studies import attach_report

    resource: DiagnosticReport = _validate(DiagnosticReport, body)
    status = REPORT_STATUS.get(resource.status or "")
    if status is None:
        raise FhirError(
            422, MSG_STATUS, code="status", type="DiagnosticReport", value=resource.status
        )
    references = list(resource.basedOn or [])
    request_row = None
    study_reference = ""
    for study_ref in resource.study or []:
        if (n := row_id(_ref_id(study_ref.reference, "ImagingStudy") or "")) is not None:
            study = db.session.get(Study, n)
            if study is None:
                raise _ref_missing(study_ref.reference)
            request_row, study_reference = study.request, study_ref.reference
    if request_row is None or references:
        request_row, _appointment = _resolve_request(client, references, resource.identifier)
    elif not _visible_request(client, request_row):
        raise as_if_missing(_ref_missing(study_reference))
    text = _report_text(resource)
    if not text:
        raise FhirError(422, MSG_NO_REPORT_TEXT, code="no-report-text")
    reported_by = next(
        (
            r.display
            for r in (resource.resultsInterpreter or []) + (resource.performer or [])
            if r.display
        ),
        None,
    )
    issued = resource.issued
    attach_report(
        client.actor,
        now,
        request_row,
        text=text,
        reported_by=reported_by,
        reported_at=issued if isinstance(issued, datetime) else now,
        status=status,
        commit=False,
    )
    # A final report from the hub's side means the exam took place: complete the booking
    # as an HL7 ORC-5 CM would, in the same transaction as the report.
    appointment = request_row.current_appointment
    if (
        appointment is not None
        and status is not ReportStatus.PRELIMINARY
        and appointment.status in LIVE_APPOINTMENT_STATUSES
        and is_hub_side(client.actor, appointment.hub_hospital_id)
    ):
        complete_reported_exam(client.actor, now, request_row, commit=False)
    db.session.commit()
    return mappers.diagnostic_report_resource(request_row), request_row, True


CREATORS: dict[str, Creator] = {
    "Patient": create_patient,
    "ServiceRequest": create_service_request,
    "Appointment": create_appointment,
    "ImagingStudy": create_imaging_study,
    "DiagnosticReport": create_diagnostic_report,
}
# Creates that honour If-None-Exist.
CONDITIONAL = {"Patient", "ServiceRequest"}
