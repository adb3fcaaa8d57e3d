from datetime import date, time

import pytest

from app.webkit.fields import format_be_date, parse_be_date, parse_hhmm


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21/11/2569", date(2026, 11, 21)),  # Buddhist Era, as staff type it
        ("1/1/2570", date(2027, 1, 1)),  # no leading zeros
        ("21.11.2569", date(2026, 11, 21)),  # dots
        ("21/11/2026", date(2026, 11, 21)),  # Gregorian year also understood
        ("2026-11-21", date(2026, 11, 21)),  # ISO, used in links
        ("29/02/2567", date(2024, 2, 29)),  # BE 2567 = 2024, a leap year
        ("29/02/2569", None),  # 2026 is not
        ("31/04/2569", None),
        ("21/11/69", None),  # two-digit years are ambiguous
        ("", None),
        ("พรุ่งนี้", None),
    ],
)
def test_parse_be_date(text, expected):
    assert parse_be_date(text) == expected


def test_format_be_date_round_trips():
    assert format_be_date(date(2026, 11, 21)) == "21/11/2569"
    assert parse_be_date(format_be_date(date(2026, 1, 5))) == date(2026, 1, 5)
    assert format_be_date(date(2026, 11, 21), "en") == "2026-11-21"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:30", time(8, 30)),
        ("8.30", time(8, 30)),
        ("23:59", time(23, 59)),
        ("24:00", None),
        ("12:60", None),
        ("noon", None),
    ],
)
def test_parse_hhmm(text, expected):
    assert parse_hhmm(text) == expected
