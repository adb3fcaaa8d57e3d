"""One contrast CT through every role, in a real browser (issue 15).

รพ.กุดรัง requests a CT whole abdomen with contrast for a woman of 35, answering the
screening the form asks (kidney function, contrast allergy, pregnancy, weight) with the
referral letter attached, and books; the radiologist vets it with a protocol; the hub's
scheduler moves it with a reason; the report arrives; รพ.กุดรัง sees the notifications,
the timeline and the superseded slip, and the radiologist's exam page has it all.
"""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from app.webkit.fields import format_be_date
from scheduling.audit import Actor
from scheduling.clock import local_today, to_local, utcnow
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Hospital,
    HubProtocol,
    ImagingRequest,
    Interface,
    Patient,
    VettingDecision,
)
from scheduling.studies import attach_report
from tests.app.hub.factories import free_slots
from tests.e2e.conftest import fresh, login_as

PDF = b"%PDF-1.4\n% referral letter\n"
MOVE_REASON = "เครื่อง CT ปิดซ่อมบำรุงประจำปี"


def _nav(page, name: str):
    return page.get_by_role("navigation", name="เมนูหลัก").get_by_role("link", name=name)


def test_contrast_ct_from_request_to_report(page, live_server, demo, save_screenshot):
    mkh = demo.session.scalar(select(Hospital).where(Hospital.code == "10707"))
    kanya = demo.session.scalar(select(Patient).where(Patient.given_name_th == "กัญญารัตน์"))

    # -- 1. the community hospital requests, with screening and a referral letter ----------
    login_as(page, live_server, "staff.kudrang")
    page.goto(live_server(f"/requests/patients/{kanya.id}/request"))
    page.get_by_label("ประเภทการตรวจ").select_option("CT")
    search = page.get_by_label("ค้นหารายการตรวจ (ไทยหรืออังกฤษ)")
    search.fill("whole abdomen")
    expect(page.locator("#procedure_id option:not([hidden])")).to_have_count(1)
    search.press("Enter")
    # Contrast CT for a woman of 35: labs, allergy, pregnancy and weight; no MRI questions.
    expect(page.locator('fieldset[data-section="contrast"]')).to_be_visible()
    expect(page.locator('fieldset[data-section="pregnancy"]')).to_be_visible()
    expect(page.locator('fieldset[data-section="weight"]')).to_be_visible()
    expect(page.locator('fieldset[data-section="mri"]')).to_be_hidden()
    page.get_by_label("ข้อบ่งชี้ทางคลินิก").fill("ก้อนในตับ สงสัย hepatoma")
    page.get_by_label("แพทย์ผู้ส่งตรวจ").fill("พญ.มาลัย ใจงาม")
    page.get_by_label("โรงพยาบาลที่จะไปตรวจ").select_option(str(mkh.id))
    page.get_by_label("สิทธิการรักษา").select_option(label="บัตรทอง (UC)")
    page.get_by_label("เลขที่ใบส่งตัว").fill("กร 6911/0077")
    page.get_by_label("ครีเอตินิน (mg/dL)").fill("0.8")
    lab_day = local_today() - timedelta(days=5)
    page.get_by_label("วันที่ตรวจ").fill(format_be_date(lab_day))
    page.locator("input[name=contrast_allergy][value=yes]").check()
    page.get_by_label("อาการแพ้อะไร จากสารทึบรังสีชนิดใด").fill("ผื่นคันหลังฉีด iohexol ปี 2565")
    page.locator("input[name=pregnancy][value=not_pregnant]").check()
    page.get_by_label("น้ำหนัก (กก.)").fill("54")
    page.set_input_files(
        "input[name=referral_letter]",
        files=[{"name": "ใบส่งตัว.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.get_by_role("button", name="ส่งคำขอและเลือกวันนัด").click()
    expect(page.get_by_role("heading", name="คิวที่เร็วที่สุด")).to_be_visible()
    page.locator("a.slot.earliest").click()
    page.get_by_role("button", name="ยืนยันการนัด").click()
    expect(page.get_by_text("ใบนัดตรวจทางรังสี")).to_be_visible()
    fresh(demo)
    request = demo.session.scalar(
        select(ImagingRequest).where(ImagingRequest.patient_id == kanya.id)
    )
    first_slip = page.url
    assert request.screening["contrast_allergy"] == "yes"
    assert request.screening["pregnancy"] == "not_pregnant"
    assert [a.filename for a in request.attachments] == ["ใบส่งตัว.pdf"]
    booked = request.current_appointment
    assert booked.status is AppointmentStatus.BOOKED

    # -- 2. the radiologist vets it with a protocol -----------------------------------------
    page.context.clear_cookies()
    login_as(page, live_server, "radiologist.mkh")
    _nav(page, "พิจารณาคำขอ").click()
    row = page.locator(f'tr[data-request="{request.id}"]')
    expect(row).to_contain_text("CONTRAST ALLERGY")
    row.get_by_role("link", name="พิจารณา").click()
    expect(page.locator("#attachments")).to_contain_text("ใบส่งตัว.pdf")
    protocol = demo.session.scalar(select(HubProtocol).where(HubProtocol.code == "CT-LIV-3P"))
    page.get_by_label("โปรโตคอล", exact=True).select_option(str(protocol.id))
    page.locator("input[name=contrast][value=yes]").check()
    page.get_by_label("หมายเหตุถึงนักรังสีการแพทย์").fill("premedication ตามแนวทาง แพ้สารทึบรังสี")
    page.get_by_role("button", name="อนุมัติด้วยโปรโตคอลนี้").click()
    expect(page.locator(".flash").first).to_contain_text("CT-LIV-3P")
    expect(page.locator(f'tr[data-request="{request.id}"]')).to_have_count(0)
    save_screenshot(page, "vetting-queue-after-approval")

    # -- 3. the hub's scheduler moves it, with a reason --------------------------------------
    fresh(demo)
    booked = demo.session.get(Appointment, booked.id)
    day = to_local(booked.start_at).date()
    target = free_slots(
        booked.request, days_ahead=(day - local_today()).days + 1, ae_title="MKH_CT1", limit=1
    )[0]
    page.context.clear_cookies()
    login_as(page, live_server, "scheduler.mkh")
    page.goto(live_server(f"/hub/appointments/{booked.id}/move"))
    page.get_by_label("วันที่ใหม่").fill(format_be_date(to_local(target.start_at).date()))
    page.get_by_label("เครื่องตรวจ").select_option(str(target.device_id))
    page.get_by_role("button", name="ค้นหาช่วงเวลาว่าง").click()
    page.get_by_label("เหตุผลที่เลื่อนนัด").fill(MOVE_REASON)
    with page.expect_navigation():
        page.locator(f'button[value="{target.device_id}|{target.start_at.isoformat()}"]').click()
    expect(page.locator(".flash").first).to_contain_text("เลื่อนนัดแล้ว")

    # -- 4. the report arrives from the hub's RIS ---------------------------------------------
    fresh(demo)
    request = demo.session.get(ImagingRequest, request.id)
    attach_report(
        Actor(interface=Interface.HL7, name="MKH_RIS", hospital_id=mkh.id),
        utcnow(),
        request,
        text="Multiple hypervascular liver lesions, likely HCC (LI-RADS 5).",
        reported_by="นพ.วีระ รักษ์ภาพ",
    )

    # -- 5. the requester is told, sees the timeline and the superseded slip -----------------
    page.context.clear_cookies()
    login_as(page, live_server, "staff.kudrang")
    badge = _nav(page, "การแจ้งเตือน").locator(".badge-unread")
    expect(badge).to_have_text("2")  # moved, report arrived
    _nav(page, "การแจ้งเตือน").click()
    moved = page.locator('li[data-kind="appointment.moved"]')
    expect(moved).to_contain_text(request.placer_order_number)
    expect(moved).to_contain_text(MOVE_REASON)
    expect(page.locator('li[data-kind="report.arrived"]')).to_be_visible()
    moved.get_by_role("link").click()
    timeline = page.locator("#timeline")
    for action in (
        "request.create",
        "request.attach",
        "appointment.book",
        "request.vet",
        "appointment.reschedule",
        "request.report",
    ):
        expect(timeline.locator(f'li[data-action="{action}"]')).to_have_count(1)
    expect(timeline.locator('li[data-action="appointment.reschedule"]')).to_contain_text(
        MOVE_REASON
    )
    expect(timeline.locator('li[data-action="request.vet"]')).to_contain_text("CT-LIV-3P")
    expect(page.locator("#report-title")).to_be_visible()
    expect(_nav(page, "การแจ้งเตือน").locator(".badge-unread")).to_have_text("1")
    save_screenshot(page, "requester-timeline")
    page.goto(first_slip)
    expect(page.locator(".slip-superseded")).to_contain_text(MOVE_REASON)
    expect(page.locator(".slip-superseded")).to_contain_text("ถูกแทนที่")

    # -- 6. the radiologist's exam page: protocol, screening, file, report, viewer ------------
    fresh(demo)
    request = demo.session.get(ImagingRequest, request.id)
    assert request.vetting_decision is VettingDecision.APPROVED
    new = request.current_appointment
    page.context.clear_cookies()
    login_as(page, live_server, "radiologist.mkh")
    page.goto(live_server(f"/hub/exams/{new.id}"))
    main = page.locator("main")
    expect(main).to_contain_text("CT-LIV-3P")
    expect(main).to_contain_text("CONTRAST ALLERGY")
    expect(main).to_contain_text("LI-RADS 5")
    expect(page.locator("#attachments")).to_contain_text("ใบส่งตัว.pdf")
    assert page.context.external_requests == []
