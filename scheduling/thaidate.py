"""Buddhist-Era dates, as Thai staff write them: 21 พ.ย. 2569.

Babel formats Thai month names but keeps the Gregorian year, so the year is
added here (พ.ศ. = ค.ศ. + 543) rather than through a locale calendar.
"""

from __future__ import annotations

from datetime import date, datetime

from scheduling.clock import to_local

THAI_MONTHS_SHORT = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip
THAI_MONTHS_LONG = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)  # fmt: skip
THAI_WEEKDAYS = ("จันทร์", "อังคาร", "พุธ", "พฤหัสบดี", "ศุกร์", "เสาร์", "อาทิตย์")
EN_MONTHS_SHORT = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip

BE_OFFSET = 543


def _as_date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return to_local(value).date() if value.tzinfo else value.date()
    return value


def thai_date(value: date | datetime | None, long: bool = False, weekday: bool = False) -> str:
    """``21 พ.ย. 2569`` (or ``วันเสาร์ที่ 21 พฤศจิกายน 2569`` with long and weekday)."""
    if value is None:
        return ""
    d = _as_date(value)
    month = (THAI_MONTHS_LONG if long else THAI_MONTHS_SHORT)[d.month - 1]
    text = f"{d.day} {month} {d.year + BE_OFFSET}"
    if weekday:
        text = f"วัน{THAI_WEEKDAYS[d.weekday()]}ที่ {text}"
    return text


def english_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    d = _as_date(value)
    return f"{d.day} {EN_MONTHS_SHORT[d.month - 1]} {d.year}"


def local_time(value: datetime | None) -> str:
    """``09:30`` in the hospital's time zone; Thai staff use the 24-hour clock."""
    if value is None:
        return ""
    return to_local(value).strftime("%H:%M")


def display_date(value: date | datetime | None, locale: str = "th", **kwargs) -> str:
    return thai_date(value, **kwargs) if locale == "th" else english_date(value)
