from datetime import UTC, date, datetime

import pytest

from scheduling.thaidate import english_date, local_time, thai_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 11, 21), "21 พ.ย. 2569"),
        (date(2026, 1, 1), "1 ม.ค. 2569"),
        (date(2025, 12, 31), "31 ธ.ค. 2568"),
        (date(2024, 2, 29), "29 ก.พ. 2567"),
        # 20:30 UTC on the 21st is already the 22nd in Bangkok
        (datetime(2026, 11, 21, 20, 30, tzinfo=UTC), "22 พ.ย. 2569"),
    ],
)
def test_buddhist_era_short(value, expected):
    assert thai_date(value) == expected


def test_long_with_weekday():
    assert thai_date(date(2026, 11, 21), long=True, weekday=True) == "วันเสาร์ที่ 21 พฤศจิกายน 2569"


def test_english_keeps_gregorian():
    assert english_date(date(2026, 11, 21)) == "21 Nov 2026"


def test_time_is_bangkok():
    assert local_time(datetime(2026, 11, 21, 2, 0, tzinfo=UTC)) == "09:00"
    assert thai_date(None) == ""


def test_filter_in_template(app):
    with app.test_request_context("/"):
        from flask import g, render_template_string

        g.locale = "th"
        assert render_template_string("{{ d|be_date }}", d=date(2026, 11, 21)) == "21 พ.ย. 2569"
