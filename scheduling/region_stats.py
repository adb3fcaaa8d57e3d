"""What a health region office sees: aggregates over the hubs of one region, never a
patient. Every function takes the region and the period (local days, inclusive) and
returns counts, shares and days per hub, scanner, modality or referring hospital.

The measures are those of ``scheduling.metrics`` (the hub dashboards), summed over the
region: capacity used per scanner, days from request to exam (median and 90th
percentile against the office's target), no-shows, and the share of exams whose
images and report came back linked to the request.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import NotAllowed, ValidationFailed
from scheduling.i18n import N_
from scheduling.metrics import (
    PERFORMED_STATUSES,
    CapacityShare,
    capacity_use,
    quota_use_per_hospital,
)
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    Hospital,
    ImagingRequest,
    Modality,
    RegionWaitTarget,
    Role,
    Study,
)
from scheduling.regions import provinces_of
from scheduling.timetable import day_bounds
from scheduling.tx import check_aware, finish, rollback_on_error


def region_hubs(region: int) -> list[Hospital]:
    codes = [p.code for p in provinces_of(region)]
    return list(
        db.session.scalars(
            select(Hospital)
            .where(Hospital.is_hub.is_(True), Hospital.province_code.in_(codes))
            .order_by(Hospital.province_th, Hospital.name_th)
        )
    )


def region_hospitals(region: int) -> list[Hospital]:
    codes = [p.code for p in provinces_of(region)]
    return list(
        db.session.scalars(
            select(Hospital).where(Hospital.province_code.in_(codes)).order_by(Hospital.code)
        )
    )


@dataclass(frozen=True)
class ScannerUse(CapacityShare):
    hub: Hospital
    device: Device
    bookings: int
    booked_minutes: int
    capacity_minutes: int


def scanner_use(region: int, first: date, last: date) -> list[ScannerUse]:
    """Bookable and booked minutes per active scanner of the region's hubs."""
    hubs = {h.id: h for h in region_hubs(region)}
    devices = list(
        db.session.scalars(
            select(Device)
            .where(Device.hospital_id.in_(list(hubs)), Device.is_active.is_(True))
            .order_by(Device.modality_code, Device.ae_title)
        )
    )
    per_device = capacity_use(devices, first, last, lambda device_id, _day: device_id)
    return [ScannerUse(hubs[d.hospital_id], d, *per_device.get(d.id, (0, 0, 0))) for d in devices]


@dataclass(frozen=True)
class ModalityUse(CapacityShare):
    modality_code: str
    scanners: int
    bookings: int
    booked_minutes: int
    capacity_minutes: int


def modality_use(scanners: list[ScannerUse]) -> list[ModalityUse]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in scanners:
        cell = totals[row.device.modality_code]
        cell[0] += 1
        cell[1] += row.bookings
        cell[2] += row.booked_minutes
        cell[3] += row.capacity_minutes
    return [ModalityUse(code, *cell) for code, cell in sorted(totals.items())]


@dataclass(frozen=True)
class HubModalityFigures:
    """One hospital and modality over the period: waiting, no-shows and returns. The
    hospital is the hub, or (figures by referrer) the hospital that asked."""

    hub: Hospital
    modality_code: str
    waits: tuple[float, ...]  # days from request to exam, exams that took place
    no_shows: int
    completed: int
    images_back: int  # completed with the study linked and its images in PACS
    linked: int  # completed with images and a report, both linked to the request
    target_days: int | None

    @property
    def exams(self) -> int:
        return len(self.waits)

    @property
    def median_days(self) -> float | None:
        return round(statistics.median(self.waits), 1) if self.waits else None

    @property
    def p90_days(self) -> float | None:
        if not self.waits:
            return None
        if len(self.waits) == 1:
            return round(self.waits[0], 1)
        return round(statistics.quantiles(self.waits, n=10, method="inclusive")[-1], 1)

    @property
    def within_target(self) -> float | None:
        """Share of exams done within the target days (None: no target or no exam)."""
        if self.target_days is None or not self.waits:
            return None
        return sum(w <= self.target_days for w in self.waits) / len(self.waits)

    @property
    def no_show_rate(self) -> float | None:
        started = self.exams + self.no_shows
        return self.no_shows / started if started else None

    @property
    def linked_share(self) -> float | None:
        return self.linked / self.completed if self.completed else None


def targets(region: int) -> dict[str, int]:
    return {
        t.modality_code: t.target_days
        for t in db.session.scalars(
            select(RegionWaitTarget).where(RegionWaitTarget.region == region)
        )
    }


def hub_modality_figures(
    region: int, first: date, last: date, now: datetime, *, by_referrer: bool = False
) -> list[HubModalityFigures]:
    """Per hub (or, ``by_referrer``, per requesting hospital) and modality, over the
    exams at the region's hubs that started in the period and before ``now``."""
    hubs = {h.id: h for h in region_hubs(region)}
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    end = min(end, now)
    rows = db.session.execute(
        select(
            Appointment.id,
            ImagingRequest.requesting_hospital_id if by_referrer else Appointment.hub_hospital_id,
            Device.modality_code,
            Appointment.status,
            Appointment.start_at,
            ImagingRequest.submitted_at,
            ImagingRequest.created_at,
            ImagingRequest.report_text.is_not(None),
        )
        .join(ImagingRequest, ImagingRequest.id == Appointment.request_id)
        .join(Device, Device.id == Appointment.device_id)
        .where(
            Appointment.hub_hospital_id.in_(list(hubs)),
            Appointment.start_at >= start,
            Appointment.start_at < end,
            Appointment.status.in_(list(PERFORMED_STATUSES | {AppointmentStatus.NO_SHOW})),
        )
    ).all()
    with_images = set(
        db.session.scalars(
            select(Study.appointment_id).where(
                Study.appointment_id.in_([r[0] for r in rows]),
                Study.images_in_pacs_at.is_not(None),
            )
        )
    )
    cells: dict[tuple[int, str], dict] = defaultdict(
        lambda: {"waits": [], "no_shows": 0, "completed": 0, "images": 0, "linked": 0}
    )
    for appt_id, hub_id, modality, status, start_at, submitted, created, reported in rows:
        cell = cells[(hub_id, modality)]
        if status is AppointmentStatus.NO_SHOW:
            cell["no_shows"] += 1
            continue
        cell["waits"].append((start_at - (submitted or created)).total_seconds() / 86400)
        if status is AppointmentStatus.COMPLETED:
            cell["completed"] += 1
            images = appt_id in with_images
            cell["images"] += images
            cell["linked"] += images and reported
    goal = targets(region)
    if by_referrer:
        ids = list({hospital_id for hospital_id, _modality in cells})
        hubs = {h.id: h for h in db.session.scalars(select(Hospital).where(Hospital.id.in_(ids)))}
    return [
        HubModalityFigures(
            hubs[hub_id],
            modality,
            tuple(sorted(cell["waits"])),
            cell["no_shows"],
            cell["completed"],
            cell["images"],
            cell["linked"],
            goal.get(modality),
        )
        for (hub_id, modality), cell in sorted(
            cells.items(), key=lambda kv: (hubs[kv[0][0]].name_th, kv[0][1])
        )
    ]


@dataclass(frozen=True)
class ReferrerQuota:
    hospital: Hospital
    reserved: int
    used: int

    @property
    def share(self) -> float | None:
        return self.used / self.reserved if self.reserved else None


def quota_use_by_referrer(region: int, first: date, last: date) -> list[ReferrerQuota]:
    """Quotas the region's hubs hold for each community hospital, and how many were used."""
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for hub in region_hubs(region):
        for row in quota_use_per_hospital(hub.id, None, first, last):
            if row.hospital_id is not None:
                totals[row.hospital_id][0] += row.reserved
                totals[row.hospital_id][1] += row.used
    names = {
        h.id: h for h in db.session.scalars(select(Hospital).where(Hospital.id.in_(list(totals))))
    }
    return sorted(
        (ReferrerQuota(names[i], *cell) for i, cell in totals.items()),
        key=lambda r: r.hospital.name_th,
    )


# -- the office's own setting -------------------------------------------------------------

MAX_TARGET_DAYS = 365


def set_wait_target(
    actor: Actor, now: datetime, region: int, modality_code: str, days: int, commit: bool = True
) -> RegionWaitTarget:
    """The office's target (days from request to exam) for one modality in its region.

    Only that region's office (or an admin) sets it; nothing else is written.
    """
    check_aware(now)
    with rollback_on_error(commit):
        user = actor.user
        if user is None or not (
            user.role is Role.ADMIN or (user.role is Role.REGION_OFFICE and user.region == region)
        ):
            raise NotAllowed(N_("Only the region's office sets its targets"), code="not-office")
        if db.session.get(Modality, modality_code) is None:
            raise ValidationFailed(N_("Unknown modality"), code="modality")
        if not 1 <= days <= MAX_TARGET_DAYS:
            raise ValidationFailed(
                N_("A target is 1 to %(days)s days"), code="target-days", days=MAX_TARGET_DAYS
            )
        target = db.session.scalar(
            select(RegionWaitTarget).where(
                RegionWaitTarget.region == region, RegionWaitTarget.modality_code == modality_code
            )
        )
        before = target.target_days if target is not None else None
        if target is None:
            target = RegionWaitTarget(region=region, modality_code=modality_code)
            db.session.add(target)
        target.target_days, target.updated_at = days, now
        target.updated_by_id = user.id
        db.session.flush()
        record(actor, "region.target", now, entity=target, changes={"target_days": [before, days]})
        finish(commit)
    return target
