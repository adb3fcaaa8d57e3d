"""The scheduler's actions through the web, each one a scheduling operation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from scheduling.clock import to_local, utcnow
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    Hospital,
    ImagingRequest,
    Priority,
    RequestStatus,
    Role,
    User,
)
from tests.app.hub.factories import (
    book_request,
    device,
    free_slots,
    hospital,
    procedure,
    submit_request,
)
from tests.conftest import login


def _html(response) -> str:
    return response.get_data(as_text=True)


def _fresh(db, model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def _actions(db, *names: str) -> list[tuple[str, str]]:
    return [
        (e.action, e.actor)
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(names)).order_by(AuditEvent.id)
        )
    ]


@pytest.fixture
def scheduler(client, demo):
    login(client, "scheduler.mkh")
    return client


def test_accept_request(scheduler, demo):
    req = submit_request()
    response = scheduler.post(f"/hub/requests/{req.id}/accept")
    assert response.status_code == 302
    assert _fresh(demo, ImagingRequest, req.id).status is RequestStatus.ACCEPTED
    assert _actions(demo, "request.accept") == [("request.accept", "scheduler.mkh")]
    page = _html(scheduler.get("/hub/inbox?tab=accepted"))
    assert "ปวดท้องด้านขวาบน" in page


def test_reject_needs_a_reason_shown_beside_the_field(scheduler, demo):
    req = submit_request()
    response = scheduler.post(f"/hub/requests/{req.id}/reject", data={"reject-reason": "  "})
    html = _html(response)
    assert response.status_code == 422
    assert 'id="reject-reason-error"' in html
    assert "กรุณาระบุเหตุผล โรงพยาบาลที่ส่งตรวจจะเห็นข้อความนี้" in html
    assert _fresh(demo, ImagingRequest, req.id).status is RequestStatus.SUBMITTED


def test_reject_with_reason_reaches_the_requester(app, scheduler, demo):
    req = submit_request()
    reason = "ข้อบ่งชี้ไม่ชัดเจน กรุณาแนบผลตรวจเลือด"
    response = scheduler.post(f"/hub/requests/{req.id}/reject", data={"reject-reason": reason})
    assert response.status_code == 302 and response.headers["Location"].endswith("/hub/inbox")
    rejected = _fresh(demo, ImagingRequest, req.id)
    assert rejected.status is RequestStatus.REJECTED and rejected.status_reason == reason
    assert "ปวดท้องด้านขวาบน" not in _html(scheduler.get("/hub/inbox"))
    requester = app.test_client()
    login(requester, "staff.kudrang")
    assert reason in _html(requester.get(f"/requests/{req.id}"))


def test_change_procedure_and_priority(scheduler, demo):
    req = submit_request()
    new_procedure = procedure("US-WABD")
    response = scheduler.post(
        f"/hub/requests/{req.id}/change",
        data={"change-procedure_id": new_procedure.id, "change-priority": "URGENT"},
    )
    assert response.status_code == 302
    changed = _fresh(demo, ImagingRequest, req.id)
    assert changed.procedure_id == new_procedure.id and changed.priority is Priority.URGENT
    event = demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "request.change"))
    assert event.detail == {"procedure": "US-WABD", "priority": "URGENT"}


def test_booked_request_keeps_its_procedure(scheduler, demo):
    req = submit_request()
    book_request(req)
    response = scheduler.post(
        f"/hub/requests/{req.id}/change",
        data={"change-procedure_id": procedure("US-WABD").id, "change-priority": "ROUTINE"},
    )
    assert response.status_code == 409
    assert "กรุณายกเลิกนัดก่อนเปลี่ยนรายการตรวจ" in _html(response)
    assert _fresh(demo, ImagingRequest, req.id).procedure.code == "US-UPABD"


def test_another_hubs_scheduler_cannot_act(app, demo):
    udon = hospital("10671")
    other = User(
        username="scheduler.udn",
        full_name="งานนัด อุดร",
        role=Role.SCHEDULER,
        hospital_id=udon.id,
        created_at=utcnow(),
    )
    other.set_password("radbook-demo")
    demo.session.add(other)
    demo.session.commit()
    req = submit_request()
    client = app.test_client()
    login(client, "scheduler.udn")
    assert client.post(f"/hub/requests/{req.id}/accept").status_code == 404
    assert client.get(f"/hub/requests/{req.id}").status_code == 404
    assert _fresh(demo, ImagingRequest, req.id).status is RequestStatus.SUBMITTED


def test_scheduler_books_an_accepted_request_from_the_free_slots(scheduler, demo):
    req = submit_request()
    slot = free_slots(req, ae_title="MKH_US2", limit=1)[0]
    day = to_local(slot.start_at).date()
    page = _html(
        scheduler.get(
            f"/hub/requests/{req.id}/book?date={day.isoformat()}&device_id={device('MKH_US2').id}"
        )
    )
    value = f"{slot.device_id}|{slot.start_at.isoformat()}"
    assert f'value="{value}"' in page
    response = scheduler.post(f"/hub/requests/{req.id}/book", data={"slot": value})
    assert response.status_code == 302
    booked = _fresh(demo, ImagingRequest, req.id)
    assert booked.status is RequestStatus.SCHEDULED
    appointment = booked.current_appointment
    assert appointment.device.ae_title == "MKH_US2" and appointment.start_at == slot.start_at


def test_arrived(scheduler, demo):
    appointment = book_request(submit_request())
    response = scheduler.post(
        f"/hub/appointments/{appointment.id}/arrive", data={"next": "/hub/day?date=2026-11-23"}
    )
    assert response.headers["Location"] == "/hub/day?date=2026-11-23"
    assert _fresh(demo, Appointment, appointment.id).status is AppointmentStatus.ARRIVED


def test_next_must_stay_on_this_site(scheduler, demo):
    appointment = book_request(submit_request())
    response = scheduler.post(
        f"/hub/appointments/{appointment.id}/arrive", data={"next": "https://evil.example/"}
    )
    assert response.headers["Location"].startswith("/hub/day?date=")


def test_no_show_before_the_appointment_is_refused_in_thai(scheduler, demo):
    appointment = book_request(submit_request())
    response = scheduler.post(f"/hub/appointments/{appointment.id}/no-show", follow_redirects=True)
    assert "ยังไม่ถึงเวลานัด จึงบันทึกว่าผู้ป่วยไม่มาตามนัดไม่ได้" in _html(response)
    assert _fresh(demo, Appointment, appointment.id).status is AppointmentStatus.BOOKED


def test_no_show_after_the_appointment(scheduler, demo):
    req = submit_request()
    appointment = book_request(req)
    # The appointment was a week ago: move it into the past behind the operations' back.
    appointment.start_at = utcnow() - timedelta(hours=2)
    appointment.end_at = appointment.start_at + timedelta(minutes=20)
    demo.session.commit()
    scheduler.post(f"/hub/appointments/{appointment.id}/no-show")
    assert _fresh(demo, Appointment, appointment.id).status is AppointmentStatus.NO_SHOW
    assert _fresh(demo, ImagingRequest, req.id).status is RequestStatus.ACCEPTED


def test_cancel_needs_a_reason(scheduler, demo):
    appointment = book_request(submit_request())
    form = _html(scheduler.get(f"/hub/appointments/{appointment.id}/cancel"))
    assert "โรงพยาบาลที่ส่งตรวจและผู้ป่วยจะเห็นเหตุผลนี้" in form
    response = scheduler.post(f"/hub/appointments/{appointment.id}/cancel", data={"reason": ""})
    assert response.status_code == 422 and 'id="reason-error"' in _html(response)
    assert "กรุณาระบุเหตุผล" in _html(response)
    assert _fresh(demo, Appointment, appointment.id).status is AppointmentStatus.BOOKED
    response = scheduler.post(
        f"/hub/appointments/{appointment.id}/cancel", data={"reason": "เครื่องเสีย"}
    )
    assert response.status_code == 302
    cancelled = _fresh(demo, Appointment, appointment.id)
    assert cancelled.status is AppointmentStatus.CANCELLED and cancelled.status_reason == "เครื่องเสีย"
    assert cancelled.request.status is RequestStatus.ACCEPTED


def test_move_to_another_device_keeps_the_history(scheduler, demo):
    appointment = book_request(submit_request(), ae_title="MKH_US1")
    target = free_slots(appointment.request, days_ahead=9, ae_title="MKH_US2", limit=1)[0]
    day = to_local(target.start_at).date().isoformat()
    page = _html(
        scheduler.get(
            f"/hub/appointments/{appointment.id}/move?date={day}&device_id={device('MKH_US2').id}"
        )
    )
    value = f"{target.device_id}|{target.start_at.isoformat()}"
    assert f'value="{value}"' in page and "ช่วงเวลาว่าง" in page
    response = scheduler.post(
        f"/hub/appointments/{appointment.id}/move", data={"slot": value, "reason": "ผู้ป่วยขอเลื่อน"}
    )
    assert response.status_code == 302
    old = _fresh(demo, Appointment, appointment.id)
    assert old.status is AppointmentStatus.MOVED and old.status_reason == "ผู้ป่วยขอเลื่อน"
    new = old.request.current_appointment
    assert new.id != old.id and new.rescheduled_from_id == old.id
    assert new.device.ae_title == "MKH_US2" and new.start_at == target.start_at
    assert [a for a, _ in _actions(demo, "appointment.reschedule")] == ["appointment.reschedule"]
    # The same stale page pressed again: the operation refuses, in Thai, nothing changes.
    again = scheduler.post(
        f"/hub/appointments/{appointment.id}/move", data={"slot": value}, follow_redirects=True
    )
    assert "นัดนี้อยู่ในสถานะ &#39;ย้ายนัดแล้ว&#39; แล้ว" in _html(again)
    assert len(_fresh(demo, ImagingRequest, new.request_id).appointments) == 2


def test_move_to_a_taken_slot_is_refused(scheduler, demo):
    first = book_request(submit_request(), ae_title="MKH_US1")
    second = book_request(
        submit_request(patient_name="บุญเลิศ", procedure_code="US-UPABD"),
        ae_title="MKH_US1",
        days_ahead=10,
    )
    value = f"{first.device_id}|{first.start_at.isoformat()}"
    response = scheduler.post(
        f"/hub/appointments/{second.id}/move", data={"slot": value}, follow_redirects=True
    )
    assert response.status_code == 200
    assert _fresh(demo, Appointment, second.id).status is AppointmentStatus.BOOKED


def test_move_rejects_a_forged_slot(scheduler, demo):
    appointment = book_request(submit_request())
    udon_device = device("UDN_CT1")
    forged = f"{udon_device.id}|{datetime(2030, 1, 7, 2, 0, tzinfo=UTC).isoformat()}"
    assert (
        scheduler.post(
            f"/hub/appointments/{appointment.id}/move", data={"slot": forged}
        ).status_code
        == 400
    )
    assert (
        scheduler.post(f"/hub/appointments/{appointment.id}/move", data={"slot": "x|y"}).status_code
        == 400
    )


def test_day_view_offers_the_actions(scheduler, demo):
    appointment = book_request(submit_request())
    day = to_local(appointment.start_at).date().isoformat()
    html = _html(scheduler.get(f"/hub/day?date={day}"))
    for path in ("arrive", "no-show", "move", "cancel"):
        assert f"/hub/appointments/{appointment.id}/{path}" in html


def test_line_replies_show_in_the_inbox_and_can_be_handled(scheduler, demo):
    from integrations.line.models import LinePatientReply, LineReplyKind

    appointment = book_request(submit_request())
    reply = LinePatientReply(
        kind=LineReplyKind.CHANGE,
        appointment_id=appointment.id,
        request_id=appointment.request_id,
        hub_hospital_id=appointment.hub_hospital_id,
        patient_id=appointment.patient_id,
        line_user_id="U" + "0" * 32,
        received_at=utcnow(),
    )
    demo.session.add(reply)
    demo.session.commit()
    html = _html(scheduler.get("/hub/inbox"))
    assert "ข้อความตอบกลับจากผู้ป่วยทาง LINE" in html and "ขอเลื่อนหรือยกเลิกนัด" in html
    scheduler.post(f"/hub/line-replies/{reply.id}/handled")
    assert _fresh(demo, LinePatientReply, reply.id).handled is True
    assert "ข้อความตอบกลับจากผู้ป่วยทาง LINE" not in _html(scheduler.get("/hub/inbox"))


def test_hospital_lookup_helper_sanity(demo):
    assert demo.session.scalar(select(Hospital).where(Hospital.code == "10707")).is_hub


def test_exam_done_after_arrival_completes_the_request(scheduler, demo):
    appointment = book_request(submit_request())
    day = to_local(appointment.start_at).date().isoformat()
    scheduler.post(f"/hub/appointments/{appointment.id}/arrive")
    html = _html(scheduler.get(f"/hub/day?date={day}"))
    assert f"/hub/appointments/{appointment.id}/complete" in html and "ตรวจเสร็จแล้ว" in html
    scheduler.post(f"/hub/appointments/{appointment.id}/complete")
    done = _fresh(demo, Appointment, appointment.id)
    assert done.status is AppointmentStatus.COMPLETED
    assert done.request.status is RequestStatus.COMPLETED
    assert _actions(demo, "appointment.complete") == [("appointment.complete", "scheduler.mkh")]
