"""Read-side hub pages: day and week views, the radiologist's exams, the inbox, help."""

from datetime import UTC, datetime, timedelta

import pytest

from scheduling.models import AppointmentStatus, Priority, RequestStatus, Study, StudySource
from tests.app.hub.factories import make_appointment, make_request
from tests.conftest import login

# 2026-11-23 is a Monday; 09:00 Bangkok is 02:00 UTC.
MONDAY_9 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def booked(demo, now):
    """Three bookings at Mahasarakham on Monday, one on Tuesday, one cancelled, one elsewhere."""
    a = make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9)
    b = make_appointment(
        make_request(now=now, patient_name="บุญเลิศ", procedure_code="US-KUB"),
        ae_title="MKH_US1",
        start_at=MONDAY_9 + timedelta(minutes=30),
    )
    c = make_appointment(
        make_request(now=now, patient_name="ประเสริฐ", requester="11005", procedure_code="CT-BRAIN"),
        ae_title="MKH_CT1",
        start_at=MONDAY_9 + timedelta(hours=1),
    )
    tuesday = make_appointment(
        make_request(now=now, patient_name="กัญญารัตน์"),
        ae_title="MKH_US2",
        start_at=MONDAY_9 + timedelta(days=1),
    )
    cancelled = make_appointment(
        make_request(now=now, patient_name="จันทร์เพ็ญ", requester="11005"),
        ae_title="MKH_US2",
        start_at=MONDAY_9,
        status=AppointmentStatus.CANCELLED,
    )
    udon = make_appointment(
        make_request(
            now=now, patient_name="ปิยะดา", requester="11005", hub="10671", procedure_code="CT-BRAIN"
        ),
        ae_title="UDN_CT1",
        start_at=MONDAY_9,
    )
    demo.session.commit()
    return {"a": a, "b": b, "c": c, "tuesday": tuesday, "cancelled": cancelled, "udon": udon}


def test_day_view_shows_the_day_per_device_in_buddhist_era(client, booked):
    login(client, "scheduler.mkh")
    html = _html(client.get("/hub/day?date=23/11/2569"))
    assert "วันจันทร์ที่ 23 พฤศจิกายน 2569" in html
    assert "นางสมศรี ทองดี" in html and "นายบุญเลิศ ศรีสุวรรณ" in html
    assert "นายประเสริฐ แก้วกาหลง" in html  # CT, another device
    assert "กัญญารัตน์" not in html  # Tuesday
    assert "จันทร์เพ็ญ" not in html  # cancelled: the slot is free again
    assert "ปิยะดา" not in html  # Udon Thani's scanner
    assert "2 นัด รวม 40 นาที" in html  # MKH_US1: 20 + 20 minutes
    assert html.index("09:00") < html.index("09:30")


def test_day_view_filters_by_modality(client, booked):
    login(client, "scheduler.mkh")
    html = _html(client.get("/hub/day?date=2026-11-23&modality=CT"))
    assert "ประเสริฐ" in html and "สมศรี" not in html
    assert "MKH_US1" not in html


def test_day_view_refuses_an_impossible_date_beside_the_field(client, booked):
    login(client, "scheduler.mkh")
    html = _html(client.get("/hub/day?date=30/02/2569"))
    assert 'id="date-error"' in html and "กรอกวันที่แบบ วว/ดด/ปปปป (พ.ศ.)" in html


def test_week_view_counts_per_device_and_modality(client, booked):
    login(client, "scheduler.mkh")
    html = _html(client.get("/hub/week?date=25/11/2569"))  # a Wednesday: the week of the 23rd
    assert "23 พ.ย. 2569 – 29 พ.ย. 2569" in html
    assert html.count("2 นัด") == 2  # MKH_US1 on Monday; US total on Monday
    assert html.count("1 นัด") >= 3  # CT Monday (device + total), US2 Tuesday (device + total)


@pytest.mark.parametrize("path", ["/hub/day", "/hub/week", "/hub/inbox", "/hub/exams"])
def test_requesters_cannot_open_hub_pages(client, demo, path):
    login(client, "staff.kudrang")
    assert client.get(path).status_code == 403


def test_radiologist_sees_only_exams_not_scheduling(client, demo):
    login(client, "radiologist.mkh")
    assert client.get("/hub/day").status_code == 403
    assert client.get("/hub/exams").status_code == 200


def test_radiologist_exams_show_indication_priority_preparation(client, demo, booked):
    booked["c"].request.priority = Priority.URGENT
    booked["c"].request.indication = "ปวดศีรษะรุนแรงเฉียบพลัน"
    booked["c"].patient.medical_alerts = "แพ้สารทึบรังสี"
    demo.session.commit()
    login(client, "radiologist.mkh")
    html = _html(client.get("/hub/exams?date=23/11/2569"))
    assert "ปวดศีรษะรุนแรงเฉียบพลัน" in html
    assert "ด่วน" in html
    assert "แพ้สารทึบรังสี" in html
    assert "งดน้ำและอาหารทุกชนิด 6–8 ชั่วโมงก่อนตรวจ" in html  # US upper abdomen preparation
    assert "ปิยะดา" not in html  # Udon Thani's
    # One day at a time; the coming days are links with their counts.
    assert "กัญญารัตน์" not in html
    tuesday = _html(client.get("/hub/exams?date=24/11/2569"))
    assert "กัญญารัตน์" in tuesday and "สมศรี" not in tuesday


def test_exam_shows_images_in_pacs_and_report_once_linked(client, demo, booked, now):
    appt = booked["a"]
    login(client, "radiologist.mkh")
    html = _html(client.get(f"/hub/exams/{appt.id}"))
    assert "ยังไม่มีภาพที่เชื่อมกับคำขอนี้" in html and "ยังไม่มีผลอ่าน" in html
    demo.session.add(
        Study(
            request_id=appt.request_id,
            appointment_id=appt.id,
            study_instance_uid=appt.study_instance_uid,
            first_source=StudySource.MPPS,
            images_in_pacs_at=now,
            series_count=3,
            instance_count=120,
            created_at=now,
            updated_at=now,
        )
    )
    appt.request.report_text = "Liver: normal size, no focal lesion."
    appt.request.reported_by = "นพ.วีระ รักษ์ภาพ"
    appt.request.reported_at = now
    demo.session.commit()
    html = _html(client.get(f"/hub/exams/{appt.id}"))
    assert "ภาพอยู่ใน PACS แล้ว" in html
    assert "3 / 120" in html
    assert "Liver: normal size" in html
    listing = _html(client.get("/hub/exams?date=23/11/2569"))
    assert "ภาพอยู่ใน PACS แล้ว" in listing and "มีผลอ่านแล้ว" in listing


def test_exam_of_another_hub_is_not_found(client, booked):
    login(client, "radiologist.mkh")
    assert client.get(f"/hub/exams/{booked['udon'].id}").status_code == 404


def test_inbox_lists_new_requests_for_this_hub_by_priority(client, demo, now):
    routine = make_request(now=now, indication="ก้อนที่ตับ")
    stat = make_request(
        now=now + timedelta(minutes=5),
        patient_name="บุญเลิศ",
        priority=Priority.STAT,
        indication="สงสัยไส้ติ่งอักเสบ",
    )
    make_request(
        now=now, patient_name="ปิยะดา", requester="11005", hub="10671", indication="ของอุดรธานี"
    )
    make_request(
        now=now,
        patient_name="ประเสริฐ",
        requester="11005",
        status=RequestStatus.REJECTED,
        indication="ปฏิเสธไปแล้ว",
    )
    demo.session.commit()
    login(client, "scheduler.mkh")
    html = _html(client.get("/hub/inbox"))
    assert html.index("สงสัยไส้ติ่งอักเสบ") < html.index("ก้อนที่ตับ")  # STAT first
    assert "ของอุดรธานี" not in html and "ปฏิเสธไปแล้ว" not in html
    assert "คำขอใหม่ (2)" in html
    assert _html(client.get(f"/hub/requests/{stat.id}")).count("สงสัยไส้ติ่งอักเสบ") == 1
    assert routine.id


def test_request_of_another_hub_is_not_found(client, demo, now):
    other = make_request(now=now, patient_name="ปิยะดา", requester="11005", hub="10671")
    demo.session.commit()
    login(client, "scheduler.mkh")
    assert client.get(f"/hub/requests/{other.id}").status_code == 404


def test_admin_picks_the_hub(client, booked):
    login(client, "admin")
    udon = booked["udon"].hub_hospital_id
    html = _html(client.get(f"/hub/day?hub={udon}&date=23/11/2569"))
    assert "ปิยะดา" in html and "สมศรี" not in html
    html = _html(client.get("/hub/day?date=23/11/2569"))  # remembered
    assert "ปิยะดา" in html


@pytest.mark.parametrize("slug", ["requester", "scheduler", "radiologist", "admin"])
def test_each_role_has_a_thai_guide_and_an_english_one(client, demo, slug):
    login(client, "staff.kudrang")
    html = _html(client.get(f"/help/{slug}"))
    assert 'lang="th"' in html and "คู่มือ" in html
    client.post("/language/en")
    html = _html(client.get(f"/help/{slug}"))
    assert 'lang="en"' in html and "Guide for" in html


def test_help_menu_is_for_everyone_and_lists_own_guide_first(client, demo):
    login(client, "radiologist.mkh")
    html = _html(client.get("/help/"))
    assert html.index("คู่มือรังสีแพทย์") < html.index("คู่มือเจ้าหน้าที่โรงพยาบาลชุมชน")
    menu = _html(client.get("/hub/exams"))
    assert 'href="/help/"' in menu
    assert client.get("/help/nobody").status_code == 404


def test_bookings_are_counted_on_their_bangkok_day(demo, now):
    """Grouped in SQL by local day: 23:30 and 00:10 Bangkok fall on different days even
    though both are the same UTC date (16:30 and 17:10 UTC)."""
    from app.hub.queries import day_bounds, per_device_day
    from tests.app.hub.factories import device

    us1 = device("MKH_US1")
    late = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # Monday 23:30 in Bangkok
    early = datetime(2026, 11, 23, 17, 10, tzinfo=UTC)  # Tuesday 00:10 in Bangkok
    make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=late, minutes=20)
    make_appointment(
        make_request(now=now, patient_name="บุญเลิศ"), ae_title="MKH_US1", start_at=early, minutes=15
    )
    demo.session.commit()
    monday, tuesday = late.date(), late.date() + timedelta(days=1)
    start, _ = day_bounds(monday)
    _, end = day_bounds(tuesday)
    assert per_device_day([us1], start, end) == {
        (us1.id, monday): (1, 20),
        (us1.id, tuesday): (1, 15),
    }
