"""Adapters to other systems: HL7 v2, FHIR, LINE."""
