"""The appointment slip's QR code: a link that lets the patient link LINE and open it.

Drawn server-side with segno as inline SVG (no image request, nothing from the
internet, sharp at any print resolution).
"""

from __future__ import annotations

from datetime import datetime

import segno
from flask import url_for

from app.models import Appointment
from app.timeutil import utcnow


def slip_link(appointment: Appointment, now: datetime | None = None) -> str:
    """The LINE linking URL when the LINE adapter is installed, else the appointment's page."""
    try:
        from integrations.line.linking import link_url_for_appointment
    except ModuleNotFoundError as exc:
        if exc.name not in ("integrations.line", "integrations.line.linking"):
            raise
        return url_for("main.request_detail", request_id=appointment.request_id, _external=True)
    return link_url_for_appointment(appointment, now or utcnow())


def qr_svg(data: str, *, title: str = "") -> str:
    """Inline SVG with a viewBox and no fixed size: CSS sizes it for screen and paper."""
    # Error level M survives a smudged or folded paper slip; border 4 is the spec's quiet zone.
    code = segno.make(data, error="m", micro=False)
    return code.svg_inline(
        border=4, omitsize=True, title=title or None, svgclass="qr", lineclass=None
    )
