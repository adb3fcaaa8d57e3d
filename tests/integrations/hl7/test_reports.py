"""Issue 13 over a real MLLP listener: only the performing hub writes or amends a report;
every version is kept with who sent it, when and through which interface."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from scheduling.booking import book
from scheduling.models import ImagingRequest, Interface, ReportStatus, ReportVersion
from tests.integrations.hl7.conftest import (
    KUDRANG,
    MKH,
    err,
    exchange,
    hospital,
    msa,
    msh,
    orm,
    segment,
)
from tests.integrations.hl7.test_orders import CID1, MON_0900, request_by_placer
from tests.scheduling.factories import SYSTEM


def oru(control_id: str, request_id: int, text: str, *, sender: str, status: str = "F") -> str:
    return (
        "\r".join(
            [
                msh("ORU^R01^ORU_R01", control_id, sender=sender, app="RIS"),
                f"PID|1||{CID1}^^^TH-CID^NI||ใจดี^สมชาย",
                segment("ORC", {1: "RE", 3: f"{request_id}^RADBOOK"}),
                segment(
                    "OBR",
                    {
                        1: "1",
                        3: f"{request_id}^RADBOOK",
                        4: "US-UPABD^Ultrasound upper abdomen",
                        25: status,
                        32: "R001&ภาพดี&วีระ&&&นพ.",
                    },
                ),
                segment("OBX", {1: "1", 2: "TX", 3: "IMP^Impression", 5: text, 11: status}),
            ]
        )
        + "\r"
    )


def versions(request_id: int) -> list[tuple]:
    db.session.expire_all()
    return [
        (v.version, v.status, v.text, v.interface, v.hospital_id, v.actor)
        for v in db.session.scalars(
            select(ReportVersion)
            .where(ReportVersion.request_id == request_id)
            .order_by(ReportVersion.version)
        )
    ]


def test_only_the_performing_hub_writes_and_amends_the_report(listener, us_capacity, now):
    exchange(listener.port, orm("ORM-R1", CID1, "PO-R1"))
    request = request_by_placer("PO-R1")
    book(SYSTEM, now, request, us_capacity, MON_0900)
    rid, mkh = request.id, hospital(MKH).id

    # The requesting hospital's HIS cannot write a report, whatever text or author it sends.
    [ack] = exchange(listener.port, oru("KR-ORU1", rid, "ไม่พบความผิดปกติ", sender=KUDRANG))
    assert msa(ack)[0] == "AE" and str(err(ack)[5][0][0]) == "report-not-hub"
    assert "โรงพยาบาลแม่ข่าย" in str(err(ack)[8])
    assert versions(rid) == [] and db.session.get(ImagingRequest, rid).report_text is None

    # The hub's RIS: preliminary, then final, then an amendment.
    answers = exchange(
        listener.port,
        oru("RIS-1", rid, "ตับปกติ (เบื้องต้น)", sender=MKH, status="P"),
        oru("RIS-2", rid, "ตับปกติ", sender=MKH, status="F"),
        oru("RIS-3", rid, "ตับปกติ ไม่พบก้อน", sender=MKH, status="C"),
        oru("RIS-4", rid, "ตับปกติ ไม่พบก้อน", sender=MKH, status="C"),  # a resend: nothing new
    )
    assert [msa(a)[0] for a in answers] == ["AA"] * 4
    got = versions(rid)
    assert [(v, s, t) for v, s, t, *_ in got] == [
        (1, ReportStatus.PRELIMINARY, "ตับปกติ (เบื้องต้น)"),
        (2, ReportStatus.FINAL, "ตับปกติ"),
        (3, ReportStatus.AMENDED, "ตับปกติ ไม่พบก้อน"),
    ]
    assert {(i, h) for *_, i, h, _a in got} == {(Interface.HL7, mkh)}
    row = db.session.get(ImagingRequest, rid)
    assert (row.report_text, row.report_status) == ("ตับปกติ ไม่พบก้อน", ReportStatus.AMENDED)

    # A final report is not made preliminary again, and the requester still cannot touch it.
    answers = exchange(
        listener.port,
        oru("RIS-5", rid, "ร่าง", sender=MKH, status="P"),
        oru("KR-ORU2", rid, "ผลปลอม", sender=KUDRANG, status="C"),
    )
    assert [(msa(a)[0], str(err(a)[5][0][0])) for a in answers] == [
        ("AE", "report-final"),
        ("AE", "report-not-hub"),
    ]
    assert versions(rid) == got
