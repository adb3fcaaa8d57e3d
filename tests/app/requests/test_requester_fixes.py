"""Requester page fixes: live dates only, superseded slips, the calendar's reach,
and a move that never offers the current slot."""

from __future__ import annotations

import re
from datetime import timedelta

from scheduling.booking import cancel_appointment, reschedule
from scheduling.clock import local_today, to_local, utcnow
from scheduling.models import Device
from tests.app.requests.conftest import book_earliest, make_request, web_actor_for


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_list_shows_no_date_for_a_cancelled_booking(kudrang_client, demo):
    req = make_request(demo)
    appt = book_earliest(demo, req)
    shown = to_local(appt.start_at).strftime("%H:%M")
    assert shown in _html(kudrang_client.get("/requests"))
    cancel_appointment(web_actor_for(demo, "scheduler.mkh"), utcnow(), appt, "เครื่องเสีย")
    html = _html(kudrang_client.get("/requests"))
    assert 'data-ended="CANCELLED"' in html
    assert shown not in html


def test_a_moved_slip_says_it_was_superseded_and_by_what(kudrang_client, demo):
    req = make_request(demo)
    old = book_earliest(demo, req)
    new = reschedule(
        web_actor_for(demo, "scheduler.mkh"),
        utcnow(),
        old,
        old.device,
        old.start_at + timedelta(days=7),
        reason="แพทย์ลา",
    )
    html = _html(kudrang_client.get(f"/requests/appointments/{old.id}/slip"))
    assert 'data-superseded="MOVED"' in html and "แพทย์ลา" in html
    assert f"/requests/appointments/{new.id}/slip" in html
    assert "data-superseded" not in _html(
        kudrang_client.get(f"/requests/appointments/{new.id}/slip")
    )


def test_the_calendar_steps_to_the_end_of_the_booking_horizon(kudrang_client, demo):
    req = make_request(demo)
    url = f"/requests/{req.id}/slots"
    seen_last = None
    for _page in range(10):
        response = kudrang_client.get(url)
        assert response.status_code == 200, (url, response.headers.get("Location"))
        html = _html(response)
        days = re.findall(r"day=(\d{4}-\d{2}-\d{2})#day-slots", html)
        seen_last = max(days) if days else seen_last
        later = re.search(r'href="(\?hub=\d+&amp;weeks=[\d-]+)" rel="next"', html)
        if later is None:
            break
        url = f"/requests/{req.id}/slots" + later.group(1).replace("&amp;", "&")
    # Demo templates book 90 days ahead: the last bookable day is reachable (was ~5 weeks).
    assert seen_last is not None
    assert (local_today() + timedelta(days=85)).isoformat() <= seen_last


def test_a_move_never_offers_the_current_slot(kudrang_client, demo):
    req = make_request(demo)
    appt = book_earliest(demo, req)  # the earliest slot: what the move would offer first
    html = _html(kudrang_client.get(f"/requests/{req.id}/reschedule"))
    current = f"device_id={appt.device_id}&amp;start_at={appt.start_at.isoformat()}".replace(
        "+", "%2B"
    )
    assert "confirm?" in html
    assert current not in html
    offered = re.findall(r"device_id=(\d+)&amp;start_at=([^\"&]+)", html)
    assert offered and (str(appt.device_id), appt.start_at.isoformat()) not in offered
    assert demo.session.get(Device, appt.device_id) is not None
