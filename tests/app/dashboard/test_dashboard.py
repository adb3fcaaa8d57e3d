"""Dashboard pages: SVG charts drawn on the server, CSV exports of the same numbers."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta

import pytest

from app.dashboard.charts import Series, bar_chart
from app.webkit.fields import format_be_date
from scheduling.clock import local_datetime, local_today
from scheduling.models import AppointmentStatus
from tests.app.hub.factories import make_appointment, make_request
from tests.conftest import login

MONDAY_9 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def scheduler(client, demo):
    login(client, "scheduler.mkh")
    return client


def _html(response) -> str:
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_dashboard_draws_four_svg_charts_without_script(scheduler):
    html = _html(scheduler.get("/dashboard/?date_from=16/11/2569&date_to=29/11/2569"))
    assert html.count('<svg class="chart"') == 4
    assert html.count('role="img"') == 4
    for title in (
        "การใช้จำนวนรับรายวัน",
        "มัธยฐานจำนวนวันจากวันขอถึงวันตรวจ",
        "อัตราการไม่มาตามนัด",
        "การใช้โควตาของโรงพยาบาลชุมชน",
    ):
        assert title in html
    assert "<script" not in html
    assert "16 พ.ย. 2569 – 29 พ.ย. 2569" in html


def test_capacity_csv_matches_the_chart_data(scheduler, demo, now):
    make_appointment(make_request(now=now), ae_title="MKH_US1", start_at=MONDAY_9, minutes=45)
    demo.session.commit()
    response = scheduler.get(
        "/dashboard/capacity.csv?modality=US&date_from=23/11/2569&date_to=24/11/2569"
    )
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/csv" and body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert [r["date"] for r in rows] == ["2026-11-23", "2026-11-24"]
    assert rows[0] == {
        "hub_code": "10707",
        "modality": "US",
        "date": "2026-11-23",
        "bookings": "1",
        "booked_minutes": "45",
        "bookable_minutes": "900",
        "used_share": "0.0500",
    }
    html = _html(scheduler.get("/dashboard/?modality=US&date_from=23/11/2569&date_to=24/11/2569"))
    assert "23 พ.ย. · สัดส่วนเวลาที่จองแล้ว: 5%" in html  # the bar's own title


@pytest.mark.parametrize("metric", ["waiting", "no-shows", "quotas"])
def test_every_metric_exports(scheduler, demo, now, metric):
    make_appointment(
        make_request(now=now),
        ae_title="MKH_US1",
        start_at=MONDAY_9,
        status=AppointmentStatus.NO_SHOW,
    )
    demo.session.commit()
    response = scheduler.get(f"/dashboard/{metric}.csv?date_from=23/11/2569&date_to=29/11/2569")
    assert response.status_code == 200
    header = response.get_data(as_text=True).lstrip("\ufeff").splitlines()[0]
    assert header.startswith("hub_code,modality,")


def test_no_show_csv_counts(scheduler, demo, now):
    # Two weeks back from the real clock: the export counts appointments that have started.
    monday = local_today() - timedelta(days=local_today().weekday() + 14)
    nine = local_datetime(monday, time(9))
    make_appointment(
        make_request(now=now), ae_title="MKH_US1", start_at=nine, status=AppointmentStatus.NO_SHOW
    )
    make_appointment(
        make_request(now=now, patient_name="บุญเลิศ"),
        ae_title="MKH_US1",
        start_at=nine + timedelta(hours=1),
        status=AppointmentStatus.COMPLETED,
    )
    demo.session.commit()
    period = f"date_from={format_be_date(monday)}&date_to={format_be_date(monday)}"
    body = scheduler.get(f"/dashboard/no-shows.csv?{period}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert (
        rows[0]["week_starting"],
        rows[0]["appointments"],
        rows[0]["no_shows"],
        rows[0]["no_show_rate"],
    ) == (monday.isoformat(), "2", "1", "0.5000")


def test_reversed_period_is_refused_beside_the_field(scheduler):
    html = _html(scheduler.get("/dashboard/?date_from=01/12/2569&date_to=01/11/2569"))
    assert 'id="date_to-error"' in html and "วันสิ้นสุดอยู่ก่อนวันเริ่มต้น" in html
    assert (
        scheduler.get("/dashboard/capacity.csv?date_from=01/12/2569&date_to=01/11/2569").status_code
        == 400
    )


def test_requesters_and_radiologists_do_not_see_dashboards(app, demo):
    for username in ("staff.kudrang", "radiologist.mkh"):
        client = app.test_client()
        login(client, username)
        assert client.get("/dashboard/").status_code == 403


def test_bar_chart_escapes_labels_and_scales():
    svg = str(bar_chart("t<1>", ["<b>", "x"], [Series("s&p", [1.0, None])], y_max=2.0))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "s&amp;p" in svg
    heights = [float(h) for h in re.findall(r'<rect class="bar-a"[^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 1  # None draws nothing
    assert heights[0] == pytest.approx((280 - 14 - 58) / 2, abs=0.1)  # half the plot height
