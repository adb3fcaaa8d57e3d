"""Thai on the wire: Specific Character Set and Person Name per scanner.

Three kinds of scanner (``Device.charset``):

* ``ISO_IR 192`` (UTF-8): the romanised name in the alphabetic component group and
  the Thai name in the ideographic group, ``Thongdi^Somsri=ทองดี^สมศรี`` — the
  layout PS3.5 Annex J shows for names in two scripts.
* ``ISO_IR 166`` (TIS-620): the same two groups, the Thai one encoded as TIS 620-2533.
  pydicom encodes ``ISO_IR 166`` with Python's ``iso8859_11`` codec, which is TIS-620
  plus NBSP at 0xA0; DCMTK converts it with iconv/ICU "TIS-620". A test decodes what
  DCMTK's ``findscu`` receives to check the two agree.
* ``ISO_IR 6`` (ASCII): romanised only, for scanners that cannot show Thai.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from scheduling.models import DicomCharset

# What goes in (0008,0005); ASCII is the default repertoire and is sent as no value.
SPECIFIC_CHARACTER_SET: dict[DicomCharset, str] = {
    DicomCharset.UTF8: "ISO_IR 192",
    DicomCharset.TIS620: "ISO_IR 166",
    DicomCharset.ASCII: "",
}

# PN component groups are at most 64 characters each (PS3.5 table 6.2-1).
PN_GROUP_MAX = 64


def _component(value: str | None) -> str:
    # "^" and "=" are PN delimiters and "\" separates values: never let a name carry them.
    return (value or "").replace("^", " ").replace("=", " ").replace("\\", " ").strip()


def _group(family: str | None, given: str | None, prefix: str | None = None) -> str:
    parts = [_component(family), _component(given), "", _component(prefix)]
    return "^".join(parts).rstrip("^")[:PN_GROUP_MAX]


def ascii_only(text: str | None) -> str:
    """Latin text folded to ASCII (a staff-typed romanisation may carry accents)."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return folded


@lru_cache(maxsize=4096)
def romanised(text: str) -> str:
    """Romanise free Thai text (e.g. a requesting clinician's name) for ASCII scanners."""
    if text.isascii():
        return text
    from scheduling.patients import romanise_thai

    return ascii_only(romanise_thai(text))


def person_name(
    charset: DicomCharset,
    *,
    family_en: str | None,
    given_en: str | None,
    family_th: str | None,
    given_th: str | None,
    prefix_en: str | None = None,
    prefix_th: str | None = None,
) -> str:
    """The PN value for a scanner with ``charset``."""
    alphabetic = _group(ascii_only(family_en), ascii_only(given_en), ascii_only(prefix_en))
    if charset is DicomCharset.ASCII:
        return alphabetic
    thai = _group(family_th, given_th, prefix_th)
    if not thai:
        return alphabetic
    return f"{alphabetic}={thai}"


def free_text(charset: DicomCharset, thai: str | None, english: str | None = None) -> str:
    """A text value: Thai where the scanner can show it, else English or a romanisation."""
    if charset is DicomCharset.ASCII:
        if english:
            return ascii_only(english)
        return romanised(thai or "")
    return thai or english or ""
