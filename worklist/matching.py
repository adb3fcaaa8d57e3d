"""C-FIND matching values (DICOM PS3.4 C.2.2.2) parsed into things SQL can use.

Pure functions: no database, no Flask. ``worklist.mwl`` turns their results into
WHERE clauses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

WILDCARDS = ("*", "?")
LIKE_ESCAPE = "\\"


class InvalidMatchingValue(ValueError):
    """A matching key whose value cannot be parsed (a C-FIND failure, 0xC000-range)."""


def is_universal(value: str | None) -> bool:
    """Universal matching: an empty value, or nothing but ``*`` (C.2.2.2.3 / C.2.2.2.4)."""
    return value is None or value == "" or set(value) == {"*"}


def has_wildcard(value: str) -> bool:
    return any(ch in value for ch in WILDCARDS)


# No MWL matching key holds more (PN: 64 characters per component group, LO 64, SH 16);
# a longer pattern is a bad identifier, not work for the database (SQLite refuses LIKE
# patterns over 50,000 bytes, which would pass for an outage: found by tests/fuzz).
MAX_MATCH_CHARS = 256


def wildcard_to_like(value: str) -> str:
    """``*`` → ``%`` and ``?`` → ``_``; SQL's own ``%``, ``_`` and the escape are escaped.

    ``?`` is one *character*, not one byte: both SQLite's and PostgreSQL's ``LIKE``
    count characters, so a ``?`` stands for one Thai character as the standard says.
    """
    if len(value) > MAX_MATCH_CHARS:
        raise InvalidMatchingValue(f"matching value longer than {MAX_MATCH_CHARS} characters")
    out = []
    for ch in value:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in ("%", "_", LIKE_ESCAPE):
            out.append(LIKE_ESCAPE + ch)
        else:
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------
# Dates and times
# ---------------------------------------------------------------------------


def parse_da(value: str) -> date:
    value = value.strip()
    # "YYYY.MM.DD" is the ACR-NEMA form some old scanners still send.
    digits = value.replace(".", "")
    if len(digits) != 8 or not (digits.isascii() and digits.isdigit()):
        raise InvalidMatchingValue(f"bad DA value {value!r}")
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError as exc:
        raise InvalidMatchingValue(f"bad DA value {value!r}") from exc


def _tm_parts(value: str) -> tuple[time, timedelta]:
    """A TM value and the length of the span it names (``10`` is the whole hour 10:00-10:59)."""
    value = value.strip().replace(":", "")  # "HH:MM" is the ACR-NEMA form
    frac = ""
    if "." in value:
        value, frac = value.split(".", 1)
    # isascii: "²".isdigit() is true but int() refuses it (found by tests/fuzz)
    if (
        not (value + frac).isascii()
        or not value.isdigit()
        or len(value) not in (2, 4, 6)
        or (frac and not frac.isdigit())
    ):
        raise InvalidMatchingValue(f"bad TM value {value!r}")
    hh = int(value[:2])
    mm = int(value[2:4]) if len(value) >= 4 else 0
    ss = int(value[4:6]) if len(value) >= 6 else 0
    micro = int((frac + "000000")[:6]) if frac else 0
    if hh > 23 or mm > 59 or ss > 60:
        raise InvalidMatchingValue(f"bad TM value {value!r}")
    ss = min(ss, 59)  # a leap second is kept as :59
    span = {2: timedelta(hours=1), 4: timedelta(minutes=1), 6: timedelta(seconds=1)}[len(value)]
    if frac:
        span = timedelta(microseconds=10 ** (6 - min(len(frac), 6)))
    return time(hh, mm, ss, micro), span


def parse_tm(value: str) -> time:
    return _tm_parts(value)[0]


def _split_range(value: str) -> tuple[str, str] | None:
    if "-" not in value:
        return None
    low, _, high = value.partition("-")
    if "-" in high:
        raise InvalidMatchingValue(f"bad range {value!r}")
    return low.strip(), high.strip()


@dataclass(frozen=True)
class DateRange:
    """Inclusive local dates; None is open-ended."""

    low: date | None
    high: date | None


@dataclass(frozen=True)
class TimeRange:
    """Local wall-clock times, ``low`` inclusive and ``high_end`` exclusive; None is open."""

    low: time | None
    high_end: time | None  # the first instant *after* the range, or None
    high_is_end_of_day: bool = False

    def contains(self, moment: time) -> bool:
        if self.low is not None and moment < self.low:
            return False
        if self.high_is_end_of_day:
            return True
        return self.high_end is None or moment < self.high_end


def parse_date_matching(value: str | None) -> DateRange | None:
    """Single value or range matching on DA; None for universal matching."""
    if is_universal(value):
        return None
    assert value is not None
    value = value.strip()
    rng = _split_range(value)
    if rng is None:
        day = parse_da(value)
        return DateRange(day, day)
    low, high = rng
    if not low and not high:
        return None
    return DateRange(parse_da(low) if low else None, parse_da(high) if high else None)


def _end_of(value: str) -> tuple[time | None, bool]:
    """The exclusive end of a TM upper bound (``1200`` → 12:01), and whether it is midnight."""
    start, span = _tm_parts(value)
    end = datetime.combine(date(2000, 1, 1), start) + span
    if end.date() != date(2000, 1, 1):
        return None, True
    return end.time(), False


def parse_time_matching(value: str | None) -> TimeRange | None:
    if is_universal(value):
        return None
    assert value is not None
    value = value.strip()
    rng = _split_range(value)
    if rng is None:
        low, (high, eod) = parse_tm(value), _end_of(value)
        return TimeRange(low, high, eod)
    low_s, high_s = rng
    if not low_s and not high_s:
        return None
    low = parse_tm(low_s) if low_s else None
    if high_s:
        high, eod = _end_of(high_s)
        return TimeRange(low, high, eod)
    return TimeRange(low, None, False)


@dataclass(frozen=True)
class InstantRange:
    """Aware datetimes, ``low`` inclusive, ``high`` exclusive; None is open-ended."""

    low: datetime | None
    high: datetime | None


def combined_range(
    dates: DateRange | None, times: TimeRange | None, zone: tzinfo
) -> tuple[InstantRange | None, TimeRange | None]:
    """Scheduled Procedure Step Start Date and Time as the standard combines them.

    When both are given, C.2.2.2.5.1 makes them one datetime range: the low date
    with the low time up to the high date with the high time (``20261120-20261121``
    with ``1600-0800`` is the night between). A time without a date matches the time
    of day on every date; that part cannot be a plain index range, so it is returned
    separately for the caller to apply to the rows the rest of the query selected.
    """
    if dates is None:
        return None, times
    low = high = None
    if dates.low is not None:
        start_time = times.low if times is not None and times.low is not None else time(0)
        low = datetime.combine(dates.low, start_time, tzinfo=zone)
    if dates.high is not None:
        if times is not None and times.high_end is not None and not times.high_is_end_of_day:
            high = datetime.combine(dates.high, times.high_end, tzinfo=zone)
        else:
            high = datetime.combine(dates.high + timedelta(days=1), time(0), tzinfo=zone)
    return InstantRange(low, high), None


# ---------------------------------------------------------------------------
# Person names
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NamePattern:
    """A PN matching value split into its component groups (alphabetic=ideographic=phonetic).

    Only the family and given name components take part in matching: RadBook keeps a
    name prefix but no middle names or suffixes, and scanners search by name.
    """

    alphabetic: str | None
    ideographic: str | None
    any_group: bool  # no "=" in the query: the value may be either script


def _family_given(group: str) -> str | None:
    components = group.split("^")
    value = "^".join(components[:2]).rstrip("^")
    return None if is_universal(value) else value


def parse_name_matching(value: str | None) -> NamePattern | None:
    if is_universal(value):
        return None
    assert value is not None
    groups = value.split("=")
    if len(groups) == 1:
        pattern = _family_given(groups[0])
        return None if pattern is None else NamePattern(pattern, None, True)
    alphabetic = _family_given(groups[0])
    ideographic = _family_given(groups[1]) if len(groups) > 1 else None
    if alphabetic is None and ideographic is None:
        return None
    return NamePattern(alphabetic, ideographic, False)
