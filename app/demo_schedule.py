"""Demo capacity, closures, quotas and bookings, made through the scheduling operations.

Idempotent on its own: a device that has a template keeps it, holidays are
pre-filled only where missing, quotas are added only at a hub that has none, and the
demo requests are found by their placer order numbers (``DEMO-…``) before any is made.

Dates are relative to the day ``demo load`` runs ("today", local time), so every
worklist, calendar and dashboard has something to show: today's list on MKH_US1 is
what the DICOM worklist demo queries.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from math import ceil

from sqlalchemy import func, select

from app import demo_data as data
from app.demo_people import MSK_PATIENTS, R8_PATIENTS, Picker, load_people
from app.extensions import db
from scheduling import regions
from scheduling.audit import Actor
from scheduling.availability import find_slots, find_slots_ordered
from scheduling.booking import book, complete_exam, mark_arrived, mark_no_show, start_exam
from scheduling.capacity import (
    WindowSpec,
    create_quota,
    create_template,
    prefill_public_holidays,
    set_closure_active,
)
from scheduling.clock import local_datetime, local_today
from scheduling.errors import DomainError
from scheduling.models import (
    Appointment,
    CapacityTemplate,
    Closure,
    ClosureKind,
    Device,
    Hospital,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    Quota,
    RegionWaitTarget,
    StudySource,
)
from scheduling.requests import accept_request, create_request, reject_request
from scheduling.studies import attach_report, link_study
from scheduling.timetable import local_day

WORKDAYS = range(5)
WORKING_DAYS_PER_MONTH = 22


def _windows(days, start: time, end: time, capacity: int = 1) -> list[WindowSpec]:
    return [WindowSpec(d, start, end, capacity) for d in days]


# Mahasarakham Hospital: ae title -> (slot minutes or None for procedure duration, windows)
MKH_TEMPLATES: dict[str, tuple[int | None, list[WindowSpec]]] = {
    # Ultrasound 08:30-16:00 on weekdays; US1 also runs the Saturday-morning
    # out-of-hours clinic (คลินิกนอกเวลา), so the worklist demo has a list every day.
    "MKH_US1": (
        None,
        _windows(WORKDAYS, time(8, 30), time(16, 0)) + _windows([5, 6], time(8, 30), time(12, 0)),
    ),
    "MKH_US2": (None, _windows(WORKDAYS, time(8, 30), time(16, 0))),
    "MKH_CT1": (
        15,
        _windows(WORKDAYS, time(8, 0), time(18, 0)) + _windows([5], time(8, 0), time(12, 0)),
    ),
    "MKH_MR1": (15, _windows(WORKDAYS, time(8, 0), time(20, 0))),
    "MKH_DX1": (10, _windows(WORKDAYS, time(8, 0), time(16, 0), capacity=2)),
    "MKH_MG1": (20, _windows([1, 3], time(9, 0), time(15, 0))),
    "MKH_BMD1": (20, _windows([0, 2, 4], time(9, 0), time(12, 0))),
}

# Region 7's other hubs, by modality: (slot minutes, windows).
REGION7_TEMPLATES: dict[str, tuple[int | None, list[WindowSpec]]] = {
    "CT": (10, _windows(WORKDAYS, time(8, 0), time(20, 0))),
    "MR": (15, _windows(WORKDAYS, time(8, 0), time(20, 0))),
    "US": (None, _windows(WORKDAYS, time(8, 30), time(16, 0))),
    "MG": (20, _windows([1, 3], time(9, 0), time(15, 0))),
}

CT_SLOT_MINUTES = 10
MR_SLOT_MINUTES = 15
MR_AVERAGE_MINUTES = 45
HEADROOM = 1.15  # templates a little above today's monthly volume: the point is to book


def region8_windows(per_day: float, slot_minutes: int, exam_minutes: int) -> list[WindowSpec]:
    """Weekday windows from 08:00 sized to a scanner's exams per day (CONTEXT.md figures).

    Past 20:00 the scanner runs two tables' worth of staff (capacity 2) instead of
    longer hours, as the busiest Region 8 CT rooms do with a second team.
    """
    minutes_needed = ceil(per_day * HEADROOM) * exam_minutes
    minutes_needed = ceil(minutes_needed / slot_minutes) * slot_minutes
    capacity = 1
    if minutes_needed > 12 * 60:
        capacity = 2
        minutes_needed = ceil(minutes_needed / 2 / slot_minutes) * slot_minutes
    end = datetime.combine(date.min, time(8, 0)) + timedelta(minutes=minutes_needed)
    end_time = min(end.time(), time(20, 0)) if end.date() == date.min else time(20, 0)
    return _windows(WORKDAYS, time(8, 0), end_time, capacity)


def load_capacity(actor: Actor, now: datetime, sized: bool = True) -> None:
    """A template for every active device that has none.

    ``sized``: Mahasarakham's real hours and Region 8 sized by the CONTEXT.md figures;
    otherwise plain office hours (Monday-Friday 08:30-16:00, the procedure's own
    duration) for every device, which is what the tests' ``demo`` fixture uses.
    """
    have = set(db.session.scalars(select(CapacityTemplate.device_id)))
    devices = {d.ae_title: d for d in db.session.scalars(select(Device).order_by(Device.id))}
    plans: dict[str, tuple[int | None, list[WindowSpec], str]] = {
        ae: (slot, windows, "เวลาทำการ รพ.มหาสารคาม")
        for ae, (slot, windows) in MKH_TEMPLATES.items()
    }
    for (_code, prefix, _th, _en, _level, _province, ct_count, _desc, ct_month,
         mri_month) in data.REGION8_HUBS:  # fmt: skip
        per_ct = ct_month / ct_count / WORKING_DAYS_PER_MONTH
        for n in range(1, ct_count + 1):
            plans[f"{prefix}_CT{n}"] = (
                CT_SLOT_MINUTES,
                region8_windows(per_ct, CT_SLOT_MINUTES, CT_SLOT_MINUTES),
                f"CT {ct_month:,} ราย/เดือน",
            )
        if mri_month:
            plans[f"{prefix}_MR1"] = (
                MR_SLOT_MINUTES,
                region8_windows(
                    mri_month / WORKING_DAYS_PER_MONTH, MR_SLOT_MINUTES, MR_AVERAGE_MINUTES
                ),
                f"MRI {mri_month:,} ราย/เดือน",
            )
    for _code, prefix, *_rest, scanners in data.REGION7_HUBS:
        for modality, count, _name in scanners:
            slot, windows = REGION7_TEMPLATES[modality]
            for n in range(1, count + 1):
                plans[f"{prefix}_{modality}{n}"] = (slot, windows, "เวลาทำการ")
    office = (None, _windows(WORKDAYS, time(8, 30), time(16, 0)), "เวลาทำการ")
    for ae, device in devices.items():
        if device.id in have or not device.is_active:
            continue
        slot, windows, name = plans.get(ae, office) if sized else office
        create_template(
            actor,
            now,
            device=device,
            windows=windows,
            slot_minutes=slot,
            lead_time_minutes=60,
            horizon_days=90,
            name=name,
            commit=False,
        )


def load_holidays(actor: Actor, now: datetime) -> None:
    today = local_today(now)
    prefill_public_holidays(
        actor, now, {today.year, (today + timedelta(days=90)).year}, commit=False
    )
    # The demo must show today's lists even when run on a public holiday: the holiday
    # stays listed, switched off (as a scheduler would for a hospital open that day).
    holiday_today = db.session.scalar(
        select(Closure).where(
            Closure.kind == ClosureKind.PUBLIC_HOLIDAY,
            Closure.holiday_date == today,
            Closure.is_active.is_(True),
        )
    )
    if holiday_today is not None:
        set_closure_active(actor, now, holiday_today, False, commit=False)


# Quotas Mahasarakham Hospital holds for the Maha Sarakham community hospitals:
# ultrasound bookings a day per hospital (modality-wide) and CT for the two pilot sites.
US_QUOTA_PILOT = 3  # Kut Rang and Kosum Phisai, the pilot hospitals
US_QUOTA_OTHERS = 1
US_HUB_RESERVE = 4  # walk-ins, inpatients, and urgent requests from anyone
CT_QUOTA_PILOT = 2
RELEASE_HOURS = 48


def load_quotas(actor: Actor, now: datetime) -> None:
    mkh = db.session.scalar(select(Hospital).where(Hospital.code == data.MKH_CODE))
    if db.session.scalar(select(func.count(Quota.id)).where(Quota.hub_hospital_id == mkh.id)):
        return
    for code, _th, _en, _vendor in data.MAHASARAKHAM_REQUESTERS:
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == code))
        pilot = code in (data.KUDRANG_CODE, data.KOSUM_CODE)
        create_quota(
            actor,
            now,
            hub_hospital_id=mkh.id,
            referring_hospital_id=hospital.id,
            modality_code="US",
            slots=US_QUOTA_PILOT if pilot else US_QUOTA_OTHERS,
            release_hours=RELEASE_HOURS,
            commit=False,
        )
        if pilot:
            ct = db.session.scalar(select(Device).where(Device.ae_title == "MKH_CT1"))
            create_quota(
                actor,
                now,
                hub_hospital_id=mkh.id,
                referring_hospital_id=hospital.id,
                device=ct,
                slots=CT_QUOTA_PILOT,
                release_hours=RELEASE_HOURS,
                commit=False,
            )
    create_quota(
        actor,
        now,
        hub_hospital_id=mkh.id,
        referring_hospital_id=None,
        modality_code="US",
        slots=US_HUB_RESERVE,
        release_hours=RELEASE_HOURS,
        commit=False,
    )


# What the demo books ahead at Mahasarakham: ultrasound today and over three weeks,
# then (procedure code, how many) of the other modalities.
US_CODES = ["US-UPABD", "US-WABD", "US-KUB", "US-PELV", "US-THY", "US-BREAST", "US-OB"]
OTHER_PLAN = [
    ("CT-BRAIN", 2),
    ("CT-WABD-C", 2),
    ("CT-CHEST-C", 1),
    ("MR-BRAIN", 2),
    ("MR-LSP", 1),
    ("DX-CHEST", 2),
    ("MG-SCREEN", 1),
    ("BMD-HIPSP", 1),
]
TODAY_ON_US1 = 8
LATER_US = 14
CROSS_HUB_CT = 3  # "any hub": the requester's region first
# Ahead at the other hubs: (hub code, procedure code, how many).
OTHER_HUBS_AHEAD = [
    (data.KHON_KAEN_CODE, "MR-BRAIN", 2),
    (data.KHON_KAEN_CODE, "CT-CHEST-C", 1),
    ("10708", "CT-WABD-C", 2),
    ("10706", "US-WABD", 2),
    (data.SRINAGARIND_CODE, "CT-CTA-BR", 1),
    (data.SRINAGARIND_CODE, "MR-BRAIN-C", 1),
    (data.UDON_THANI_CODE, "MR-LSP", 3),
    ("10709", "MR-BRAIN", 2),
    ("10710", "CT-WABD-C", 2),
]
# Region 8's referring hospitals and the hub their province refers to.
R8_REFERRERS = {
    "11091": data.UDON_THANI_CODE, "11092": data.UDON_THANI_CODE,
    "11094": data.UDON_THANI_CODE, "11095": data.UDON_THANI_CODE,
    "11096": "10709", "11097": "10709", "11099": "10710", "11100": "10710",
    "11102": "10672", "11103": "10672", "11104": "10674", "11105": "27972",
}  # fmt: skip
# Past weeks of history, so waiting times, no-shows and returns have something to show.
HISTORY_WEEKS = 4
# Per week: (hub code, procedure codes cycled, exams a week).
HISTORY_PLAN = [
    (data.MKH_CODE, ["US-WABD", "US-UPABD", "CT-BRAIN", "US-KUB", "DX-CHEST", "MR-LSP",
                     "US-THY", "CT-WABD-C", "MG-SCREEN", "BMD-HIPSP"], 8),
    (data.KHON_KAEN_CODE, ["MR-BRAIN", "CT-CHEST-C", "US-BREAST"], 3),
    ("10708", ["CT-WABD-C", "MR-LSP"], 2),
    ("10706", ["US-WABD", "CT-BRAIN"], 2),
    (data.SRINAGARIND_CODE, ["CT-CTA-BR", "MR-BRAIN-C"], 1),
    (data.UDON_THANI_CODE, ["MR-BRAIN", "MR-LSP", "CT-WABD-C"], 3),
    ("10709", ["MR-BRAIN", "CT-BRAIN"], 2),
    ("10710", ["CT-WABD-C"], 1),
    ("10672", ["CT-BRAIN"], 1),
    ("10674", ["MR-LSP"], 1),
    ("10673", ["CT-CHEST-C"], 1),
    ("27972", ["CT-BRAIN"], 1),
]  # fmt: skip
# Days from request to exam a patient waits, by modality (demo ranges).
WAIT_DAYS = {"US": (3, 15), "CT": (4, 24), "MR": (10, 45), "DX": (1, 5), "MG": (10, 30),
             "BMD": (7, 30)}  # fmt: skip
NO_SHOW_SHARE = 0.08
NO_IMAGES_SHARE = 0.10  # images not (yet) back in PACS
NO_REPORT_SHARE = 0.15  # images back, no report yet
CLINICIANS = ["นพ.สมศักดิ์ ใจงาม", "พญ.อรทัย แสงทอง", "นพ.กิตติ ศรีวงศ์", "พญ.ศศิธร พรหมมา"]
WAITING_TARGET_DAYS = {"US": 14, "CT": 21, "MR": 30, "DX": 7, "MG": 30, "BMD": 30}


class DemoBooker:
    """Requests and bookings through the operations, found again by ``DEMO-`` numbers."""

    def __init__(self, actor: Actor, picker: Picker):
        self.actor = actor
        self.picker = picker
        self.procedures = {p.code: p for p in db.session.scalars(select(Procedure))}
        self.hubs = {h.code: h for h in db.session.scalars(select(Hospital))}
        self.counter = iter(range(1, 100_000))
        self.rng = random.Random(2021)

    def request(
        self,
        at: datetime,
        code: str,
        *,
        hub: Hospital | None,
        hospital_ids: set[int] | None = None,
        priority: Priority = Priority.ROUTINE,
    ) -> ImagingRequest | None:
        patient = self.picker.pick(code, local_day(at), hospital_ids)
        if patient is None:
            return None
        return create_request(
            self.actor,
            at,
            patient=patient,
            procedure=self.procedures[code],
            requesting_hospital_id=patient.hospital_id,
            hub_hospital_id=hub.id if hub else None,
            priority=priority,
            indication=self.picker.indication(code),
            requesting_clinician=self.rng.choice(CLINICIANS),
            placer_order_number=f"DEMO-{next(self.counter):04d}",
            commit=False,
        )

    def book(
        self,
        request: ImagingRequest | None,
        at: datetime,
        *,
        device: Device | None = None,
        day: date | None = None,
        last_day: date | None = None,
        pick: int = 0,
    ) -> Appointment | None:
        if request is None:
            return None
        search = dict(
            requesting_hospital_id=request.requesting_hospital_id,
            patient=request.patient,
            date_from=day,
            date_to=last_day or day,
            priority=request.priority,
            limit=pick + 1,
        )
        if request.hub_hospital_id is None and device is None:
            slots = find_slots_ordered(at, request.procedure, **search)
        else:
            slots = find_slots(
                at,
                request.procedure,
                hub_hospital_id=request.hub_hospital_id,
                device_id=device.id if device else None,
                **search,
            )
        if not slots:
            return None
        slot = slots[min(pick, len(slots) - 1)]
        try:
            return book(
                self.actor,
                at,
                request,
                db.session.get(Device, slot.device_id),
                slot.start_at,
                commit=False,
            )
        except DomainError:
            return None


def load_bookings(actor: Actor, now: datetime) -> int:
    """Requests and bookings over past and coming weeks; returns how many were booked."""
    if (
        db.session.scalar(
            select(ImagingRequest.id)
            .where(ImagingRequest.placer_order_number.like("DEMO-%"))
            .limit(1)
        )
        is not None
    ):
        return 0
    today = local_today(now)
    # Booked "this morning before opening": today's slots count as bookable then.
    booked_at = min(now, local_datetime(today, time(7, 0)))
    msk_codes = [code for code, *_ in data.MAHASARAKHAM_REQUESTERS]
    people = load_people(
        actor, booked_at, msk_codes, count=MSK_PATIENTS, stem_head="3440", hn_head="D", seed=8
    )
    r8_people = load_people(
        actor, booked_at, list(R8_REFERRERS), count=R8_PATIENTS, stem_head="3410", hn_head="U",
        seed=41,
    )  # fmt: skip
    demo_patients = list(
        db.session.scalars(
            select(Patient).where(Patient.id_value.not_in([p.id_value for p in people + r8_people]))
        )
    )
    booker = DemoBooker(actor, Picker(demo_patients + people + r8_people, seed=44))
    hubs = booker.hubs
    msk = {hubs[code].id for code in msk_codes}
    devices = {d.ae_title: d for d in db.session.scalars(select(Device))}
    mkh = hubs[data.MKH_CODE]
    made = load_history(booker, now, today, msk)
    # Today's ultrasound list on MKH_US1 (the DICOM worklist demo).
    for i in range(TODAY_ON_US1):
        request = booker.request(booked_at, US_CODES[i % len(US_CODES)], hub=mkh, hospital_ids=msk)
        made += booker.book(request, booked_at, device=devices["MKH_US1"], day=today) is not None
    # Ultrasound over the coming three weeks, on either machine.
    for i in range(TODAY_ON_US1, TODAY_ON_US1 + LATER_US):
        request = booker.request(booked_at, booker.rng.choice(US_CODES), hub=mkh, hospital_ids=msk)
        if request is not None and i % 3 == 0:
            accept_request(actor, booked_at, request, commit=False)
        day = today + timedelta(days=1 + (i * 5) % 21)  # spread over three weeks
        made += (
            booker.book(request, booked_at, day=day, pick=booker.rng.randrange(3))
            or booker.book(request, booked_at)
        ) is not None
    # CT, MRI, X-ray, mammography, bone density at Mahasarakham.
    i = 0
    for code, count in OTHER_PLAN:
        for _ in range(count):
            i += 1
            request = booker.request(booked_at, code, hub=mkh, hospital_ids=msk)
            day = today + timedelta(days=(i * 3) % 18)
            made += (
                booker.book(request, booked_at, day=day, pick=booker.rng.randrange(2))
                or booker.book(request, booked_at)
            ) is not None
    # Cross-hospital CT: the earliest slot, the requester's region first (no hub chosen).
    for _ in range(CROSS_HUB_CT):
        request = booker.request(booked_at, "CT-BRAIN", hub=None, hospital_ids=msk)
        made += booker.book(request, booked_at) is not None
    # The other hubs of both regions, over the coming weeks.
    r8 = {hubs[code].id for code in R8_REFERRERS}
    for n, (hub_code, code, count) in enumerate(OTHER_HUBS_AHEAD):
        region8 = regions.region_of(hubs[hub_code]) == 8
        for k in range(count):
            request = booker.request(
                booked_at, code, hub=hubs[hub_code], hospital_ids=r8 if region8 else msk
            )
            day = today + timedelta(days=2 + (n + 5 * k) % 20)
            made += (
                booker.book(request, booked_at, day=day) or booker.book(request, booked_at)
            ) is not None
    # Some requests still waiting for the hub, one accepted but unbooked, one rejected.
    for code in ("US-WABD", "CT-WABD-C", "MR-KNEE"):
        booker.request(booked_at, code, hub=mkh, hospital_ids=msk)
    accepted = booker.request(booked_at, "US-KUB", hub=mkh, hospital_ids=msk)
    accept_request(actor, booked_at, accepted, commit=False)
    reject_request(
        actor,
        booked_at,
        booker.request(booked_at, "MR-BRAIN-C", hub=mkh, hospital_ids=msk),
        "ไม่มีผลการทำงานของไต (Creatinine) กรุณาส่งผลแล้วส่งคำขอใหม่",
        commit=False,
    )
    # An urgent CT today, already scanned (so dashboards show a completed exam).
    urgent = booker.request(
        booked_at, "CT-BRAIN", hub=mkh, hospital_ids=msk, priority=Priority.URGENT
    )
    appointment = booker.book(urgent, booked_at, device=devices["MKH_CT1"], day=today)
    if appointment is not None:
        made += 1
        if appointment.start_at <= now:
            mark_arrived(actor, appointment.start_at, appointment, commit=False)
            start_exam(actor, appointment.start_at, appointment, commit=False)
            complete_exam(actor, appointment.end_at, appointment, commit=False)
    return made


def load_history(booker: DemoBooker, now: datetime, today: date, msk: set[int]) -> int:
    """Exams of the past weeks at every demo hub: asked some days before (by modality),
    then done, or a no-show; most with images and report back, linked."""
    rng = random.Random(7)
    r8 = {booker.hubs[code].id for code in R8_REFERRERS}
    made = 0
    for week in range(HISTORY_WEEKS, 0, -1):
        monday = week_monday(today) - timedelta(weeks=week)
        for hub_code, codes, per_week in HISTORY_PLAN:
            hub = booker.hubs[hub_code]
            referrers = r8 if regions.region_of(hub) == 8 else msk
            for k in range(per_week):
                code = codes[(week + k) % len(codes)]
                exam_day = monday + timedelta(days=k % 5)
                low, high = WAIT_DAYS[booker.procedures[code].modality_code]
                asked = local_datetime(
                    exam_day - timedelta(days=rng.randint(low, high)), time(9, 30 + k % 20)
                )
                request = booker.request(asked, code, hub=hub, hospital_ids=referrers)
                appointment = booker.book(
                    request,
                    asked,
                    day=exam_day,
                    last_day=min(exam_day + timedelta(days=4), today - timedelta(days=1)),
                )
                if appointment is None or appointment.end_at >= now:
                    continue
                made += 1
                finish_exam(booker.actor, appointment, rng.random())
    return made


def week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def finish_exam(actor: Actor, appointment: Appointment, luck: float) -> None:
    """What happened at a past appointment: a no-show, or the exam with its returns."""
    if luck < NO_SHOW_SHARE:
        mark_no_show(actor, appointment.end_at, appointment, commit=False)
        return
    mark_arrived(actor, appointment.start_at, appointment, commit=False)
    start_exam(actor, appointment.start_at, appointment, commit=False)
    complete_exam(actor, appointment.end_at, appointment, commit=False)
    if luck < NO_SHOW_SHARE + NO_IMAGES_SHARE:
        return
    link_study(
        actor,
        appointment.end_at,
        source=StudySource.HL7,
        study_instance_uid=appointment.study_instance_uid,
        appointment=appointment,
        images_in_pacs=True,
        commit=False,
    )
    if luck < NO_SHOW_SHARE + NO_IMAGES_SHARE + NO_REPORT_SHARE:
        return
    attach_report(
        actor,
        appointment.end_at + timedelta(hours=20),
        appointment.request,
        text=REPORT_TEXT.get(appointment.request.procedure.modality_code, REPORT_TEXT[""]),
        reported_by="นพ.วีระ รักษ์ภาพ",
        commit=False,
    )


REPORT_TEXT = {
    "US": "No focal lesion. Normal size and echogenicity. No free fluid.",
    "CT": "No acute abnormality. No mass or collection identified.",
    "MR": "No abnormal signal or enhancement. Findings as discussed with the referring doctor.",
    "": "No significant abnormality.",
}


def load_targets(now: datetime) -> None:
    """Waiting-time targets the two region offices start from (they change them)."""
    if db.session.scalar(select(func.count(RegionWaitTarget.id))):
        return
    for region in (7, 8):
        for modality, days in WAITING_TARGET_DAYS.items():
            db.session.add(
                RegionWaitTarget(
                    region=region, modality_code=modality, target_days=days, updated_at=now
                )
            )


def load_schedule(actor: Actor, now: datetime, *, with_bookings: bool = True) -> None:
    """``with_bookings`` (``flask demo load``): sized templates, Thai public holidays,
    Mahasarakham's quotas and the bookings. Without (the tests' ``demo`` fixture):
    office-hours templates only, so tests start from a plain, predictable hub."""
    load_capacity(actor, now, sized=with_bookings)
    load_targets(now)
    if not with_bookings:
        return
    load_holidays(actor, now)
    load_quotas(actor, now)
    db.session.flush()
    load_bookings(actor, now)
