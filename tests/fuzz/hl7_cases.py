"""Mutated HL7 v2 messages for fuzzing the MLLP listener, and a client that sends them.

``case(seed, i)`` is a pure function of its two numbers: a failure found at case 4711 of
seed 8 reproduces with ``benchmarks/hl7_fuzz.py --seed 8 --only 4711 --show``. Each case
starts from one of the valid messages the HL7 tests use (ADT^A04/A08/A40, ORM^O01,
OMI^O23, ORU^R01, a TIS-620 ADT) with a unique MSH-10 and placer order number, then
applies one to three mutations.

``send_cases`` speaks MLLP with a plain socket (the ``hl7`` package's client would
refuse half of these answers' encodings) and checks each answer: one ACK per message,
MSA-1 in AA/AE/AR, MSA-2 echoing MSH-10 where the message has a readable one. A message
whose bytes contain MLLP framing characters is followed by a sentinel message; all
answers up to the sentinel's must be ACKs (the stream re-synchronised).
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from integrations.hl7.mllp import DEFAULT_MAX_MESSAGE_BYTES, HEAD_BYTES
from scheduling.patients import national_id_check_digit

KUDRANG = "11008"
KOSUM = "11005"
MKH = "10707"

START, END = b"\x0b", b"\x1c\r"
CLEAN_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
PLACER = re.compile(rb"PF\d+-\d{6}")


def cid(n: int) -> str:
    stem = f"1{n % 40 + 1000:011d}"
    return stem + national_id_check_digit(stem)


def control_id(seed: int, i: int) -> str:
    return f"FZ{seed}-{i:06d}"


def placer(seed: int, i: int) -> str:
    return f"PF{seed}-{i:06d}"


def _msh(
    message_type: str,
    cid_: str,
    sender: str = KUDRANG,
    app: str = "HOSXP",
    charset: str = "UNICODE UTF-8",
) -> str:
    return (
        f"MSH|^~\\&|{app}|{sender}|RADBOOK|{MKH}|20261121090000||{message_type}|{cid_}"
        f"|P|2.5.1|||AL|NE|THA|{charset}"
    )


def _pid(n: int, hn: str | None = None) -> str:
    hn = hn or f"HN{n % 40:04d}"
    return (
        f"PID|1||{hn}^^^{KUDRANG}^MR~{cid(n)}^^^TH-CID^NI||ใจดี^สมชาย^^^นาย~JAIDEE^SOMCHAI"
        "^^^MR||19800115|M|||1 ถนนนครสวรรค์^^มหาสารคาม^^44000||0812345678"
    )


def seed_message(kind: str, seed: int, i: int, rng: random.Random) -> tuple[str, str]:
    """(text, codec) of a valid message of ``kind``."""
    c, n = control_id(seed, i), rng.randrange(1000)
    po = placer(seed, i)
    earlier = placer(seed, rng.randrange(i)) if i else po
    if kind in ("A04", "A08"):
        return "\r".join(
            [_msh(f"ADT^{kind}^ADT_A01", c), f"EVN|{kind}|20261121090000", _pid(n), "PV1|1|O"]
        ) + "\r", "utf-8"
    if kind == "A40":
        return "\r".join(
            [
                _msh("ADT^A40^ADT_A39", c),
                _pid(n, f"HN{rng.randrange(40):04d}"),
                f"MRG|HN{rng.randrange(40):04d}^^^{KUDRANG}^MR",
            ]
        ) + "\r", "utf-8"
    if kind == "TIS":
        return "\r".join(
            [
                _msh("ADT^A08^ADT_A01", c, charset="TIS-620"),
                "EVN|A08|20261121090000",
                _pid(n),
                "PV1|1|O",
            ]
        ) + "\r", "cp874"
    if kind in ("ORM", "OMI"):
        omi = kind == "OMI"
        lines = [
            _msh("OMI^O23^OMI_O23" if omi else "ORM^O01^ORM_O01", c),
            _pid(n),
            "PV1|1|O",
            f"ORC|NW|{po}^{KUDRANG}|||||{'' if omi else '^^^^^R'}|||||D001^รักษา^วิชัย^^^นพ.",
        ]
        if omi:
            lines.append("TQ1|1||||||||S")
        lines.append(
            f"OBR|1|{po}^{KUDRANG}||US-UPABD^อัลตราซาวด์^RADBOOK|||||||||"
            "ปวดท้องด้านขวาบน|||||||||||||||||R10.1^ปวดท้องส่วนบน^I10"
        )
        return "\r".join(lines) + "\r", "utf-8"
    if kind == "CANCEL":
        return "\r".join(
            [
                _msh("ORM^O01^ORM_O01", c),
                _pid(n),
                "PV1|1|O",
                f"ORC|CA|{earlier}^{KUDRANG}||||||||||||||^ผู้ป่วยขอยกเลิก",
                f"OBR|1|{earlier}^{KUDRANG}||US-UPABD^อัลตราซาวด์^RADBOOK",
            ]
        ) + "\r", "utf-8"
    if kind == "ORU":
        return "\r".join(
            [
                _msh("ORU^R01^ORU_R01", c, sender=MKH, app="RIS"),
                f"PID|1||HN0001^^^{KUDRANG}^MR~{cid(n)}^^^TH-CID^NI||ใจดี^สมชาย",
                f"ORC|RE|{earlier}^{KUDRANG}||||CM",
                f"OBR|1|{earlier}^{KUDRANG}||US-UPABD^Ultrasound upper abdomen||||||||||||||||||"
                "|20261123103000|||F|||||||R001&ภาพดี&วีระ&&&นพ.",
                "OBX|1|TX|IMP^Impression||ตับปกติ ไม่พบก้อน||||||F",
                "OBX|2|TX|IMP^Impression||Normal liver.~No focal lesion.||||||F",
                f"ZDS|1.2.826.0.1.3680043.10.999.{seed}.{i}^RADBOOK^Application^DICOM",
            ]
        ) + "\r", "utf-8"
    raise ValueError(kind)


KINDS = ("A04", "A08", "A40", "ORM", "OMI", "CANCEL", "ORU", "TIS")

CHARSETS = [
    "",
    "UNICODE UTF-8",
    "UTF-8",
    "TIS-620",
    "8859/11",
    "ISO_IR 166",
    "ISO IR192",
    "CNS 11643-1992",
    "ASCII",
    "8859/1",
    "KOI8-R",
    "GB18030",
    "UNICODE",
    "UTF-16",
    "BIG-5",
    "windows-874",
    "x" * 300,
    "TIS~UTF8",
    "8859/11^x",
    "\\T\\UTF8",
]
BAD_BYTES = [
    b"\xff",
    b"\xfe\xff",
    b"\x80",
    b"\xc0\xaf",
    b"\xe0\xb8",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xdb",
    b"\xfc",
    b"\x00",
    b"\x7f",
    b"\x1b$B",
    b"\xef\xbb\xbf",
]
WEIRD_TEXT = [
    "\\",
    "\\X",
    "\\XZZ\\",
    "\\X00\\",
    "\\.br\\",
    "\\H\\\\N\\",
    "\\E\\",
    "\\F\\" * 50,
    "~" * 100,
    "^" * 200,
    "&&&&",
    '""',
    "\u200b\u200f\u202e",
    "😀" * 30,
    "ก\u0e31\u0e31\u0e31\u0e31",
    "\ufffd",
    "\ud7ff",
    "\x00",
    "\t\t",
    " " * 80,
    "99999999",
    "00000000",
    "25691321",
    "2569",
    "-1",
    "1e400",
    "NaN",
    "'; DROP TABLE patient; --",
    "<script>alert(1)</script>",
    "%s%n%x",
    "{{7*7}}",
    "0000000000000",
    "1111111111111",
    "1" * 20,
    "A" * 41,
    "ก" * 101,
]
MESSAGE_TYPES = [
    "ADT^A04",
    "ADT^A08^ADT_A01",
    "ADT^A40",
    "ORM^O01",
    "OMI^O23",
    "ORU^R01",
    "ADT",
    "ORM",
    "ZZZ^Z01",
    "ACK^A04",
    "QRY^A19",
    "",
    "^",
    "ADT^A99",
    "adt^a04",
    "ORM^O01^ORM_O01^X",
    "ORU^R01~ORM^O01",
]
ORDER_CONTROLS = ["NW", "CA", "DC", "OC", "OD", "XO", "SC", "RE", "", "ZZ", "nw", "NW~CA"]


@dataclass
class Case:
    index: int
    kind: str
    mutations: list[str]
    payload: bytes
    control_id: bytes | None  # MSH-10 as sent when it can be read independently
    framing: bool  # the payload holds MLLP start or end bytes, or nothing at all

    def show(self) -> str:
        return (
            f"case {self.index} ({self.kind}; {', '.join(self.mutations) or 'unmutated'})"
            f"\n{self.payload[:3000]!r}"
        )


def _segments(text: str) -> list[str]:
    return [s for s in text.split("\r") if s]


def _join(segments: list[str]) -> str:
    return "\r".join(segments) + "\r"


def _mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    segs = _segments(text)
    op = rng.choice(
        [
            "drop-segment",
            "duplicate-segment",
            "swap-segments",
            "drop-field",
            "duplicate-field",
            "swap-fields",
            "weird-value",
            "huge-field",
            "empty-msh10",
            "long-msh10",
            "encoding-chars",
            "field-separator",
            "message-type",
            "sending-facility",
            "order-control",
            "segment-terminator",
            "unknown-segment",
            "lowercase-segment",
            "many-repetitions",
            "msh-only",
            "no-msh",
            "leading-junk",
            "pid-garbage",
        ]
    )
    if op == "drop-segment" and len(segs) > 1:
        del segs[rng.randrange(len(segs))]
    elif op == "duplicate-segment":
        k = rng.randrange(len(segs))
        segs.insert(rng.randrange(len(segs) + 1), segs[k])
    elif op == "swap-segments" and len(segs) > 1:
        a, b = rng.sample(range(len(segs)), 2)
        segs[a], segs[b] = segs[b], segs[a]
    elif op in ("drop-field", "duplicate-field", "swap-fields", "weird-value", "huge-field"):
        k = rng.randrange(len(segs))
        fields = segs[k].split("|")
        lo = 3 if fields[0] == "MSH" else 1  # keep MSH-1/2 for these
        if len(fields) <= lo:
            fields.append("")
        j = rng.randrange(lo, len(fields) + 1)
        if op == "drop-field" and j < len(fields):
            del fields[j]
        elif op == "duplicate-field" and j < len(fields):
            fields.insert(j, fields[j])
        elif op == "swap-fields" and len(fields) > lo + 1:
            a, b = rng.sample(range(lo, len(fields)), 2)
            fields[a], fields[b] = fields[b], fields[a]
        else:
            while len(fields) <= j:
                fields.append("")
            if op == "huge-field":
                unit = rng.choice(["A", "ก", "1", "^", "~", "x^y&z~"])
                fields[j] = unit * rng.choice([300, 5_000, 60_000, 250_000])
            else:
                fields[j] = rng.choice(WEIRD_TEXT)
        segs[k] = "|".join(fields)
        op = f"{op}:{fields[0][:3]}-{j}"
    elif op in ("empty-msh10", "long-msh10") and segs[0].startswith("MSH"):
        fields = segs[0].split("|")
        if len(fields) > 9:
            fields[9] = rng.choice(["", " ", '""']) if op == "empty-msh10" else "C" * 250
        segs[0] = "|".join(fields)
    elif op == "encoding-chars" and segs[0].startswith("MSH"):
        enc = rng.choice(
            [
                "",
                "^",
                "^~",
                "^~\\",
                "^^^^",
                "|~\\&",
                "abcd",
                "^~\\&#",
                "\\\\\\\\",
                "~^&\\",
                "^~\\&^~\\&",
            ]
        )
        segs[0] = segs[0][:4] + enc + segs[0][8:]
    elif op == "field-separator" and segs[0].startswith("MSH"):
        sep = rng.choice(["#", "A", "^", " ", "\t", "\x00", "ก", "|"])
        segs = [s.replace("|", sep) for s in segs]
    elif op == "message-type" and segs[0].startswith("MSH"):
        fields = segs[0].split("|")
        if len(fields) > 8:
            fields[8] = rng.choice(MESSAGE_TYPES)
        segs[0] = "|".join(fields)
    elif op == "sending-facility" and segs[0].startswith("MSH"):
        fields = segs[0].split("|") + [""] * 4
        fields[3] = rng.choice(
            [
                "",
                "99999",
                KOSUM,
                MKH,
                "11008^^L",
                "^11008",
                "1100",
                "ก" * 5,
                "11008~10707",
                "X" * 300,
            ]
        )
        segs[0] = "|".join(fields)
    elif op == "order-control":
        for k, s in enumerate(segs):
            if s.startswith("ORC|"):
                fields = s.split("|")
                fields[1] = rng.choice(ORDER_CONTROLS)
                if rng.random() < 0.5 and len(fields) > 5:
                    fields[5] = rng.choice(["CM", "IP", "", "XX"])
                segs[k] = "|".join(fields)
    elif op == "segment-terminator":
        return rng.choice(["\n", "\r\n", "\n\r", "\r\r", ""]).join(segs), op
    elif op == "unknown-segment":
        segs.insert(
            rng.randrange(1, len(segs) + 1),
            rng.choice(
                [
                    "ZZZ|1|2",
                    "NTE|1||" + "หมายเหตุ" * 20,
                    "OBX|1|ST|X||" + "~" * 10,
                    "AB|x",
                    "ABCD|1",
                    "12|3",
                    "   ",
                    "MSH|^~\\&|X",
                    "|||",
                    "PID",
                ]
            ),
        )
    elif op == "lowercase-segment":
        k = rng.randrange(len(segs))
        segs[k] = segs[k][:3].lower() + segs[k][3:]
    elif op == "many-repetitions":
        k = rng.randrange(1, len(segs)) if len(segs) > 1 else 0
        segs[k] = segs[k].replace("~", "~" * rng.choice([2, 50, 2000]))
    elif op == "msh-only":
        segs = segs[:1]
    elif op == "no-msh":
        segs = segs[1:] or ["PID|1"]
    elif op == "leading-junk":
        return rng.choice(["\r\n", "   ", "\t", "X", "\ufeff"]) + _join(segs), op
    elif op == "pid-garbage":
        for k, s in enumerate(segs):
            if s.startswith("PID|"):
                fields = s.split("|") + [""] * 20
                fields[3] = rng.choice(
                    [
                        "",
                        "~",
                        "^^^^NI",
                        "1234567890123^^^TH-CID^NI",
                        "HN1^^^11008^MR~" * 30,
                        "^^^^PPN",
                        "AB123^^^^PPN~" + cid(1) + "^^^^NI~" + cid(2) + "^^^^NI",
                        "H" * 30 + "^^^11008^MR",
                        cid(3) + "^^^TH-CID^NI",
                    ]
                )
                fields[5] = rng.choice(["", "^", "ก" * 150 + "^ข", "^^^^นาย", "X^Y^Z^W^V^U^T"])
                fields[7] = rng.choice(["", "2569", "25690230", "19800115", "99999999", "x"])
                fields[8] = rng.choice(["", "M", "F", "U", "ชาย", "MALE" * 10])
                fields[13] = rng.choice(["", "0" * 40, "+66 81 234 5678"])
                segs[k] = "|".join(fields).rstrip("|")
    return _join(segs), op


def _mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    op = rng.choice(
        [
            "truncate",
            "random-bytes",
            "overwrite-bytes",
            "bad-utf8",
            "framing",
            "flip-bit",
            "nul-bytes",
            "reencode",
        ]
    )
    n = len(data)
    if op == "truncate":
        return data[: rng.randrange(n + 1)], op
    if op == "random-bytes":
        at = rng.randrange(n + 1)
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) + data[
            at:
        ], op
    if op == "overwrite-bytes":
        out = bytearray(data)
        for _ in range(rng.randrange(1, 10)):
            if out:
                out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out), op
    if op == "bad-utf8":
        at = rng.randrange(n + 1)
        return data[:at] + rng.choice(BAD_BYTES) + data[at:], op
    if op == "framing":
        at = rng.randrange(n + 1)
        return data[:at] + rng.choice(
            [b"\x0b", b"\x1c", b"\x1c\r", b"\x0b\x1c\r", b"\x1c\r\x0b", b"\r\x1c"]
        ) + data[at:], op
    if op == "flip-bit":
        out = bytearray(data)
        if out:
            k = rng.randrange(len(out))
            out[k] ^= 1 << rng.randrange(8)
        return bytes(out), op
    if op == "nul-bytes":
        at = rng.randrange(n + 1)
        return data[:at] + b"\x00" * rng.randrange(1, 5) + data[at:], op
    # reencode: the text in another encoding than the one MSH-18 names
    text = data.decode("utf-8", "replace")
    encoding = rng.choice(["cp874", "utf-16", "latin-1", "utf-8-sig"])
    return text.encode(encoding, "replace"), f"{op}:{encoding}"


def _charset(text: str, rng: random.Random) -> tuple[str, str]:
    segs = _segments(text)
    fields = segs[0].split("|")
    while len(fields) < 18:
        fields.append("")
    value = rng.choice(CHARSETS)
    fields[17] = value
    segs[0] = "|".join(fields)
    return _join(segs), f"msh18:{value[:12]}"


def case(seed: int, i: int) -> Case:
    rng = random.Random(f"{seed}:{i}")
    kind = KINDS[rng.randrange(len(KINDS))]
    text, codec = seed_message(kind, seed, i, rng)
    mutations: list[str] = []
    # About one case in twelve is sent valid: the fuzz also proves the happy path holds.
    rounds = 0 if rng.random() < 0.08 else rng.choice([1, 1, 1, 2, 2, 3])
    text_rounds = rng.randint(0, rounds)
    for _ in range(text_rounds):
        if rng.random() < 0.15:
            text, op = _charset(text, rng)
        else:
            text, op = _mutate_text(text, rng)
        mutations.append(op)
    data = text.encode(codec, "replace")
    for _ in range(rounds - text_rounds):
        data, op = _mutate_bytes(data, rng)
        mutations.append(op)
    return Case(i, kind, mutations, data, _msh10(data), _has_framing(data))


def _has_framing(data: bytes) -> bool:
    return b"\x0b" in data or b"\x1c" in data or not data.strip(b"\r\n\t ")


def _msh10(data: bytes) -> bytes | None:
    """MSH-10 read independently of the listener, when it is a plain token."""
    body = data.lstrip(b"\r\n\t ")
    if not body.startswith(b"MSH") or len(body) < 9:
        return None
    first = re.split(rb"[\r\n]", body, maxsplit=1)[0]
    sep = first[3:4]
    fields = first.split(sep)
    if len(fields) <= 9:
        return None
    value = fields[9].strip()
    if len(data) > DEFAULT_MAX_MESSAGE_BYTES and len(sep.join(fields[:10])) > HEAD_BYTES:
        return None  # an oversized block keeps only its head: MSH-10 is not in it
    return value if CLEAN_ID.match(value) else None


# --- the client -------------------------------------------------------------------------------


def sentinel(seed: int, i: int) -> tuple[bytes, bytes]:
    cid_ = f"SN{seed}-{i:06d}".encode()
    return (_msh("ZZZ^Z01", cid_.decode()) + "\r").encode(), cid_


@dataclass
class Answer:
    code: str
    control_id: bytes
    ack_id: bytes  # the ACK's own MSH-10: a repeat gets the same ACK again


def parse_ack(block: bytes) -> Answer | None:
    segments = re.split(rb"[\r\n]+", block)
    if not segments or not segments[0].startswith(b"MSH|"):
        return None
    msh = segments[0].split(b"|")
    for seg in segments[1:]:
        if seg.startswith(b"MSA|"):
            parts = seg.split(b"|") + [b"", b""]
            code = parts[1].decode("latin-1")
            if code not in ("AA", "AE", "AR"):
                return None
            return Answer(code, parts[2], msh[9] if len(msh) > 9 else b"")
    return None


@dataclass
class Report:
    sent: int = 0
    codes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)  # case index → its own answer
    placers: dict[bytes, set[int]] = field(default_factory=dict)  # placer → cases naming it
    framing_cases: int = 0
    reconnects: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(self.codes.items()))
        return (
            f"{self.sent} cases in {self.seconds:.1f} s: {codes}; {self.framing_cases} with "
            f"MLLP framing bytes inside (answers checked up to a sentinel); "
            f"{len(self.failures)} failures"
        )


class _Conn:
    def __init__(self, host: str, port: int, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, payload: bytes) -> None:
        self.sock.sendall(START + payload + END)

    def read_block(self) -> bytes:
        while True:
            end = self.buf.find(END)
            if end >= 0:
                start = self.buf.rfind(START, 0, end)
                block = self.buf[start + 1 if start >= 0 else 0 : end]
                self.buf = self.buf[end + 2 :]
                return block
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection")
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def send_cases(
    host: str, port: int, cases, *, seed: int, timeout: float = 60.0, progress=None
) -> Report:
    report = Report()
    conn = _Conn(host, port, timeout)
    t0 = time.perf_counter()
    try:
        for c in cases:
            report.sent += 1
            for number in set(PLACER.findall(c.payload)):
                report.placers.setdefault(number, set()).add(c.index)
            try:
                _one(conn, c, seed, report)
            except (OSError, ConnectionError) as exc:
                report.failures.append(f"{c.show()}\n  -> {type(exc).__name__}: {exc}")
                conn.close()
                report.reconnects += 1
                conn = _Conn(host, port, timeout)
            if progress and report.sent % 1000 == 0:
                progress(report)
    finally:
        conn.close()
        report.seconds = time.perf_counter() - t0
    return report


def _one(conn: _Conn, c: Case, seed: int, report: Report) -> None:
    conn.send(c.payload)
    if not c.framing:
        block = conn.read_block()
        answer = parse_ack(block)
        if answer is None:
            report.codes["not an ACK"] += 1
            report.failures.append(f"{c.show()}\n  -> not an ACK: {block[:300]!r}")
            return
        report.codes[answer.code] += 1
        report.answers[c.index] = answer
        if c.control_id is not None and answer.control_id != c.control_id:
            report.failures.append(
                f"{c.show()}\n  -> MSA-2 {answer.control_id[:80]!r} is "
                f"not MSH-10 {c.control_id[:80]!r}"
            )
        return
    report.framing_cases += 1
    payload, expected = sentinel(seed, c.index)
    conn.send(payload)
    while True:
        block = conn.read_block()
        answer = parse_ack(block)
        if answer is None:
            report.codes["not an ACK"] += 1
            report.failures.append(f"{c.show()}\n  -> not an ACK: {block[:300]!r}")
            continue
        if answer.control_id == expected:
            if answer.code != "AR":
                report.failures.append(f"{c.show()}\n  -> sentinel answered {answer.code}")
            return
        report.codes[answer.code] += 1


# --- the database afterwards ------------------------------------------------------------------

_OUTCOME = {"AA": "ACCEPTED", "AE": "ERROR", "AR": "REJECTED"}


def check_database(report: Report, seed: int) -> list[str]:
    """Journal and domain agree with the answers (call inside an app context).

    - every answer that was not a repeat has exactly one journal row holding that very
      ACK (found by the ACK's own MSH-10), with the outcome the ACK announced;
    - every request was made by a message that names its placer order number and was
      answered AA (nothing written for an AE or AR: no half-written message);
    - every journal row with patient or request ids points at rows that exist.
    """
    from sqlalchemy import select

    from app.extensions import db
    from integrations.hl7.models import Hl7InboundMessage
    from scheduling.models import ImagingRequest, Patient

    problems: list[str] = []
    rows = db.session.execute(
        select(
            Hl7InboundMessage.ack,
            Hl7InboundMessage.outcome,
            Hl7InboundMessage.patient_id,
            Hl7InboundMessage.request_id,
        )
    ).all()
    by_ack_id: Counter = Counter()
    outcome_of: dict[bytes, str] = {}
    for row in rows:
        first = row.ack.split("\r", 1)[0].split("|")
        if len(first) > 9 and row.ack:
            key = first[9].encode("latin-1", "replace")
            by_ack_id[key] += 1
            outcome_of[key] = row.outcome.name
    seen: set[bytes] = set()
    for index, answer in sorted(report.answers.items()):
        if answer.ack_id in seen:
            continue  # a repeat of an earlier MSH-10: answered from the journal
        seen.add(answer.ack_id)
        count = by_ack_id.get(answer.ack_id, 0)
        if count != 1:
            problems.append(f"case {index}: {count} journal rows hold its {answer.code} ACK")
        elif outcome_of[answer.ack_id] != _OUTCOME[answer.code]:
            problems.append(
                f"case {index}: ACK {answer.code} but journal outcome {outcome_of[answer.ack_id]}"
            )
    for request_id, number in db.session.execute(
        select(ImagingRequest.id, ImagingRequest.placer_order_number)
    ):
        if not PLACER.fullmatch(number.encode()):
            continue  # a placer the mutations garbled: no case can be told to own it
        cases = report.placers.get(number.encode(), set())
        # Made by a case answered AA, or by one with framing bytes (no answer of its own).
        if not any(i not in report.answers or report.answers[i].code == "AA" for i in cases):
            problems.append(
                f"request {request_id} ({number}) exists but no message naming it was accepted"
            )
    patients = set(db.session.scalars(select(Patient.id)))
    requests = set(db.session.scalars(select(ImagingRequest.id)))
    for row in rows:
        if row.patient_id is not None and row.patient_id not in patients:
            problems.append(f"journal points at missing patient {row.patient_id}")
        if row.request_id is not None and row.request_id not in requests:
            problems.append(f"journal points at missing request {row.request_id}")
    return problems


def alive(host: str, port: int, seed: int) -> bool:
    """The listener accepts a new connection and answers a valid ADT with AA."""
    c = f"ALIVE{seed}-{time.monotonic_ns()}"
    text = (
        "\r".join([_msh("ADT^A04^ADT_A01", c), "EVN|A04|20261121090000", _pid(7), "PV1|1|O"]) + "\r"
    )
    conn = _Conn(host, port, 30)
    try:
        conn.send(text.encode())
        answer = parse_ack(conn.read_block())
    finally:
        conn.close()
    return answer is not None and answer.code == "AA" and answer.control_id == c.encode()
