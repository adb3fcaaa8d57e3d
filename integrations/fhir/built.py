"""``Built``: a checked FHIR resource with its JSON, importable without fhir.resources
(the models load on the first FHIR request, not when a process starts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fhir_core.fhirabstractmodel import FHIRAbstractModel


@dataclass(frozen=True)
class Built:
    """A resource checked by its fhir.resources model, kept with the JSON it was made from.

    The answer is that checked JSON: fhir_core's serializer costs ~100 times more than
    ``json.dumps`` of the same dict, and most of a search's time went there.
    """

    model: FHIRAbstractModel
    data: dict
    # The patient the row behind it is about, for the audit event of a search.
    patient_id: int | None = None

    @property
    def id(self) -> str | None:
        return self.data.get("id")

    @property
    def resource_type(self) -> str:
        return self.data["resourceType"]

    def json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
