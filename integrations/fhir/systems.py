"""Identifier and code systems the FHIR API speaks (documented in docs/fhir.md).

National systems come from TH Core (sil-th/th-core, ``AL_ID.fsh``). Numbers that a
hospital issues itself (HN, placer order number, accession number) use TH Core's
pattern for a provider's local identifiers, ``https://terms.sil-th.org/hcode/5/<hcode>/<kind>``,
so the same HN system means the same hospital in every system that follows TH Core.
RadBook's own catalogues (procedure codes, request status, error codes) live under a
canonical base that a deployment sets with ``FHIR_CANONICAL_BASE``.
"""

from __future__ import annotations

from flask import current_app, has_app_context

from scheduling.models import IdentifierType

# TH Core
TH_CID = "https://terms.sil-th.org/id/th-cid"
TH_PASSPORT = "https://terms.sil-th.org/id/passport"
TH_WORK_PERMIT = "https://terms.sil-th.org/id/th-mol-wp"
TH_HCODE = "https://terms.sil-th.org/id/th-moph-hcode"
LOCAL_PREFIX = "https://terms.sil-th.org/hcode/5/"

# DICOM and HL7 terminology
DICOM_UID = "urn:dicom:uid"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"  # identifier types PLAC, ACSN, MR
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"  # diagnostic service section
LANGUAGE_EXT = "http://hl7.org/fhir/StructureDefinition/language"
# Address.geolocation: latitude and longitude (WGS84) as two nested decimal extensions.
GEOLOCATION_EXT = "http://hl7.org/fhir/StructureDefinition/geolocation"

# An example.org default says plainly that a deployment must choose its own.
DEFAULT_CANONICAL_BASE = "https://radbook.example.org/fhir"

PATIENT_ID_SYSTEMS = {
    IdentifierType.NATIONAL_ID: TH_CID,
    IdentifierType.PASSPORT: TH_PASSPORT,
    IdentifierType.FOREIGNER_ID: TH_WORK_PERMIT,
}
PATIENT_ID_TYPES = {system: id_type for id_type, system in PATIENT_ID_SYSTEMS.items()}


def local_system(hcode: str, kind: str) -> str:
    return f"{LOCAL_PREFIX}{hcode}/{kind}"


def hn_system(hcode: str) -> str:
    return local_system(hcode, "HN")


def placer_system(hcode: str) -> str:
    """Placer order numbers, issued by the requesting hospital (HL7 ORC-2)."""
    return local_system(hcode, "PlacerOrder")


def accession_system(hcode: str) -> str:
    """Accession numbers, issued by the hub that performs the exam (DICOM 0008,0050)."""
    return local_system(hcode, "Accession")


def parse_local_system(system: str) -> tuple[str, str] | None:
    """``(hcode, kind)`` for a provider-local system, else None."""
    if not system.startswith(LOCAL_PREFIX):
        return None
    rest = system[len(LOCAL_PREFIX) :].split("/")
    if len(rest) != 2 or not rest[0] or not rest[1]:
        return None
    return rest[0], rest[1]


def canonical_base() -> str:
    if has_app_context():
        return current_app.config.get("FHIR_CANONICAL_BASE") or DEFAULT_CANONICAL_BASE
    return DEFAULT_CANONICAL_BASE


def procedure_system() -> str:
    return f"{canonical_base()}/CodeSystem/procedure"


def request_status_system() -> str:
    return f"{canonical_base()}/CodeSystem/request-status"


def hospital_level_system() -> str:
    return f"{canonical_base()}/CodeSystem/hospital-level"


def error_system() -> str:
    return f"{canonical_base()}/CodeSystem/error"


def ae_title_system() -> str:
    return f"{canonical_base()}/sid/ae-title"


def appointment_code_system() -> str:
    """The short code printed on the slip (and used to link LINE)."""
    return f"{canonical_base()}/sid/appointment-code"


def protocol_system(hcode: str) -> str:
    """A hub's protocol list (HubProtocol.code), local to that hub."""
    return local_system(hcode, "Protocol")


def request_status_extension() -> str:
    return f"{canonical_base()}/StructureDefinition/request-status"


def viewer_url_extension() -> str:
    return f"{canonical_base()}/StructureDefinition/viewer-url"


def images_in_pacs_extension() -> str:
    return f"{canonical_base()}/StructureDefinition/images-in-pacs"


def health_region_system() -> str:
    """MOPH health regions (เขตสุขภาพ) 1-13, 13 being Bangkok's."""
    return f"{canonical_base()}/CodeSystem/health-region"


def health_region_ext() -> str:
    """Organization extension: the health region the hospital belongs to (valueCoding)."""
    return f"{canonical_base()}/StructureDefinition/health-region"
