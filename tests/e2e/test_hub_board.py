"""The hub scheduler's day board in a real browser: book a request into a gap, move a
block with the keyboard alone, mark a no-show (confirmed) and undo it; the waiting list
offers a cancelled slot and books the offer.

Assertions are on Thai text and on what the database holds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from scheduling.clock import local_today, to_local, utcnow
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    ImagingRequest,
    RequestStatus,
    StaffNotification,
)
from tests.app.hub.factories import (
    book_request,
    device,
    make_appointment,
    make_request,
    submit_request,
)
from tests.e2e.conftest import fresh, login_as, tab_to


@pytest.fixture
def board_day(demo):
    booked = book_request(
        submit_request(patient_name="บุญเลิศ", indication="นิ่วในไต"), ae_title="MKH_US1"
    )
    waiting = submit_request(patient_name="กัญญารัตน์", indication="ก้อนที่ตับ")
    demo.session.commit()
    day = to_local(booked.start_at).date()
    return {"booked": booked.id, "waiting": waiting.id, "day": day}


def _open_board(page, live_server, day) -> None:
    page.goto(live_server(f"/hub/day?date={day.isoformat()}"))
    assert "ตารางรายวัน" in page.locator("h1").inner_text()


def test_book_a_request_into_a_gap(page, live_server, demo, board_day, save_screenshot):
    login_as(page, live_server, "scheduler.mkh")
    _open_board(page, live_server, board_day["day"])
    save_screenshot(page, "hub-board")
    us1 = device("MKH_US1")
    gap = page.locator(f'[aria-labelledby="dev-{us1.id}"] .gap a').first
    assert gap.get_attribute("aria-label").startswith("จองช่วงว่างนี้")
    gap.click()
    assert "จองช่วงเวลาว่าง" in page.locator("h1").inner_text()
    row = page.locator(f"#req-{board_day['waiting']}")
    assert "นางสาวกัญญารัตน์" in row.inner_text()
    with page.expect_navigation():
        row.get_by_role("button").click()
    assert "นัดแล้ว" in page.locator(".flash").first.inner_text()

    fresh(demo)
    req = demo.session.get(ImagingRequest, board_day["waiting"])
    assert req.status is RequestStatus.SCHEDULED
    new = req.current_appointment
    assert new.device.ae_title == "MKH_US1"
    assert to_local(new.start_at).date() == board_day["day"]
    # The board shows the new block where the gap was.
    assert page.locator(f"#appt-{new.id}").count() == 1
    assert page.context.external_requests == []


def test_move_a_block_with_the_keyboard(page, live_server, demo, board_day, save_screenshot):
    login_as(page, live_server, "scheduler.mkh")
    _open_board(page, live_server, board_day["day"])
    block = f"#appt-{board_day['booked']}"
    tab_to(page, f"{block} summary")
    page.keyboard.press("Enter")  # opens the block's menu
    tab_to(page, f"{block} a.move-link")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "กำลังย้ายนัด" in page.locator("main").inner_text()
    us2 = device("MKH_US2")
    target = f'[aria-labelledby="dev-{us2.id}"] .gap.target button'
    label = page.locator(target).first.inner_text()
    tab_to(page, target, limit=400)
    save_screenshot(page, "hub-board-moving")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "เลื่อนนัดแล้ว" in page.locator(".flash").first.inner_text()

    fresh(demo)
    old = demo.session.get(Appointment, board_day["booked"])
    assert old.status is AppointmentStatus.MOVED
    new = demo.session.scalar(select(Appointment).where(Appointment.rescheduled_from_id == old.id))
    assert new.device.ae_title == "MKH_US2"
    assert to_local(new.start_at).strftime("%H:%M") in label


def test_no_show_is_confirmed_and_can_be_undone_the_same_day(page, live_server, demo):
    # A booking that started an hour ago today (the suite's clock: Saturday 09:00).
    req = make_request(now=utcnow(), patient_name="ประเสริฐ", status=RequestStatus.ACCEPTED)
    appointment = make_appointment(req, ae_title="MKH_US1", start_at=utcnow() - timedelta(hours=1))
    demo.session.commit()
    login_as(page, live_server, "scheduler.mkh")
    _open_board(page, live_server, local_today())
    block = page.locator(f"#appt-{appointment.id}")
    assert page.locator(".now-line").count() >= 1  # the current time is marked
    block.locator("summary").click()
    block.get_by_role("link", name="ไม่มาตามนัด").click()
    # A confirmation page first: nothing changed yet.
    assert "บันทึกว่าไม่มาตามนัด" in page.locator("h1").inner_text()
    fresh(demo)
    assert demo.session.get(Appointment, appointment.id).status is AppointmentStatus.BOOKED
    with page.expect_navigation():
        page.get_by_role("button", name="ยืนยันว่าไม่มาตามนัด").click()
    assert "ไม่มาตามนัด" in page.locator(".flash").first.inner_text()
    fresh(demo)
    assert demo.session.get(Appointment, appointment.id).status is AppointmentStatus.NO_SHOW
    assert demo.session.get(ImagingRequest, req.id).status is RequestStatus.ACCEPTED

    block = page.locator(f"#appt-{appointment.id}")
    block.locator("summary").click()
    with page.expect_navigation():
        block.get_by_role("button", name="ยกเลิกการบันทึกไม่มา").click()
    assert "กลับมามีนัดตามเดิม" in page.locator(".flash").first.inner_text()
    fresh(demo)
    assert demo.session.get(Appointment, appointment.id).status is AppointmentStatus.BOOKED
    assert demo.session.get(ImagingRequest, req.id).status is RequestStatus.SCHEDULED


def test_a_cancelled_slot_is_offered_to_the_waiting_list(page, live_server, demo, board_day):
    first = demo.session.get(Appointment, board_day["booked"])
    # Somebody booked a week later who would come earlier.
    later = book_request(
        submit_request(patient_name="สมศรี", indication="ปวดท้อง"),
        days_ahead=(board_day["day"] - local_today()).days + 7,
        ae_title="MKH_US1",
    )
    demo.session.commit()
    login_as(page, live_server, "scheduler.mkh")
    page.goto(live_server(f"/hub/requests/{later.request_id}"))
    with page.expect_navigation():
        page.get_by_role("button", name="เพิ่มในรายชื่อรอคิว").click()
    assert "เพิ่มในรายชื่อรอคิวแล้ว" in page.locator(".flash").first.inner_text()
    assert "นางสมศรี" in page.locator("main").inner_text()

    # Cancelling the earlier booking offers its slot to the list.
    _open_board(page, live_server, board_day["day"])
    block = page.locator(f"#appt-{first.id}")
    block.locator("summary").click()
    block.get_by_role("link", name="ยกเลิกนัด").click()
    page.get_by_label("เหตุผล").fill("ผู้ป่วยขอยกเลิก")
    with page.expect_navigation():
        page.get_by_role("button", name="ยกเลิกนัด").click()
    assert "มีช่วงเวลาว่าง" in page.locator("h1").inner_text()
    offer = page.locator("ol.offers li").first
    assert "นางสมศรี" in offer.inner_text()
    with page.expect_navigation():
        offer.get_by_role("button").click()
    assert "จองจากรายชื่อรอคิวแล้ว" in page.locator(".flash").first.inner_text()

    fresh(demo)
    moved = demo.session.get(Appointment, later.id)
    assert moved.status is AppointmentStatus.MOVED
    new = demo.session.scalar(
        select(Appointment).where(Appointment.rescheduled_from_id == later.id)
    )
    assert new.start_at == first.start_at and new.device_id == first.device_id
    told = demo.session.scalars(
        select(StaffNotification).where(StaffNotification.kind == "waitlist.booked")
    ).all()
    assert [n.hospital_id for n in told] == [new.request.requesting_hospital_id]


def test_a_closures_bookings_are_flagged_and_moved_together(page, live_server, demo, board_day):
    from scheduling.capacity import add_day_closure
    from scheduling.models import ClosureKind
    from tests.app.hub.factories import actor_for

    first = demo.session.get(Appointment, board_day["booked"])
    closure = add_day_closure(
        actor_for("scheduler.mkh"),
        utcnow(),
        kind=ClosureKind.DEVICE_DOWNTIME,
        day=board_day["day"],
        device=first.device,
        name_th="เครื่องเสีย รออะไหล่",
    )
    login_as(page, live_server, "scheduler.mkh")
    # Flagged on the board ...
    _open_board(page, live_server, board_day["day"])
    assert "อยู่ในช่วงปิดทำการ" in page.locator(f"#appt-{first.id}").inner_text()
    # ... and listed with the closure, from the capacity page.
    page.goto(live_server("/hub/capacity"))
    page.locator(f'a[href="/hub/capacity/closures/{closure.id}"]').click()
    assert "นัดที่อยู่ในช่วงปิดทำการ" in page.locator("h1").inner_text()
    assert "นายบุญเลิศ" in page.locator(f"#appt-{first.id}").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="ย้ายนัดทั้งหมด").click()
    assert "ย้ายไปช่วงว่างถัดไป 1 นัด" in page.locator(".flash").first.inner_text()
    assert "ไม่มีนัดอยู่ในช่วงปิดทำการนี้" in page.locator("main").inner_text()

    fresh(demo)
    old = demo.session.get(Appointment, first.id)
    assert old.status is AppointmentStatus.MOVED and old.status_reason == "เครื่องเสีย รออะไหล่"
    new = demo.session.scalar(select(Appointment).where(Appointment.rescheduled_from_id == old.id))
    assert new.start_at >= closure.end_at
    note = demo.session.scalar(
        select(StaffNotification).where(StaffNotification.kind == "closure.moved")
    )
    assert note.hospital_id == old.request.requesting_hospital_id
    assert note.reason == "เครื่องเสีย รออะไหล่"


def test_the_day_list_downloads_as_xlsx_with_thai_and_buddhist_era(
    page, live_server, demo, board_day, tmp_path
):
    from openpyxl import load_workbook

    from app.webkit.fields import format_be_date

    first = demo.session.get(Appointment, board_day["booked"])
    login_as(page, live_server, "scheduler.mkh")
    _open_board(page, live_server, board_day["day"])
    with page.expect_download() as download:
        page.get_by_role("link", name="รายชื่อนัดรายวัน (.xlsx)").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    sheet = load_workbook(path).active
    assert sheet["A1"].value.startswith("โรงพยาบาลมหาสารคาม")
    assert [c.value for c in sheet[2]][:5] == ["วันที่", "เวลา", "ถึง", "เครื่องตรวจ", "ผู้ป่วย"]
    row = [c.value for c in sheet[3]]
    assert row[0] == format_be_date(board_day["day"])
    assert row[0].endswith(str(board_day["day"].year + 543))
    assert row[1] == to_local(first.start_at).strftime("%H:%M")
    assert row[3] == "MKH_US1"
    assert row[4] == "นายบุญเลิศ ศรีสุวรรณ"
    assert row[9] == first.accession_number
    assert sheet.max_row == 3


def test_the_template_import_refuses_a_bad_row(page, live_server, demo, tmp_path):
    from openpyxl import Workbook

    from scheduling.models import CapacityTemplate

    before = demo.session.query(CapacityTemplate).count()
    book = Workbook()
    sheet = book.active
    sheet.append(["เครื่อง", "ชื่อ", "วัน", "เริ่ม", "ถึง", "พร้อมกัน", "นาที", "ตั้งแต่", "ถึง"])
    sheet.append(["MKH_US1", "ปีใหม่", "จ.", "08:00", "12:00", 1, 20, "01/01/2570", ""])
    sheet.append(["MKH_US1", "ปีใหม่", "วันอังคาร", "25:00", "12:00", 1, 20, "01/01/2570", ""])
    path = tmp_path / "templates.xlsx"
    book.save(path)
    login_as(page, live_server, "scheduler.mkh")
    page.goto(live_server("/hub/capacity"))
    page.get_by_role("link", name="นำเข้าแม่แบบจำนวนรับ").click()
    page.get_by_label("ไฟล์ (.xlsx)").set_input_files(str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="ดูตัวอย่าง").click()
    assert "มี 1 จาก 2 แถวที่ไม่ถูกต้อง" in page.locator("main").inner_text()
    assert page.locator("tr.row-error").count() == 1
    assert "กรอกเวลาแบบ ชช:นน" in page.locator("#row-3").inner_text()
    assert page.get_by_role("button", name="บันทึกแม่แบบเหล่านี้").count() == 0
    fresh(demo)
    assert demo.session.query(CapacityTemplate).count() == before


def test_the_menu_fits_1366_px_and_folds_on_a_phone(
    browser, live_server, demo, phone_page, save_screenshot
):
    from tests.e2e.conftest import _close, _context

    context = _context(browser, viewport={"width": 1366, "height": 768})
    try:
        wide = context.new_page()
        login_as(wide, live_server, "scheduler.mkh")
        wide.goto(live_server("/hub/day"))
        menu = wide.get_by_role("navigation", name="เมนูหลัก")
        links = menu.get_by_role("link")
        tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
        assert len(tops) == 1, tops  # one line
        assert "ระบบขอตรวจและนัดตรวจทางรังสี" in wide.locator(".brand").inner_text()
        save_screenshot(wide, "menu-1366", full_page=False)
    finally:
        _close(context)

    login_as(phone_page, live_server, "scheduler.mkh")
    phone_page.goto(live_server("/hub/day"))
    menu = phone_page.get_by_role("navigation", name="เมนูหลัก")
    assert not menu.is_visible()
    phone_page.get_by_text("เมนู", exact=True).click()
    assert menu.is_visible()
    assert menu.get_by_role("link", name="ตารางรายวัน").is_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 360
