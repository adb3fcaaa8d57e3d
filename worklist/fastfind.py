"""C-FIND pending responses sent as pre-encoded P-DATA, straight to the DUL.

pynetdicom builds every response's command set as a pydicom Dataset, encodes it
twice (once for the group length) and writes the identifier with pydicom's
general writer: about 80 % of the CPU of a 20-match worklist query went there, far
over the 5 ms the worklist must answer in. A pending C-FIND-RSP command set is the
same six elements every time, so it is encoded once per query here; the identifier
comes pre-encoded from ``worklist.encoding``; both go to the peer as one P-DATA-TF
with two PDVs (command, then data set), or fragmented to the peer's maximum PDU
length when they do not fit. The final Success response is written the same way
(``FastFinalDIMSE``, which RadBook's server gives every association); cancel and
failure responses still go through pynetdicom.

Only little-endian transfer syntaxes take this path; ``DICOM_FAST_FIND=0`` turns it
off (the benchmark reports both).
"""

from __future__ import annotations

import struct
import time

from pynetdicom import evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.pdu_primitives import P_DATA

C_FIND_RSP = 0x8020
PENDING = 0xFF00
SUCCESS = 0x0000
DATA_SET_PRESENT = 0x0001  # anything but 0x0101 (PS3.7 E.1)
NO_DATA_SET = 0x0101

# PDV message control header (PS3.8 E.2): bit 0 command/data, bit 1 last fragment.
DATA_MORE, COMMAND_MORE, DATA_LAST, COMMAND_LAST = b"\x00", b"\x01", b"\x02", b"\x03"
PDV_OVERHEAD = 6  # item length (4), presentation context ID (1), control header (1)


def _implicit(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def response_command(
    sop_class_uid: str, message_id: int, status: int = PENDING, data_set: int = DATA_SET_PRESENT
) -> bytes:
    """A C-FIND-RSP command set (always implicit VR little endian); by default Pending,
    with a data set."""
    uid = str(sop_class_uid).encode("ascii")
    if len(uid) % 2:
        uid += b"\x00"
    body = (
        _implicit(0x00000002, uid)
        + _implicit(0x00000100, struct.pack("<H", C_FIND_RSP))
        + _implicit(0x00000120, struct.pack("<H", message_id))
        + _implicit(0x00000800, struct.pack("<H", data_set))
        + _implicit(0x00000900, struct.pack("<H", status))
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


def message_pdus(
    cx: int, max_pdu: int, command: bytes, data_set: bytes | None = None
) -> list[list[tuple[int, bytes]]]:
    """The PDVs of one DIMSE message, per PDU: one PDU with the command (and the data
    set), or fragments to the peer's maximum PDU length (0: no limit)."""
    streams = [(command, COMMAND_MORE, COMMAND_LAST)]
    if data_set is not None:
        streams.append((data_set, DATA_MORE, DATA_LAST))
    if max_pdu == 0 or sum(PDV_OVERHEAD + len(data) for data, _, _ in streams) <= max_pdu:
        return [[(cx, last + data) for data, _, last in streams]]
    size = max_pdu - PDV_OVERHEAD
    pdus = []
    for data, more, last in streams:
        parts = _fragments(data, size)
        for i, part in enumerate(parts):
            pdus.append([(cx, (last if i == len(parts) - 1 else more) + part)])
    return pdus


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
        self._command = response_command(event.request.AffectedSOPClassUID, event.request.MessageID)
        # Writing beside the DUL is only safe while it has nothing of its own to send.
        raw = getattr(self._dul.socket, "socket", None)
        self._socket = raw if raw is not None and self._dul.to_provider_queue.empty() else None
        self._direct_left = DIRECT_LIMIT
        # True while every response went straight to the socket: the final one may then
        # follow the same way (FastFinalDIMSE.final_direct), else it queues behind them.
        self.all_direct = self._socket is not None

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
        self.all_direct = False
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
        return message_pdus(self._context_id, self._max_pdu, self._command, identifier)


class FastFinalDIMSE(DIMSEServiceProvider):
    """pynetdicom's DIMSE provider, but the final C-FIND-RSP with status Success (no
    identifier, no comment) is written from ``response_command`` like the pending ones:
    pynetdicom built it as a pydicom Dataset and encoded it twice (for the group
    length), about a third of a worklist query's CPU. Straight to the socket when the
    DUL has nothing queued (after the pending responses, in order), else queued to it.
    Any other message, or one with an EVT_DIMSE_SENT handler bound, goes through
    pynetdicom."""

    # Set by the C-FIND handler when all its pending responses went straight to the
    # socket (PendingSender.all_direct): only then may the final one overtake the DUL's
    # queue, which the DUL may have emptied without having sent its last PDU yet.
    final_direct = False

    def send_msg(self, primitive, context_id: int) -> None:
        if not (
            type(primitive) is C_FIND
            and primitive.MessageIDBeingRespondedTo is not None
            and primitive.Status == SUCCESS
            and primitive.Identifier is None
            and primitive.ErrorComment is None
            and not self.assoc.get_handlers(evt.EVT_DIMSE_SENT)
        ):
            super().send_msg(primitive, context_id)
            return
        command = response_command(
            primitive.AffectedSOPClassUID,
            primitive.MessageIDBeingRespondedTo,
            SUCCESS,
            NO_DATA_SET,
        )
        pdus = message_pdus(context_id, self.maximum_pdu_size or 0, command)
        dul = self.dul
        direct, self.final_direct = self.final_direct, False
        raw = getattr(dul.socket, "socket", None)
        if direct and raw is not None and dul.to_provider_queue.empty():
            try:
                raw.sendall(b"".join(pdu_bytes(pdvs) for pdvs in pdus))
                return
            except OSError:
                return  # the peer has gone; the DUL notices on its next read
        for pdvs in pdus:
            pdata = P_DATA()
            pdata.presentation_data_value_list = [[cx, data] for cx, data in pdvs]
            dul.send_pdu(pdata)
