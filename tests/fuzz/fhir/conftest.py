"""The FHIR fuzz runs against the FHIR tests' demo network and API clients."""

from tests.integrations.fhir.conftest import kudrang, network  # noqa: F401
