"""The hub scheduler's day in a real browser (Debian chromium): reject a request with a
reason, move a booking to another device; the pages fit a 360-px phone.

Assertions are on Thai text and on what the database holds.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.webkit.fields import format_be_date
from scheduling.clock import local_today, to_local
from scheduling.models import Appointment, AppointmentStatus, ImagingRequest, RequestStatus
from tests.app.hub.factories import book_request, free_slots, submit_request
from tests.e2e.conftest import fresh, login_as


@pytest.fixture
def hub_day(demo):
    """One new request from Kud Rang to reject, and one booked exam to move."""
    to_reject = submit_request(patient_name="กัญญารัตน์", indication="ปวดท้องน้อยเรื้อรัง")
    to_move = book_request(
        submit_request(patient_name="บุญเลิศ", indication="นิ่วในไต"), ae_title="MKH_US1"
    )
    demo.session.commit()
    return {"reject": to_reject.id, "move": to_move.id}


def test_scheduler_rejects_a_request_with_a_reason(
    page, live_server, demo, hub_day, save_screenshot
):
    login_as(page, live_server, "scheduler.mkh")
    page.get_by_role("navigation", name="เมนูหลัก").get_by_role("link", name="คำขอเข้าใหม่").click()
    row = page.locator("tr", has_text="ปวดท้องน้อยเรื้อรัง")
    row.get_by_role("link", name="เปิด").click()
    assert "นางสาวกัญญารัตน์ พลราช" in page.locator("main").inner_text()

    # Rejecting with no reason: the Thai message appears beside the field, nothing changes.
    page.get_by_role("button", name="ปฏิเสธคำขอ").click()
    error = page.locator("#reject-reason-error")
    assert "กรุณาระบุเหตุผล" in error.inner_text()
    fresh(demo)
    assert demo.session.get(ImagingRequest, hub_day["reject"]).status is RequestStatus.SUBMITTED

    # The keyboard alone: type the reason, Tab to the button, Enter.
    page.get_by_label("เหตุผล").fill("ข้อมูลไม่พอ กรุณาแนบผลอัลตราซาวด์เดิม")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "ปฏิเสธคำขอ"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "ปฏิเสธคำขอแล้ว" in page.locator(".flash").first.inner_text()
    save_screenshot(page, "hub-inbox-after-reject")

    fresh(demo)
    rejected = demo.session.get(ImagingRequest, hub_day["reject"])
    assert rejected.status is RequestStatus.REJECTED
    assert rejected.status_reason == "ข้อมูลไม่พอ กรุณาแนบผลอัลตราซาวด์เดิม"
    assert page.context.external_requests == []


def test_scheduler_moves_a_booking_to_another_device(
    page, live_server, demo, hub_day, save_screenshot
):
    fresh(demo)
    appointment = demo.session.get(Appointment, hub_day["move"])
    day = to_local(appointment.start_at).date()
    # The first free slot on the other ultrasound from the day after the booking.
    target = free_slots(
        appointment.request, days_ahead=(day - local_today()).days + 1, ae_title="MKH_US2", limit=1
    )[0]
    target_day = to_local(target.start_at).date()

    login_as(page, live_server, "scheduler.mkh")
    page.get_by_role("navigation", name="เมนูหลัก").get_by_role("link", name="ตารางรายวัน").click()
    # Go to the booking's day by typing a Buddhist-Era date, as staff do.
    page.get_by_label("วันที่").fill(format_be_date(day))
    with page.expect_navigation():
        page.get_by_label("วันที่").press("Enter")
    row = page.locator(f"#appt-{appointment.id}")
    assert "นายบุญเลิศ ศรีสุวรรณ" in row.inner_text()
    save_screenshot(page, "hub-day-before-move")
    row.locator("summary").click()  # a block on the day board opens its menu
    row.get_by_role("link", name="เลื่อนนัด").click()

    page.get_by_label("วันที่ใหม่").fill(format_be_date(target_day))
    page.get_by_label("เครื่องตรวจ").select_option(str(target.device_id))
    page.get_by_role("button", name="ค้นหาช่วงเวลาว่าง").click()
    page.get_by_label("เหตุผลที่เลื่อนนัด").fill("เครื่อง 1 ปิดซ่อม")
    slot_value = f"{target.device_id}|{target.start_at.isoformat()}"
    with page.expect_navigation():
        page.locator(f'button[value="{slot_value}"]').click()
    assert "เลื่อนนัดแล้ว" in page.locator(".flash").first.inner_text()
    assert "MKH_US2" in page.locator(".flash").first.inner_text()
    save_screenshot(page, "hub-day-after-move")

    fresh(demo)
    old = demo.session.get(Appointment, hub_day["move"])
    assert old.status is AppointmentStatus.MOVED and old.status_reason == "เครื่อง 1 ปิดซ่อม"
    new = demo.session.scalar(select(Appointment).where(Appointment.rescheduled_from_id == old.id))
    assert new.status is AppointmentStatus.BOOKED
    assert new.device.ae_title == "MKH_US2" and new.start_at == target.start_at
    assert page.context.external_requests == []


PHONE_PAGES = [
    ("scheduler.mkh", "/hub/inbox", "คำขอเข้าใหม่"),
    ("scheduler.mkh", "/hub/day", "ตารางรายวัน"),
    ("scheduler.mkh", "/hub/week", "ตารางรายสัปดาห์"),
    ("scheduler.mkh", "/hub/capacity", "จำนวนรับ"),
    ("scheduler.mkh", "/dashboard/", "แดชบอร์ด"),
    ("radiologist.mkh", "/hub/exams", "รายการตรวจ"),
    ("admin", "/admin/devices", "เครื่องตรวจ"),
    ("admin", "/admin/audit", "บันทึกการใช้งาน"),
    ("staff.kudrang", "/help/requester", "คู่มือเจ้าหน้าที่โรงพยาบาลชุมชน"),
]


@pytest.mark.parametrize(("username", "path", "heading"), PHONE_PAGES)
def test_hub_pages_fit_a_phone(
    phone_page, live_server, demo, hub_day, save_screenshot, username, path, heading
):
    login_as(phone_page, live_server, username)
    phone_page.goto(live_server(path))
    assert heading in phone_page.locator("h1").inner_text()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 360
    assert phone_page.locator("script").count() == 0
    save_screenshot(phone_page, "phone" + path.replace("/", "-").rstrip("-"))
    assert phone_page.context.external_requests == []
