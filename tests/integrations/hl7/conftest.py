"""HL7 test fixtures: the demo network, a listener on a free port, the hl7 package's client."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import hl7
import pytest
from hl7.mllp import open_hl7_connection
from sqlalchemy import select

from app.extensions import db as _db
from scheduling.models import Hospital, Procedure
from scheduling.patients import national_id_check_digit

KUDRANG = "11008"  # community hospital (requester) in the demo network
KOSUM = "11005"
MKH = "10707"  # the hub, Mahasarakham Hospital


def cid(stem: str) -> str:
    """A valid 13-digit national ID from 12 digits."""
    return stem + national_id_check_digit(stem)


@pytest.fixture
def network(db):
    """Hospitals, devices and procedures of the demo (no users, patients or capacity)."""
    from app.demo import load_network

    load_network()
    _db.session.commit()
    return db


def hospital(code: str) -> Hospital:
    return _db.session.scalar(select(Hospital).where(Hospital.code == code))


def procedure(code: str) -> Procedure:
    return _db.session.scalar(select(Procedure).where(Procedure.code == code))


@pytest.fixture
def listener(app, network):
    from integrations.hl7 import make_listener

    server = make_listener(app, "127.0.0.1", 0).start()
    yield server
    server.stop()


def exchange(
    port: int, *messages: str | bytes, encoding: str = "utf-8", timeout: float = 20
) -> list[hl7.Message]:
    """Send each message with the hl7 package's MLLP client, awaiting each ACK."""

    async def run() -> list[hl7.Message]:
        reader, writer = await open_hl7_connection("127.0.0.1", port, encoding=encoding)
        answers = []
        try:
            for message in messages:
                data = message if isinstance(message, bytes) else message.encode(encoding)
                writer.writeblock(data)
                await writer.drain()
                answers.append(await asyncio.wait_for(reader.readmessage(), timeout))
        finally:
            writer.close()
            await writer.wait_closed()
        return answers

    return run_in_thread(run)


def run_in_thread(coroutine_function):
    """asyncio.run in a thread of its own: the browser tests leave an event loop running
    in the main thread (Playwright's sync API), where asyncio.run refuses to start."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine_function())
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(120)
    if "error" in result:
        raise result["error"]
    return result["value"]


def msa(ack: hl7.Message) -> tuple[str, str]:
    segment = ack.segment("MSA")
    return str(segment[1]), str(segment[2])


def err(ack: hl7.Message) -> hl7.Segment | None:
    try:
        return ack.segment("ERR")
    except KeyError:
        return None


def ts(dt: datetime | None = None) -> str:
    return (dt or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")


def msh(
    message_type: str,
    control_id: str,
    *,
    sender: str = KUDRANG,
    app: str = "HOSXP",
    receiver: str = MKH,
    version: str = "2.5.1",
    charset: str = "UNICODE UTF-8",
) -> str:
    return (
        f"MSH|^~\\&|{app}|{sender}|RADBOOK|{receiver}|{ts()}||{message_type}|{control_id}"
        f"|P|{version}|||AL|NE|THA|{charset}"
    )


def pid(
    national_id: str,
    hn: str = "HN0001",
    *,
    given: str = "สมชาย",
    family: str = "ใจดี",
    prefix: str = "นาย",
    latin: str = "JAIDEE^SOMCHAI^^^MR",
    birth: str = "19800115",
    sex: str = "M",
) -> str:
    names = f"{family}^{given}^^^{prefix}" + (f"~{latin}" if latin else "")
    return (
        f"PID|1||{hn}^^^{KUDRANG}^MR~{national_id}^^^TH-CID^NI||{names}||{birth}|{sex}"
        f"|||1 ถนนนครสวรรค์^^มหาสารคาม^^44000||0812345678"
    )


def adt(control_id: str, national_id: str, event: str = "A04", **kw) -> str:
    return (
        "\r".join(
            [
                msh(
                    f"ADT^{event}^ADT_A01",
                    control_id,
                    **{k: v for k, v in kw.items() if k in ("sender", "app", "charset")},
                ),
                f"EVN|{event}|{ts()}",
                pid(
                    national_id,
                    **{k: v for k, v in kw.items() if k not in ("sender", "app", "charset")},
                ),
                "PV1|1|O",
            ]
        )
        + "\r"
    )


def segment(name: str, values: dict[int, str]) -> str:
    """A segment from {field number: value}; the fields between are empty."""
    fields = [name] + [""] * max(values)
    for n, value in values.items():
        fields[n] = value
    return "|".join(fields)


def orm(
    control_id: str,
    national_id: str,
    placer: str,
    *,
    procedure_code: str = "US-UPABD",
    control: str = "NW",
    status: str = "",
    priority: str = "R",
    sender: str = KUDRANG,
    receiver: str = MKH,
    hn: str = "HN0001",
    omi: bool = False,
    charset: str = "UNICODE UTF-8",
    filler: str = "",
    extra: str = "",
) -> str:
    message_type = "OMI^O23^OMI_O23" if omi else "ORM^O01^ORM_O01"
    orc = {1: control, 2: f"{placer}^{sender}", 3: filler, 5: status, 12: "D001^รักษา^วิชัย^^^นพ."}
    if not omi:
        orc[7] = f"^^^^^{priority}"
    segments = [
        msh(message_type, control_id, sender=sender, receiver=receiver, charset=charset),
        pid(national_id, hn),
        "PV1|1|O",
        segment("ORC", orc),
    ]
    if omi:
        segments.append(segment("TQ1", {1: "1", 9: priority}))
    segments.append(
        segment(
            "OBR",
            {
                1: "1",
                2: f"{placer}^{sender}",
                3: filler,
                4: f"{procedure_code}^อัลตราซาวด์^RADBOOK",
                13: "ปวดท้องด้านขวาบน",
                31: "R10.1^ปวดท้องส่วนบน^I10",
            },
        )
    )
    if extra:
        segments.append(extra)
    return "\r".join(segments) + "\r"


class Receiver:
    """A PACS/RIS stand-in: records each block and answers with ``answer`` (AA, AE, AR)."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.answer = "AA"
        self.port = 0

    def __call__(self, block, peer):
        from integrations.hl7.ack import AckContext, AckError, build_ack
        from integrations.hl7.message import Hl7Message, decode_message

        self.blocks.append(block.data)
        text, codec, msh18 = decode_message(block.data)
        ctx = AckContext.from_message(Hl7Message(text), msh18)
        error = None if self.answer == "AA" else AckError("207", "refused", "ไม่รับ")
        return build_ack(ctx, self.answer, datetime.now(UTC), error=error).encode(codec)

    def messages(self):
        from integrations.hl7.message import Hl7Message, decode_message

        return [Hl7Message(decode_message(b)[0]) for b in self.blocks]


@pytest.fixture
def receiver():
    from integrations.hl7.mllp import MllpServer

    stand_in = Receiver()
    server = MllpServer(stand_in, "127.0.0.1", 0).start()
    stand_in.port = server.port
    yield stand_in
    server.stop()


@pytest.fixture
def us_capacity(network, now):
    """Office hours every day on MKH_US1 (08:00-16:00 Bangkok)."""
    from scheduling.models import Device
    from tests.scheduling.factories import office_template

    device = _db.session.scalar(select(Device).where(Device.ae_title == "MKH_US1"))
    office_template(device, now=now)
    _db.session.commit()
    return device
