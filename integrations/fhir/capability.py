"""``GET /fhir/metadata``: exactly what this server implements, built from the handlers."""

from __future__ import annotations

from fhir.resources.capabilitystatement import CapabilityStatement

from scheduling.clock import utcnow

SECURITY = (
    "Bearer token per client system (Authorization: Bearer <token>). Each token belongs "
    "to one hospital: the client reads and writes that hospital's patients and requests, "
    "and a hub's client also the requests addressed to the hub. 401 without a valid token; "
    "a row outside the hospital's scope is answered as one that does not exist (404, or "
    "422 for a reference)."
)
ERRORS = (
    "Errors are OperationOutcome: issue.details.text in Thai (for the user), "
    "issue.diagnostics in English (for the integrator), issue.details.coding the "
    "RadBook error code."
)


def capability_statement(base: str) -> CapabilityStatement:
    from integrations.fhir.registry import CONDITIONAL, CREATORS, READERS

    resources = []
    for resource_type in sorted(READERS):
        reader = READERS[resource_type]
        interactions = [{"code": "read"}, {"code": "search-type"}]
        entry: dict = {"type": resource_type}
        if resource_type in CREATORS:
            interactions.append({"code": "create"})
            if resource_type in CONDITIONAL:
                entry["conditionalCreate"] = True
        entry["interaction"] = interactions
        entry["searchParam"] = [
            {
                "name": name,
                "type": param.type,
                **({"documentation": param.doc} if param.doc else {}),
            }
            for name, param in sorted(reader.all_params().items())
        ]
        resources.append(entry)
    return CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": utcnow().isoformat(timespec="seconds"),
            "publisher": "RadBook",
            "kind": "instance",
            "software": {"name": "RadBook"},
            "implementation": {
                "description": "RadBook radiology request and scheduling",
                "url": base,
            },
            "fhirVersion": "5.0.0",
            "format": ["application/fhir+json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": ERRORS,
                    "security": {"cors": False, "description": SECURITY},
                    "resource": resources,
                    "operation": None,
                }
            ],
        }
    )
