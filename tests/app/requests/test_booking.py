"""Choosing a slot, confirming it, losing a race, the slip, moving and cancelling."""

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from app.requests.slip import qr_svg, slip_link
from scheduling.availability import find_slots
from scheduling.clock import to_local, utcnow
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    Device,
    ImagingRequest,
    RequestStatus,
)
from scheduling.thaidate import thai_date
from tests.app.requests.conftest import (
    MKH,
    book_earliest,
    earliest_slot,
    hospital,
    make_request,
    patient_named,
    procedure,
    request_form,
)


def _html(response) -> str:
    return response.get_data(as_text=True)


def _confirm_links(html: str) -> list[tuple[str, dict[str, str]]]:
    links = []
    for href in re.findall(r'href="(/requests/\d+/confirm\?[^"]+)"', html):
        parts = urlsplit(href.replace("&amp;", "&"))
        links.append((parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}))
    return links


def test_a_new_request_goes_straight_to_the_earliest_slots(kudrang_client, demo):
    somsri = patient_named(demo, "สมศรี")
    response = kudrang_client.post(
        f"/requests/patients/{somsri.id}/request",
        data=request_form(procedure(demo, "US-UPABD").id),
    )
    req = demo.session.scalar(select(ImagingRequest))
    assert response.headers["Location"] == f"/requests/{req.id}/slots"
    html = _html(kudrang_client.get(response.headers["Location"]))
    assert "คิวที่เร็วที่สุด" in html
    first = earliest_slot(demo, req)
    path, params = _confirm_links(html)[0]
    assert path == f"/requests/{req.id}/confirm"
    assert params == {"device_id": str(first.device_id), "start_at": first.start_at.isoformat()}
    # Shown as staff read it: long Buddhist-Era date with the weekday, Bangkok time.
    assert thai_date(first.start_at, long=True, weekday=True) in html
    assert to_local(first.start_at).strftime("%H:%M") in html
    assert "โรงพยาบาลมหาสารคาม" in html


def test_the_calendar_counts_free_slots_per_day_and_lists_a_chosen_day(kudrang_client, demo):
    req = make_request(demo)
    first = earliest_slot(demo, req)
    day = to_local(first.start_at).date()
    html = _html(kudrang_client.get(f"/requests/{req.id}/slots"))
    cell = re.search(
        rf'href="\?hub=(\d+)&amp;day={day.isoformat()}#day-slots"[^>]*'
        rf'aria-label="([^"]+)"',
        html,
    )
    assert cell is not None
    assert int(cell.group(1)) == hospital(demo, MKH).id
    # Two ultrasound rooms, 08:30-16:00, 20-minute exams: at most 22 starts each (fewer
    # when that day is today and the lead time has passed some).
    expected = len(
        find_slots(
            utcnow(),
            req.procedure,
            requesting_hospital_id=req.requesting_hospital_id,
            hub_hospital_id=int(cell.group(1)),
            date_from=day,
            date_to=day,
            limit=1000,
        )
    )
    assert 0 < expected <= 44
    assert cell.group(2) == f"{thai_date(day, long=True, weekday=True)}: ว่าง {expected}"
    html = _html(
        kudrang_client.get(
            f"/requests/{req.id}/slots", query_string={"hub": cell.group(1), "day": day.isoformat()}
        )
    )
    day_section = html[html.index('id="day-slots"') :]
    assert len(_confirm_links(day_section)) == expected


def test_confirming_books_the_slot_and_opens_the_slip(kudrang_client, demo):
    req = make_request(demo)
    first = earliest_slot(demo, req)
    page = kudrang_client.get(
        f"/requests/{req.id}/confirm",
        query_string={"device_id": first.device_id, "start_at": first.start_at.isoformat()},
    )
    assert "ยืนยันการนัดหมาย" in _html(page)
    response = kudrang_client.post(
        f"/requests/{req.id}/confirm",
        data={"device_id": first.device_id, "start_at": first.start_at.isoformat()},
    )
    appointment = demo.session.scalar(select(Appointment))
    assert response.headers["Location"] == f"/requests/appointments/{appointment.id}/slip"
    assert appointment.device_id == first.device_id
    assert appointment.start_at == first.start_at
    assert appointment.status is AppointmentStatus.BOOKED
    demo.session.refresh(req)
    assert req.status is RequestStatus.SCHEDULED
    assert "appointment.book" in demo.session.scalars(select(AuditEvent.action)).all()


def test_a_lost_race_shows_the_thai_conflict_and_fresh_suggestions(kudrang_client, demo):
    mine = make_request(demo)
    target = earliest_slot(demo, mine)
    # Someone else (another patient, another request) takes that exact slot first.
    theirs = make_request(demo, patient="บุญเลิศ")
    taken = book_earliest(demo, theirs)
    assert (taken.device_id, taken.start_at) == (target.device_id, target.start_at)

    response = kudrang_client.post(
        f"/requests/{mine.id}/confirm",
        data={"device_id": target.device_id, "start_at": target.start_at.isoformat()},
        follow_redirects=True,
    )
    html = _html(response)
    assert "ขออภัย" in html  # the domain's Conflict message, in Thai
    assert "คิวที่เร็วที่สุด" in html
    offered = {(int(p["device_id"]), p["start_at"]) for _, p in _confirm_links(html)}
    assert (target.device_id, target.start_at.isoformat()) not in offered
    assert demo.session.scalars(select(Appointment.request_id)).all() == [theirs.id]


def test_the_slip_has_the_buddhist_era_date_room_preparation_code_and_qr(kudrang_client, demo):
    req = make_request(demo)
    appointment = book_earliest(demo, req)
    response = kudrang_client.get(f"/requests/appointments/{appointment.id}/slip")
    html = _html(response)
    assert "ใบนัดตรวจทางรังสี" in html
    assert thai_date(appointment.start_at, long=True, weekday=True) in html  # วันจันทร์ที่ …
    assert f"{to_local(appointment.start_at):%H:%M} น." in html
    assert appointment.device.room_th in html
    assert "งดน้ำและอาหาร" in html  # the procedure's preparation
    assert appointment.appointment_code in html
    assert "HN KR0001" in html
    assert 'class="slip paper-a5"' in html
    # The QR encodes the LINE linking URL with the appointment's one-time code (reused
    # while unused, so asking again gives the same URL); the code is printed too.
    from integrations.line.linking import link_url_for_appointment

    expected = link_url_for_appointment(appointment, utcnow())
    assert expected.startswith("https://line.me/R/oaMessage/")
    assert qr_svg(expected, title="สแกนเพื่อเชื่อมต่อ LINE และดูนัดหมาย") in html
    assert slip_link(appointment, utcnow()).code in html
    assert 'href="/static/css/slip-a5.css"' in html
    a4 = _html(kudrang_client.get(f"/requests/appointments/{appointment.id}/slip?paper=a4"))
    assert 'class="slip paper-a4"' in a4 and 'href="/static/css/slip-a4.css"' in a4
    for paper, size in (("a5", "size: A5"), ("a4", "size: A4")):
        css = kudrang_client.get(f"/static/css/slip-{paper}.css")
        text = css.get_data(as_text=True)
        css.close()
        assert size in text


def test_moving_needs_a_reason_and_keeps_the_history(kudrang_client, demo):
    req = make_request(demo)
    old = book_earliest(demo, req)
    old_id, old_start, old_device = old.id, old.start_at, old.device_id
    html = _html(kudrang_client.get(f"/requests/{req.id}/reschedule"))
    assert "เลื่อนนัด" in html and "นัดเดิม" in html
    _, params = _confirm_links(html)[-1]
    path = f"/requests/{req.id}/confirm"
    refused = _html(kudrang_client.post(path, data={**params, "reason": " "}))
    assert "กรุณาระบุเหตุผลที่เลื่อนนัด" in refused
    response = kudrang_client.post(path, data={**params, "reason": "ผู้ป่วยติดธุระ"})
    assert response.status_code == 302
    demo.session.expire_all()
    rows = demo.session.scalars(select(Appointment).order_by(Appointment.id)).all()
    assert [a.status for a in rows] == [AppointmentStatus.MOVED, AppointmentStatus.BOOKED]
    assert rows[0].id == old_id and rows[0].status_reason == "ผู้ป่วยติดธุระ"
    assert rows[1].rescheduled_from_id == old_id
    assert rows[1].start_at.isoformat() == params["start_at"]
    # The last suggestion may be the same hour at a hub outside the region (listed after
    # the region's own): another slot either way.
    assert (rows[1].device_id, rows[1].start_at) != (old_device, old_start)


def test_cancelling_needs_a_reason_and_cancels_the_appointment_too(kudrang_client, demo):
    req = make_request(demo)
    appointment = book_earliest(demo, req)
    page = _html(kudrang_client.get(f"/requests/{req.id}/cancel"))
    assert "จะถูกยกเลิกด้วย" in page
    refused = _html(kudrang_client.post(f"/requests/{req.id}/cancel", data={"reason": ""}))
    assert "กรุณาระบุเหตุผล" in refused
    response = kudrang_client.post(
        f"/requests/{req.id}/cancel", data={"reason": "ผู้ป่วยไปตรวจที่อื่นแล้ว"}
    )
    assert response.headers["Location"] == f"/requests/{req.id}"
    demo.session.expire_all()
    assert req.status is RequestStatus.CANCELLED
    assert req.status_reason == "ผู้ป่วยไปตรวจที่อื่นแล้ว"
    assert appointment.status is AppointmentStatus.CANCELLED
    assert "ยกเลิก" in _html(kudrang_client.get(f"/requests/{req.id}"))


def test_the_request_page_offers_the_next_step(kudrang_client, demo):
    req = make_request(demo)
    html = _html(kudrang_client.get(f"/requests/{req.id}"))
    assert f'href="/requests/{req.id}/slots"' in html
    appointment = book_earliest(demo, req)
    html = _html(kudrang_client.get(f"/requests/{req.id}"))
    assert f'href="/requests/appointments/{appointment.id}/slip"' in html
    assert f'href="/requests/{req.id}/reschedule"' in html
    assert f'href="/requests/{req.id}/cancel"' in html
    # Already booked: the slot page sends them to "move" instead of booking twice.
    assert (
        kudrang_client.get(f"/requests/{req.id}/slots").headers["Location"]
        == f"/requests/{req.id}/reschedule"
    )


def test_another_hospital_gets_404_everywhere(kosum_client, demo):
    req = make_request(demo)
    appointment = book_earliest(demo, req)
    device = demo.session.get(Device, appointment.device_id)
    for url in (
        f"/requests/{req.id}",
        f"/requests/{req.id}/slots",
        f"/requests/{req.id}/reschedule",
        f"/requests/{req.id}/cancel",
        f"/requests/appointments/{appointment.id}/slip",
        f"/requests/{req.id}/confirm?device_id={device.id}&start_at="
        f"{appointment.start_at.isoformat().replace('+', '%2B')}",
    ):
        assert kosum_client.get(url).status_code == 404, url
    assert kosum_client.post(f"/requests/{req.id}/cancel", data={"reason": "x"}).status_code == 404
    demo.session.expire_all()
    assert req.status is RequestStatus.SCHEDULED


def test_a_malformed_slot_is_a_bad_request(kudrang_client, demo):
    req = make_request(demo)
    for query in (
        {"device_id": "x", "start_at": "2026-11-23T01:30:00+00:00"},
        {"device_id": "1", "start_at": "tomorrow"},
        {"device_id": "1", "start_at": "2026-11-23T08:30:00"},
    ):  # naive: refused
        assert (
            kudrang_client.get(f"/requests/{req.id}/confirm", query_string=query).status_code == 400
        )


def test_a_cancelled_appointments_slip_has_no_line_code(kudrang_client, demo):
    from scheduling.requests import cancel_request
    from tests.app.requests.conftest import web_actor_for

    req = make_request(demo)
    appointment = book_earliest(demo, req)
    cancel_request(web_actor_for(demo, "staff.kudrang"), utcnow(), req, "ไม่มาแล้ว")
    html = _html(kudrang_client.get(f"/requests/appointments/{appointment.id}/slip"))
    assert "นัดหมายนี้ไม่อยู่ในสถานะนัดแล้ว" in html
    assert 'class="qr"' not in html


def test_one_search_serves_the_suggestions_the_calendar_and_the_chosen_day(
    kudrang_client, demo, monkeypatch
):
    """At the request's own hub the calendar's search holds the earliest slots and the
    chosen day's: the page searches once and lists what separate searches find."""
    from app.requests import slots as slot_lists

    req = make_request(demo, hub_hospital_id=hospital(demo, MKH).id)
    day = to_local(earliest_slot(demo, req).start_at).date()
    calls = []
    real = slot_lists.find_slots
    monkeypatch.setattr(
        slot_lists,
        "find_slots",
        lambda *args, **kwargs: calls.append(kwargs) or real(*args, **kwargs),
    )
    html = _html(
        kudrang_client.get(
            f"/requests/{req.id}/slots",
            query_string={"hub": str(req.hub_hospital_id), "day": day.isoformat()},
        )
    )
    assert len(calls) == 1

    def starts(**where):
        found = find_slots(
            utcnow(),
            req.procedure,
            requesting_hospital_id=req.requesting_hospital_id,
            hub_hospital_id=req.hub_hospital_id,
            **where,
        )
        return [s.start_at.isoformat() for s in found]

    listed_first, listed_day = html.split('id="day-slots"', 1)
    assert [p["start_at"] for _, p in _confirm_links(listed_first)] == starts(limit=6)
    assert [p["start_at"] for _, p in _confirm_links(listed_day)] == starts(
        date_from=day, date_to=day, limit=1000
    )
    assert len(starts(limit=6)) == 6
