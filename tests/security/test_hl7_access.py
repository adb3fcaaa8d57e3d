"""HL7 v2: a message from a peer that names itself as one hospital (MSH-4, how
``integrations/hl7/inbound.py`` decides who the sender is) must not change another
hospital's patient, request, appointment or study, nor tell it anything in the ACK.

Each world (``worlds.py``) is the target of every kind of message from every hospital
that is not a party to it; its rows must come out unchanged. Then the same kinds of
message from a party take effect, so the refusals above are about scope, not about
malformed messages.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from app.extensions import db as _db
from scheduling.models import Appointment, ImagingRequest, Patient, PatientHN, Study
from tests.integrations.hl7.conftest import cid, exchange, msa, msh, segment
from tests.security.matrix import FIGURES, report
from tests.security.worlds import CHIANG_YUEN, KOSUM, KUDRANG, MKH, PATIENTS, PLAN, UDN, Worlds

SENDERS = (KUDRANG, KOSUM, CHIANG_YUEN, MKH, UDN)
_control = itertools.count(1)


@pytest.fixture(scope="module")
def listener(app, worlds):
    from integrations.hl7 import make_listener

    server = make_listener(app, "127.0.0.1", 0).start()
    yield server
    server.stop()


def parties(world: str) -> set[str]:
    requester, hub, *_ = PLAN[world]
    return {requester, hub}


def hn_holder(world: str) -> str:
    return PATIENTS[PLAN[world][4]][3]


def snapshot(w: Worlds, world: str, sender: str, *, patient_rows: bool) -> tuple:
    """Everything of the world a message could change. The sender's own HN rows are left
    out (a hospital registering the same national ID adds its HN, by design), and the
    patient's rows when the sender may change them (see ``may_change_patient``)."""
    x = w[world]
    with _db.engine.connect() as conn:

        def rows(table, *where):
            return [
                tuple(r)
                for r in conn.execute(
                    select(table).where(*where).order_by(*table.primary_key.columns)
                )
            ]

        patient = Patient.__table__
        hn = PatientHN.__table__
        return (
            rows(patient, patient.c.id == x.patient_id) if patient_rows else [],
            rows(hn, hn.c.patient_id == x.patient_id, hn.c.hospital_id != _id(w, sender))
            if patient_rows
            else [],
            rows(
                ImagingRequest.__table__,
                ImagingRequest.__table__.c.id.in_([x.request_id, x.open_request_id]),
            ),
            rows(
                Appointment.__table__,
                Appointment.__table__.c.request_id.in_([x.request_id, x.open_request_id]),
            ),
            rows(Study.__table__, Study.__table__.c.request_id == x.request_id),
        )


def may_change_patient(w: Worlds, world: str, sender: str, label: str) -> bool:
    """The patient is shared: a hospital holding an HN for them keeps their demographics
    (scheduling.patients), and one that sees them through a request of its own may merge
    its own record into them (the hub's "modify patient ID"). Nobody else may."""
    x = w[world]
    with _db.engine.connect() as conn:
        holds = (
            conn.execute(
                select(PatientHN.id).where(
                    PatientHN.patient_id == x.patient_id, PatientHN.hospital_id == _id(w, sender)
                )
            ).first()
            is not None
        )
    sees = any(sender in parties(n) for n, y in w.worlds.items() if y.patient_id == x.patient_id)
    return holds or (sees and not label.startswith("ADT^A08"))


def _id(w: Worlds, code: str) -> int:
    return w.hospitals[code]


def _row(model, id_: int):
    _db.session.expire_all()
    return _db.session.get(model, id_)


def _pid(
    cid_value: str, hn: str, sender: str, given: str = "ชื่อปลอม", phone: str = "0800000000"
) -> str:
    return (
        f"PID|1||{hn}^^^{sender}^MR~{cid_value}^^^TH-CID^NI||ปลอม^{given}^^^นาย||19700101|M"
        f"|||||{phone}"
    )


def _order(sender: str, control: str, orc: dict, obr: dict, extra: tuple[str, ...] = ()) -> str:
    return (
        "\r".join(
            [
                msh("ORM^O01^ORM_O01", f"AC{next(_control)}", sender=sender),
                segment("ORC", {1: control, **orc}),
                segment("OBR", {1: "1", **obr}),
                *extra,
            ]
        )
        + "\r"
    )


def _result(sender: str, obr: dict, text: str, extra: tuple[str, ...] = ()) -> str:
    return (
        "\r".join(
            [
                msh("ORU^R01^ORU_R01", f"AC{next(_control)}", sender=sender),
                segment("OBR", {1: "1", 25: "F", **obr}),
                *extra,
                segment("OBX", {1: "1", 2: "TX", 3: "REPORT^Report", 5: text, 11: "F"}),
            ]
        )
        + "\r"
    )


def identify(w: Worlds, world: str, how: str) -> tuple[dict, tuple[str, ...]]:
    """OBR fields (and extra segments) that name the world's request in one way."""
    x = w[world]
    requester = PLAN[world][0]
    appointment = _row(Appointment, x.appointment_id)
    if how == "filler":
        return {3: f"{x.request_id}^RADBOOK"}, ()
    if how == "placer":
        return {2: f"{x.markers[0]}^{requester}"}, ()
    if how == "accession":
        return {18: appointment.accession_number}, ()
    return {}, (segment("ZDS", {1: appointment.study_instance_uid}),)


HOWS = ("filler", "placer", "accession", "uid")


def messages(w: Worlds, world: str, sender: str) -> list[tuple[str, str]]:
    """(label, message) of every kind aimed at the world, as ``sender`` would send them."""
    x = w[world]
    out = []
    for how in HOWS:
        fields, extra = identify(w, world, how)
        code = _row(ImagingRequest, x.request_id).procedure.code
        out += [
            (f"ORM CA by {how}", _order(sender, "CA", {16: "^ยกเลิก"}, fields, extra)),
            (f"ORM XO by {how}", _order(sender, "XO", {7: "^^^^^S"}, {**fields, 4: code}, extra)),
            (f"ORM SC/CM by {how}", _order(sender, "SC", {5: "CM"}, fields, extra)),
            (f"ORU R01 by {how}", _result(sender, fields, "ผลปลอม", extra)),
        ]
    # A result for one of the sender's own requests that names the world's study.
    own = next((n for n in PLAN if n != world and sender in parties(n)), None)
    if own is not None:
        uid = _row(Appointment, x.appointment_id).study_instance_uid
        fields, _extra = identify(w, own, "filler")
        out.append(
            (
                "ORU R01 own request + their Study UID",
                _result(sender, {**fields, 18: "FAKEACC"}, "ผลปลอม", (segment("ZDS", {1: uid}),)),
            )
        )
    # Merges: their patient into a patient of the sender's, and the other way round.
    mine = cid(f"1800{int(sender):05d}{len(out):03d}")
    out += [
        (
            "ADT^A04 (sender's own patient)",
            "\r".join(
                [
                    msh("ADT^A04^ADT_A01", f"AC{next(_control)}", sender=sender),
                    "EVN|A04|",
                    _pid(mine, f"M{sender}", sender, given="ของเราเอง"),
                    "PV1|1|O",
                ]
            )
            + "\r",
        ),
        (
            "ADT^A40 theirs into ours",
            "\r".join(
                [
                    msh("ADT^A40^ADT_A39", f"AC{next(_control)}", sender=sender),
                    "EVN|A40|",
                    _pid(mine, f"M{sender}", sender, given="ของเราเอง"),
                    f"MRG|{x.patient_cid}^^^TH-CID^NI",
                ]
            )
            + "\r",
        ),
        (
            "ADT^A40 ours into theirs",
            "\r".join(
                [
                    msh("ADT^A40^ADT_A39", f"AC{next(_control)}", sender=sender),
                    "EVN|A40|",
                    _pid(x.patient_cid, f"M{sender}", sender),
                    f"MRG|M{sender}^^^{sender}^MR",
                ]
            )
            + "\r",
        ),
    ]
    return out


def registrations(w: Worlds, world: str, sender: str) -> list[tuple[str, str]]:
    """An ADT^A08 with the world's national ID. By design (scheduling.patients) a hospital
    that registers the same national ID only adds its own HN: the demographics stay. It
    then shares the patient, so these go last, after every other message of every world."""
    return [
        (
            "ADT^A08 update",
            "\r".join(
                [
                    msh("ADT^A08^ADT_A01", f"AC{next(_control)}", sender=sender),
                    "EVN|A08|20261121090000",
                    _pid(w[world].patient_cid, f"H{sender}", sender),
                    "PV1|1|O",
                ]
            )
            + "\r",
        )
    ]


def test_hl7_sender_cannot_touch_another_hospitals_rows(app, worlds, listener, request):
    failures, tried = [], 0
    rounds = [(messages, world, sender) for world, sender in itertools.product(PLAN, SENDERS)]
    rounds += [(registrations, world, sender) for world, sender in itertools.product(PLAN, SENDERS)]
    for kinds, world, sender in rounds:
        if sender in parties(world):
            continue
        hidden = worlds.hidden_markers_for_hospital(sender)
        for label, message in kinds(worlds, world, sender):
            patient_rows = not may_change_patient(worlds, world, sender, label)
            before = snapshot(worlds, world, sender, patient_rows=patient_rows)
            [ack] = exchange(listener.port, message)
            tried += 1
            after = snapshot(worlds, world, sender, patient_rows=patient_rows)
            if after != before:
                failures.append(f"{sender} → {world}: {label} changed it ({msa(ack)})")
            text = str(ack)
            for value in message.replace("\r", "|").replace("^", "|").split("|"):
                if len(value) >= 4:
                    text = text.replace(value, "")
            for name, markers in hidden.items():
                failures += [
                    f"{sender} → {world}: {label}: ACK shows {name}:{m}"
                    for m in markers
                    if m in text
                ]
    FIGURES["hl7"] += tried
    report(
        request,
        "hl7",
        f"{len(SENDERS)} sending hospitals × {len(PLAN)} worlds × "
        f"message kinds, non-parties only = {tried} messages; {len(failures)} failures",
    )
    assert not failures, "\n".join(failures)


def test_the_same_messages_from_a_party_take_effect(worlds, listener):
    """Positive control: the refusals above are about who sends, not what is sent."""
    # The hub of SM reports on it, each way of naming the request.
    for n, how in enumerate(HOWS):
        fields, extra = identify(worlds, "SM", how)
        [ack] = exchange(listener.port, _result(MKH, fields, f"ผลจริง-{n}", extra))
        assert msa(ack)[0] == "AA", (how, str(ack))
        assert _row(ImagingRequest, worlds["SM"].request_id).report_text == f"ผลจริง-{n}"
    # The HN holder updates its patient.
    x = worlds["SM"]
    [ack] = exchange(
        listener.port,
        "\r".join(
            [
                msh("ADT^A08^ADT_A01", "POS-A08", sender=KOSUM),
                "EVN|A08|",
                _pid(x.patient_cid, "KSSECRET1", KOSUM, given=x.markers[-3], phone="0811112222"),
                "PV1|1|O",
            ]
        )
        + "\r",
    )
    assert msa(ack)[0] == "AA" and _row(Patient, x.patient_id).phone == "0811112222"
    # The requester changes, then cancels; the hub completes another.
    fields, extra = identify(worlds, "CU", "placer")
    code = _row(ImagingRequest, worlds["CU"].request_id).procedure.code
    [ack] = exchange(
        listener.port, _order(CHIANG_YUEN, "XO", {7: "^^^^^S"}, {**fields, 4: code}, extra)
    )
    assert (
        msa(ack)[0] == "AA"
        and _row(ImagingRequest, worlds["CU"].request_id).priority.name == "STAT"
    )
    [ack] = exchange(listener.port, _order(CHIANG_YUEN, "CA", {16: "^ยกเลิก"}, fields, extra))
    assert msa(ack)[0] == "AA"
    assert _row(ImagingRequest, worlds["CU"].request_id).status.name == "CANCELLED"
    fields, extra = identify(worlds, "KU", "accession")
    [ack] = exchange(listener.port, _order(UDN, "SC", {5: "CM"}, fields, extra))
    assert msa(ack)[0] == "AA"
    assert _row(Appointment, worlds["KU"].appointment_id).status.name == "COMPLETED"
    # A merge of two of the sender's own patients.
    first, second = cid("180011111001"), cid("180011111002")
    for n, (value, hn) in enumerate(((first, "MRG1"), (second, "MRG2"))):
        [ack] = exchange(
            listener.port,
            "\r".join(
                [
                    msh("ADT^A04^ADT_A01", f"POS-A04-{n}", sender=KUDRANG),
                    "EVN|A04|",
                    _pid(value, hn, KUDRANG),
                    "PV1|1|O",
                ]
            )
            + "\r",
        )
        assert msa(ack)[0] == "AA"
    [ack] = exchange(
        listener.port,
        "\r".join(
            [
                msh("ADT^A40^ADT_A39", "POS-A40", sender=KUDRANG),
                "EVN|A40|",
                _pid(first, "MRG1", KUDRANG),
                f"MRG|{second}^^^TH-CID^NI",
            ]
        )
        + "\r",
    )
    assert msa(ack)[0] == "AA", str(ack)
    _db.session.expire_all()
    assert _db.session.scalar(select(Patient.id).where(Patient.id_value == second)) is None
