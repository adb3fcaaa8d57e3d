"""What a host process offers the adapters it runs (the app factory provides it).

Adapters (DICOM, HL7, FHIR, LINE) are wired in by the composition root calling
``init_app(app, host)``; through ``host`` they add their periodic jobs and background
services without importing the web application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class AdapterHost(Protocol):
    def add_job(
        self,
        job_id: str,
        func: Callable[[Any], Any],
        trigger: str = "interval",
        **trigger_args: Any,
    ) -> None: ...

    def add_service(self, name: str, starter: Callable[[Any], Callable[[], None]]) -> None: ...

    def csrf_exempt(self, view: Any) -> None: ...
