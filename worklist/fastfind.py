"""C-FIND pending responses sent as pre-encoded P-DATA, straight to the DUL.

pynetdicom builds every response's command set as a pydicom Dataset, encodes it
twice (once for the group length) and writes the identifier with pydicom's
general writer: about 80 % of the CPU of a 20-match worklist query went there, far
over the 5 ms the worklist must answer in. A pending C-FIND-RSP command set is the
same six elements every time, so it is encoded once per query here; the identifier
comes pre-encoded from ``worklist.encoding``; both go to the peer as one P-DATA-TF
with two PDVs (command, then data set), or fragmented to the peer's maximum PDU
length when they do not fit. The final response (success, cancel, failure) still
goes through pynetdicom.

Only little-endian transfer syntaxes take this path; ``DICOM_FAST_FIND=0`` turns it
off (the benchmark reports both).
"""

from __future__ import annotations

import struct
import time

from pynetdicom import evt
from pynetdicom.pdu_primitives import P_DATA

C_FIND_RSP = 0x8020
PENDING = 0xFF00
DATA_SET_PRESENT = 0x0001  # anything but 0x0101 (PS3.7 E.1)

# PDV message control header (PS3.8 E.2): bit 0 command/data, bit 1 last fragment.
DATA_MORE, COMMAND_MORE, DATA_LAST, COMMAND_LAST = b"\x00", b"\x01", b"\x02", b"\x03"
PDV_OVERHEAD = 6  # item length (4), presentation context ID (1), control header (1)


def _implicit(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def pending_command(sop_class_uid: str, message_id: int) -> bytes:
    """A C-FIND-RSP command set with status Pending (always implicit VR little endian)."""
    uid = str(sop_class_uid).encode("ascii")
    if len(uid) % 2:
        uid += b"\x00"
    body = (
        _implicit(0x00000002, uid)
        + _implicit(0x00000100, struct.pack("<H", C_FIND_RSP))
        + _implicit(0x00000120, struct.pack("<H", message_id))
        + _implicit(0x00000800, struct.pack("<H", DATA_SET_PRESENT))
        + _implicit(0x00000900, struct.pack("<H", PENDING))
    )
    return _implicit(0x00000000, struct.pack("<I", len(body))) + body


def _fragments(data: bytes, size: int) -> list[bytes]:
    if size <= 0:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


# Back-pressure: never run more than HIGH PDUs ahead of the network. Queueing a large
# answer all at once would leave nothing for a C-CANCEL to stop (and pynetdicom's DUL
# reads nothing while it has PDUs to send).
QUEUE_HIGH, QUEUE_LOW = 32, 8
_WAIT = 0.0002


class PendingSender:
    """Sends the pending responses of one C-FIND request."""

    def __init__(self, event: evt.Event):
        assoc = event.assoc
        self._assoc = assoc
        self._dul = assoc.dul
        self._context_id = event.context.context_id
        self._max_pdu = assoc.dimse.maximum_pdu_size or 0  # the peer's; 0 = no limit
        self._command = pending_command(event.request.AffectedSOPClassUID, event.request.MessageID)

    def send(self, identifier: bytes) -> bool:
        """Queue one pending response; False once the association has gone."""
        self._put(identifier)
        queue = self._dul.to_provider_queue
        if queue.qsize() > QUEUE_HIGH:
            while queue.qsize() > QUEUE_LOW:
                if not self._assoc.is_established:
                    return False
                time.sleep(_WAIT)
        return self._assoc.is_established

    def _put(self, identifier: bytes) -> None:
        cx = self._context_id
        fits = (
            self._max_pdu == 0
            or 2 * PDV_OVERHEAD + len(self._command) + len(identifier) <= self._max_pdu
        )
        if fits:
            pdata = P_DATA()
            pdata.presentation_data_value_list = [
                [cx, COMMAND_LAST + self._command],
                [cx, DATA_LAST + identifier],
            ]
            self._dul.send_pdu(pdata)
            return
        size = self._max_pdu - PDV_OVERHEAD
        for stream, more, last in (
            (self._command, COMMAND_MORE, COMMAND_LAST),
            (identifier, DATA_MORE, DATA_LAST),
        ):
            parts = _fragments(stream, size)
            for i, part in enumerate(parts):
                pdata = P_DATA()
                pdata.presentation_data_value_list = [
                    [cx, (last if i == len(parts) - 1 else more) + part]
                ]
                self._dul.send_pdu(pdata)
