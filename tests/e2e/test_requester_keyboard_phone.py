"""Keyboard only, on a 360x740 phone: find a patient, request, book, open the slip.

Each page is checked for horizontal overflow and saved as a screenshot
(``E2E_SCREENSHOT_DIR``) for a human look at the layout.
"""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from scheduling.models import Appointment, ImagingRequest, Patient
from tests.e2e.conftest import assert_fits_width, fresh, login_as, tab_to


def test_requester_books_with_the_keyboard_alone_on_a_phone(
    phone_page, live_server, demo, save_screenshot
):
    page = phone_page
    login_as(page, live_server, "staff.kudrang")
    assert_fits_width(page)
    save_screenshot(page, "phone-1-request-list")

    tab_to(page, "a[href='/requests/new']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="ส่งตรวจทางรังสีใหม่")).to_be_visible()
    tab_to(page, "#q")  # autofocus usually has it already
    page.keyboard.type("KR0001")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="ผู้ป่วยที่พบ")).to_be_visible()
    assert_fits_width(page)
    save_screenshot(page, "phone-2-patient-found")
    tab_to(page, "ul.results a")
    page.keyboard.press("Enter")

    expect(page.locator(".patient-name")).to_have_text("นางสมศรี ทองดี")
    tab_to(page, "#procedure-search")
    page.keyboard.type("ไทรอยด์")
    page.keyboard.press("Enter")  # first match, focus moves to the list
    expect(page.locator("#procedure-prep")).to_have_text("ไม่ต้องเตรียมตัว")
    tab_to(page, "#indication")
    page.keyboard.type("ก้อนที่คอ")
    tab_to(page, "#requesting_clinician")
    page.keyboard.type("พญ.สุดา ใจงาม")
    tab_to(page, "#treatment_right")
    page.keyboard.press("ArrowDown")  # the first right after "—": UC (บัตรทอง)
    expect(page.locator("#treatment_right")).to_have_value("UC")
    tab_to(page, "#referral_number")
    page.keyboard.type("กร 6911/0101")
    assert_fits_width(page)
    save_screenshot(page, "phone-3-request-form")
    tab_to(page, "input[type=submit]")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="คิวที่เร็วที่สุด")).to_be_visible()
    assert_fits_width(page)
    save_screenshot(page, "phone-4-slots")
    tab_to(page, "a.slot.earliest")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="ยืนยันการนัดหมาย")).to_be_visible()
    assert_fits_width(page)
    tab_to(page, "input[type=submit]")
    page.keyboard.press("Enter")

    expect(page.get_by_text("ใบนัดตรวจทางรังสี")).to_be_visible()
    assert_fits_width(page)
    save_screenshot(page, "phone-5-slip")

    fresh(demo)
    request = demo.session.scalar(
        select(ImagingRequest).join(Patient).where(Patient.given_name_th == "สมศรี")
    )
    assert request.procedure.code == "US-THY"
    assert request.requesting_clinician == "พญ.สุดา ใจงาม"
    appointment = demo.session.scalar(
        select(Appointment).where(Appointment.request_id == request.id)
    )
    expect(page.locator("article.slip")).to_contain_text(appointment.appointment_code)
    assert page.context.external_requests == []


def test_registration_errors_sit_beside_their_fields_on_a_phone(
    phone_page, live_server, demo, save_screenshot
):
    page = phone_page
    login_as(page, live_server, "staff.kudrang")
    page.goto(live_server("/requests/patients/new"))
    page.get_by_label("เลขบัตร", exact=True).fill("1234567890123")
    page.get_by_label("ปี (พ.ศ.)").fill("1990")
    page.get_by_role("button", name="บันทึกข้อมูลผู้ป่วย").click()
    expect(page.locator("#id_value-error")).to_have_text(
        "เลขบัตรประชาชนไม่ถูกต้อง: เลขตรวจสอบหลักสุดท้ายไม่ตรง"
    )
    expect(page.locator("#given_name_th-error")).to_have_text("กรุณากรอกชื่อ")
    expect(page.locator("#birth_year_be-error")).to_have_text(
        "กรุณาใส่วัน เดือน และปี ให้ครบ หรือเว้นว่างทั้งสามช่อง"
    )
    assert page.locator("#given_name_th").get_attribute("aria-invalid") == "true"
    # The server's message is not repeated by the live check; editing hands over to it.
    expect(page.locator("#id_value-live")).to_have_text("")
    page.get_by_label("เลขบัตร", exact=True).fill("1101700230708")
    expect(page.locator("#id_value-error")).to_be_hidden()
    expect(page.locator("#id_value-live")).to_have_text("เลขบัตรประชาชนถูกต้อง")
    assert_fits_width(page)
    save_screenshot(page, "phone-6-registration-errors")
