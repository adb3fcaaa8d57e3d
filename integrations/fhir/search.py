"""FHIR search parameters: parsing and the SQL they become.

Rules (docs/fhir.md): repeating a parameter ANDs, commas inside one value OR;
an unknown parameter or modifier is refused with 400 rather than silently ignored,
because an ignored ``patient=`` would answer with everybody's rows.
Dates without a zone are Bangkok wall-clock time, the server's zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, false, not_, or_
from werkzeug.datastructures import MultiDict

from integrations.fhir.errors import MSG_BAD_PARAM, MSG_UNKNOWN_PARAM, FhirError
from scheduling.clock import local_zone
from scheduling.limits import EARLIEST_DATE, LATEST_DATE
from scheduling.models.types import row_id

DEFAULT_COUNT = 50
MAX_COUNT = 200
# More values than this in one parameter (a=1,2,3…), or more parameters in one search,
# is a 400: the OR of thousands of clauses exceeds what the databases parse (SQLite:
# "Expression tree is too large"), which would otherwise pass for a database outage.
MAX_VALUES = 100
MAX_CRITERIA = 30
# Result parameters every search accepts; they shape the answer, not the match.
RESULT_PARAMS = {"_count", "_offset", "_format", "_pretty"}


@dataclass(frozen=True)
class Params:
    """Parsed search parameters: ``criteria`` is (name, [or-values]) in request order."""

    criteria: list[tuple[str, list[str]]]
    count: int
    offset: int

    def get(self, name: str) -> list[list[str]]:
        return [values for key, values in self.criteria if key == name]

    def first(self, name: str) -> str | None:
        found = self.get(name)
        return found[0][0] if found else None


def bad(name: str, detail: str | None = None) -> FhirError:
    return FhirError(400, MSG_BAD_PARAM, code="bad-parameter", detail=detail, name=name)


def _split(value: str) -> list[str]:
    # A backslash escapes a comma inside a value (FHIR search "escaping").
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",") for p in parts]


def _int(name: str, raw: str, default: int, maximum: int | None = None) -> int:
    if raw in (None, ""):
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad(name)
    value = int(raw)
    return min(value, maximum) if maximum is not None else value


def parse(args: MultiDict, allowed: Iterable[str]) -> Params:
    allowed = set(allowed)
    criteria: list[tuple[str, list[str]]] = []
    for name, value in args.items(multi=True):
        if name in RESULT_PARAMS:
            continue
        if name not in allowed:
            raise FhirError(400, MSG_UNKNOWN_PARAM, code="unknown-parameter", name=name)
        values = [v for v in _split(value) if v != ""]
        if not values:
            raise bad(name, "empty value")
        if len(values) > MAX_VALUES:
            raise bad(name, f"at most {MAX_VALUES} comma-separated values")
        criteria.append((name, values))
        if len(criteria) > MAX_CRITERIA:
            raise bad(name, f"at most {MAX_CRITERIA} search parameters")
    return Params(
        criteria=criteria,
        count=_int("_count", args.get("_count"), DEFAULT_COUNT, MAX_COUNT),
        offset=_int("_offset", args.get("_offset"), 0),
    )


# -- value types -----------------------------------------------------------------------


def token(value: str) -> tuple[str | None, str | None]:
    """``system|code`` → (system, code); ``code`` → (None, code); ``system|`` → (system, None).

    ``|code`` (explicitly no system) gives ("", code).
    """
    if "|" not in value:
        return None, value
    system, _, code = value.partition("|")
    return system, code or None


def reference_id(name: str, value: str, resource_type: str) -> int:
    """``Patient/12``, ``12`` or a full URL ending in ``Patient/12`` → 12."""
    tail = value.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != resource_type:
        raise bad(name, f"expected a {resource_type} reference")
    found = row_id(tail[-1])
    # an id RadBook never issues matches nothing rather than failing
    return -1 if found is None else found


_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(T.+)?)?)?$")


def date_bounds(name: str, value: str) -> tuple[str, datetime, datetime]:
    """(prefix, start, end): the value as the half-open range its precision implies."""
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    raw = value[2:] if value[:2] in _PREFIXES else value
    match = _DATE_RE.match(raw)
    if not match:
        raise bad(name, f"not a FHIR date: {raw}")
    year, month, day, clock = match.groups()
    if not EARLIEST_DATE.year <= int(year) <= LATEST_DATE.year:
        # Year 1 or 9999 overflows on the way to UTC (found by tests/fuzz).
        raise bad(name, f"dates run from {EARLIEST_DATE} to {LATEST_DATE}")
    zone = local_zone()
    try:
        if clock:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            with_seconds = re.match(r"T\d{2}:\d{2}:\d{2}", clock) is not None
            step = timedelta(seconds=1) if with_seconds else timedelta(minutes=1)
            return prefix, moment, moment + step
        if day:
            start_day = date(int(year), int(month), int(day))
            end_day = start_day + timedelta(days=1)
        elif month:
            start_day = date(int(year), int(month), 1)
            end_day = (
                date(int(year) + 1, 1, 1)
                if int(month) == 12
                else date(int(year), int(month) + 1, 1)
            )
        else:
            start_day, end_day = date(int(year), 1, 1), date(int(year) + 1, 1, 1)
    except (ValueError, OverflowError) as exc:
        raise bad(name, str(exc)) from exc
    return (
        prefix,
        datetime.combine(start_day, time(), tzinfo=zone),
        datetime.combine(end_day, time(), tzinfo=zone),
    )


def date_clause(name: str, column, value: str) -> ColumnElement[bool]:
    """A column compared with a date parameter, FHIR's range semantics (half-open)."""
    prefix, start, end = date_bounds(name, value)
    if prefix == "eq":
        return and_(column >= start, column < end)
    if prefix == "ne":
        return not_(and_(column >= start, column < end))
    if prefix in ("gt", "sa"):
        return column >= end
    if prefix == "ge":
        return column >= start
    if prefix in ("lt", "eb"):
        return column < start
    return column < end  # le


def any_of(values: list[str], make: Callable[[str], ColumnElement[bool] | None]):
    """OR of the clauses for one parameter's comma-separated values."""
    clauses = [c for c in (make(v) for v in values) if c is not None]
    if not clauses:
        return false()
    return or_(*clauses)
