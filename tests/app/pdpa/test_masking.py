"""National IDs: masked in every list, whole only on the one patient's own pages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from scheduling.clock import local_today, local_zone
from scheduling.patients import format_national_id, mask_national_id
from tests.app.hub.factories import make_appointment, make_request
from tests.conftest import login


def test_lists_show_the_masked_id_and_the_detail_pages_the_whole_one(app, client, demo):
    now = datetime.now(UTC)
    start = datetime.combine(local_today() + timedelta(days=1), time(9), tzinfo=local_zone())
    appt = make_appointment(
        make_request(now=now, patient_name="สมศรี"), ae_title="MKH_US1", start_at=start
    )
    demo.session.commit()
    cid = appt.patient.id_value
    login(client, "staff.kudrang")
    lookup = client.post("/requests/new", data={"q": "สมศรี"}).get_data(as_text=True)
    assert mask_national_id(cid) in lookup and cid not in lookup
    assert cid not in client.get("/requests").get_data(as_text=True)
    detail = client.get(f"/requests/{appt.request_id}").get_data(as_text=True)
    assert format_national_id(cid) in detail
    client = app.test_client()
    login(client, "scheduler.mkh")
    day = client.get("/hub/day").get_data(as_text=True)
    assert cid not in day and format_national_id(cid) not in day
    exam = client.get(f"/hub/exams/{appt.id}").get_data(as_text=True)
    assert format_national_id(cid) in exam
