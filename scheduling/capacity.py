"""Editing capacity: templates (weekly windows), closures, quotas; and reading quota use.

Every edit takes ``actor`` and ``now`` first, writes one audit event and commits
(or only flushes with ``commit=False``), like the booking operations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from app.extensions import db
from app.models import CapacityTemplate, CapacityWindow, Device
from scheduling.audit import Actor, record
from scheduling.errors import ValidationFailed
from scheduling.i18n import N_
from scheduling.requests import check_aware, finish, require_hub_side, rollback_on_error


@dataclass(frozen=True)
class WindowSpec:
    """One bookable window: weekday (0 = Monday), local start and end time, parallel capacity."""

    weekday: int
    start: time
    end: time
    capacity: int = 1


def _validate_windows(windows: Iterable[WindowSpec]) -> list[WindowSpec]:
    result = list(windows)
    for w in result:
        if not 0 <= w.weekday <= 6:
            raise ValidationFailed(N_("Weekday must be 0 (Monday) to 6 (Sunday)"),
                                   code="weekday")
        if w.end <= w.start:
            raise ValidationFailed(N_("A window must end after it starts"), code="window")
        if w.capacity < 1:
            raise ValidationFailed(N_("Capacity must be at least 1"), code="capacity")
    by_day: dict[int, list[WindowSpec]] = {}
    for w in result:
        by_day.setdefault(w.weekday, []).append(w)
    for day_windows in by_day.values():
        day_windows.sort(key=lambda w: w.start)
        for a, b in zip(day_windows, day_windows[1:], strict=False):
            if b.start < a.end:
                raise ValidationFailed(
                    N_("Two windows on the same weekday overlap"), code="window-overlap"
                )
    return result


def _validate_template_values(slot_minutes: int | None, lead_time_minutes: int,
                              horizon_days: int, valid_from: date | None,
                              valid_to: date | None) -> None:
    if slot_minutes is not None and not 1 <= slot_minutes <= 480:
        raise ValidationFailed(N_("Slot length must be 1 to 480 minutes"), code="slot-length")
    if lead_time_minutes < 0 or horizon_days < 1:
        raise ValidationFailed(N_("Lead time and horizon must be positive"), code="horizon")
    if valid_from and valid_to and valid_to < valid_from:
        raise ValidationFailed(N_("The validity ends before it starts"), code="validity")


def create_template(
    actor: Actor,
    now: datetime,
    *,
    device: Device,
    windows: Iterable[WindowSpec],
    slot_minutes: int | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    lead_time_minutes: int = 60,
    horizon_days: int = 90,
    name: str = "",
    commit: bool = True,
) -> CapacityTemplate:
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, device.hospital_id)
        specs = _validate_windows(windows)
        _validate_template_values(slot_minutes, lead_time_minutes, horizon_days, valid_from,
                                  valid_to)
        template = CapacityTemplate(
            device_id=device.id, name=name.strip(), valid_from=valid_from, valid_to=valid_to,
            slot_minutes=slot_minutes, lead_time_minutes=lead_time_minutes,
            horizon_days=horizon_days, is_active=True, created_at=now, updated_at=now,
            windows=[CapacityWindow(weekday=w.weekday, start_time=w.start, end_time=w.end,
                                    capacity=w.capacity) for w in specs],
        )
        db.session.add(template)
        db.session.flush()
        record(actor, "capacity.template_create", now, entity=template,
               hospital_id=device.hospital_id, device=device.ae_title,
               windows=[[w.weekday, w.start.isoformat("minutes"), w.end.isoformat("minutes"),
                         w.capacity] for w in specs])
        finish(commit)
    return template
