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


# The first DIRECT_LIMIT responses are written straight to the socket: queueing them for
# pynetdicom's DUL thread costs a thread hand-over and a PDU object per response (about
# half the time of a typical worklist query). Later ones go through the DUL queue with
# back-pressure, never more than QUEUE_HIGH PDUs ahead of the network: a large answer
# must leave room for a C-CANCEL to stop it (and the DUL reads nothing while it still
# has PDUs to send).
DIRECT_LIMIT = 64
QUEUE_HIGH, QUEUE_LOW = 32, 8
_WAIT = 0.0002
P_DATA_TF = b"\x04\x00"


def pdu_bytes(pdvs: list[tuple[int, bytes]]) -> bytes:
    """A P-DATA-TF PDU (PS3.8 9.3.5) from (context ID, control header + fragment) PDVs."""
    items = b"".join(struct.pack(">IB", len(data) + 1, cx) + data for cx, data in pdvs)
    return P_DATA_TF + struct.pack(">I", len(items)) + items


class PendingSender:
    """Sends the pending responses of one C-FIND request."""

    def __init__(self, event: evt.Event):
        assoc = event.assoc
        self._assoc = assoc
        self._dul = assoc.dul
        self._context_id = event.context.context_id
        self._max_pdu = assoc.dimse.maximum_pdu_size or 0  # the peer's; 0 = no limit
        self._command = pending_command(event.request.AffectedSOPClassUID, event.request.MessageID)
        # Writing beside the DUL is only safe while it has nothing of its own to send.
        raw = getattr(self._dul.socket, "socket", None)
        self._socket = raw if raw is not None and self._dul.to_provider_queue.empty() else None
        self._direct_left = DIRECT_LIMIT

    def send(self, identifier: bytes) -> bool:
        """Send or queue one pending response; False once the association has gone."""
        pdus = self._pdus(identifier)
        if self._socket is not None and self._direct_left > 0:
            self._direct_left -= 1
            try:
                self._socket.sendall(b"".join(pdu_bytes(pdvs) for pdvs in pdus))
            except OSError:
                return False
            return self._assoc.is_established
        for pdvs in pdus:
            pdata = P_DATA()
            pdata.presentation_data_value_list = [[cx, data] for cx, data in pdvs]
            self._dul.send_pdu(pdata)
        queue = self._dul.to_provider_queue
        if queue.qsize() > QUEUE_HIGH:
            while queue.qsize() > QUEUE_LOW:
                if not self._assoc.is_established:
                    return False
                time.sleep(_WAIT)
        return self._assoc.is_established

    def _pdus(self, identifier: bytes) -> list[list[tuple[int, bytes]]]:
        """One PDU with the command and the data set, or fragments to the peer's limit."""
        cx = self._context_id
        fits = (
            self._max_pdu == 0
            or 2 * PDV_OVERHEAD + len(self._command) + len(identifier) <= self._max_pdu
        )
        if fits:
            return [[(cx, COMMAND_LAST + self._command), (cx, DATA_LAST + identifier)]]
        size = self._max_pdu - PDV_OVERHEAD
        pdus = []
        for stream, more, last in (
            (self._command, COMMAND_MORE, COMMAND_LAST),
            (identifier, DATA_MORE, DATA_LAST),
        ):
            parts = _fragments(stream, size)
            for i, part in enumerate(parts):
                pdus.append([(cx, (last if i == len(parts) - 1 else more) + part)])
        return pdus
