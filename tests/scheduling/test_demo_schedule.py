"""The demo's capacity, quotas, holidays and bookings (made through the operations)."""

from datetime import timedelta

from sqlalchemy import func, select

from app.demo import load_demo
from scheduling.capacity import quota_usage
from scheduling.clock import local_today, to_local
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CapacityTemplate,
    Closure,
    Device,
    Hospital,
    Quota,
)
from scheduling.rules import max_concurrency


def test_every_active_device_has_a_template(demo_bookings):
    demo = demo_bookings
    devices = demo.session.scalars(select(Device).where(Device.is_active.is_(True))).all()
    with_template = set(demo.session.scalars(select(CapacityTemplate.device_id)))
    assert {d.id for d in devices} <= with_template
    # Udon Thani's two CTs (2,635 exams/month) get longer days than Phen's (130/month).
    udn = demo.session.scalar(
        select(CapacityTemplate).join(Device).where(Device.ae_title == "UDN_CT1")
    )
    pen = demo.session.scalar(
        select(CapacityTemplate).join(Device).where(Device.ae_title == "PEN_CT1")
    )

    def weekly_minutes(t):
        return sum(
            (
                w.end_time.hour * 60
                + w.end_time.minute
                - w.start_time.hour * 60
                - w.start_time.minute
            )
            * w.capacity
            for w in t.windows
        )

    assert weekly_minutes(udn) > 3 * weekly_minutes(pen)


def test_plain_fixture_has_office_hours_only(demo):
    templates = demo.session.scalars(select(CapacityTemplate)).all()
    assert templates and {
        (w.weekday, w.start_time.hour, w.end_time.hour) for t in templates for w in t.windows
    } == {(d, 8, 16) for d in range(5)}
    assert demo.session.scalar(select(func.count(Quota.id))) == 0
    assert demo.session.scalar(select(func.count(Appointment.id))) == 0


def test_bookings_today_on_mkh_us1_and_over_the_coming_weeks(demo_bookings):
    demo = demo_bookings
    today = local_today()
    appointments = demo.session.scalars(select(Appointment)).all()
    us1 = demo.session.scalar(select(Device).where(Device.ae_title == "MKH_US1"))
    todays = [
        a for a in appointments if a.device_id == us1.id and to_local(a.start_at).date() == today
    ]
    assert len(todays) >= 5
    days = {to_local(a.start_at).date() for a in appointments}
    assert max(days) >= today + timedelta(days=10)
    assert {a.device.ae_title for a in appointments} >= {"MKH_US1", "MKH_US2", "MKH_CT1"}
    # made through the operations: one audit event per booking
    booked = demo.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "appointment.book")
    )
    assert booked == len(appointments)
    # and they respect capacity
    for device_id in {a.device_id for a in appointments}:
        mine = [
            (a.start_at, a.end_at)
            for a in appointments
            if a.device_id == device_id and a.status is not AppointmentStatus.CANCELLED
        ]
        for start, end in mine:
            assert max_concurrency(mine, start, end) <= 2


def test_quotas_and_holidays(demo_bookings):
    demo = demo_bookings
    mkh = demo.session.scalar(select(Hospital).where(Hospital.code == "10707"))
    assert (
        demo.session.scalar(
            select(func.count(Quota.id)).where(Quota.referring_hospital_id.is_(None))
        )
        == 1
    )
    assert demo.session.scalar(select(func.count(Quota.id))) >= 13
    today = local_today()
    usage = quota_usage(mkh.id, today, today + timedelta(days=7))
    assert usage and all(u.reserved >= u.used or u.used > 0 for u in usage)
    holidays = demo.session.scalar(select(func.count(Closure.id)))
    assert holidays >= 15


def test_second_load_changes_nothing(demo_bookings):
    demo = demo_bookings

    def counts():
        return [
            demo.session.scalar(select(func.count(m.id)))
            for m in (Appointment, CapacityTemplate, Quota, Closure)
        ]

    before = counts()
    assert before[0] > 0
    load_demo(with_bookings=True)
    assert counts() == before
