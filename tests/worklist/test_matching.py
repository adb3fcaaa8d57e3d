"""Parsing C-FIND matching values (PS3.4 C.2.2.2); no database, no network."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from worklist.matching import (
    DateRange,
    InvalidMatchingValue,
    NamePattern,
    TimeRange,
    combined_range,
    is_universal,
    parse_date_matching,
    parse_name_matching,
    parse_time_matching,
    wildcard_to_like,
)

BKK = ZoneInfo("Asia/Bangkok")


@pytest.mark.parametrize(
    ("value", "universal"),
    [(None, True), ("", True), ("*", True), ("**", True), ("A*", False), ("?", False)],
)
def test_universal(value, universal):
    assert is_universal(value) is universal


@pytest.mark.parametrize(
    ("value", "like"),
    [
        ("THONG*", "THONG%"),
        ("TH?NGDI", "TH_NGDI"),
        ("50%_OFF", "50\\%\\_OFF"),  # SQL's own wildcards are literal in DICOM
        ("A\\B", "A\\\\B"),
        ("*สมศรี*", "%สมศรี%"),
    ],
)
def test_wildcards_become_like_patterns(value, like):
    assert wildcard_to_like(value) == like


# Date matching: value → (low, high), both inclusive
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20261121", DateRange(date(2026, 11, 21), date(2026, 11, 21))),
        ("20261121-20261125", DateRange(date(2026, 11, 21), date(2026, 11, 25))),
        ("-20261121", DateRange(None, date(2026, 11, 21))),
        ("20261121-", DateRange(date(2026, 11, 21), None)),
        ("2026.11.21", DateRange(date(2026, 11, 21), date(2026, 11, 21))),  # ACR-NEMA form
        ("", None),
        ("-", None),
    ],
)
def test_date_matching(value, expected):
    assert parse_date_matching(value) == expected


@pytest.mark.parametrize("value", ["2026112", "20261321", "2026-11-21", "1-2-3", "abcdefgh"])
def test_bad_dates_are_refused(value):
    with pytest.raises(InvalidMatchingValue):
        parse_date_matching(value)


# Time matching: the upper bound covers the whole precision it names
#   value           low       exclusive end
#   "0800-1000"     08:00     10:01   (10:00 is 10:00:00-10:00:59)
#   "10"            10:00     11:00   (a whole hour)
#   "-1230"         open      12:31
#   "1600-"         16:00     open
#   "2300-2359"     23:00     end of day
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0800-1000", TimeRange(time(8), time(10, 1))),
        ("10", TimeRange(time(10), time(11))),
        ("-1230", TimeRange(None, time(12, 31))),
        ("1600-", TimeRange(time(16), None)),
        ("2300-2359", TimeRange(time(23), None, True)),
        ("08:30-09:00", TimeRange(time(8, 30), time(9, 1))),
        ("083015.5", TimeRange(time(8, 30, 15, 500000), time(8, 30, 15, 600000))),
    ],
)
def test_time_matching(value, expected):
    assert parse_time_matching(value) == expected


def test_time_range_contains_boundaries():
    rng = parse_time_matching("0800-1000")
    assert rng.contains(time(8, 0))
    assert rng.contains(time(10, 0, 59))
    assert not rng.contains(time(7, 59, 59))
    assert not rng.contains(time(10, 1))


def test_date_and_time_combine_into_one_range():
    # C.2.2.2.5.1: 20 Nov 16:00 up to 21 Nov 08:00 — the night shift, not two daytime windows
    instants, leftover = combined_range(
        parse_date_matching("20261120-20261121"), parse_time_matching("1600-0800"), BKK
    )
    assert leftover is None
    assert instants.low == datetime(2026, 11, 20, 16, 0, tzinfo=BKK)
    assert instants.high == datetime(2026, 11, 21, 8, 1, tzinfo=BKK)


def test_single_date_covers_the_local_day():
    instants, _ = combined_range(parse_date_matching("20261121"), None, BKK)
    assert instants.low == datetime(2026, 11, 21, 0, 0, tzinfo=BKK)
    assert instants.high == datetime(2026, 11, 22, 0, 0, tzinfo=BKK)


def test_time_without_date_is_left_for_the_rows():
    instants, leftover = combined_range(None, parse_time_matching("0800-1000"), BKK)
    assert instants is None
    assert leftover == TimeRange(time(8), time(10, 1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("THONGDI^SOMSRI", NamePattern("THONGDI^SOMSRI", None, True)),
        ("THONG*", NamePattern("THONG*", None, True)),
        ("THONGDI^SOMSRI^^MRS.", NamePattern("THONGDI^SOMSRI", None, True)),  # prefix ignored
        ("=ทองดี^สมศรี", NamePattern(None, "ทองดี^สมศรี", False)),
        ("Thongdi*=ทอง*", NamePattern("Thongdi*", "ทอง*", False)),
        ("*", None),
        ("=", None),
        ("^", None),
    ],
)
def test_name_patterns(value, expected):
    assert parse_name_matching(value) == expected
