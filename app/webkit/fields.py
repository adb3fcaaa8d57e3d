"""Form fields for Thai staff: dates typed and shown in the Buddhist Era.

Thai hospital systems take dates as ``วว/ดด/ปปปป`` with a พ.ศ. year (21/11/2569); the
browser's own date picker shows the Gregorian year and its format depends on the
machine's locale, so a plain text field with one documented format is clearer.
ISO dates (2026-11-21, used in links) are accepted too.
"""

from __future__ import annotations

import re
from datetime import date, time

from flask_babel import lazy_gettext as _l
from wtforms import StringField

from app.webkit.views import locale
from scheduling.limits import EARLIEST_DATE, LATEST_DATE, date_in_range
from scheduling.thaidate import BE_OFFSET

_SLASHED = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_HHMM = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


def parse_be_date(text: str) -> date | None:
    """``21/11/2569`` (BE), ``21/11/2026`` (CE) or ``2026-11-21``; None when unreadable.

    A four-digit year above 2400 is Buddhist Era: no exam is booked before 1857 CE or
    after 2400 CE, so the two never collide.
    """
    if match := _ISO.match(text or ""):
        year, month, day = (int(x) for x in match.groups())
    elif match := _SLASHED.match(text or ""):
        day, month, year = (int(x) for x in match.groups())
        if year > 2400:
            year -= BE_OFFSET
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def format_be_date(value: date | None, locale: str = "th") -> str:
    if value is None:
        return ""
    if locale == "en":
        return value.isoformat()
    return f"{value.day:02d}/{value.month:02d}/{value.year + BE_OFFSET}"


def parse_hhmm(text: str) -> time | None:
    if match := _HHMM.match(text or ""):
        hour, minute = (int(x) for x in match.groups())
        if hour < 24 and minute < 60:
            return time(hour, minute)
    return None


class _TypedField(StringField):
    """A text box for digits in one written format, which its placeholder shows; empty
    is None, anything ``parse`` cannot read is the ``unreadable`` error."""

    placeholder = ""
    unreadable = ""

    def __init__(self, label=None, validators=None, **kwargs):
        render_kw = {"inputmode": "numeric", "autocomplete": "off", "placeholder": self.placeholder}
        render_kw.update(kwargs.pop("render_kw", None) or {})
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    @staticmethod
    def parse(text: str) -> object | None:
        raise NotImplementedError

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        self.data = self.parse(valuelist[0])
        if self.data is None:
            raise ValueError(self.unreadable)


class BEDateField(_TypedField):
    """A date typed as ``วว/ดด/ปปปป`` (พ.ศ.); ``data`` is a ``datetime.date`` or None."""

    placeholder = "วว/ดด/ปปปป"
    unreadable = _l("Enter the date as dd/mm/yyyy in the Buddhist Era, e.g. 21/11/2569")

    parse = staticmethod(parse_be_date)

    def _value(self) -> str:
        # Echo what was typed only when it was unreadable (so it can be corrected);
        # a readable date, even an ISO one from a link, is shown the Thai way.
        if self.raw_data and self.raw_data[0].strip() and parse_be_date(self.raw_data[0]) is None:
            return self.raw_data[0]
        return format_be_date(self.data, locale())

    def process_formdata(self, valuelist: list[str]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not date_in_range(self.data):
            # Year 1 or 9999 would overflow every date sum the pages do (found by tests/fuzz).
            self.data = None
            raise ValueError(
                _l(
                    "Enter a date between %(first)s and %(last)s",
                    first=format_be_date(EARLIEST_DATE),
                    last=format_be_date(LATEST_DATE),
                )
            )


class TimeField(_TypedField):
    """``HH:MM`` on the 24-hour clock, as Thai staff write times."""

    placeholder = "HH:MM"
    unreadable = _l("Enter the time as HH:MM on the 24-hour clock, e.g. 13:30")

    parse = staticmethod(parse_hhmm)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.data.strftime("%H:%M") if self.data else ""
