"""Capacity editors (templates, quotas, closures) and the occupancy they give the day view."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from app.hub.capacity_view import capacity_minutes
from app.webkit.fields import format_be_date
from scheduling.capacity import add_closure
from scheduling.clock import local_datetime, local_today, to_local, utcnow
from scheduling.models import AuditEvent, CapacityTemplate, Closure, ClosureKind, Quota
from tests.app.hub.factories import (
    actor_for,
    book_request,
    device,
    free_slots,
    hospital,
    submit_request,
)
from tests.conftest import login


def _html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def scheduler(client, demo):
    login(client, "scheduler.mkh")
    return client


def _weekday_ahead(days: int = 3) -> date:
    """A Monday-to-Friday date at least ``days`` ahead (demo hours are weekdays only)."""
    day = local_today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _template_form(**windows_and_values):
    data = {
        "name": "เวลาราชการ",
        "valid_from": "",
        "valid_to": "",
        "slot_minutes": "20",
        "lead_time_minutes": "60",
        "horizon_days": "60",
        "is_active": "y",
    }
    data.update(windows_and_values)
    return data


def test_capacity_page_lists_hours_quotas_and_closures(scheduler):
    html = _html(scheduler.get("/hub/capacity"))
    assert "เวลาทำการ" in html and "MKH_US1" in html
    assert "จันทร์–ศุกร์ 08:30–16:00" in html  # the demo's office hours, one line
    assert "โควตา" in html and "วันปิดทำการและวันหยุด" in html


def test_create_template_with_windows(scheduler, demo):
    us1 = device("MKH_US1")
    response = scheduler.post(
        f"/hub/capacity/devices/{us1.id}/templates/new",
        data=_template_form(
            **{
                "valid_from": "01/12/2569",
                "windows-0-weekday": "0",
                "windows-0-start": "08:00",
                "windows-0-end": "12:00",
                "windows-0-capacity": "2",
                "windows-1-weekday": "2",
                "windows-1-start": "13.00",
                "windows-1-end": "16:00",
                "windows-1-capacity": "1",
                "windows-2-weekday": "",
                "windows-2-start": "",
                "windows-2-end": "",
            }
        ),
    )
    assert response.status_code == 302
    template = demo.session.scalar(
        select(CapacityTemplate).where(
            CapacityTemplate.device_id == us1.id, CapacityTemplate.name == "เวลาราชการ"
        )
    )
    assert template.valid_from == date(2026, 12, 1) and template.slot_minutes == 20
    assert [(w.weekday, w.start_time, w.end_time, w.capacity) for w in template.windows] == [
        (0, time(8), time(12), 2),
        (2, time(13), time(16), 1),
    ]
    event = demo.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "capacity.template_create", AuditEvent.entity_id == template.id
        )
    )
    assert event.actor == "scheduler.mkh"


def test_overlapping_windows_are_refused_beside_the_table(scheduler, demo):
    us1 = device("MKH_US1")
    before = demo.session.scalar(select(CapacityTemplate.id).order_by(CapacityTemplate.id.desc()))
    response = scheduler.post(
        f"/hub/capacity/devices/{us1.id}/templates/new",
        data=_template_form(
            **{
                "windows-0-weekday": "0",
                "windows-0-start": "08:00",
                "windows-0-end": "12:00",
                "windows-1-weekday": "0",
                "windows-1-start": "11:00",
                "windows-1-end": "15:00",
            }
        ),
    )
    html = _html(response)
    assert 'id="windows-1-start-error"' in html  # beside the later row only (issue 16)
    assert "ช่วงเวลาในวันเดียวกันซ้อนทับกัน" in html
    assert (
        demo.session.scalar(select(CapacityTemplate.id).order_by(CapacityTemplate.id.desc()))
        == before
    )


def test_window_row_needs_both_times_and_a_real_time(scheduler):
    us1 = device("MKH_US1")
    html = _html(
        scheduler.post(
            f"/hub/capacity/devices/{us1.id}/templates/new",
            data=_template_form(
                **{
                    "windows-0-weekday": "1",
                    "windows-0-start": "25:00",
                    "windows-0-end": "12:00",
                    "windows-1-weekday": "2",
                    "windows-1-start": "08:00",
                    "windows-1-end": "",
                }
            ),
        )
    )
    assert 'id="windows-0-start-error"' in html and "กรอกเวลาแบบ ชช:นน" in html
    assert 'id="windows-1-start-error"' in html and "กรุณากรอกเวลาทั้งสองช่อง" in html


def test_switch_a_template_off(scheduler, demo):
    template = demo.session.scalar(
        select(CapacityTemplate).where(CapacityTemplate.device_id == device("MKH_US2").id)
    )
    form = _template_form(name=template.name, slot_minutes="", horizon_days="90")
    del form["is_active"]
    for i, w in enumerate(template.windows):
        form.update(
            {
                f"windows-{i}-weekday": str(w.weekday),
                f"windows-{i}-start": "08:30",
                f"windows-{i}-end": "16:00",
                f"windows-{i}-capacity": "1",
            }
        )
    assert scheduler.post(f"/hub/capacity/templates/{template.id}", data=form).status_code == 302
    demo.session.expire_all()
    assert demo.session.get(CapacityTemplate, template.id).is_active is False


def test_quota_with_use_shown_as_used_over_reserved(scheduler, demo):
    day = _weekday_ahead(2)
    kudrang = hospital("11008")
    response = scheduler.post(
        "/hub/capacity/quotas/new",
        data={
            "referring_hospital_id": kudrang.id,
            "device_id": device("MKH_US1").id,
            "modality_code": "",
            "weekday": "",
            "on_date": format_be_date(day),
            "slots": "3",
            "release_hours": "24",
            "valid_from": "",
            "valid_to": "",
        },
    )
    assert response.status_code == 302
    quota = demo.session.scalar(select(Quota))
    assert quota.referring_hospital_id == kudrang.id and quota.on_date == day
    assert "0 / 3" in _html(scheduler.get("/hub/capacity"))
    req = submit_request()
    slot = next(
        s
        for s in free_slots(req, days_ahead=2, ae_title="MKH_US1", limit=50)
        if to_local(s.start_at).date() == day
    )
    from scheduling.booking import book

    book(actor_for("staff.kudrang"), utcnow(), req, device("MKH_US1"), slot.start_at)
    assert "1 / 3" in _html(scheduler.get("/hub/capacity"))


def test_quota_for_device_and_modality_at_once_is_refused_beside_the_field(scheduler, demo):
    html = _html(
        scheduler.post(
            "/hub/capacity/quotas/new",
            data={
                "referring_hospital_id": hospital("11008").id,
                "device_id": device("MKH_US1").id,
                "modality_code": "US",
                "weekday": "0",
                "slots": "3",
                "release_hours": "24",
            },
        )
    )
    assert 'id="device_id-error"' in html
    assert demo.session.scalar(select(Quota)) is None


def test_device_downtime_closes_the_day_and_shows_in_the_day_view(scheduler, demo):
    day = _weekday_ahead(3)
    us1 = device("MKH_US1")
    response = scheduler.post(
        "/hub/capacity/closures/new",
        data={
            "kind": "DEVICE_DOWNTIME",
            "device_id": us1.id,
            "day": format_be_date(day),
            "days": "1",
            "start_time": "",
            "end_time": "",
            "name_th": "ซ่อมบำรุงเครื่อง",
            "name_en": "Service",
        },
    )
    assert response.status_code == 302
    closure = demo.session.scalar(select(Closure).where(Closure.device_id == us1.id))
    assert closure.kind is ClosureKind.DEVICE_DOWNTIME
    html = _html(scheduler.get(f"/hub/day?date={day.isoformat()}"))
    assert "ปิดทำการ: ซ่อมบำรุงเครื่อง" in html
    assert capacity_minutes([us1], day, day) == {(us1.id, day): 0}
    us2 = device("MKH_US2")
    assert capacity_minutes([us2], day, day) == {(us2.id, day): 450}  # 08:30–16:00


def test_part_day_downtime_reduces_capacity(demo):
    day = _weekday_ahead(3)
    us1 = device("MKH_US1")
    add_closure(
        actor_for("scheduler.mkh"),
        utcnow(),
        kind=ClosureKind.DEVICE_DOWNTIME,
        device=us1,
        start_at=local_datetime(day, time(8)),
        end_at=local_datetime(day, time(12)),
        name_th="ซ่อม",
    )
    assert capacity_minutes([us1], day, day) == {(us1.id, day): 450 - 210}


def test_occupancy_percentage_in_the_day_view(scheduler, demo):
    appointment = book_request(submit_request(), ae_title="MKH_US1")
    day = to_local(appointment.start_at).date()
    minutes = int((appointment.end_at - appointment.start_at).total_seconds() // 60)
    html = _html(scheduler.get(f"/hub/day?date={day.isoformat()}"))
    assert f"จองแล้ว {round(minutes * 100 / 450)}%" in html


def test_scheduler_cannot_switch_off_a_public_holiday(scheduler, demo):
    from scheduling.capacity import prefill_public_holidays

    prefill_public_holidays(
        actor_for("admin"), utcnow(), [local_today().year, local_today().year + 1]
    )
    holiday = demo.session.scalar(
        select(Closure)
        .where(Closure.kind == ClosureKind.PUBLIC_HOLIDAY, Closure.start_at > utcnow())
        .order_by(Closure.start_at)
    )
    response = scheduler.post(f"/hub/capacity/closures/{holiday.id}/toggle", follow_redirects=True)
    assert "เฉพาะผู้ดูแลระบบ" in _html(response)
    demo.session.expire_all()
    assert demo.session.get(Closure, holiday.id).is_active is True


def test_summarise_windows_groups_weekdays_with_the_same_hours():
    from types import SimpleNamespace as W

    from app.hub.capacity import summarise_windows

    windows = [
        W(weekday=d, start_time=time(8, 30), end_time=time(12), capacity=1) for d in range(4)
    ]
    windows += [W(weekday=d, start_time=time(13), end_time=time(16), capacity=2) for d in range(4)]
    windows.append(W(weekday=5, start_time=time(8), end_time=time(12), capacity=1))
    assert [str(line) for line in summarise_windows(windows)] == [
        "Monday–Thursday 08:30–12:00, 13:00–16:00 × 2",
        "Saturday 08:00–12:00",
    ]
