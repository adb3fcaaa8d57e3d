"""RadBook rows → FHIR R5 resources (fhir.resources models, so every answer is validated).

Each ``*_resource`` function builds the JSON shape and hands it to the fhir.resources
model: a mapping mistake fails here, in tests, rather than at the HIS.
Times go out in the hospital's zone (``+07:00``), the way Thai HIS show them.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from fhir.resources.appointment import Appointment as FhirAppointment
from fhir.resources.device import Device as FhirDevice
from fhir.resources.diagnosticreport import DiagnosticReport
from fhir.resources.imagingstudy import ImagingStudy
from fhir.resources.organization import Organization
from fhir.resources.patient import Patient as FhirPatient
from fhir.resources.practitioner import Practitioner
from fhir.resources.schedule import Schedule
from fhir.resources.servicerequest import ServiceRequest
from fhir.resources.slot import Slot as FhirSlot
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from integrations.fhir import systems
from integrations.fhir.built import Built
from scheduling import regions
from scheduling.clock import to_local
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    RequestStatus,
    Sex,
    Study,
    User,
)
from scheduling.patients import prefix_text

# ServiceRequest.status (R5 request-status). RadBook's finer state rides along in an
# extension, so nothing is lost for clients that want it.
REQUEST_STATUS = {
    RequestStatus.DRAFT: "draft",
    RequestStatus.SUBMITTED: "active",
    RequestStatus.ACCEPTED: "active",
    RequestStatus.SCHEDULED: "active",
    RequestStatus.REJECTED: "revoked",
    RequestStatus.COMPLETED: "completed",
    RequestStatus.CANCELLED: "revoked",
}

# Appointment.status (R5 appointmentstatus). A reschedule closes the old row as MOVED
# and books a new one that points back to it (``previousAppointment``).
APPOINTMENT_STATUS = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.ARRIVED: "arrived",
    AppointmentStatus.IN_PROGRESS: "checked-in",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
    AppointmentStatus.MOVED: "cancelled",
    # Started and stopped part-way (MPPS DISCONTINUED); the request goes back to be rebooked.
    AppointmentStatus.DISCONTINUED: "cancelled",
}

GENDER = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}
GENDER_TO_SEX = {value: key for key, value in GENDER.items()}

PRIORITY = {Priority.ROUTINE: "routine", Priority.URGENT: "urgent", Priority.STAT: "stat"}
# FHIR's "asap" sits between urgent and stat; RadBook treats it as urgent.
PRIORITY_FROM_FHIR = {
    "routine": Priority.ROUTINE,
    "urgent": Priority.URGENT,
    "asap": Priority.URGENT,
    "stat": Priority.STAT,
}

IMAGING_CATEGORY = {
    "coding": [{"system": systems.SNOMED, "code": "363679005", "display": "Imaging"}]
}
RADIOLOGY_SECTION = {"coding": [{"system": systems.V2_0074, "code": "RAD", "display": "Radiology"}]}
IMAGING_REPORT_CODE = {
    "coding": [{"system": systems.LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}]
}


def _pruned(value: Any) -> Any:
    """Without None, "" and empty lists/objects: FHIR JSON allows no nulls and no empties."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if not _empty(v)}
    if isinstance(value, list):
        return [v for v in (_pruned(v) for v in value) if not _empty(v)]
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def build(model: type[FHIRAbstractModel], data: dict) -> Built:
    data = _pruned(data)
    return Built(model.model_validate(data), data)


def instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    return to_local(value).isoformat(timespec="seconds")


def ref(resource_type: str, id_: int | str, display: str | None = None) -> dict:
    out = {"reference": f"{resource_type}/{id_}"}
    if display:
        out["display"] = display
    return out


def patient_display(patient: Patient) -> str:
    return " ".join(
        part
        for part in (
            prefix_text(patient.prefix, "th") + patient.given_name_th,
            patient.family_name_th,
        )
        if part
    )


def patient_ref(patient: Patient) -> dict:
    return ref("Patient", patient.id, patient_display(patient))


def organization_ref(hospital: Hospital) -> dict:
    return {
        **ref("Organization", hospital.id, hospital.name_th),
        "identifier": {"system": systems.TH_HCODE, "value": hospital.code},
    }


def procedure_concept(procedure: Procedure) -> dict:
    return {
        "coding": [
            {
                "system": systems.procedure_system(),
                "code": procedure.code,
                "display": procedure.name_th,
            },
            {"system": systems.DICOM_DCM, "code": procedure.modality_code},
        ],
        "text": procedure.name_th,
    }


def _identifier(system: str, value: str, type_code: str | None = None) -> dict:
    out: dict = {"system": system, "value": value}
    if type_code:
        out["type"] = {"coding": [{"system": systems.V2_0203, "code": type_code}]}
    return out


def accession_identifier(appointment: Appointment) -> dict:
    return _identifier(
        systems.accession_system(appointment.hub_hospital.code),
        appointment.accession_number,
        "ACSN",
    )


def placer_identifier(request: ImagingRequest) -> dict:
    return _identifier(
        systems.placer_system(request.requesting_hospital.code),
        request.placer_order_number,
        "PLAC",
    )


def study_uid_identifier(uid: str) -> dict:
    return {"system": systems.DICOM_UID, "value": f"urn:oid:{uid}"}


# -- directory ------------------------------------------------------------------------


def organization_address(hospital: Hospital) -> dict | None:
    """R5 keeps an organisation's address in ``contact.address``: text, district,
    province (``state``), country, and the coordinates as the standard geolocation
    extension."""
    address: dict = {"country": "TH"}
    if hospital.address_th:
        address["text"] = hospital.address_th
    if hospital.district_th:
        address["district"] = hospital.district_th
    if hospital.province_th:
        address["state"] = hospital.province_th
    if regions.has_coordinates(hospital):
        address["extension"] = [
            {
                "url": systems.GEOLOCATION_EXT,
                "extension": [
                    {"url": "latitude", "valueDecimal": hospital.latitude},
                    {"url": "longitude", "valueDecimal": hospital.longitude},
                ],
            }
        ]
    return address if len(address) > 1 else None


def region_extension(hospital: Hospital) -> list[dict]:
    region = regions.region_of(hospital)
    if region is None:
        return []
    return [
        {
            "url": systems.health_region_ext(),
            "valueCoding": {
                "system": systems.health_region_system(),
                "code": str(region),
                "display": regions.region_name(region),
            },
        }
    ]


def organization_resource(hospital: Hospital) -> Built:
    contact: dict = {}
    if hospital.phone:
        contact["telecom"] = [{"system": "phone", "value": hospital.phone}]
    if (address := organization_address(hospital)) is not None:
        contact["address"] = address
    data: dict = {
        "resourceType": "Organization",
        "id": str(hospital.id),
        "identifier": [{"system": systems.TH_HCODE, "value": hospital.code}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    },
                    {
                        "system": systems.hospital_level_system(),
                        "code": hospital.level.name,
                        "display": hospital.level.value,
                    },
                ],
            }
        ],
        "name": hospital.name_th,
        "alias": [hospital.name_en],
    }
    if extension := region_extension(hospital):
        data["extension"] = extension
    if contact:
        data["contact"] = [contact]
    return build(Organization, data)


def practitioner_resource(user: User) -> Built:
    return build(
        Practitioner,
        {
            "resourceType": "Practitioner",
            "id": str(user.id),
            "active": user.is_active_account,
            "name": [{"text": user.full_name}],
        },
    )


def device_resource(device: Device) -> Built:
    return build(
        FhirDevice,
        {
            "resourceType": "Device",
            "id": str(device.id),
            "identifier": [{"system": systems.ae_title_system(), "value": device.ae_title}],
            "displayName": device.name,
            "status": "active" if device.is_active else "inactive",
            "type": [
                {
                    "coding": [
                        {
                            "system": systems.DICOM_DCM,
                            "code": device.modality_code,
                            "display": device.modality.name_en,
                        }
                    ],
                    "text": device.modality.name_th,
                }
            ],
            "owner": organization_ref(device.hospital),
            "note": [{"text": device.room_th}] if device.room_th else None,
        },
    )


def schedule_resource(device: Device, procedures: list[Procedure]) -> Built:
    """One Schedule per scanner; its Slots are computed from capacity, never stored."""
    return build(
        Schedule,
        {
            "resourceType": "Schedule",
            "id": str(device.id),
            "identifier": [{"system": systems.ae_title_system(), "value": device.ae_title}],
            "active": device.is_active,
            "serviceCategory": [
                {"coding": [{"system": systems.DICOM_DCM, "code": device.modality_code}]}
            ],
            "serviceType": [{"concept": procedure_concept(p)} for p in procedures] or None,
            "name": device.name,
            "actor": [ref("Device", device.id, device.name)],
            "comment": " · ".join(x for x in (device.hospital.name_th, device.room_th) if x),
        },
    )


def slot_id(device_id: int, start_at: datetime, procedure_id: int) -> str:
    """``slot-<device>-<epoch>-<procedure>``: stable, and enough to recompute the slot."""
    return f"slot-{device_id}-{int(start_at.timestamp())}-{procedure_id}"


def slot_resource(
    *, device_id: int, start_at: datetime, end_at: datetime, procedure: Procedure, free: bool
) -> Built:
    return build(
        FhirSlot,
        {
            "resourceType": "Slot",
            "id": slot_id(device_id, start_at, procedure.id),
            "serviceType": [{"concept": procedure_concept(procedure)}],
            "schedule": ref("Schedule", device_id),
            "status": "free" if free else "busy",
            "start": instant(start_at),
            "end": instant(end_at),
        },
    )


# -- patients ---------------------------------------------------------------------------


def patient_resource(patient: Patient, *, viewer_hospital_id: int) -> Built:
    """The patient as a client sees it: HNs of its own hospital and of the hubs only."""
    identifiers = [
        {
            "use": "official",
            "system": systems.PATIENT_ID_SYSTEMS[patient.id_type],
            "value": patient.id_value,
        }
    ]
    for hn in sorted(patient.hospital_numbers, key=lambda h: h.hospital_id):
        if hn.hospital_id == viewer_hospital_id or hn.hospital.is_hub:
            identifiers.append(
                {
                    "use": "usual",
                    "type": {"coding": [{"system": systems.V2_0203, "code": "MR"}]},
                    "system": systems.hn_system(hn.hospital.code),
                    "value": hn.hn,
                    "assigner": organization_ref(hn.hospital),
                }
            )
    names = [
        {
            "extension": [{"url": systems.LANGUAGE_EXT, "valueCode": "th"}],
            "use": "official",
            "text": patient_display(patient),
            "family": patient.family_name_th or None,
            "given": [patient.given_name_th],
            "prefix": [prefix_text(patient.prefix, "th")] if prefix_text(patient.prefix) else None,
        }
    ]
    if patient.given_name_en:
        names.append(
            {
                "extension": [{"url": systems.LANGUAGE_EXT, "valueCode": "en"}],
                "use": "usual",
                "family": patient.family_name_en or None,
                "given": [patient.given_name_en],
                "prefix": (
                    [prefix_text(patient.prefix, "en")]
                    if prefix_text(patient.prefix, "en")
                    else None
                ),
            }
        )
    return build(
        FhirPatient,
        {
            "resourceType": "Patient",
            "id": str(patient.id),
            "identifier": identifiers,
            "active": True,
            "name": names,
            "telecom": [{"system": "phone", "value": patient.phone}] if patient.phone else None,
            "gender": GENDER[patient.sex],
            "birthDate": patient.birth_date.isoformat() if patient.birth_date else None,
            "communication": [
                {
                    "language": {
                        "coding": [
                            {"system": "urn:ietf:bcp:47", "code": patient.preferred_language}
                        ]
                    },
                    "preferred": True,
                }
            ],
        },
    )


# -- orders -----------------------------------------------------------------------------


def service_request_resource(request: ImagingRequest) -> Built:
    identifiers = [placer_identifier(request)]
    for appointment in request.appointments:
        if appointment.status is not AppointmentStatus.MOVED:
            identifiers.append(accession_identifier(appointment))
    reason: dict = {}
    if request.icd10_code:
        reason["coding"] = [{"system": systems.ICD10, "code": request.icd10_code}]
    if request.indication:
        reason["text"] = request.indication
    current = request.current_appointment
    data: dict = {
        "resourceType": "ServiceRequest",
        "id": str(request.id),
        "extension": [
            {"url": systems.request_status_extension(), "valueCode": request.status.value}
        ],
        "identifier": identifiers,
        "status": REQUEST_STATUS.get(request.status, "unknown"),
        "intent": "order",
        "category": [IMAGING_CATEGORY],
        "priority": PRIORITY[request.priority],
        "code": {"concept": procedure_concept(request.procedure)},
        "subject": patient_ref(request.patient),
        "authoredOn": instant(request.submitted_at or request.created_at),
        "requester": (
            {"display": request.requesting_clinician}
            if request.requesting_clinician
            else organization_ref(request.requesting_hospital)
        ),
        "performer": (
            [organization_ref(request.hub_hospital)] if request.hub_hospital is not None else None
        ),
        "reason": [{"concept": reason}] if reason else None,
        "note": ([{"text": request.status_reason}] if request.status_reason else None),
        "patientInstruction": (
            [{"instructionMarkdown": request.procedure.prep_th}]
            if request.procedure.prep_th
            else None
        ),
    }
    if current is not None and current.status is not AppointmentStatus.CANCELLED:
        data["occurrencePeriod"] = {
            "start": instant(current.start_at),
            "end": instant(current.end_at),
        }
    contained = screening_resources(request)
    if contained:
        data["contained"] = contained
        data["supportingInfo"] = [{"reference": {"reference": f"#{r['id']}"}} for r in contained]
    if request.protocol is not None:
        data["orderDetail"] = [protocol_detail(request)]
    return build(ServiceRequest, data)


# Screening answers as contained resources (docs/clinical-rules.md): LOINC-coded
# Observations and an AllergyIntolerance for a reported contrast reaction.
_OBSERVATIONS = (
    ("creatinine", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL"),
    ("egfr", "98979-8", "eGFR CKD-EPI 2021", "mL/min/{1.73_m2}", "mL/min/1.73m2"),
    ("weight_kg", "29463-7", "Body weight", "kg", "kg"),
)
_PREGNANCY = {
    "not_pregnant": ("60001007", "Not pregnant"),
    "possible": ("102874004", "Possible pregnancy"),
    "pregnant": ("77386006", "Pregnant"),
}


def _coding(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def screening_resources(request: ImagingRequest) -> list[dict]:
    answers = request.screening or {}
    subject = patient_ref(request.patient)
    lab_date = answers.get("lab_date")
    out = []
    for key, loinc, display, ucum, unit in _OBSERVATIONS:
        if answers.get(key) is None:
            continue
        out.append(
            {
                "resourceType": "Observation",
                "id": key.replace("_", "-"),
                "status": "final",
                "code": _coding(systems.LOINC, loinc, display),
                "subject": subject,
                "effectiveDateTime": lab_date if key != "weight_kg" else None,
                "valueQuantity": {
                    "value": answers[key],
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": ucum,
                },
            }
        )
    if answers.get("pregnancy") in _PREGNANCY:
        code, display = _PREGNANCY[answers["pregnancy"]]
        out.append(
            {
                "resourceType": "Observation",
                "id": "pregnancy",
                "status": "final",
                "code": _coding(systems.LOINC, "82810-3", "Pregnancy status"),
                "subject": subject,
                "valueCodeableConcept": _coding(systems.SNOMED, code, display),
            }
        )
    if answers.get("contrast_allergy") == "yes":
        out.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": "contrast-allergy",
                "type": _coding(
                    "http://hl7.org/fhir/allergy-intolerance-type", "allergy", "Allergy"
                ),
                "category": ["medication"],
                # SNOMED CT: allergy to contrast media (disorder)
                "code": _coding(systems.SNOMED, "293637006", "Allergy to contrast media"),
                "patient": subject,
                "reaction": [
                    {
                        # R5 wants a manifestation; the requester's words are all we have.
                        "manifestation": [
                            {"concept": {"text": answers.get("contrast_allergy_detail")}}
                        ],
                        "description": answers.get("contrast_allergy_detail"),
                    }
                ],
            }
        )
    return out


def protocol_detail(request: ImagingRequest) -> dict:
    """The radiologist's protocol and contrast decision (R5 ServiceRequest.orderDetail)."""
    protocol = request.protocol
    hub_code = request.hub_hospital.code if request.hub_hospital is not None else ""
    return {
        "parameterFocus": {"concept": procedure_concept(request.procedure)},
        "parameter": [
            {
                "code": {"text": "protocol"},
                "valueCodeableConcept": _coding(
                    systems.protocol_system(hub_code), protocol.code, protocol.name_en
                ),
            },
            {"code": {"text": "contrast"}, "valueBoolean": bool(request.protocol_contrast)},
            *(
                [{"code": {"text": "notes"}, "valueString": request.protocol_notes}]
                if request.protocol_notes
                else []
            ),
        ],
    }


def appointment_resource(appointment: Appointment) -> Built:
    request = appointment.request
    procedure = request.procedure
    data: dict = {
        "resourceType": "Appointment",
        "id": str(appointment.id),
        "identifier": [
            accession_identifier(appointment),
            {"system": systems.appointment_code_system(), "value": appointment.appointment_code},
        ],
        "status": APPOINTMENT_STATUS[appointment.status],
        "serviceCategory": [
            {"coding": [{"system": systems.DICOM_DCM, "code": procedure.modality_code}]}
        ],
        "serviceType": [{"concept": procedure_concept(procedure)}],
        "priority": None,
        "description": procedure.name_th,
        "start": instant(appointment.start_at),
        "end": instant(appointment.end_at),
        "minutesDuration": int((appointment.end_at - appointment.start_at).total_seconds() // 60),
        "slot": [ref("Slot", slot_id(appointment.device_id, appointment.start_at, procedure.id))],
        "created": instant(appointment.created_at),
        "patientInstruction": (
            [{"concept": {"text": procedure.prep_th}}] if procedure.prep_th else None
        ),
        "basedOn": [ref("ServiceRequest", request.id)],
        "subject": patient_ref(appointment.patient),
        "participant": [
            {"actor": patient_ref(appointment.patient), "status": "accepted"},
            {
                "actor": ref("Device", appointment.device_id, appointment.device.name),
                "status": "accepted",
            },
        ],
    }
    if APPOINTMENT_STATUS[appointment.status] == "cancelled":
        data["cancellationDate"] = instant(appointment.updated_at)
        reason = appointment.status_reason or (
            "rescheduled" if appointment.status is AppointmentStatus.MOVED else None
        )
        if reason:
            data["cancellationReason"] = {"text": reason}
    if appointment.rescheduled_from_id is not None:
        data["previousAppointment"] = ref("Appointment", appointment.rescheduled_from_id)
    return build(FhirAppointment, data)


# -- results ----------------------------------------------------------------------------


def imaging_study_resource(study: Study) -> Built:
    request = study.request
    identifiers = [study_uid_identifier(study.study_instance_uid)]
    hub = request.hub_hospital
    if study.accession_number and hub is not None:
        identifiers.append(
            _identifier(systems.accession_system(hub.code), study.accession_number, "ACSN")
        )
    extensions = [
        {
            "url": systems.images_in_pacs_extension(),
            "valueBoolean": study.images_in_pacs_at is not None,
        }
    ]
    if study.viewer_url:
        extensions.append({"url": systems.viewer_url_extension(), "valueUrl": study.viewer_url})
    started = study.appointment.started_at if study.appointment is not None else None
    available = study.images_in_pacs_at is not None or bool(study.instance_count)
    return build(
        ImagingStudy,
        {
            "resourceType": "ImagingStudy",
            "id": str(study.id),
            "extension": extensions,
            "identifier": identifiers,
            "status": "available" if available else "registered",
            "modality": [
                {"coding": [{"system": systems.DICOM_DCM, "code": request.procedure.modality_code}]}
            ],
            "subject": patient_ref(request.patient),
            "started": instant(started),
            "basedOn": [ref("ServiceRequest", request.id)],
            "numberOfSeries": study.series_count,
            "numberOfInstances": study.instance_count,
            "procedure": [{"concept": procedure_concept(request.procedure)}],
            "description": request.procedure.name_en,
        },
    )


def diagnostic_report_resource(request: ImagingRequest) -> Built:
    """The report of a request (one per request; its id is the request's)."""
    text = request.report_text or ""
    identifiers = [
        accession_identifier(a)
        for a in request.appointments
        if a.status is not AppointmentStatus.MOVED
    ]
    return build(
        DiagnosticReport,
        {
            "resourceType": "DiagnosticReport",
            "id": str(request.id),
            "identifier": identifiers or None,
            "basedOn": [ref("ServiceRequest", request.id)],
            "status": "final",
            "category": [RADIOLOGY_SECTION],
            "code": IMAGING_REPORT_CODE,
            "subject": patient_ref(request.patient),
            "issued": instant(request.reported_at),
            "effectiveDateTime": instant(request.reported_at),
            "resultsInterpreter": (
                [{"display": request.reported_by}] if request.reported_by else None
            ),
            "study": [ref("ImagingStudy", s.id) for s in request.studies] or None,
            "conclusion": text,
            "presentedForm": [
                {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "th",
                    "data": base64.b64encode(text.encode()).decode(),
                }
            ],
        },
    )
