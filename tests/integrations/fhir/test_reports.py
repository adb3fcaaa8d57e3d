"""Issue 13 through FHIR and the web: a requesting hospital's DiagnosticReport is refused
(403 OperationOutcome); the hub's preliminary, final and amended versions are all kept
and the request page shows the current one and that it was amended."""

from __future__ import annotations

from sqlalchemy import select

from scheduling.models import ImagingRequest, ReportStatus, ReportVersion
from tests.conftest import login
from tests.integrations.fhir.conftest import outcome, parsed
from tests.integrations.fhir.test_writes import report_body, scheduled  # noqa: F401


def _versions(db, request_id: int) -> list[tuple]:
    db.session.expire_all()
    return [
        (v.version, v.status, v.text, v.actor)
        for v in db.session.scalars(
            select(ReportVersion)
            .where(ReportVersion.request_id == request_id)
            .order_by(ReportVersion.version)
        )
    ]


def test_requesting_hospital_cannot_write_the_report_and_the_hub_keeps_versions(
    app,
    hub,
    kudrang,
    scheduled,  # noqa: F811
    db,
):
    request_id, _appointment = scheduled
    based_on = {"basedOn": [{"reference": f"ServiceRequest/{request_id}"}]}
    # รพ.กุดรัง's system, with any text and any radiologist named as author: refused.
    forged = report_body("ไม่พบความผิดปกติ", **based_on)
    forged["resultsInterpreter"] = [{"display": "นพ.ใครก็ได้"}]
    code, thai, _english, error = outcome(kudrang.post("DiagnosticReport", forged), 403)
    assert (code, error) == ("forbidden", "report-not-hub")
    assert "โรงพยาบาลแม่ข่าย" in thai
    assert _versions(db, request_id) == []

    # The hub: preliminary, final, amended.
    for status, text in (
        ("preliminary", "ร่าง: ตับปกติ"),
        ("final", "ตับปกติ"),
        ("amended", "ตับปกติ ไม่พบก้อน"),
    ):
        parsed(
            hub.post("DiagnosticReport", {**report_body(text, **based_on), "status": status}), 201
        )
    assert [(v, s) for v, s, _t, _a in _versions(db, request_id)] == [
        (1, ReportStatus.PRELIMINARY),
        (2, ReportStatus.FINAL),
        (3, ReportStatus.AMENDED),
    ]
    assert {a for *_, a in _versions(db, request_id)} == {"fhir:mkh-pacs"}
    # Still refused after the hub's final report, and nothing changed.
    before = _versions(db, request_id)
    assert outcome(kudrang.post("DiagnosticReport", forged), 403)[3] == "report-not-hub"
    assert _versions(db, request_id) == before
    row = db.session.get(ImagingRequest, request_id)
    assert (row.report_text, row.report_status) == ("ตับปกติ ไม่พบก้อน", ReportStatus.AMENDED)

    # The requester's page: the current report, marked amended, with its versions.
    web = app.test_client()
    login(web, "staff.kudrang")
    html = web.get(f"/requests/{request_id}").get_data(as_text=True)
    current = html.index("ตับปกติ ไม่พบก้อน")
    assert "ผลอ่านนี้ได้รับการแก้ไขหลังออกผลครั้งแรก" in html
    assert html.index("ร่าง: ตับปกติ") > current  # earlier versions below the current one
