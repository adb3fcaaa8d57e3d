"""Reading HL7 v2 (ER7) text on the hot path: character set, segments, fields, escapes.

hl7apy's full parse manages about 150 messages/s and the ``hl7`` package's about
4,000; the listener must do more than 1,000 a second *including* the database, so
inbound messages are split here with plain ``str.split`` and read by position,
lazily. hl7apy is kept for building outbound messages (``outbound.py``), where
speed does not matter and validation does.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo


class Hl7ParseError(ValueError):
    """The text is not an HL7 v2 message we can read (answered with AR)."""

    def __init__(self, message: str, *, code: str = "100", location: str = "MSH"):
        super().__init__(message)
        self.code = code  # HL7 table 0357
        self.location = location  # ERR-2 error location, "SEG^1^FIELD"


# --- character sets (MSH-18) ------------------------------------------------------------------

# MSH-18 spellings seen in the field, normalised (upper case, no spaces, "-", "_" or "/"),
# to a Python codec. Table 0211 has no Thai entry: Thai senders write TIS-620 in several
# ways, and dcm4che(e) reads Thai from "CNS 11643-1992". cp874 is TIS-620 plus the
# Windows extras (no-break space, curly quotes) that Thai Windows HIS really send.
_CHARSETS: dict[str, str] = {
    "": "",  # not stated: UTF-8 if it decodes, else TIS-620 (see decode_message)
    "ASCII": "ascii",
    "ISOIR6": "ascii",
    "88591": "latin-1",
    "UNICODEUTF8": "utf-8",
    "UTF8": "utf-8",
    "ISOIR192": "utf-8",
    "TIS620": "cp874",
    "TIS6202533": "cp874",
    "ISOIR166": "cp874",
    "885911": "cp874",
    "ISO885911": "cp874",
    "CNS116431992": "cp874",
    "WINDOWS874": "cp874",
    "CP874": "cp874",
}


def _normalise_charset_name(name: str) -> str:
    return re.sub(r"[\s\-_/]", "", name).upper()


def codec_for(msh18: str) -> str | None:
    """The Python codec for an MSH-18 value; None when we do not know it."""
    return _CHARSETS.get(_normalise_charset_name(msh18))


def peek_msh(data: bytes) -> list[bytes]:
    """The MSH fields as bytes, numbered like the standard (index n = MSH-n).

    MSH-1 to MSH-18 are ASCII by rule, so they can be read before the character set is
    known. Raises Hl7ParseError when there is no MSH segment to read.
    """
    start = data.find(b"MSH")
    if start < 0 or len(data) < start + 8 or data[:start].strip(b"\r\n\t ") != b"":
        raise Hl7ParseError("the message does not start with an MSH segment")
    separator = data[start + 3 : start + 4]
    end = len(data)
    for terminator in (b"\r", b"\n"):
        pos = data.find(terminator, start)
        if 0 <= pos < end:
            end = pos
    fields = data[start:end].split(separator)
    # fields[0] is "MSH", fields[1] the encoding characters (MSH-2).
    return [b"MSH", separator, *fields[1:]]


def decode_message(data: bytes) -> tuple[str, str, str]:
    """Return ``(text, codec, msh18)`` for the raw bytes of one message.

    Raises Hl7ParseError (code 203/103) for a character set we cannot read.
    """
    msh = peek_msh(data)
    msh18 = ""
    if len(msh) > 18:
        msh18 = msh[18].decode("ascii", "replace")
        repetition = msh[2][1:2].decode("ascii", "replace") if len(msh[2]) > 1 else "~"
        msh18 = msh18.split(repetition)[0].strip()
    codec = codec_for(msh18)
    if codec is None:
        raise Hl7ParseError(
            f"unsupported character set in MSH-18: {msh18!r}", code="103", location="MSH^1^18"
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        # Not text in any character set HL7 allows (and PostgreSQL cannot store it).
        raise Hl7ParseError(f"NUL byte at byte {nul}", code="102", location="MSH")
    if codec == "":
        # Undeclared: HL7 says ASCII, but Thai HIS send Thai without saying which encoding.
        # Valid UTF-8 is almost never valid-looking TIS-620 text by accident, so try it first.
        try:
            return data.decode("utf-8"), "utf-8", msh18
        except UnicodeDecodeError:
            return data.decode("cp874", "replace"), "cp874", msh18
    try:
        return data.decode(codec), codec, msh18
    except UnicodeDecodeError as exc:
        raise Hl7ParseError(
            f"the bytes are not valid {msh18} ({exc.reason} at byte {exc.start})",
            code="102",
            location="MSH^1^18",
        ) from exc


def encode_for(text: str, codec: str) -> bytes:
    """Encode an answer in the sender's character set; what it cannot hold becomes '?'."""
    codecs.lookup(codec or "utf-8")
    return text.encode(codec or "utf-8", "replace")


# --- delimiters and escapes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


STANDARD = Delimiters()

_ESCAPE_RE_CACHE: dict[Delimiters, re.Pattern[str]] = {}


def escape(value: str, delimiters: Delimiters = STANDARD) -> str:
    """Escape text for one component (HL7 v2 chapter 2.7); line breaks become ``\\.br\\``."""
    if value is None:
        return ""
    d = delimiters
    e = d.escape
    out = value.replace(e, f"{e}E{e}")
    for char, code in (
        (d.field, "F"),
        (d.component, "S"),
        (d.subcomponent, "T"),
        (d.repetition, "R"),
    ):
        out = out.replace(char, f"{e}{code}{e}")
    if "\r" in out or "\n" in out:
        out = out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", f"{e}.br{e}")
    return out


def unescape(value: str, delimiters: Delimiters = STANDARD) -> str:
    """Undo HL7 escapes; formatting (``\\H\\``, ``\\N\\``) is dropped, ``\\.br\\`` is a newline."""
    e = delimiters.escape
    if e not in value:
        return value
    pattern = _ESCAPE_RE_CACHE.get(delimiters)
    if pattern is None:
        pattern = re.compile(re.escape(e) + r"([^" + re.escape(e) + r"]*)" + re.escape(e))
        _ESCAPE_RE_CACHE[delimiters] = pattern
    d = delimiters
    simple = {
        "F": d.field,
        "S": d.component,
        "T": d.subcomponent,
        "R": d.repetition,
        "E": d.escape,
        ".br": "\n",
        "H": "",
        "N": "",
    }

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in simple:
            return simple[code]
        if code.startswith("X") and len(code) > 1:
            try:
                return bytes.fromhex(code[1:]).decode("utf-8", "replace")
            except ValueError:
                return match.group(0)
        if code.startswith(".sp") or code.startswith(".in") or code.startswith(".ti"):
            return "\n" if code.startswith(".sp") else ""
        return match.group(0)

    return pattern.sub(replace, value)


# --- messages, segments, fields ---------------------------------------------------------------


class Segment:
    """One segment; ``fields[n]`` is SEG-n (for MSH too: MSH-1 is the field separator)."""

    __slots__ = ("name", "fields", "delimiters")

    def __init__(self, fields: list[str], delimiters: Delimiters):
        self.name = fields[0]
        self.fields = fields
        self.delimiters = delimiters

    def raw(self, n: int) -> str:
        """Field n as written (escaped, with its repetitions and components)."""
        return self.fields[n] if n < len(self.fields) else ""

    def repetitions(self, n: int) -> list[str]:
        raw = self.raw(n)
        if not raw:
            return []
        if self.name == "MSH" and n == 2:
            return [raw]
        return raw.split(self.delimiters.repetition)

    def get(self, n: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str:
        """One value, unescaped and stripped; "" when absent. ``""`` (HL7 null) reads as ""."""
        reps = self.repetitions(n)
        if repetition >= len(reps):
            return ""
        return component_of(reps[repetition], component, subcomponent, self.delimiters)

    def components(self, n: int, repetition: int = 0) -> list[str]:
        reps = self.repetitions(n)
        if repetition >= len(reps):
            return []
        return [
            _clean(unescape(c.split(self.delimiters.subcomponent)[0], self.delimiters))
            for c in reps[repetition].split(self.delimiters.component)
        ]

    def __repr__(self) -> str:
        return f"<Segment {self.name}>"


def _clean(value: str) -> str:
    value = value.strip()
    return "" if value == '""' else value


def component_of(
    raw: str, component: int = 1, subcomponent: int = 1, delimiters: Delimiters = STANDARD
) -> str:
    parts = raw.split(delimiters.component)
    if component > len(parts):
        return ""
    subs = parts[component - 1].split(delimiters.subcomponent)
    if subcomponent > len(subs):
        return ""
    return _clean(unescape(subs[subcomponent - 1], delimiters))


class Hl7Message:
    """A parsed message: segments in order, each split into fields; values read on demand."""

    __slots__ = ("text", "delimiters", "segments", "_by_name", "msh")

    def __init__(self, text: str):
        self.text = text
        body = text.lstrip("\r\n\t ")
        if not body.startswith("MSH") or len(body) < 8:
            raise Hl7ParseError("the message does not start with an MSH segment")
        field_sep = body[3]
        encoding = body[4:8]
        if encoding[3] == field_sep:  # only three encoding characters (no subcomponent)
            encoding = encoding[:3] + "&"
        if field_sep.isalnum() or len(set(encoding)) < 4 or field_sep in encoding:
            raise Hl7ParseError(
                "MSH-1/MSH-2 do not define usable delimiters", code="102", location="MSH^1^2"
            )
        self.delimiters = d = Delimiters(
            field_sep, encoding[0], encoding[1], encoding[2], encoding[3]
        )
        if "\n" in body:
            body = body.replace("\r\n", "\r").replace("\n", "\r")
        self.segments: list[Segment] = []
        self._by_name: dict[str, list[Segment]] = {}
        for line in body.split("\r"):
            if not line.strip():
                continue
            parts = line.split(d.field)
            if parts[0] == "MSH":
                parts = ["MSH", d.field, *parts[1:]]
            name = parts[0].strip()
            if len(name) != 3 or not name.isalnum():
                raise Hl7ParseError(
                    f"not a segment: {line[:20]!r}", code="100", location=name[:3] or "?"
                )
            parts[0] = name
            segment = Segment(parts, d)
            self.segments.append(segment)
            self._by_name.setdefault(name, []).append(segment)
        self.msh = self.segments[0]

    def segment(self, name: str) -> Segment | None:
        found = self._by_name.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[Segment]:
        return self._by_name.get(name, [])

    def groups(self, head: str, members: tuple[str, ...]) -> list[list[Segment]]:
        """Split the message into groups that each start at a ``head`` segment
        (e.g. one ORDER group per ORC) and hold the member segments that follow it."""
        out: list[list[Segment]] = []
        for segment in self.segments:
            if segment.name == head:
                out.append([segment])
            elif out and segment.name in members:
                out[-1].append(segment)
        return out

    # MSH shortcuts
    @property
    def sending_application(self) -> str:
        return _hd(self.msh, 3)

    @property
    def sending_facility(self) -> str:
        return _hd(self.msh, 4)

    @property
    def receiving_facility(self) -> str:
        return _hd(self.msh, 6)

    @property
    def message_code(self) -> str:
        return self.msh.get(9, 1).upper()

    @property
    def trigger_event(self) -> str:
        return self.msh.get(9, 2).upper()

    @property
    def message_type(self) -> str:
        code, trigger = self.message_code, self.trigger_event
        return f"{code}^{trigger}" if trigger else code

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def processing_id(self) -> str:
        return self.msh.get(11) or "P"

    @property
    def version(self) -> str:
        return self.msh.get(12)


def _hd(segment: Segment, n: int) -> str:
    """A hierarchic designator (HD): the namespace ID, else the universal ID."""
    return segment.get(n, 1) or segment.get(n, 2)


# --- data types -------------------------------------------------------------------------------

_TS_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{4})?$")


def _be_to_ce(year: int) -> int:
    # Thai systems sometimes send Buddhist-Era years (พ.ศ. = ค.ศ. + 543).
    return year - 543 if year > 2400 else year


def parse_date(value: str) -> date | None:
    """An HL7 DT/DTM to a date (Buddhist-Era years accepted); None when empty or invalid."""
    match = _TS_RE.match(value.strip()) if value else None
    if not match or match.group(2) is None or match.group(3) is None:
        return None
    try:
        return date(_be_to_ce(int(match.group(1))), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_datetime(value: str, default_tz: str = "Asia/Bangkok") -> datetime | None:
    """An HL7 DTM to an aware datetime; without an offset it is local time in ``default_tz``."""
    match = _TS_RE.match(value.strip()) if value else None
    if not match or match.group(2) is None or match.group(3) is None:
        return None
    year = _be_to_ce(int(match.group(1)))
    parts = [int(g) if g else 0 for g in match.groups()[1:6]]
    try:
        naive = datetime(year, parts[0], parts[1], parts[2], parts[3], parts[4])
    except ValueError:
        return None
    offset = match.group(8)
    if offset:
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        return naive.replace(tzinfo=tz).astimezone(UTC)
    return naive.replace(tzinfo=ZoneInfo(default_tz)).astimezone(UTC)


def format_datetime(value: datetime, tz: str = "Asia/Bangkok") -> str:
    """An aware datetime as HL7 DTM in local time with its offset (``20261121090000+0700``)."""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y%m%d%H%M%S%z")
