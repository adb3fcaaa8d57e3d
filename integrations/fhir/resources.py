"""Read and search, one handler per resource type, all filtered by the client's scope.

A handler knows its search parameters (name → FHIR type, for the
CapabilityStatement, and a clause builder), the rows a client may see, and the
mapper that turns a row into a resource. Creates live in ``writes.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from integrations.fhir import mappers, systems
from integrations.fhir.auth import FhirClient
from integrations.fhir.errors import MSG_NOT_FOUND, FhirError, as_if_missing
from integrations.fhir.mappers import Built
from integrations.fhir.search import (
    Params,
    any_of,
    bad,
    date_bounds,
    date_clause,
    reference_id,
    row_id,
)
from integrations.fhir.search import token as parse_token
from scheduling.audit import patient_of
from scheduling.db import db
from scheduling.models import (
    Appointment,
    Device,
    Hospital,
    ImagingRequest,
    Patient,
    PatientHN,
    Procedure,
    RequestStatus,
    Role,
    Study,
    User,
)

Clause = Callable[[str, FhirClient], ColumnElement[bool] | None]


@dataclass(frozen=True)
class SearchParam:
    type: str  # FHIR search parameter type: token, reference, date, string
    clause: Clause
    doc: str = ""


@dataclass
class Handler:
    """Read and search for one resource type over one table."""

    resource_type: str
    model: type
    to_resource: Callable[[Any, FhirClient], Built]
    params: dict[str, SearchParam] = field(default_factory=dict)
    scope: Callable[[FhirClient, Select], Select] = lambda client, query: query
    order: Callable[[], list] | None = None
    base: Callable[[], Select] | None = None  # rows that exist as this resource at all
    # What the mapper touches, loaded with the rows (a search page otherwise lazy-loads
    # each row's hospital, patient and procedure one query at a time).
    options: Callable[[], list] | None = None

    def query(self, client: FhirClient) -> Select:
        query = self.base() if self.base is not None else select(self.model)
        return self.scope(client, query)

    def _loaded(self, query: Select) -> Select:
        return query.options(*self.options()) if self.options is not None else query

    def read(self, client: FhirClient, id_: str, now: datetime | None = None) -> tuple[Built, Any]:
        row = self._get(id_)
        missing = FhirError(404, MSG_NOT_FOUND, code="not-found", type=self.resource_type, id=id_)
        if row is None:
            raise missing
        visible = db.session.scalar(
            self.query(client).with_only_columns(self.model.id).where(self.model.id == row.id)
        )
        if visible is None:
            raise as_if_missing(missing)
        return self.to_resource(row, client), row

    def _get(self, id_: str):
        found = row_id(id_)
        if found is None:
            return None
        base = self.base() if self.base is not None else select(self.model)
        return db.session.scalar(self._loaded(base.where(self.model.id == found)))

    def search(
        self, client: FhirClient, params: Params, now: datetime | None = None
    ) -> tuple[list[Built], int]:
        query = self.query(client)
        for name, values in params.criteria:
            param = self.all_params()[name]
            query = query.where(any_of(values, lambda v, p=param: p.clause(v, client)))
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        order = self.order() if self.order is not None else [self.model.id]
        rows = db.session.scalars(
            self._loaded(query.order_by(*order).offset(params.offset).limit(params.count))
        ).all()
        return [
            replace(self.to_resource(row, client), patient_id=patient_of(row)) for row in rows
        ], total

    def all_params(self) -> dict[str, SearchParam]:
        return {"_id": SearchParam("token", self._id_clause, "logical id"), **self.params}

    def _id_clause(self, value: str, client: FhirClient) -> ColumnElement[bool]:
        found = row_id(value)
        return self.model.id == found if found is not None else false()


# -- shared clause builders -------------------------------------------------------------


def _patient_ids_by_identifier(value: str) -> ColumnElement[bool] | None:
    """Patient.id matches for an identifier token (national ID, passport or any HN)."""
    system, code = parse_token(value)
    if system in systems.PATIENT_ID_TYPES:
        cond = Patient.id_type == systems.PATIENT_ID_TYPES[system]
        return and_(cond, Patient.id_value == code) if code else cond
    hn_match = _hn_clause(system, code)
    if system is None:
        return or_(Patient.id_value == code, hn_match)
    return hn_match


def _hn_clause(system: str | None, code: str | None) -> ColumnElement[bool]:
    hn_query = select(PatientHN.patient_id)
    if system is not None:
        local = systems.parse_local_system(system)
        if local is None or local[1] != "HN":
            return false()
        hn_query = hn_query.join(Hospital, Hospital.id == PatientHN.hospital_id).where(
            Hospital.code == local[0]
        )
    if code:
        hn_query = hn_query.where(PatientHN.hn == code)
    return Patient.id.in_(hn_query)


def _hospital_codes(system: str | None, kind: str) -> tuple[bool, str | None]:
    """Whether a token system fits a local identifier ``kind``, and the hcode it names."""
    if system is None:
        return True, None
    local = systems.parse_local_system(system)
    if local is None or local[1] != kind:
        return False, None
    return True, local[0]


def _hospital_id_in(column, code: str | None) -> ColumnElement[bool] | None:
    if code is None:
        return None
    return column.in_(select(Hospital.id).where(Hospital.code == code))


def _accession_request_ids(value: str) -> Select | None:
    system, code = parse_token(value)
    fits, hcode = _hospital_codes(system, "Accession")
    if not fits:
        return None
    query = select(Appointment.request_id)
    if code:
        query = query.where(Appointment.accession_number == code)
    if (hub := _hospital_id_in(Appointment.hub_hospital_id, hcode)) is not None:
        query = query.where(hub)
    return query


def _placer_clause(value: str) -> ColumnElement[bool] | None:
    system, code = parse_token(value)
    fits, hcode = _hospital_codes(system, "PlacerOrder")
    if not fits:
        return None
    clauses = []
    if code:
        clauses.append(ImagingRequest.placer_order_number == code)
    if (hospital := _hospital_id_in(ImagingRequest.requesting_hospital_id, hcode)) is not None:
        clauses.append(hospital)
    return and_(*clauses) if clauses else None


def _procedure_ids(value: str) -> Select:
    system, code = parse_token(value)
    query = select(Procedure.id)
    if system not in (None, systems.procedure_system()):
        return query.where(false())
    return query.where(Procedure.code == code) if code else query


def _date_column_clause(name: str, column, value: str) -> ColumnElement[bool]:
    """A DATE column (birth date) against a date parameter, compared by local day."""
    prefix, start, end = date_bounds(name, value)
    first, after = start.date(), (end.date() if end.time() == start.time() else end.date())
    return {
        "eq": and_(column >= first, column < after),
        "ne": or_(column < first, column >= after),
        "gt": column >= after,
        "sa": column >= after,
        "ge": column >= first,
        "lt": column < first,
        "eb": column < first,
        "le": column < after,
    }[prefix]


def _string(*columns) -> Clause:
    def clause(value: str, client: FhirClient) -> ColumnElement[bool]:
        # RadBook matches names anywhere in the word: Thai has no spaces between words.
        return or_(*(func.lower(c).contains(value.lower(), autoescape=True) for c in columns))

    return clause


def _enum_token(mapping: dict[str, list]) -> Callable[[str], list]:
    def members(value: str) -> list:
        _system, code = parse_token(value)
        return mapping.get(code or "", [])

    return members


# -- Organization, Practitioner, Device, Schedule -------------------------------------------


def _org_identifier(value: str, client: FhirClient):
    system, code = parse_token(value)
    if system not in (None, systems.TH_HCODE):
        return None
    return Hospital.code == code if code else None


organization = Handler(
    "Organization",
    Hospital,
    lambda row, client: mappers.organization_resource(row),
    params={
        "identifier": SearchParam("token", _org_identifier, "MOPH 5-digit code (th-moph-hcode)"),
        "name": SearchParam(
            "string", _string(Hospital.name_th, Hospital.name_en), "Thai or English name, contains"
        ),
    },
)


practitioner = Handler(
    "Practitioner",
    User,
    lambda row, client: mappers.practitioner_resource(row),
    base=lambda: select(User).where(User.role == Role.RADIOLOGIST),
    params={"name": SearchParam("string", _string(User.full_name), "name, contains")},
)


def _device_identifier(value: str, client: FhirClient):
    system, code = parse_token(value)
    if system not in (None, systems.ae_title_system()):
        return None
    return Device.ae_title == code if code else None


def _device_organization(value: str, client: FhirClient):
    return Device.hospital_id == reference_id("organization", value, "Organization")


def _device_type(value: str, client: FhirClient):
    system, code = parse_token(value)
    if system not in (None, systems.DICOM_DCM):
        return None
    return Device.modality_code == code


def _device_options() -> list:
    return [joinedload(Device.hospital), joinedload(Device.modality)]


device = Handler(
    "Device",
    Device,
    lambda row, client: mappers.device_resource(row),
    options=_device_options,
    params={
        "identifier": SearchParam("token", _device_identifier, "DICOM AE title"),
        "organization": SearchParam("reference", _device_organization, "the hub"),
        "type": SearchParam("token", _device_type, "DICOM modality code"),
    },
)


def _schedule_procedures(device_row: Device) -> list[Procedure]:
    return list(
        db.session.scalars(
            select(Procedure)
            .where(
                Procedure.modality_code == device_row.modality_code, Procedure.is_active.is_(True)
            )
            .order_by(Procedure.code)
        )
    )


def _schedule_actor(value: str, client: FhirClient):
    return Device.id == reference_id("actor", value, "Device")


def _schedule_service_type(value: str, client: FhirClient):
    return Device.modality_code.in_(
        select(Procedure.modality_code).where(Procedure.id.in_(_procedure_ids(value)))
    )


def _schedule_active(value: str, client: FhirClient):
    if value not in ("true", "false"):
        raise bad("active")
    return Device.is_active.is_(value == "true")


schedule = Handler(
    "Schedule",
    Device,
    lambda row, client: mappers.schedule_resource(row, _schedule_procedures(row)),
    options=_device_options,
    params={
        "actor": SearchParam("reference", _schedule_actor, "Device/<id>"),
        "identifier": SearchParam("token", _device_identifier, "DICOM AE title of the scanner"),
        "service-type": SearchParam("token", _schedule_service_type, "procedure code"),
        "active": SearchParam("token", _schedule_active, "true | false"),
    },
)


# -- Patient ------------------------------------------------------------------------------


def _patient_gender(value: str, client: FhirClient):
    sex = mappers.GENDER_TO_SEX.get(parse_token(value)[1] or "")
    return Patient.sex == sex if sex is not None else None


patient = Handler(
    "Patient",
    Patient,
    lambda row, client: mappers.patient_resource(row, viewer_hospital_id=client.hospital_id),
    scope=lambda client, query: client.patient_scope(query),
    options=lambda: [selectinload(Patient.hospital_numbers).joinedload(PatientHN.hospital)],
    params={
        "identifier": SearchParam(
            "token", lambda v, c: _patient_ids_by_identifier(v), "th-cid, passport, or an HN system"
        ),
        "name": SearchParam(
            "string",
            _string(
                Patient.given_name_th,
                Patient.family_name_th,
                Patient.given_name_en,
                Patient.family_name_en,
            ),
            "Thai or romanised name, contains",
        ),
        "birthdate": SearchParam(
            "date", lambda v, c: _date_column_clause("birthdate", Patient.birth_date, v)
        ),
        "gender": SearchParam("token", _patient_gender),
    },
)


# -- ServiceRequest ----------------------------------------------------------------------


def _request_identifier(value: str, client: FhirClient):
    accession = _accession_request_ids(value)
    clauses = [
        c
        for c in (
            _placer_clause(value),
            ImagingRequest.id.in_(accession) if accession is not None else None,
        )
        if c is not None
    ]
    return or_(*clauses) if clauses else None


def _request_patient(name: str) -> Clause:
    return lambda v, c: ImagingRequest.patient_id == reference_id(name, v, "Patient")


REQUEST_STATUS_FROM_FHIR: dict[str, list[RequestStatus]] = {}
for _status, _code in mappers.REQUEST_STATUS.items():
    REQUEST_STATUS_FROM_FHIR.setdefault(_code, []).append(_status)


def _request_status(value: str, client: FhirClient):
    system, code = parse_token(value)
    if system == systems.request_status_system():
        members = [s for s in RequestStatus if s.value == code]
    else:
        members = REQUEST_STATUS_FROM_FHIR.get(code or "", [])
    return ImagingRequest.status.in_(members) if members else None


def _request_priority(value: str, client: FhirClient):
    priority = mappers.PRIORITY_FROM_FHIR.get(parse_token(value)[1] or "")
    return ImagingRequest.priority == priority if priority else None


def _request_performer(value: str, client: FhirClient):
    return ImagingRequest.hub_hospital_id == reference_id("performer", value, "Organization")


def _request_code(value: str, client: FhirClient):
    return ImagingRequest.procedure_id.in_(_procedure_ids(value))


def _request_options() -> list:
    return [
        joinedload(ImagingRequest.requesting_hospital),
        joinedload(ImagingRequest.hub_hospital),
        joinedload(ImagingRequest.patient),
        joinedload(ImagingRequest.procedure),
        selectinload(ImagingRequest.appointments).joinedload(Appointment.hub_hospital),
        selectinload(ImagingRequest.studies),
    ]


service_request = Handler(
    "ServiceRequest",
    ImagingRequest,
    lambda row, client: mappers.service_request_resource(row),
    scope=lambda client, query: client.request_scope(query),
    options=_request_options,
    params={
        "identifier": SearchParam(
            "token", _request_identifier, "placer order number or accession number"
        ),
        "patient": SearchParam("reference", _request_patient("patient")),
        "subject": SearchParam("reference", _request_patient("subject")),
        "status": SearchParam(
            "token", _request_status, "FHIR request-status, or RadBook's own via its system"
        ),
        "authored": SearchParam(
            "date", lambda v, c: date_clause("authored", ImagingRequest.created_at, v)
        ),
        "code": SearchParam("token", _request_code, "procedure code"),
        "performer": SearchParam("reference", _request_performer, "Organization/<hub id>"),
        "priority": SearchParam("token", _request_priority),
    },
)


# -- Appointment -------------------------------------------------------------------------


def _appointment_scope(client: FhirClient, query: Select) -> Select:
    visible = client.request_scope(select(ImagingRequest.id))
    return query.where(Appointment.request_id.in_(visible))


def _appointment_identifier(value: str, client: FhirClient):
    system, code = parse_token(value)
    if system == systems.appointment_code_system():
        return Appointment.appointment_code == code if code else None
    fits, hcode = _hospital_codes(system, "Accession")
    if not fits:
        return None
    clauses = []
    if code:
        clauses.append(Appointment.accession_number == code)
    if (hub := _hospital_id_in(Appointment.hub_hospital_id, hcode)) is not None:
        clauses.append(hub)
    if system is None and code:
        clauses = [or_(Appointment.accession_number == code, Appointment.appointment_code == code)]
    return and_(*clauses) if clauses else None


def _appointment_actor(value: str, client: FhirClient):
    if "Device/" in value:
        return Appointment.device_id == reference_id("actor", value, "Device")
    return Appointment.patient_id == reference_id("actor", value, "Patient")


APPOINTMENT_STATUS_FROM_FHIR: dict[str, list] = {}
for _status, _code in mappers.APPOINTMENT_STATUS.items():
    APPOINTMENT_STATUS_FROM_FHIR.setdefault(_code, []).append(_status)


def _appointment_status(value: str, client: FhirClient):
    members = APPOINTMENT_STATUS_FROM_FHIR.get(parse_token(value)[1] or "", [])
    return Appointment.status.in_(members) if members else None


def _appointment_service_type(value: str, client: FhirClient):
    return Appointment.request_id.in_(
        select(ImagingRequest.id).where(ImagingRequest.procedure_id.in_(_procedure_ids(value)))
    )


appointment = Handler(
    "Appointment",
    Appointment,
    lambda row, client: mappers.appointment_resource(row),
    scope=_appointment_scope,
    options=lambda: [
        joinedload(Appointment.request).joinedload(ImagingRequest.procedure),
        joinedload(Appointment.patient),
        joinedload(Appointment.device),
        joinedload(Appointment.hub_hospital),
    ],
    order=lambda: [Appointment.start_at, Appointment.id],
    params={
        "identifier": SearchParam(
            "token", _appointment_identifier, "accession number or slip code"
        ),
        "patient": SearchParam(
            "reference",
            lambda v, c: Appointment.patient_id == reference_id("patient", v, "Patient"),
        ),
        "actor": SearchParam("reference", _appointment_actor, "Patient/<id> or Device/<id>"),
        "status": SearchParam("token", _appointment_status),
        "date": SearchParam(
            "date", lambda v, c: date_clause("date", Appointment.start_at, v), "start"
        ),
        "based-on": SearchParam(
            "reference",
            lambda v, c: Appointment.request_id == reference_id("based-on", v, "ServiceRequest"),
        ),
        "service-type": SearchParam("token", _appointment_service_type, "procedure code"),
    },
)


# -- ImagingStudy, DiagnosticReport -----------------------------------------------------


def _study_scope(client: FhirClient, query: Select) -> Select:
    return query.where(Study.request_id.in_(client.request_scope(select(ImagingRequest.id))))


def _study_identifier(value: str, client: FhirClient):
    system, code = parse_token(value)
    if system == systems.DICOM_UID:
        if not code:
            return None
        return Study.study_instance_uid == code.removeprefix("urn:oid:")
    fits, hcode = _hospital_codes(system, "Accession")
    if not fits:
        return None
    clauses = []
    if code:
        clauses.append(Study.accession_number == code)
    if hcode is not None:
        clauses.append(
            Study.request_id.in_(
                select(ImagingRequest.id)
                .join(Hospital, Hospital.id == ImagingRequest.hub_hospital_id)
                .where(Hospital.code == hcode)
            )
        )
    if system is None and code:
        clauses = [
            or_(
                Study.accession_number == code,
                Study.study_instance_uid == code.removeprefix("urn:oid:"),
            )
        ]
    return and_(*clauses) if clauses else None


def _study_status(value: str, client: FhirClient):
    code = parse_token(value)[1]
    available = or_(Study.images_in_pacs_at.is_not(None), Study.instance_count > 0)
    if code == "available":
        return available
    if code == "registered":
        return ~available
    return None


def _study_patient(name: str) -> Clause:
    def clause(value: str, client: FhirClient):
        patient_id = reference_id(name, value, "Patient")
        return Study.request_id.in_(
            select(ImagingRequest.id).where(ImagingRequest.patient_id == patient_id)
        )

    return clause


def _study_modality(value: str, client: FhirClient):
    system, code = parse_token(value)
    if system not in (None, systems.DICOM_DCM) or not code:
        return None
    return Study.request_id.in_(
        select(ImagingRequest.id)
        .join(Procedure, Procedure.id == ImagingRequest.procedure_id)
        .where(Procedure.modality_code == code)
    )


def _study_started(value: str, client: FhirClient):
    return Study.appointment_id.in_(
        select(Appointment.id).where(date_clause("started", Appointment.started_at, value))
    )


imaging_study = Handler(
    "ImagingStudy",
    Study,
    lambda row, client: mappers.imaging_study_resource(row),
    scope=_study_scope,
    options=lambda: [
        joinedload(Study.request).options(*_request_options()),
        joinedload(Study.appointment),
    ],
    params={
        "identifier": SearchParam(
            "token", _study_identifier, "Study Instance UID (urn:dicom:uid) or accession number"
        ),
        "patient": SearchParam("reference", _study_patient("patient")),
        "subject": SearchParam("reference", _study_patient("subject")),
        "based-on": SearchParam(
            "reference",
            lambda v, c: Study.request_id == reference_id("based-on", v, "ServiceRequest"),
        ),
        "status": SearchParam("token", _study_status, "registered | available"),
        "modality": SearchParam("token", _study_modality, "DICOM modality code"),
        "started": SearchParam("date", _study_started),
    },
)


def _report_status(value: str, client: FhirClient):
    # Only final reports exist in RadBook; any other status matches nothing.
    return None if parse_token(value)[1] != "final" else ImagingRequest.id.is_not(None)


diagnostic_report = Handler(
    "DiagnosticReport",
    ImagingRequest,
    lambda row, client: mappers.diagnostic_report_resource(row),
    base=lambda: select(ImagingRequest).where(ImagingRequest.report_text.is_not(None)),
    scope=lambda client, query: client.request_scope(query),
    options=_request_options,
    params={
        "identifier": SearchParam(
            "token",
            lambda v, c: (
                ImagingRequest.id.in_(q) if (q := _accession_request_ids(v)) is not None else None
            ),
            "accession number",
        ),
        "patient": SearchParam("reference", _request_patient("patient")),
        "subject": SearchParam("reference", _request_patient("subject")),
        "based-on": SearchParam(
            "reference",
            lambda v, c: ImagingRequest.id == reference_id("based-on", v, "ServiceRequest"),
        ),
        "status": SearchParam("token", _report_status, "final"),
        "date": SearchParam(
            "date", lambda v, c: date_clause("date", ImagingRequest.reported_at, v), "when reported"
        ),
    },
)


HANDLERS: dict[str, Handler] = {
    h.resource_type: h
    for h in (
        organization,
        practitioner,
        device,
        schedule,
        patient,
        service_request,
        appointment,
        imaging_study,
        diagnostic_report,
    )
}
