"""Demo capacity, closures, quotas and bookings, made through the scheduling operations.

Idempotent: a device that already has a template keeps it; bookings are made only
for demo requests that do not exist yet.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select

from app.extensions import db
from app.models import CapacityTemplate, Device
from scheduling.audit import Actor
from scheduling.capacity import WindowSpec, create_template

WEEKDAYS = range(5)


def _weekday_windows(start: time, end: time, capacity: int = 1) -> list[WindowSpec]:
    return [WindowSpec(d, start, end, capacity) for d in WEEKDAYS]


def load_capacity(actor: Actor, now: datetime) -> None:
    """A template for every device that has none (office hours, Monday to Friday)."""
    have = set(db.session.scalars(select(CapacityTemplate.device_id)))
    for device in db.session.scalars(select(Device).order_by(Device.id)):
        if device.id in have:
            continue
        windows = _weekday_windows(time(8, 30), time(16, 0))
        create_template(actor, now, device=device, windows=windows,
                        name="Office hours", commit=False)
