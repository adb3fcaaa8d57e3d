"""The API's frame: CapabilityStatement, bearer tokens, formats, OperationOutcome."""

from __future__ import annotations

from sqlalchemy import select

from integrations.fhir.models import ApiClient
from scheduling.models import AuditEvent, Interface
from tests.integrations.fhir.conftest import DEMO_TOKEN, Fhir, outcome, parsed


def test_metadata_lists_what_is_implemented(client, network):
    statement = parsed(Fhir(client, token=None).get("metadata"))
    assert statement.get_resource_type() == "CapabilityStatement"
    assert statement.fhirVersion == "5.0.0"
    resources = {r.type: r for r in statement.rest[0].resource}
    assert set(resources) == {
        "Organization",
        "Practitioner",
        "Device",
        "Schedule",
        "Slot",
        "Patient",
        "ServiceRequest",
        "Appointment",
        "ImagingStudy",
        "DiagnosticReport",
    }
    creates = {t for t, r in resources.items() if "create" in [i.code for i in r.interaction]}
    assert creates == {
        "Patient",
        "ServiceRequest",
        "Appointment",
        "ImagingStudy",
        "DiagnosticReport",
    }
    appointment_params = {p.name for p in resources["Appointment"].searchParam}
    assert {
        "identifier",
        "patient",
        "status",
        "date",
        "based-on",
        "actor",
        "service-type",
    } <= appointment_params
    assert resources["ServiceRequest"].conditionalCreate is True
    assert "Bearer" in statement.rest[0].security.description


def test_no_token_is_401_with_thai_and_english(client, network):
    response = Fhir(client, token=None).get("Patient")
    code, thai, english, error = outcome(response, 401)
    assert code == "login"
    assert error == "no-token"
    assert thai == "ต้องส่ง bearer token"
    assert english == "A bearer token is required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_token_is_401_and_audited(client, network, db):
    response = Fhir(client, token="not-a-token").get("Patient")
    assert outcome(response, 401)[3] == "invalid-token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "fhir.auth_failed"))
    assert event.interface is Interface.FHIR and event.detail["reason"] == "unknown"


def test_disabled_client_is_refused(client, network, db):
    api_client = db.session.scalar(
        select(ApiClient).where(ApiClient.token_sha256 == ApiClient.hash_token(DEMO_TOKEN))
    )
    api_client.is_enabled = False
    db.session.commit()
    assert outcome(Fhir(client).get("Patient"), 401)[3] == "invalid-token"


def test_other_auth_schemes_are_not_bearer(client, network):
    response = client.get("/fhir/Patient", headers={"Authorization": "Basic ZGVtbzpkZW1v"})
    assert outcome(response, 401)[3] == "no-token"


def test_unknown_type_is_404(kudrang):
    code, thai, english, _ = outcome(kudrang.get("Observation"), 404)
    assert code == "not-supported"
    assert "Observation" in thai and "Observation" in english


def test_unsupported_interactions(kudrang):
    assert (
        outcome(kudrang.client.delete("/fhir/Patient/1", headers=kudrang.headers()), 405)[0]
        == "not-supported"
    )
    assert (
        outcome(kudrang.client.put("/fhir/Patient", headers=kudrang.headers()), 405)[0]
        == "not-supported"
    )
    assert outcome(kudrang.post("Organization", {"resourceType": "Organization"}), 405)[0] == (
        "not-supported"
    )
    assert outcome(kudrang.get("Patient/1/_history"), 404)[0] == "not-supported"


def test_xml_is_not_acceptable(kudrang):
    assert (
        outcome(kudrang.get("Organization", headers={"Accept": "application/fhir+xml"}), 406)[0]
        == "not-supported"
    )
    assert outcome(kudrang.get("Organization?_format=xml"), 406)[0] == "not-supported"
    assert parsed(kudrang.get("Organization?_format=json")).type == "searchset"


def test_post_needs_json_media_type(kudrang):
    response = kudrang.client.post(
        "/fhir/Patient",
        data="x=1",
        headers={
            "Authorization": f"Bearer {DEMO_TOKEN}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert outcome(response, 415)[3] == "media-type"


def test_invalid_json_is_400(kudrang):
    code, thai, english, error = outcome(kudrang.post("Patient", "{not json"), 400)
    assert (code, error) == ("invalid", "json")
    assert thai == "เนื้อหาที่ส่งมาไม่ใช่ JSON ที่ถูกต้อง"
    assert english.startswith("The request body is not valid JSON")


def test_wrong_resource_type_is_400(kudrang):
    assert outcome(kudrang.post("Patient", {"resourceType": "Observation"}), 400)[3] == (
        "resource-type"
    )


def test_invalid_resource_is_400_with_the_field(kudrang):
    response = kudrang.post("Patient", {"resourceType": "Patient", "birthDate": "14/03/1968"})
    result = parsed(response, 400)
    assert result.issue[0].expression == ["birthDate"]
    assert "birthDate" in result.issue[0].diagnostics


def test_unknown_search_parameter_is_400(kudrang):
    code, thai, english, error = outcome(kudrang.get("Patient?nmae=x"), 400)
    assert error == "unknown-parameter"
    assert "nmae" in thai and "nmae" in english


def test_bad_parameter_values_are_400(kudrang):
    assert outcome(kudrang.get("Appointment?date=tomorrow"), 400)[3] == "bad-parameter"
    assert outcome(kudrang.get("Patient?_count=ten"), 400)[3] == "bad-parameter"
    assert outcome(kudrang.get("Appointment?patient=Device/1"), 400)[3] == "bad-parameter"


def test_post_search_form(kudrang):
    response = kudrang.client.post(
        "/fhir/Organization/_search",
        data={"identifier": "11008"},
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
    )
    bundle = parsed(response)
    assert [e.resource.name for e in bundle.entry] == ["โรงพยาบาลกุดรัง"]
