"""Editing capacity: templates (weekly windows), closures, quotas; and reading quota use.

Every edit takes ``actor`` and ``now`` first, writes one audit event and commits
(or only flushes with ``commit=False``), like the booking operations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_, select

from scheduling.access import require_hub_side
from scheduling.audit import Actor, record
from scheduling.db import db
from scheduling.errors import NotAllowed, ValidationFailed
from scheduling.i18n import N_
from scheduling.models import (
    Appointment,
    CapacityTemplate,
    CapacityWindow,
    Closure,
    ClosureKind,
    Device,
    ImagingRequest,
    Priority,
    Quota,
)
from scheduling.overlap import db_overlaps
from scheduling.rules import (
    OCCUPYING_STATUSES,
    counts_for_holder,
    quota_covers,
    quotas_in_force,
)
from scheduling.states import LIVE_APPOINTMENT_STATUSES
from scheduling.timetable import day_bounds, device_windows, local_day
from scheduling.tx import check_aware, finish, rollback_on_error


class _Unset:
    """Marks "argument not given" where None is a meaningful value (open-ended dates)."""


UNSET = _Unset()


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
            raise ValidationFailed(N_("Weekday must be 0 (Monday) to 6 (Sunday)"), code="weekday")
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


def _validate_template_values(
    slot_minutes: int | None,
    lead_time_minutes: int,
    horizon_days: int,
    valid_from: date | None,
    valid_to: date | None,
) -> None:
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
        _validate_template_values(
            slot_minutes, lead_time_minutes, horizon_days, valid_from, valid_to
        )
        template = CapacityTemplate(
            device_id=device.id,
            name=name.strip(),
            valid_from=valid_from,
            valid_to=valid_to,
            slot_minutes=slot_minutes,
            lead_time_minutes=lead_time_minutes,
            horizon_days=horizon_days,
            is_active=True,
            created_at=now,
            updated_at=now,
            windows=[
                CapacityWindow(
                    weekday=w.weekday, start_time=w.start, end_time=w.end, capacity=w.capacity
                )
                for w in specs
            ],
        )
        db.session.add(template)
        db.session.flush()
        record(
            actor,
            "capacity.template_create",
            now,
            entity=template,
            hospital_id=device.hospital_id,
            device=device.ae_title,
            windows=[
                [w.weekday, w.start.isoformat("minutes"), w.end.isoformat("minutes"), w.capacity]
                for w in specs
            ],
        )
        finish(commit)
    return template


def update_template(
    actor: Actor,
    now: datetime,
    template: CapacityTemplate,
    *,
    windows: Iterable[WindowSpec] | None = None,
    slot_minutes: int | None | _Unset = UNSET,
    valid_from: date | None | _Unset = UNSET,
    valid_to: date | None | _Unset = UNSET,
    lead_time_minutes: int | None = None,
    horizon_days: int | None = None,
    name: str | None = None,
    is_active: bool | None = None,
    commit: bool = True,
) -> CapacityTemplate:
    """Change a template. Existing bookings stay; they are not re-checked against it."""
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, template.device.hospital_id)
        new_slot = template.slot_minutes if isinstance(slot_minutes, _Unset) else slot_minutes
        new_from = template.valid_from if isinstance(valid_from, _Unset) else valid_from
        new_to = template.valid_to if isinstance(valid_to, _Unset) else valid_to
        new_lead = template.lead_time_minutes if lead_time_minutes is None else lead_time_minutes
        new_horizon = template.horizon_days if horizon_days is None else horizon_days
        _validate_template_values(new_slot, new_lead, new_horizon, new_from, new_to)
        changes: dict = {}
        if windows is not None:
            specs = _validate_windows(windows)
            template.windows = [
                CapacityWindow(
                    weekday=w.weekday, start_time=w.start, end_time=w.end, capacity=w.capacity
                )
                for w in specs
            ]
            changes["windows"] = [
                [w.weekday, w.start.isoformat("minutes"), w.end.isoformat("minutes"), w.capacity]
                for w in specs
            ]
        template.slot_minutes = new_slot
        template.valid_from, template.valid_to = new_from, new_to
        template.lead_time_minutes, template.horizon_days = new_lead, new_horizon
        if name is not None:
            template.name = name.strip()
        if is_active is not None:
            template.is_active = is_active
            changes["is_active"] = is_active
        template.updated_at = now
        record(
            actor,
            "capacity.template_update",
            now,
            entity=template,
            hospital_id=template.device.hospital_id,
            slot_minutes=new_slot,
            lead_time_minutes=new_lead,
            horizon_days=new_horizon,
            valid_from=new_from.isoformat() if new_from else None,
            valid_to=new_to.isoformat() if new_to else None,
            **changes,
        )
        finish(commit)
    return template


def templates_for_hub(hub_hospital_id: int) -> list[CapacityTemplate]:
    return list(
        db.session.scalars(
            select(CapacityTemplate)
            .join(Device, Device.id == CapacityTemplate.device_id)
            .where(Device.hospital_id == hub_hospital_id)
            .order_by(Device.ae_title, CapacityTemplate.valid_from, CapacityTemplate.id)
        )
    )


# ---------------------------------------------------------------- closures


def add_closure(
    actor: Actor,
    now: datetime,
    *,
    kind: ClosureKind,
    start_at: datetime,
    end_at: datetime,
    hospital_id: int | None = None,
    device: Device | None = None,
    name_th: str = "",
    name_en: str = "",
    commit: bool = True,
) -> Closure:
    """Close a hospital, a device (downtime, whole or part of a day) or, for a public
    holiday added by hand (a cabinet bridge day), everyone.

    Bookings already in the period are not cancelled: :func:`bookings_in_closure`
    lists them for the hub to move.
    """
    check_aware(now, start_at, end_at)
    with rollback_on_error(commit):
        if end_at <= start_at:
            raise ValidationFailed(N_("A closure must end after it starts"), code="closure")
        if end_at <= now:
            # A closure wholly in the past closes nothing and would not be listed.
            raise ValidationFailed(
                N_("This closure is already over; enter today or a later date"),
                code="closure-past",
            )
        if kind is ClosureKind.DEVICE_DOWNTIME:
            if device is None:
                raise ValidationFailed(N_("Choose the device"), code="closure-device")
            hospital_id = device.hospital_id
        elif kind is ClosureKind.HOSPITAL and hospital_id is None:
            raise ValidationFailed(N_("Choose the hospital"), code="closure-hospital")
        if kind is ClosureKind.PUBLIC_HOLIDAY:
            _require_admin_or_system(actor)
        else:
            require_hub_side(actor, hospital_id)
        closure = Closure(
            kind=kind,
            hospital_id=hospital_id if kind is not ClosureKind.PUBLIC_HOLIDAY else None,
            device_id=device.id if device is not None else None,
            start_at=start_at,
            end_at=end_at,
            holiday_date=local_day(start_at) if kind is ClosureKind.PUBLIC_HOLIDAY else None,
            name_th=name_th.strip()[:200],
            name_en=name_en.strip()[:200],
            from_holidays_package=False,
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        db.session.add(closure)
        db.session.flush()
        record(
            actor,
            "capacity.closure_add",
            now,
            entity=closure,
            hospital_id=hospital_id,
            kind=kind.name,
            start_at=start_at.isoformat(),
            end_at=end_at.isoformat(),
            device=device.ae_title if device is not None else None,
        )
        finish(commit)
    return closure


def add_day_closure(
    actor: Actor, now: datetime, *, kind: ClosureKind, day: date, days: int = 1, **values
) -> Closure:
    """A closure of whole local calendar days."""
    start, _ = day_bounds(day)
    _, end = day_bounds(day + timedelta(days=days - 1))
    return add_closure(actor, now, kind=kind, start_at=start, end_at=end, **values)


def set_closure_active(
    actor: Actor, now: datetime, closure: Closure, active: bool, commit: bool = True
) -> Closure:
    """Switch a closure off (e.g. a holiday the cabinet moved) or back on."""
    check_aware(now)
    with rollback_on_error(commit):
        if closure.kind is ClosureKind.PUBLIC_HOLIDAY:
            _require_admin_or_system(actor)
        else:
            require_hub_side(actor, closure.hospital_id)
        closure.is_active = active
        closure.updated_at = now
        record(
            actor,
            "capacity.closure_" + ("on" if active else "off"),
            now,
            entity=closure,
            hospital_id=closure.hospital_id,
        )
        finish(commit)
    return closure


def _require_admin_or_system(actor: Actor) -> None:
    from scheduling.models import Role

    user = actor.user
    if user is not None and user.role is not Role.ADMIN:
        raise NotAllowed(N_("Only an administrator can change public holidays"), code="admin-only")


# Observances the ``holidays`` package lists for Thailand that are working days: Children's
# Day (second Saturday of January) closes no hospital.
NOT_DAYS_OFF = frozenset({"National Children's Day"})


def prefill_public_holidays(
    actor: Actor, now: datetime, years: Iterable[int], commit: bool = True
) -> int:
    """Add Thailand's public holidays from the ``holidays`` package; returns how many.

    Idempotent: a holiday whose date is already there (active or switched off by a
    scheduler) is left alone, so edits survive a re-run.
    """
    import holidays

    check_aware(now)
    years = sorted(set(years))
    thai = holidays.country_holidays("TH", years=years, language="th")
    english = holidays.country_holidays("TH", years=years, language="en_US")
    existing = set(
        db.session.scalars(
            select(Closure.holiday_date).where(
                Closure.kind == ClosureKind.PUBLIC_HOLIDAY, Closure.hospital_id.is_(None)
            )
        )
    )
    added = 0
    with rollback_on_error(commit):
        for day in sorted(thai):
            if day in existing or english.get(day, "") in NOT_DAYS_OFF:
                continue
            start, end = day_bounds(day)
            db.session.add(
                Closure(
                    kind=ClosureKind.PUBLIC_HOLIDAY,
                    start_at=start,
                    end_at=end,
                    holiday_date=day,
                    name_th=thai[day][:200],
                    name_en=english.get(day, "")[:200],
                    from_holidays_package=True,
                    is_active=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            added += 1
        if added:
            record(actor, "capacity.holidays_prefill", now, years=years, added=added)
        finish(commit)
    return added


def closures_between(
    start: datetime,
    end: datetime,
    *,
    hospital_id: int | None = None,
    include_inactive: bool = False,
) -> list[Closure]:
    """Closures overlapping [start, end): nationwide ones plus the hospital's (if given)."""
    query = select(Closure).where(db_overlaps(Closure.start_at, Closure.end_at, start, end))
    if hospital_id is not None:
        query = query.where(or_(Closure.hospital_id.is_(None), Closure.hospital_id == hospital_id))
    if not include_inactive:
        query = query.where(Closure.is_active.is_(True))
    return list(db.session.scalars(query.order_by(Closure.start_at, Closure.id)))


def bookings_in_closure(closure: Closure) -> list[Appointment]:
    """Live bookings the closure falls on (to be moved by the hub)."""
    query = select(Appointment).where(
        Appointment.status.in_(LIVE_APPOINTMENT_STATUSES),
        db_overlaps(Appointment.start_at, Appointment.end_at, closure.start_at, closure.end_at),
    )
    if closure.device_id is not None:
        query = query.where(Appointment.device_id == closure.device_id)
    elif closure.hospital_id is not None:
        query = query.where(Appointment.hub_hospital_id == closure.hospital_id)
    return list(db.session.scalars(query.order_by(Appointment.start_at)))


# ---------------------------------------------------------------- quotas


def _validate_quota(
    hub_hospital_id: int,
    device: Device | None,
    modality_code: str | None,
    weekday: int | None,
    on_date: date | None,
    slots: int,
    release_hours: int,
) -> None:
    if (device is None) == (modality_code is None):
        raise ValidationFailed(N_("A quota is for one device or one modality"), code="quota-scope")
    if device is not None and device.hospital_id != hub_hospital_id:
        raise ValidationFailed(N_("The device belongs to another hospital"), code="quota-device")
    if weekday is not None and on_date is not None:
        raise ValidationFailed(N_("A quota is for a weekday or a date, not both"), code="quota-day")
    if weekday is not None and not 0 <= weekday <= 6:
        raise ValidationFailed(N_("Weekday must be 0 (Monday) to 6 (Sunday)"), code="weekday")
    if slots < 0 or release_hours < 0:
        raise ValidationFailed(N_("Quota and release hours cannot be negative"), code="quota-slots")


def create_quota(
    actor: Actor,
    now: datetime,
    *,
    hub_hospital_id: int,
    referring_hospital_id: int | None,
    slots: int,
    device: Device | None = None,
    modality_code: str | None = None,
    weekday: int | None = None,
    on_date: date | None = None,
    release_hours: int = 24,
    valid_from: date | None = None,
    valid_to: date | None = None,
    commit: bool = True,
) -> Quota:
    """Hold ``slots`` bookings a day for a referring hospital (None: the hub's own reserve)."""
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, hub_hospital_id)
        _validate_quota(
            hub_hospital_id, device, modality_code, weekday, on_date, slots, release_hours
        )
        quota = Quota(
            hub_hospital_id=hub_hospital_id,
            referring_hospital_id=referring_hospital_id,
            device_id=device.id if device is not None else None,
            modality_code=None if device is not None else modality_code,
            weekday=weekday,
            on_date=on_date,
            slots=slots,
            release_hours=release_hours,
            valid_from=valid_from,
            valid_to=valid_to,
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        db.session.add(quota)
        db.session.flush()
        record(
            actor,
            "capacity.quota_create",
            now,
            entity=quota,
            hospital_id=hub_hospital_id,
            referring_hospital_id=referring_hospital_id,
            slots=slots,
            device=device.ae_title if device is not None else None,
            modality=quota.modality_code,
            weekday=weekday,
            on_date=on_date.isoformat() if on_date else None,
            release_hours=release_hours,
        )
        finish(commit)
    return quota


def update_quota(
    actor: Actor,
    now: datetime,
    quota: Quota,
    *,
    slots: int | None = None,
    release_hours: int | None = None,
    is_active: bool | None = None,
    valid_to: date | None | _Unset = UNSET,
    commit: bool = True,
) -> Quota:
    check_aware(now)
    with rollback_on_error(commit):
        require_hub_side(actor, quota.hub_hospital_id)
        new_slots = quota.slots if slots is None else slots
        new_release = quota.release_hours if release_hours is None else release_hours
        if new_slots < 0 or new_release < 0:
            raise ValidationFailed(
                N_("Quota and release hours cannot be negative"), code="quota-slots"
            )
        quota.slots, quota.release_hours = new_slots, new_release
        if is_active is not None:
            quota.is_active = is_active
        if not isinstance(valid_to, _Unset):
            quota.valid_to = valid_to
        quota.updated_at = now
        record(
            actor,
            "capacity.quota_update",
            now,
            entity=quota,
            hospital_id=quota.hub_hospital_id,
            slots=new_slots,
            release_hours=new_release,
            is_active=quota.is_active,
        )
        finish(commit)
    return quota


@dataclass(frozen=True)
class QuotaUse:
    """One quota on one day: how many bookings it holds, and how many its holder made."""

    quota_id: int
    day: date
    hub_hospital_id: int
    referring_hospital_id: int | None  # None: the hub's own reserve
    device_id: int | None
    modality_code: str | None
    reserved: int
    used: int
    release_hours: int

    @property
    def left(self) -> int:
        return max(0, self.reserved - self.used)


def quota_usage(
    hub_hospital_id: int,
    date_from: date,
    date_to: date,
    *,
    referring_hospital_id: int | None = None,
) -> list[QuotaUse]:
    """Per day and quota in force: reserved vs used (the same counting as booking uses).

    With ``referring_hospital_id`` only that hospital's quotas (what a community
    hospital may see of a hub's quotas).
    """
    quotas = list(
        db.session.scalars(
            select(Quota).where(Quota.hub_hospital_id == hub_hospital_id, Quota.is_active.is_(True))
        )
    )
    if referring_hospital_id is not None:
        quotas = [q for q in quotas if q.referring_hospital_id == referring_hospital_id]
    if not quotas:
        return []
    devices = list(db.session.scalars(select(Device).where(Device.hospital_id == hub_hospital_id)))
    start, _ = day_bounds(date_from)
    _, end = day_bounds(date_to)
    rows = db.session.execute(
        select(
            Appointment.device_id,
            Appointment.start_at,
            ImagingRequest.requesting_hospital_id,
            ImagingRequest.priority,
        )
        .join(ImagingRequest, ImagingRequest.id == Appointment.request_id)
        .where(
            Appointment.hub_hospital_id == hub_hospital_id,
            Appointment.status.in_(OCCUPYING_STATUSES),
            Appointment.start_at >= start,
            Appointment.start_at < end,
        )
    ).all()
    by_day: dict[date, list[tuple[int, int, Priority]]] = {}
    for device_id, start_at, hospital_id, priority in rows:
        by_day.setdefault(local_day(start_at), []).append((device_id, hospital_id, priority))
    modality_of = {d.id: d.modality_code for d in devices}
    open_devices = _devices_open_by_day(devices, date_from, date_to)
    result: list[QuotaUse] = []
    day = date_from
    while day <= date_to:
        open_today = open_devices.get(day, set())
        for quota in sorted(
            quotas_in_force(quotas, day), key=lambda q: (q.referring_hospital_id or 0, q.id)
        ):
            # Nothing is held on a day the scope cannot take bookings (no capacity
            # window, holiday, downtime): counting it would inflate "reserved".
            if not any(
                quota_covers(quota, device_id, modality_of.get(device_id))
                for device_id in open_today
            ):
                continue
            used = sum(
                1
                for device_id, hospital_id, priority in by_day.get(day, [])
                if quota_covers(quota, device_id, modality_of.get(device_id))
                and counts_for_holder(quota, hospital_id, priority)
            )
            result.append(
                QuotaUse(
                    quota.id,
                    day,
                    hub_hospital_id,
                    quota.referring_hospital_id,
                    quota.device_id,
                    quota.modality_code,
                    quota.slots,
                    used,
                    quota.release_hours,
                )
            )
        day += timedelta(days=1)
    return result


def _devices_open_by_day(
    devices: list[Device], date_from: date, date_to: date
) -> dict[date, set[int]]:
    """Per local day, the devices with some bookable time: a capacity window in force
    that the closures applying to the device do not wholly cover."""
    result: dict[date, set[int]] = {}
    for (device_id, day), windows in device_windows(devices, date_from, date_to).items():
        if any(w.open for w in windows):
            result.setdefault(day, set()).add(device_id)
    return result
