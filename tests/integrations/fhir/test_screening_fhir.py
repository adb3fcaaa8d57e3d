"""ServiceRequest carries the screening (contained LOINC Observations, an
AllergyIntolerance, as supportingInfo) and the radiologist's protocol (orderDetail)."""

from __future__ import annotations

import json

from sqlalchemy import select

from scheduling.models import HubProtocol, VettingDecision
from tests.integrations.fhir.conftest import make_request, parsed, patient_named

SCREENING = {
    "creatinine": 0.9,
    "egfr": None,
    "lab_date": "2026-11-10",
    "contrast_allergy": "yes",
    "contrast_allergy_detail": "urticaria",
    "pregnancy": "not_pregnant",
    "weight_kg": 55.0,
}


def test_service_request_supporting_info_and_protocol(kudrang, hub, kosum, network, now):
    protocol = network.session.scalar(select(HubProtocol).where(HubProtocol.code == "CT-ABD-PV"))
    request = make_request(
        now,
        patient=patient_named("กัญญารัตน์"),
        procedure="CT-WABD-C",
        screening=SCREENING,
        vetting_decision=VettingDecision.APPROVED,
        protocol_id=protocol.id,
        protocol_contrast=True,
        protocol_notes="oral contrast 1 h before",
    )
    for reader in (kudrang, hub):
        response = reader.get(f"ServiceRequest/{request.id}")
        sr = parsed(response)  # validates against the R5 model
        body = json.loads(response.get_data(as_text=True))
        contained = {r["id"]: r for r in body["contained"]}
        assert contained["creatinine"]["code"]["coding"][0]["code"] == "2160-0"
        assert contained["creatinine"]["valueQuantity"]["value"] == 0.9
        assert contained["creatinine"]["effectiveDateTime"] == "2026-11-10"
        assert contained["weight-kg"]["code"]["coding"][0]["code"] == "29463-7"
        assert contained["pregnancy"]["valueCodeableConcept"]["coding"][0]["code"] == "60001007"
        allergy = contained["contrast-allergy"]
        assert allergy["resourceType"] == "AllergyIntolerance"
        assert allergy["reaction"][0]["description"] == "urticaria"
        assert "egfr" not in contained  # not given, not invented
        refs = {i.reference.reference for i in sr.supportingInfo}
        assert refs == {"#creatinine", "#weight-kg", "#pregnancy", "#contrast-allergy"}
        params = {p["code"]["text"]: p for p in body["orderDetail"][0]["parameter"]}
        assert params["protocol"]["valueCodeableConcept"]["coding"][0]["code"] == "CT-ABD-PV"
        assert params["contrast"]["valueBoolean"] is True
        assert params["notes"]["valueString"] == "oral contrast 1 h before"
    # another hospital still sees nothing of it
    assert kosum.get(f"ServiceRequest/{request.id}").status_code == 404
