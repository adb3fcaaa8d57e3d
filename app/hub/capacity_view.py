"""Available minutes per device and day, for occupancy bars.

Capacity belongs to ``scheduling.capacity`` (templates, closures); this module only
asks it. Until that module exists every day reads as "capacity unknown" and the
pages show bookings without a percentage.
"""

from __future__ import annotations

from datetime import date

from app.models import Device


def capacity_minutes(devices: list[Device], first: date, last: date) -> dict[tuple[int, date], int]:
    """{(device id, day): minutes the device is open for bookings}; missing = unknown."""
    try:
        from scheduling import capacity  # noqa: F401
    except ImportError:
        return {}
    return {}
