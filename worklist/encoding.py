"""Little-endian DICOM element encoding for worklist answers, without pydicom's writer.

A worklist answer is a few dozen short text elements, and pydicom's general
writer (a DataElement per value, validation, per-element buffers and character
set lookups) costs more than the database query. The answer is therefore encoded
here, element by element, into the bytes pydicom would write, and handed to
pynetdicom as a Dataset of *raw* elements whose original encoding matches the
transfer syntax — pydicom then copies the bytes through (its documented fast path,
``Dataset.set_original_encoding``). Tests decode the bytes with pydicom and
compare them with pydicom's own encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from pydicom.charset import convert_encodings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from scheduling.models import DicomCharset

# VRs whose text goes through the Specific Character Set (PS3.5 6.1.2.3).
CHARSET_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
# Explicit VR with a reserved 2 bytes and a 32-bit length (PS3.5 7.1.2).
LONG_LENGTH_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
CODEC = {DicomCharset.UTF8: "utf-8", DicomCharset.TIS620: "iso8859_11", DicomCharset.ASCII: "ascii"}
PYDICOM_ENCODINGS = {
    DicomCharset.UTF8: convert_encodings(["ISO_IR 192"]),
    DicomCharset.TIS620: convert_encodings(["ISO_IR 166"]),
    DicomCharset.ASCII: convert_encodings(["ISO_IR 6"]),
}

_ITEM = struct.Struct("<HHI")
US_LENGTH = struct.Struct("<H")
UL_LENGTH = struct.Struct("<I")


def header(tag: int, vr: str, implicit: bool) -> tuple[bytes, struct.Struct]:
    """An element's bytes before its length, and the length's format."""
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        return struct.pack("<HH", group, element), UL_LENGTH
    if vr in LONG_LENGTH_VRS:
        return struct.pack("<HH2sH", group, element, vr.encode(), 0), UL_LENGTH
    return struct.pack("<HH2s", group, element, vr.encode()), US_LENGTH


def value_bytes(vr: str, value: object, charset: DicomCharset) -> bytes:
    """The padded value field of one element (not SQ)."""
    if value is None or value == "" or value == []:
        return b""
    if vr == "US":
        values = value if isinstance(value, list | tuple) else [value]
        return b"".join(struct.pack("<H", int(v)) for v in values)
    if isinstance(value, list | tuple):
        value = "\\".join(str(v) for v in value)
    text = str(value)
    if vr in CHARSET_VRS:
        data = text.encode(CODEC[charset], "replace")
    else:
        data = text.encode("ascii", "replace")
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return data


def element_bytes(tag: int, vr: str, payload: bytes, implicit: bool) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        return struct.pack("<HHI", group, element, len(payload)) + payload
    if vr in LONG_LENGTH_VRS:
        return struct.pack("<HH2sHI", group, element, vr.encode(), 0, len(payload)) + payload
    return struct.pack("<HH2sH", group, element, vr.encode(), len(payload)) + payload


def item_bytes(payload: bytes) -> bytes:
    """One sequence item of defined length."""
    return _ITEM.pack(0xFFFE, 0xE000, len(payload)) + payload


Element = tuple[int, str, object]  # (tag, VR, value); an SQ value is a list of item elements


def encode_elements(elements: Iterable[Element], charset: DicomCharset, implicit: bool) -> bytes:
    return b"".join(
        element_bytes(tag, vr, _payload(vr, value, charset, implicit), implicit)
        for tag, vr, value in elements
    )


def _payload(vr: str, value: object, charset: DicomCharset, implicit: bool) -> bytes:
    if vr == "SQ":
        items = value if isinstance(value, list) else []
        return b"".join(item_bytes(encode_elements(item, charset, implicit)) for item in items)
    return value_bytes(vr, value, charset)


def raw_dataset(elements: Sequence[Element], charset: DicomCharset, implicit: bool) -> Dataset:
    """A Dataset of raw elements that pydicom writes out byte for byte."""
    ds = Dataset()
    for tag, vr, value in elements:
        payload = _payload(vr, value, charset, implicit)
        ds[Tag(tag)] = RawDataElement(Tag(tag), vr, len(payload), payload, 0, implicit, True)
    ds.set_original_encoding(implicit, True, PYDICOM_ENCODINGS[charset])
    return ds
