"""scheduling.metrics: the numbers behind the dashboards, on hand-made data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scheduling import metrics
from scheduling.capacity import create_quota
from scheduling.clock import utcnow
from scheduling.models import AppointmentStatus
from tests.app.hub.factories import (
    actor_for,
    book_request,
    device,
    hospital,
    make_appointment,
    make_request,
    submit_request,
)

MONDAY = date(2026, 11, 23)
MONDAY_9 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 Bangkok


def test_capacity_used_per_day(demo, now):
    make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9, minutes=30)
    make_appointment(
        make_request(now=now, patient_name="บุญเลิศ"),
        ae_title="MKH_US2",
        start_at=MONDAY_9,
        minutes=15,
        status=AppointmentStatus.NO_SHOW,
    )
    make_appointment(
        make_request(now=now, patient_name="กัญญารัตน์"),
        ae_title="MKH_US2",
        start_at=MONDAY_9 + timedelta(hours=1),
        status=AppointmentStatus.CANCELLED,
    )  # freed its slot: not counted
    make_appointment(
        make_request(now=now, patient_name="ประเสริฐ", procedure_code="CT-BRAIN"),
        ae_title="MKH_CT1",
        start_at=MONDAY_9,
    )  # another modality
    demo.session.commit()
    mkh = hospital("10707").id
    days = metrics.capacity_used_per_day(mkh, "US", MONDAY - timedelta(days=2), MONDAY)
    saturday, sunday, monday = days
    assert (saturday.capacity_minutes, saturday.used) == (0, None)  # demo hours: Mon–Fri
    assert monday.bookings == 2 and monday.booked_minutes == 45
    assert monday.capacity_minutes == 2 * 450  # two US rooms, 08:30–16:00
    assert monday.used == 45 / 900
    everything = metrics.capacity_used_per_day(mkh, None, MONDAY, MONDAY)[0]
    assert everything.bookings == 3 and everything.capacity_minutes == 7 * 450


def _exam(
    now,
    asked_days_before: float,
    *,
    status=AppointmentStatus.COMPLETED,
    start=MONDAY_9,
    patient="สมศรี",
    procedure="US-UPABD",
    ae="MKH_US1",
):
    req = make_request(
        now=now,
        patient_name=patient,
        procedure_code=procedure,
        created_at=start - timedelta(days=asked_days_before),
    )
    return make_appointment(req, ae_title=ae, start_at=start, status=status)


def test_median_days_from_request_to_exam_per_week(demo, now):
    _exam(now, 2)
    _exam(
        now,
        4,
        start=MONDAY_9 + timedelta(hours=1),
        patient="บุญเลิศ",
        status=AppointmentStatus.ARRIVED,
    )
    _exam(now, 10, start=MONDAY_9 + timedelta(days=2), patient="กัญญารัตน์")
    _exam(
        now,
        30,
        start=MONDAY_9 + timedelta(days=3),
        patient="ประเสริฐ",
        status=AppointmentStatus.NO_SHOW,
    )  # never examined: no waiting time
    _exam(now, 1, start=MONDAY_9 + timedelta(days=7), patient="จันทร์เพ็ญ")  # next week
    _exam(now, 50, patient="ปิยะดา", procedure="CT-BRAIN", ae="MKH_CT1")  # CT
    demo.session.commit()
    mkh = hospital("10707").id
    weeks = metrics.days_request_to_exam(mkh, "US", MONDAY, MONDAY + timedelta(days=8))
    assert [(w.week, w.exams, w.median_days) for w in weeks] == [
        (MONDAY, 3, 4.0),
        (MONDAY + timedelta(days=7), 1, 1.0),
    ]
    all_modalities = metrics.days_request_to_exam(mkh, None, MONDAY, MONDAY + timedelta(days=6))
    assert all_modalities[0].exams == 4 and all_modalities[0].median_days == 7.0


def test_no_show_rate_counts_only_appointments_that_have_started(demo, now):
    for i, status in enumerate(
        [
            AppointmentStatus.NO_SHOW,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.ARRIVED,
        ]
    ):
        _exam(
            now,
            3,
            start=MONDAY_9 + timedelta(hours=i),
            status=status,
            patient=["สมศรี", "บุญเลิศ", "กัญญารัตน์", "ประเสริฐ"][i],
        )
    _exam(
        now,
        3,
        start=MONDAY_9 + timedelta(days=1),
        status=AppointmentStatus.BOOKED,
        patient="จันทร์เพ็ญ",
    )  # not yet: neither came nor failed to
    demo.session.commit()
    mkh = hospital("10707").id
    tuesday_noon = MONDAY_9 + timedelta(days=1, hours=3)
    (week,) = metrics.no_show_rate(mkh, "US", MONDAY, MONDAY + timedelta(days=6), tuesday_noon)
    assert (week.appointments, week.no_shows, week.rate) == (4, 1, 0.25)
    (before,) = metrics.no_show_rate(mkh, "US", MONDAY, MONDAY, MONDAY_9 - timedelta(hours=1))
    assert before.rate is None


def test_quota_use_per_hospital_by_modality(demo):
    mkh, kudrang = hospital("10707"), hospital("11008")
    req = submit_request()
    appointment = book_request(req, ae_title="MKH_US1")
    day = appointment.start_at.date()
    from scheduling.clock import to_local

    day = to_local(appointment.start_at).date()
    create_quota(
        actor_for("scheduler.mkh"),
        utcnow(),
        hub_hospital_id=mkh.id,
        referring_hospital_id=kudrang.id,
        slots=4,
        modality_code="US",
        on_date=day,
    )
    create_quota(
        actor_for("scheduler.mkh"),
        utcnow(),
        hub_hospital_id=mkh.id,
        referring_hospital_id=kudrang.id,
        slots=2,
        device=device("MKH_CT1"),
        on_date=day,
    )
    (us,) = metrics.quota_use_per_hospital(mkh.id, "US", day, day)
    assert (us.hospital_id, us.reserved, us.used, us.share) == (kudrang.id, 4, 1, 0.25)
    (both,) = metrics.quota_use_per_hospital(mkh.id, None, day, day)
    assert (both.reserved, both.used) == (6, 1)
    assert metrics.quota_use_per_hospital(mkh.id, "MR", day, day) == []
