"""A community-hospital requester's day in a real browser (issue 4, item 7).

รพ.กุดรัง registers a patient, requests an upper-abdomen ultrasound, books the
earliest ultrasound slot and opens the slip; รพ.โกสุมพิสัย sees none of it.
Assertions are on Thai text and on the database, not on pixels.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from scheduling.availability import find_slots
from scheduling.clock import to_local, utcnow
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    ImagingRequest,
    Patient,
    RequestStatus,
)
from scheduling.patients import national_id_check_digit
from scheduling.thaidate import thai_date
from tests.e2e.conftest import fresh, login_as

STEM = "399000011112"
CID = STEM + national_id_check_digit(STEM)
WRONG_CID = STEM + str((int(national_id_check_digit(STEM)) + 1) % 10)


def _pdf_pages(page) -> list[str]:
    """Width and height (pt) of each page of the printed PDF."""
    pdf = page.pdf(prefer_css_page_size=True)
    return [
        m.decode()
        for m in re.findall(rb"/Type\s*/Page[^s].*?/MediaBox\s*\[0 0 ([\d. ]+)\]", pdf, flags=re.S)
    ]


def _earliest_ultrasound(db, request: ImagingRequest):
    return find_slots(
        utcnow(),
        request.procedure,
        requesting_hospital_id=request.requesting_hospital_id,
        patient=request.patient,
        limit=1,
    )[0]


def test_kudrang_books_the_earliest_ultrasound_and_kosum_cannot_see_it(
    page, browser, live_server, demo, save_screenshot
):
    login_as(page, live_server, "staff.kudrang")
    page.get_by_role("link", name="ขอตรวจใหม่").first.click()
    expect(page.get_by_role("heading", name="ส่งตรวจทางรังสีใหม่")).to_be_visible()

    # Find by national ID: not registered yet, so the registration form opens with it.
    page.get_by_label("เลขบัตรประชาชน, HN หรือชื่อ").fill(CID)
    page.get_by_role("button", name="ค้นหา").click()
    expect(page.get_by_role("heading", name="ลงทะเบียนผู้ป่วย")).to_be_visible()
    id_field = page.get_by_label("เลขบัตร", exact=True)
    expect(id_field).to_have_value(CID)

    # The check digit is checked as they type, in Thai.
    id_field.fill(WRONG_CID)
    expect(page.locator("#id_value-live")).to_have_text(
        "เลขบัตรประชาชนไม่ถูกต้อง: เลขตรวจสอบหลักสุดท้ายไม่ตรง"
    )
    id_field.fill(CID)
    expect(page.locator("#id_value-live")).to_have_text("เลขบัตรประชาชนถูกต้อง")

    page.get_by_label("คำนำหน้าชื่อ").select_option(label="นาง")
    page.get_by_label("ชื่อ (ภาษาไทย)").fill("บัวผัน")
    page.get_by_label("นามสกุล (ภาษาไทย)").fill("ศรีมหาราช")
    page.get_by_label("วันที่").select_option("5")
    page.get_by_label("เดือน").select_option(label="พฤษภาคม")
    page.get_by_label("ปี (พ.ศ.)").fill("2510")
    page.get_by_label("หญิง").check()
    page.get_by_label("โทรศัพท์มือถือ").fill("0891234567")
    page.get_by_label("HN ของโรงพยาบาลนี้").fill("KR5555")
    page.get_by_role("button", name="บันทึกข้อมูลผู้ป่วย").click()

    # The request: find the procedure by typing English into the Thai page.
    expect(page.get_by_role("heading", name="ส่งตรวจทางรังสีใหม่")).to_be_visible()
    expect(page.locator(".patient-name")).to_have_text("นางบัวผัน ศรีมหาราช")
    page.get_by_label("ประเภทการตรวจ").select_option(label="อัลตราซาวด์")
    search = page.get_by_label("ค้นหารายการตรวจ (ไทยหรืออังกฤษ)")
    search.fill("upper abdomen")
    # The list has been narrowed: the picker's script is handling this box, so Enter
    # will pick rather than submit (on a loaded machine the test could otherwise race it).
    expect(page.locator("#procedure_id option:not([hidden])")).to_have_count(1)
    search.press("Enter")  # picks the first match
    expect(page.locator("#procedure-prep")).to_contain_text("งดน้ำและอาหาร")
    page.get_by_label("ข้อบ่งชี้ทางคลินิก").fill("ปวดท้องด้านขวาบน สงสัยนิ่วในถุงน้ำดี")
    page.get_by_label("รหัส ICD-10 (ถ้ามี)").fill("k802")
    page.get_by_label("แพทย์ผู้ส่งตรวจ").fill("นพ.สมชาย ใจดี")
    page.get_by_label("สิทธิการรักษา").select_option(label="บัตรทอง (UC)")
    page.get_by_label("เลขที่ใบส่งตัว").fill("กร 6911/0042")
    # An ultrasound asks no safety questions: the screening sections stay hidden.
    expect(page.locator("fieldset[data-section]:visible")).to_have_count(0)
    page.get_by_role("button", name="ส่งคำขอและเลือกวันนัด").click()

    # The earliest slot across hubs comes first.
    expect(page.get_by_role("heading", name="คิวที่เร็วที่สุด")).to_be_visible()
    fresh(demo)
    request = demo.session.scalar(
        select(ImagingRequest).join(Patient).where(Patient.id_value == CID)
    )
    assert request.status is RequestStatus.SUBMITTED
    assert request.procedure.code == "US-UPABD"
    assert request.icd10_code == "K80.2"
    earliest = _earliest_ultrasound(demo, request)
    first = page.locator("a.slot.earliest")
    expect(first).to_contain_text(thai_date(earliest.start_at, long=True, weekday=True))
    expect(first).to_contain_text(to_local(earliest.start_at).strftime("%H:%M"))
    first.click()
    expect(page.get_by_role("heading", name="ยืนยันการนัดหมาย")).to_be_visible()
    page.get_by_role("button", name="ยืนยันการนัด").click()

    # The slip.
    expect(page.get_by_text("ใบนัดตรวจทางรังสี")).to_be_visible()
    fresh(demo)
    appointment = demo.session.scalar(
        select(Appointment).where(Appointment.request_id == request.id)
    )
    assert appointment.status is AppointmentStatus.BOOKED
    assert (appointment.device_id, appointment.start_at) == (earliest.device_id, earliest.start_at)
    assert appointment.device.ae_title in ("MKH_US1", "MKH_US2")
    demo.session.refresh(request)
    assert request.status is RequestStatus.SCHEDULED
    slip = page.locator("article.slip")
    expect(slip).to_contain_text(thai_date(appointment.start_at, long=True, weekday=True))
    expect(slip).to_contain_text(f"{to_local(appointment.start_at):%H:%M} น.")
    expect(slip).to_contain_text("โรงพยาบาลมหาสารคาม")
    expect(slip).to_contain_text(appointment.device.room_th)
    expect(slip).to_contain_text(appointment.appointment_code)
    expect(slip).to_contain_text("งดน้ำและอาหาร")
    expect(slip.locator("svg.qr")).to_be_visible()
    assert re.search(r"/requests/appointments/\d+/slip$", page.url)
    slip_url = page.url
    save_screenshot(page, "requester-slip-desktop")
    # Printed, the slip is one A5 page (420 x 595 pt), or one A4 page with ?paper=a4.
    assert _pdf_pages(page) == ["420 594.95996"]
    page.goto(slip_url + "?paper=a4")
    assert _pdf_pages(page) == ["594.95996 841.91998"]
    assert page.context.external_requests == []

    # รพ.โกสุมพิสัย: not in the list, 404 on the request and on the slip.
    kosum_context = browser.new_context(locale="th-TH")
    try:
        kosum = kosum_context.new_page()
        login_as(kosum, live_server, "staff.kosum")
        kosum.goto(live_server("/requests"))
        expect(kosum.get_by_role("heading", name=re.compile("คำขอตรวจทางรังสี"))).to_be_visible()
        assert "บัวผัน" not in kosum.content()
        kosum.goto(live_server("/requests?status=scheduled"))
        assert "บัวผัน" not in kosum.content()
        for url in (live_server(f"/requests/{request.id}"), slip_url):
            response = kosum.goto(url)
            assert response.status == 404
            assert "บัวผัน" not in kosum.content()
    finally:
        kosum_context.close()
