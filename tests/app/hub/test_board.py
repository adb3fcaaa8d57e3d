"""The day board, the waiting list and the no-show undo through the web and the core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduling import noshow, waitlist
from scheduling.board import Gap, GapFitter, device_gaps
from scheduling.clock import local_today, to_local, utcnow
from scheduling.errors import Conflict
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    ImagingRequest,
    RequestStatus,
    Role,
    StaffNotification,
    User,
    WaitlistEntry,
    WaitlistOutcome,
)
from tests.app.hub.factories import (
    actor_for,
    book_request,
    device,
    hospital,
    make_appointment,
    make_request,
    submit_request,
)
from tests.conftest import login

# 2026-11-23 is a Monday; 09:00 Bangkok is 02:00 UTC. MKH_US1 opens 08:30-16:00, one at a time.
MONDAY = datetime(2026, 11, 23, tzinfo=UTC).date()
MONDAY_9 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def scheduler(client, demo):
    login(client, "scheduler.mkh")
    return client


@pytest.fixture
def udon_client(app, demo):
    other = User(
        username="scheduler.udn",
        full_name="งานนัด อุดร",
        role=Role.SCHEDULER,
        hospital_id=hospital("10671").id,
        created_at=utcnow(),
    )
    other.set_password("radbook-demo")
    demo.session.add(other)
    demo.session.commit()
    client = app.test_client()
    login(client, "scheduler.udn")
    return client


# -- gaps ---------------------------------------------------------------------------------


def test_gaps_are_the_windows_less_the_bookings(demo, now):
    us1 = device("MKH_US1")
    booked = {us1.id: [(MONDAY_9, MONDAY_9 + timedelta(minutes=20))]}
    gaps = device_gaps([us1], MONDAY, booked)[us1.id]
    local = [(to_local(g.start).strftime("%H:%M"), to_local(g.end).strftime("%H:%M")) for g in gaps]
    # Boundaries: the booking's start ends one gap, its end starts the next (half-open).
    assert local == [("08:30", "09:00"), ("09:20", "16:00")]
    assert all(g.free == 1 for g in gaps)


def test_a_closure_takes_its_time_out_of_the_gaps(demo, now):
    from scheduling.capacity import add_closure
    from scheduling.clock import local_datetime
    from scheduling.models import ClosureKind

    us1 = device("MKH_US1")
    add_closure(
        actor_for("scheduler.mkh"),
        now,
        kind=ClosureKind.DEVICE_DOWNTIME,
        device=us1,
        start_at=local_datetime(MONDAY, datetime.min.time().replace(hour=12)),
        end_at=local_datetime(MONDAY, datetime.min.time().replace(hour=13)),
        name_th="ซ่อม",
    )
    gaps = device_gaps([us1], MONDAY, {})[us1.id]
    local = [(to_local(g.start).strftime("%H:%M"), to_local(g.end).strftime("%H:%M")) for g in gaps]
    assert local == [("08:30", "12:00"), ("13:00", "16:00")]


def test_a_booking_fits_a_gap_on_the_device_grid(demo, now):
    us1 = device("MKH_US1")
    req = make_request(now=now)
    fitter = GapFitter([us1])
    gap = Gap(us1.id, MONDAY_9 + timedelta(minutes=5), MONDAY_9 + timedelta(minutes=40), 1, 1)
    start = fitter.first_start(gap, req.procedure)
    assert start is not None and start >= gap.start
    assert start + timedelta(minutes=req.procedure.duration_minutes) <= gap.end
    too_short = Gap(us1.id, MONDAY_9, MONDAY_9 + timedelta(minutes=5), 1, 1)
    assert fitter.first_start(too_short, req.procedure) is None


# -- the board page -------------------------------------------------------------------------


def test_board_shows_blocks_and_gaps_and_finds_a_patient(scheduler, demo, now):
    a = make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9)
    demo.session.commit()
    html = _html(scheduler.get("/hub/day?date=2026-11-23"))
    assert f'id="appt-{a.id}"' in html and "นางสมศรี ทองดี" in html
    assert "/hub/day/gap?device=" in html and "09:20–16:00" in html
    # The patient search is a POST: names stay out of the URL.
    found = _html(scheduler.post("/hub/day?date=2026-11-23", data={"q": "สมศรี"}))
    assert "พบ 1 นัดที่ตรงกับ" in found and f"#appt-{a.id}" in found
    none = _html(scheduler.post("/hub/day?date=2026-11-23", data={"q": "ไม่มีชื่อนี้"}))
    assert "พบ 0 นัด" in none


def test_board_pages_devices_and_says_how_many(scheduler, demo, monkeypatch):
    from app.hub import board_view

    monkeypatch.setattr(board_view, "BOARD_PAGE", 2)
    html = _html(scheduler.get("/hub/day?date=2026-11-23"))
    assert "เครื่องถัดไป" in html and html.count('class="board-head" id="dev-') == 2


def test_gap_page_lists_waiting_then_accepted_requests(scheduler, demo):
    us1 = device("MKH_US1")
    req = submit_request(patient_name="กัญญารัตน์")
    gap = {"device": us1.id, "start": MONDAY_9.isoformat()}
    gap["end"] = (MONDAY_9 + timedelta(hours=1)).isoformat()
    html = _html(scheduler.get("/hub/day/gap", query_string=gap))
    assert f'id="req-{req.id}"' in html and "จองเวลา" in html
    assert scheduler.get(f"/hub/day/gap?device={us1.id}&start=x&end=y").status_code == 400


def test_another_hub_cannot_open_this_hubs_gaps_or_list(udon_client, demo):
    us1 = device("MKH_US1")
    req = submit_request()
    gap = {"device": us1.id, "start": MONDAY_9.isoformat()}
    gap["end"] = (MONDAY_9 + timedelta(hours=1)).isoformat()
    assert udon_client.get("/hub/day/gap", query_string=gap).status_code == 404
    assert udon_client.get("/hub/waitlist/offers", query_string=gap).status_code == 404
    assert udon_client.post(f"/hub/requests/{req.id}/waitlist").status_code == 404
    entry = waitlist.add(actor_for("scheduler.mkh"), utcnow(), req)
    assert udon_client.post(f"/hub/waitlist/{entry.id}/remove").status_code == 404
    assert udon_client.post(f"/hub/waitlist/{entry.id}/book", data={}).status_code == 404
    assert "กัญญารัตน์" not in _html(udon_client.get("/hub/waitlist"))
    assert "สมศรี" not in _html(udon_client.get("/hub/waitlist"))


# -- no-show and its undo -------------------------------------------------------------------


def _past_booking(demo):
    req = submit_request()
    appointment = book_request(req)
    appointment.start_at = utcnow() - timedelta(hours=2)
    appointment.end_at = appointment.start_at + timedelta(minutes=20)
    demo.session.commit()
    return req, appointment


def test_no_show_asks_first_and_is_undone_the_same_day(scheduler, demo):
    req, appointment = _past_booking(demo)
    page = _html(scheduler.get(f"/hub/appointments/{appointment.id}/no-show"))
    assert "ยืนยันว่าไม่มาตามนัด" in page
    assert demo.session.get(Appointment, appointment.id).status is AppointmentStatus.BOOKED
    scheduler.post(f"/hub/appointments/{appointment.id}/no-show")
    demo.session.expire_all()
    assert appointment.status is AppointmentStatus.NO_SHOW
    day = to_local(appointment.start_at).date().isoformat()
    assert "ยกเลิกการบันทึกไม่มา" in _html(scheduler.get(f"/hub/day?date={day}"))
    assert "ยกเลิกการบันทึกไม่มา" in _html(scheduler.get(f"/hub/exams/{appointment.id}"))
    scheduler.post(f"/hub/appointments/{appointment.id}/no-show/undo")
    demo.session.expire_all()
    assert appointment.status is AppointmentStatus.BOOKED
    assert req.status is RequestStatus.SCHEDULED
    actions = [
        e.action
        for e in demo.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("appointment.no_show%"))
            .order_by(AuditEvent.id)
        )
    ]
    assert actions[-2:] == ["appointment.no_show", "appointment.no_show_undo"]


def test_no_show_cannot_be_undone_the_next_day_or_after_a_rebooking(demo):
    from scheduling import clock
    from scheduling.booking import mark_no_show

    req, appointment = _past_booking(demo)
    mark_no_show(actor_for("scheduler.mkh"), utcnow(), appointment)
    tomorrow = utcnow() + timedelta(days=1)
    with pytest.raises(Conflict) as late:
        noshow.undo_no_show(actor_for("scheduler.mkh"), tomorrow, appointment)
    assert "ในวันที่บันทึก" in late.value.message()
    book_request(req)
    with pytest.raises(Conflict) as rebooked:
        noshow.undo_no_show(actor_for("scheduler.mkh"), clock.utcnow(), appointment)
    assert rebooked.value.code == "rebooked"
    demo.session.expire_all()
    assert appointment.status is AppointmentStatus.NO_SHOW


# -- the waiting list -------------------------------------------------------------------------


def test_waitlist_offers_only_earlier_fitting_slots_in_order(demo):
    early = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    later = book_request(submit_request(patient_name="กัญญารัตน์"), days_ahead=14, ae_title="MKH_US1")
    unbooked = submit_request(
        patient_name="ประเสริฐ", requester="11005", requester_user="staff.kosum"
    )
    actor = actor_for("scheduler.mkh")
    waitlist.add(actor, utcnow(), later.request)
    waitlist.add(actor, utcnow(), unbooked)
    with pytest.raises(Conflict):
        waitlist.add(actor, utcnow(), unbooked)
    us1 = device("MKH_US1")
    # Nothing freed yet: the early slot is taken.
    assert waitlist.offers(utcnow(), us1, early.start_at, early.end_at) == []
    from scheduling.booking import cancel_appointment

    cancel_appointment(actor, utcnow(), early, "ผู้ป่วยขอยกเลิก")
    offers = waitlist.offers(utcnow(), us1, early.start_at, early.end_at)
    assert [o.entry.request_id for o in offers] == [later.request_id, unbooked.id]
    assert all(o.start_at == early.start_at for o in offers)
    # A slot later than the booking a patient holds is not offered to that patient.
    after = later.start_at + timedelta(days=1)
    assert later.request_id not in [
        o.entry.request_id
        for o in waitlist.offers(utcnow(), us1, after, after + timedelta(hours=8))
    ]


def test_booking_an_offer_reschedules_tells_the_requester_and_closes_the_entry(demo):
    from scheduling.booking import cancel_appointment

    actor = actor_for("scheduler.mkh")
    early = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    later = book_request(submit_request(patient_name="กัญญารัตน์"), days_ahead=14, ae_title="MKH_US1")
    entry = waitlist.add(actor, utcnow(), later.request)
    cancel_appointment(actor, utcnow(), early, "ผู้ป่วยขอยกเลิก")
    new = waitlist.book_offer(actor, utcnow(), entry, device("MKH_US1"), early.start_at)
    demo.session.expire_all()
    assert new.start_at == early.start_at and new.rescheduled_from_id == later.id
    assert entry.closed_at is not None and entry.outcome is WaitlistOutcome.BOOKED
    note = demo.session.scalar(
        select(StaffNotification).where(StaffNotification.kind == "waitlist.booked")
    )
    assert note.hospital_id == later.request.requesting_hospital_id
    assert note.request_id == later.request_id
    with pytest.raises(Conflict):
        waitlist.book_offer(actor, utcnow(), entry, device("MKH_US1"), early.start_at)
    assert (
        demo.session.scalar(select(WaitlistEntry).where(WaitlistEntry.closed_at.is_(None))) is None
    )


def test_cancel_leads_to_the_offers_when_someone_waits(scheduler, demo):
    early = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    waiting = submit_request(
        patient_name="ประเสริฐ", requester="11005", requester_user="staff.kosum"
    )
    waitlist.add(actor_for("scheduler.mkh"), utcnow(), waiting)
    response = scheduler.post(
        f"/hub/appointments/{early.id}/cancel", data={"reason": "ผู้ป่วยขอยกเลิก"}
    )
    assert "/hub/waitlist/offers?" in response.headers["Location"]
    html = _html(scheduler.get(response.headers["Location"]))
    assert "นายประเสริฐ" in html and "จองเวลา" in html
    assert local_today() < to_local(early.start_at).date()
    assert demo.session.get(ImagingRequest, waiting.id).status is RequestStatus.SUBMITTED


# -- closures that move people ------------------------------------------------------------------


def _downtime_on(appointment, name="เครื่องเสีย รออะไหล่"):
    from scheduling.capacity import add_day_closure
    from scheduling.models import ClosureKind

    return add_day_closure(
        actor_for("scheduler.mkh"),
        utcnow(),
        kind=ClosureKind.DEVICE_DOWNTIME,
        day=to_local(appointment.start_at).date(),
        device=appointment.device,
        name_th=name,
    )


def test_closure_moves_its_bookings_to_the_next_free_slots_and_tells_everyone(demo):
    from scheduling import closures_move

    first = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    closure = _downtime_on(first)
    hub_id = first.hub_hospital_id
    assert closures_move.affected(closure, hub_id) == [first]
    outcome = closures_move.move_out(actor_for("scheduler.mkh"), utcnow(), closure, hub_id)
    demo.session.expire_all()
    [(old, new)] = outcome.moved
    assert old.status is AppointmentStatus.MOVED and old.status_reason == "เครื่องเสีย รออะไหล่"
    assert new.start_at >= closure.end_at
    assert closures_move.affected(closure, hub_id) == []
    audit = demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "closure.move"))
    assert audit.detail["closure_id"] == closure.id and audit.detail["to"] == "slot"
    note = demo.session.scalar(
        select(StaffNotification).where(StaffNotification.kind == "closure.moved")
    )
    assert note.hospital_id == first.request.requesting_hospital_id
    assert note.reason == "เครื่องเสีย รออะไหล่"


def test_closure_can_put_its_bookings_on_the_waiting_list(demo):
    from scheduling import closures_move

    first = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    closure = _downtime_on(first)
    outcome = closures_move.move_out(
        actor_for("scheduler.mkh"), utcnow(), closure, first.hub_hospital_id, to_waitlist=True
    )
    demo.session.expire_all()
    assert outcome.waitlisted == [first] and first.status is AppointmentStatus.CANCELLED
    assert first.request.status is RequestStatus.ACCEPTED
    assert [e.request_id for e in waitlist.entries_for(first.hub_hospital_id)] == [first.request_id]


def test_a_closure_in_the_past_is_refused_beside_the_date(scheduler, demo):
    from app.webkit.fields import format_be_date

    us1 = device("MKH_US1")
    response = scheduler.post(
        "/hub/capacity/closures/new",
        data={
            "kind": "DEVICE_DOWNTIME",
            "device_id": us1.id,
            "day": format_be_date(local_today() - timedelta(days=3)),
            "days": "1",
            "name_th": "ซ่อม",
        },
    )
    html = response.get_data(as_text=True)
    assert 'id="day-error"' in html and "วันนี้หรือวันหลังจากนี้" in html
    from scheduling.models import Closure

    assert demo.session.scalar(select(Closure).where(Closure.device_id == us1.id)) is None


def test_another_hub_cannot_see_or_move_a_closures_bookings(udon_client, demo):
    first = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    closure = _downtime_on(first)
    assert udon_client.get(f"/hub/capacity/closures/{closure.id}").status_code == 404
    assert udon_client.post(f"/hub/capacity/closures/{closure.id}").status_code == 404
    demo.session.expire_all()
    assert first.status is AppointmentStatus.BOOKED


# -- paper and Excel --------------------------------------------------------------------------


def _sheet(response):
    from io import BytesIO

    from openpyxl import load_workbook

    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return load_workbook(BytesIO(response.data)).active


def test_day_xlsx_keeps_thai_text_and_buddhist_era_dates(scheduler, demo, now):
    a = make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9)
    make_appointment(
        make_request(now=now, patient_name="ปิยะดา", requester="11005", hub="10671"),
        ae_title="UDN_CT1",
        start_at=MONDAY_9,
    )
    demo.session.commit()
    response = scheduler.get("/hub/day.xlsx?date=23/11/2569")
    assert 'filename="day-2569-11-23.xlsx"' in response.headers["Content-Disposition"]
    sheet = _sheet(response)
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][0].startswith("โรงพยาบาลมหาสารคาม")
    assert rows[1] == [
        "วันที่",
        "เวลา",
        "ถึง",
        "เครื่องตรวจ",
        "ผู้ป่วย",
        "รายการตรวจ",
        "จาก",
        "ความเร่งด่วน",
        "สถานะ",
        "เลขที่การตรวจ",
    ]
    assert rows[2][:5] == ["23/11/2569", "09:00", "09:20", "MKH_US1", "นางสมศรี ทองดี"]
    assert rows[2][9] == a.accession_number
    assert len(rows) == 3  # Udon Thani's booking is not this hub's


def test_week_xlsx_lists_the_week_from_monday(scheduler, demo, now):
    make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9)
    make_appointment(
        make_request(now=now, patient_name="บุญเลิศ"),
        ae_title="MKH_US2",
        start_at=MONDAY_9 + timedelta(days=4),
    )
    demo.session.commit()
    sheet = _sheet(scheduler.get("/hub/week.xlsx?date=26/11/2569"))
    dates = [row[0].value for row in sheet.iter_rows(min_row=3)]
    assert dates == ["23/11/2569", "27/11/2569"]


def test_print_layout_has_no_buttons_and_one_sheet_per_scanner(scheduler, demo, now):
    make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9)
    make_appointment(
        make_request(now=now, patient_name="ประเสริฐ", requester="11005", procedure_code="CT-BRAIN"),
        ae_title="MKH_CT1",
        start_at=MONDAY_9,
    )
    demo.session.commit()
    html = _html(scheduler.get("/hub/day/print?date=2026-11-23"))
    assert html.count('class="sheet"') == 2
    assert "<button" not in html and "<form" not in html and "<nav" not in html
    assert "นางสมศรี ทองดี" in html and "day-print.css" in html


def test_call_list_names_patients_not_on_line_with_their_phone(scheduler, demo, now):
    from integrations.line.models import LinePatientLink

    tomorrow = now + timedelta(days=1)
    on_line = make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=tomorrow)
    phone = make_appointment(
        make_request(now=now, patient_name="บุญเลิศ"),
        ae_title="MKH_US2",
        start_at=tomorrow,
    )
    # The demo links สมศรี on LINE and not บุญเลิศ.
    links = {link.patient_id: link for link in demo.session.scalars(select(LinePatientLink))}
    assert links[on_line.patient_id].account.is_following
    assert phone.patient_id not in links
    demo.session.commit()
    html = _html(scheduler.get("/hub/calls"))
    assert f'id="call-{phone.id}"' in html and f'id="call-{on_line.id}"' not in html
    if phone.patient.phone:
        assert phone.patient.phone in html


def test_another_hub_gets_none_of_this_hubs_exports(udon_client, demo, now):
    make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9)
    demo.session.commit()
    sheet = _sheet(udon_client.get("/hub/day.xlsx?date=23/11/2569"))
    assert sheet.max_row == 2  # title and header only
    assert "สมศรี" not in _html(udon_client.get("/hub/day/print?date=2026-11-23"))


# -- capacity templates in .xlsx ----------------------------------------------------------------


def _upload(client, rows, headers=True):
    from io import BytesIO

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    if headers:
        sheet.append(["เครื่อง", "ชื่อ", "วัน", "เริ่ม", "ถึง", "พร้อมกัน", "นาที", "ตั้งแต่", "ถึง"])
    for row in rows:
        sheet.append(row)
    data = BytesIO()
    book.save(data)
    data.seek(0)
    return client.post(
        "/hub/capacity/templates/import",
        data={"file": (data, "templates.xlsx")},
        content_type="multipart/form-data",
    )


def test_templates_export_round_trips_through_the_import_preview(scheduler, demo):
    from io import BytesIO

    from openpyxl import load_workbook

    exported = scheduler.get("/hub/capacity/templates.xlsx")
    sheet = load_workbook(BytesIO(exported.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    us1 = [r for r in rows if r[0] == "MKH_US1"]
    assert [us1[0][2], us1[0][3], us1[0][4]] == ["จ.", "08:30", "16:00"]
    response = _upload(scheduler, rows)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "ทุกแถวถูกต้อง" in html or f"ถูกต้องทั้ง {len(rows)} แถว" in html
    assert "row-error" not in html


def test_template_import_refuses_a_bad_row_in_thai_and_saves_nothing(scheduler, demo):
    from scheduling.models import CapacityTemplate

    before = demo.session.query(CapacityTemplate).count()
    response = _upload(
        scheduler,
        [
            ["MKH_US1", "ช่วงปีใหม่", "จ.", "08:00", "12:00", 1, 20, "01/01/2570", "31/01/2570"],
            ["MKH_US1", "ช่วงปีใหม่", "อังคาร", "13:00", "12:00", 1, 20, "01/01/2570", "31/01/2570"],
            ["UDN_CT1", "ช่วงปีใหม่", "พ.", "08:00", "12:00", 1, 20, "01/01/2570", "31/02/2570"],
        ],
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.count('class="row-error"') == 2  # only the bad rows are red
    assert 'id="row-2" class="row-error"' not in html
    assert "ช่วงเวลาต้องสิ้นสุดหลังเวลาเริ่ม" in html
    assert "ไม่มีเครื่องตรวจรหัส AE “UDN_CT1” ในโรงพยาบาลนี้" in html
    assert "“31/02/2570” ไม่ใช่วันที่" in html
    assert "บันทึกแม่แบบเหล่านี้" not in html
    demo.session.expire_all()
    assert demo.session.query(CapacityTemplate).count() == before


def test_template_import_saves_after_the_preview(scheduler, demo):
    import json

    from scheduling.models import CapacityTemplate

    good = [["MKH_US1", "ช่วงปีใหม่", "จ.", "08:00", "12:00", 2, 20, "01/01/2570", "31/01/2570"]]
    preview = _upload(scheduler, good).get_data(as_text=True)
    assert "บันทึกแม่แบบเหล่านี้" in preview
    payload = json.dumps([{"number": 2, "values": [str(v) for v in good[0]]}])
    response = scheduler.post(
        "/hub/capacity/templates/import", data={"confirm": "1", "rows": payload}
    )
    assert response.status_code == 302
    saved = demo.session.scalar(select(CapacityTemplate).where(CapacityTemplate.name == "ช่วงปีใหม่"))
    assert saved.valid_from.isoformat() == "2027-01-01" and saved.slot_minutes == 20
    assert [(w.weekday, w.capacity) for w in saved.windows] == [(0, 2)]


def test_template_import_refuses_a_file_that_is_not_xlsx(scheduler, demo):
    from io import BytesIO

    response = scheduler.post(
        "/hub/capacity/templates/import",
        data={"file": (BytesIO(b"not a spreadsheet"), "x.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "ไม่ใช่ไฟล์ .xlsx ที่อ่านได้" in response.get_data(as_text=True)


# -- walk-ins and overbooking -------------------------------------------------------------------


def test_overbooking_a_full_slot_is_a_deliberate_act_shown_apart(scheduler, demo):
    from scheduling.models import ExtraBooking, ExtraKind

    taken = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    extra = submit_request(patient_name="กัญญารัตน์")
    demo.session.commit()
    day = to_local(taken.start_at).date()
    us1 = device("MKH_US1")
    form = _html(scheduler.get(f"/hub/day/extra?device={us1.id}&date={day.isoformat()}"))
    assert f'value="{extra.id}"' in form
    response = scheduler.post(
        f"/hub/day/extra?device={us1.id}&date={day.isoformat()}",
        data={
            "request_id": str(extra.id),
            "time": to_local(taken.start_at).strftime("%H:%M"),
            "kind": "OVERBOOK",
            "reason": "แพทย์ขอด่วน",
        },
    )
    assert response.status_code == 302
    demo.session.expire_all()
    made = extra.current_appointment
    assert made.start_at == taken.start_at and made.status is AppointmentStatus.BOOKED
    marker = demo.session.get(ExtraBooking, made.id)
    assert marker.kind is ExtraKind.OVERBOOK and marker.reason == "แพทย์ขอด่วน"
    html = _html(scheduler.get(f"/hub/day?date={day.isoformat()}"))
    assert "1 นัดเกินจำนวนรับ" in html and "นัดเกิน</span>" in html


def test_a_walk_in_outside_opening_hours_is_refused_in_thai(scheduler, demo):
    req = submit_request()
    demo.session.commit()
    us1 = device("MKH_US1")
    response = scheduler.post(
        f"/hub/day/extra?device={us1.id}&date=2026-11-23",
        data={"request_id": str(req.id), "time": "20:00", "kind": "WALK_IN"},
        follow_redirects=True,
    )
    assert "นอกเวลาทำการของเครื่อง" in response.get_data(as_text=True)
    demo.session.expire_all()
    assert req.current_appointment is None


def test_another_hub_cannot_add_extra_bookings_here(udon_client, demo):
    us1 = device("MKH_US1")
    assert udon_client.get(f"/hub/day/extra?device={us1.id}").status_code == 404


# -- bad input and silent caps --------------------------------------------------------------------


def test_an_impossible_date_on_the_slot_page_says_so_and_nothing_else(scheduler, demo):
    req = submit_request()
    demo.session.commit()
    html = scheduler.get(f"/hub/requests/{req.id}/book?date=31/02/2569").get_data(as_text=True)
    assert "กรอกวันที่แบบ วว/ดด/ปปปป (พ.ศ.)" in html
    assert "กรุณากรอกวันที่" not in html
    assert "ไม่มีช่วงเวลาว่างใน 7 วันนี้" not in html


def test_the_slot_list_says_when_there_are_more_and_cuts_no_day(scheduler, demo, monkeypatch):
    from app.hub import actions

    monkeypatch.setattr(actions, "MOVE_SLOT_LIMIT", 30)
    req = submit_request()
    demo.session.commit()
    html = _html(scheduler.get(f"/hub/requests/{req.id}/book?date=23/11/2569"))
    assert "ช่วงเวลาว่างถัดไป" in html
    # The first page ends with a whole day; the next page starts on the day that was cut.
    assert "date=24/11/2569" in html or "date=24%2F11%2F2569" in html


def test_only_the_bad_window_row_is_marked(scheduler, demo):
    us1 = device("MKH_US1")
    response = scheduler.post(
        f"/hub/capacity/devices/{us1.id}/templates/new",
        data={
            "name": "ทดสอบ",
            "valid_from": "",
            "valid_to": "",
            "slot_minutes": "20",
            "lead_time_minutes": "60",
            "horizon_days": "60",
            "is_active": "y",
            "windows-0-weekday": "0",
            "windows-0-start": "08:00",
            "windows-0-end": "12:00",
            "windows-0-capacity": "1",
            "windows-1-weekday": "1",
            "windows-1-start": "13:00",
            "windows-1-end": "12:00",
            "windows-1-capacity": "1",
        },
    )
    html = response.get_data(as_text=True)
    assert 'id="windows-1-end-error"' in html
    assert 'id="windows-0-end-error"' not in html and 'id="windows-0-start-error"' not in html
    assert "windows-edit has-error" not in html


def test_the_hub_prints_the_slip_of_an_exam_it_booked(scheduler, udon_client, demo):
    appointment = book_request(submit_request(patient_name="บุญเลิศ"), ae_title="MKH_US1")
    demo.session.commit()
    html = _html(scheduler.get(f"/hub/appointments/{appointment.id}/slip"))
    assert appointment.appointment_code in html and "นายบุญเลิศ ศรีสุวรรณ" in html
    day = to_local(appointment.start_at).date().isoformat()
    assert f"/hub/appointments/{appointment.id}/slip" in _html(
        scheduler.get(f"/hub/day?date={day}")
    )
    assert udon_client.get(f"/hub/appointments/{appointment.id}/slip").status_code == 404
