"""The appointment slip's QR code: it opens the hospital's LINE Official Account with the
slip's one-time link code typed in (``integrations.line.linking``), so the patient can
link LINE and get the appointment and reminders there.

Drawn server-side with segno as inline SVG (no image request, nothing from the
internet, sharp at any print resolution).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from integrations.line.linking import CODE_PREFIX, code_for_appointment, link_url
from integrations.line.settings import setting
from scheduling.models import Appointment


@dataclass(frozen=True)
class SlipLink:
    url: str  # what the QR code encodes
    code: str  # the same code, typed by hand when the phone cannot scan (RB-7K3Q9X)
    official_account: str  # the LINE @id to add as a friend


def slip_link(appointment: Appointment, now: datetime) -> SlipLink:
    """The appointment's LINE link (an unused code is reused; a new one is committed)."""
    code = code_for_appointment(appointment, now)
    return SlipLink(
        url=link_url(code),
        code=f"{CODE_PREFIX}{code.code}",
        official_account=setting("LINE_OA_BASIC_ID") or "@radbook-demo",
    )


def qr_svg(data: str, *, title: str = "") -> str:
    """Inline SVG with a viewBox and no fixed size: CSS sizes it for screen and paper."""
    import segno  # on first use: only the slip draws a QR code (tests/app/test_startup.py)

    # Error level M survives a smudged or folded paper slip; border 4 is the spec's quiet zone.
    code = segno.make(data, error="m", micro=False)
    return code.svg_inline(
        border=4, omitsize=True, title=title or None, svgclass="qr", lineclass=None
    )
