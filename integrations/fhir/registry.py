"""Which resource types the API serves, and how: readers (read + search) and creators."""

from __future__ import annotations

from integrations.fhir.resources import HANDLERS
from integrations.fhir.slots import SlotReader
from integrations.fhir.writes import CONDITIONAL, CREATORS

READERS = {**HANDLERS, "Slot": SlotReader()}

__all__ = ["CONDITIONAL", "CREATORS", "READERS"]
