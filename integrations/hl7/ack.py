"""Acknowledgements (original mode): AA, AE with an ERR segment, AR.

Built by hand rather than with hl7apy because every inbound message needs one on the
hot path; the escaping is ``message.escape`` and a test validates the result with
hl7apy. MSA-2 echoes MSH-10. The Thai text for people goes in ERR-8 (user message);
MSA-3 and ERR-7 carry the English diagnostic for interface engineers.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import datetime

from integrations.hl7.message import (
    STANDARD,
    Delimiters,
    Hl7Message,
    escape,
    format_datetime,
    unescape,
)
from scheduling.clock import utcnow

# HL7 table 0357, message error condition codes.
HL7_ERROR_NAMES = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}

APPLICATION = "RADBOOK"


@dataclass(frozen=True)
class AckError:
    """Why a message was not accepted, for the ERR segment and the journal."""

    hl7_code: str  # table 0357
    text_en: str
    text_th: str
    location: str = ""  # ERL, e.g. "PID^1^3"
    app_code: str = ""  # RadBook's own stable code (DomainError.code)


@dataclass(frozen=True)
class AckContext:
    """The fields of the inbound MSH an answer needs, already re-escaped for ``|^~\\&``."""

    sending_application: str = ""  # MSH-3 as written (all components)
    sending_facility: str = ""  # MSH-4
    receiving_application: str = ""  # MSH-5
    receiving_facility: str = ""  # MSH-6
    trigger_event: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5.1"
    msh18: str = ""

    @classmethod
    def from_message(cls, msg: Hl7Message, msh18: str = "") -> AckContext:
        msh, d = msg.msh, msg.delimiters
        return cls(
            sending_application=_reescape(msh.raw(3), d),
            sending_facility=_reescape(msh.raw(4), d),
            receiving_application=_reescape(msh.raw(5), d),
            receiving_facility=_reescape(msh.raw(6), d),
            trigger_event=msg.trigger_event,
            control_id=msg.control_id,
            processing_id=msg.processing_id,
            version=msg.version or "2.5.1",
            msh18=msh18,
        )

    @classmethod
    def from_msh_bytes(cls, fields: list[bytes]) -> AckContext:
        """Best effort from a message we could not parse (MSH read as bytes)."""
        text = [f.decode("latin-1") for f in fields]
        enc = text[2] if len(text) > 2 and len(text[2]) >= 4 else "^~\\&"
        d = Delimiters(text[1] or "|", enc[0], enc[1], enc[2], enc[3])

        def get(n: int) -> str:
            return text[n] if n < len(text) else ""

        message_type = get(9).split(d.component)
        return cls(
            sending_application=_reescape(get(3), d),
            sending_facility=_reescape(get(4), d),
            receiving_application=_reescape(get(5), d),
            receiving_facility=_reescape(get(6), d),
            trigger_event=message_type[1].strip() if len(message_type) > 1 else "",
            control_id=unescape(get(10), d).strip(),
            processing_id=unescape(get(11), d).strip()[:3] or "P",
            version=unescape(get(12).split(d.component)[0], d).strip() or "2.5.1",
        )


def _reescape(raw: str, source: Delimiters) -> str:
    """A field written with the sender's delimiters, rewritten with the standard ones."""
    if not raw:
        return ""
    if source == STANDARD:
        return raw.split(source.repetition)[0]
    first = raw.split(source.repetition)[0]
    return STANDARD.component.join(
        STANDARD.subcomponent.join(
            escape(unescape(sub, source)) for sub in component.split(source.subcomponent)
        )
        for component in first.split(source.component)
    )


_counter = itertools.count(1)
_PREFIX = f"{os.getpid() % 10000:04d}"


def new_control_id() -> str:
    """Unique enough for our own MSH-10 (20 characters at most, per the standard)."""
    return f"R{int(utcnow().timestamp()):010d}{_PREFIX}{next(_counter) % 100000:05d}"


def build_ack(
    ctx: AckContext,
    code: str,
    now: datetime,
    *,
    error: AckError | None = None,
    timezone: str = "Asia/Bangkok",
) -> str:
    """The ACK text (segments joined by CR, no MLLP framing)."""
    version = ctx.version or "2.5.1"
    message_type = f"ACK^{escape(ctx.trigger_event)}^ACK" if ctx.trigger_event else "ACK"
    msh = [
        "MSH",
        "^~\\&",
        APPLICATION,
        ctx.receiving_facility,
        ctx.sending_application,
        ctx.sending_facility,
        format_datetime(now, timezone),
        "",
        message_type,
        new_control_id(),
        escape(ctx.processing_id) or "P",
        escape(version),
    ]
    if ctx.msh18:
        msh += ["", "", "", "", "", escape(ctx.msh18)]
    segments = ["|".join(msh)]
    text = ""
    if error is not None:
        # Before v2.5 the ERR segment has no user message, so MSA-3 carries the Thai.
        text = escape((error.text_th if _older_than_25(version) else error.text_en)[:80])
    segments.append("|".join(["MSA", code, escape(ctx.control_id), text]).rstrip("|"))
    if error is not None:
        segments.append(_err_segment(error, version))
    return "\r".join(segments) + "\r"


def _err_segment(error: AckError, version: str) -> str:
    name = HL7_ERROR_NAMES.get(error.hl7_code, "Application internal error")
    hl7_code = f"{error.hl7_code}^{escape(name)}^HL70357"
    location = error.location or ""
    if _older_than_25(version):
        # v2.3.1/2.4: ERR-1 only (segment^sequence^field^code&text&table).
        loc = location.split("^") + ["", "", ""]
        err1 = f"{loc[0]}^{loc[1]}^{loc[2]}^{error.hl7_code}&{escape(name)}&HL70357"
        return f"ERR|{err1}"
    app_code = f"{escape(error.app_code)}^^RADBOOK" if error.app_code else ""
    return "|".join(
        [
            "ERR",
            "",
            location,
            hl7_code,
            "E",
            app_code,
            "",
            escape(error.text_en),
            escape(error.text_th),
        ]
    )


def _older_than_25(version: str) -> bool:
    try:
        parts = [int(p) for p in version.split(".")[:2]]
    except ValueError:
        return False
    return tuple(parts) < (2, 5)
