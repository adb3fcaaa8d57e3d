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
from app.extensions import db
from scheduling.audit import Actor
from scheduling.availability import find_slots
from scheduling.booking import book, complete_exam, mark_arrived, start_exam
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
    CapacityTemplate,
    Closure,
    ClosureKind,
    Device,
    Hospital,
    IdentifierType,
    ImagingRequest,
    Patient,
    Priority,
    Procedure,
    Quota,
    Sex,
)
from scheduling.patients import find_patient, national_id_check_digit, register_patient
from scheduling.requests import accept_request, create_request, reject_request

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


# Extra demo patients so lists look like a day's work: given name (Thai, RTGS), sex.
# Romanised here rather than by pythainlp: demo load runs before many tests.
GIVEN = [("สมชาย", "Somchai", Sex.MALE), ("สมพร", "Somphon", Sex.FEMALE),
         ("วิไล", "Wilai", Sex.FEMALE), ("ทองใบ", "Thongbai", Sex.MALE),
         ("บุญมี", "Bunmi", Sex.MALE), ("คำปุน", "Khampun", Sex.FEMALE),
         ("อำนาจ", "Amnat", Sex.MALE), ("สุดารัตน์", "Sudarat", Sex.FEMALE),
         ("ประสิทธิ์", "Prasit", Sex.MALE), ("นงลักษณ์", "Nongluk", Sex.FEMALE),
         ("สมบัติ", "Sombat", Sex.MALE), ("บัวผัน", "Buaphan", Sex.FEMALE)]  # fmt: skip
FAMILY = [("ศรีสุข", "Sisuk"), ("พลสา", "Phonsa"), ("จันทร์หอม", "Chanhom"),
          ("แสนมี", "Saenmi"), ("บุญประคม", "Bunprakhom"), ("ไชยวงศ์", "Chaiwong"),
          ("ทองมา", "Thongma"), ("นามวงษ์", "Namwong"), ("โพธิ์ศรี", "Phosi")]  # fmt: skip
EXTRA_PATIENTS = 24


def load_extra_patients(actor: Actor, now: datetime) -> list[Patient]:
    hospitals = [
        db.session.scalar(select(Hospital).where(Hospital.code == code))
        for code, _th, _en, _v in data.MAHASARAKHAM_REQUESTERS
    ]
    rng = random.Random(8)
    patients = []
    for n in range(EXTRA_PATIENTS):
        stem = f"3440{n + 1:08d}"
        cid = stem + national_id_check_digit(stem)
        given, given_en, sex = GIVEN[n % len(GIVEN)]
        family, family_en = FAMILY[n % len(FAMILY)]
        hospital = hospitals[n % len(hospitals)]
        patient = find_patient(IdentifierType.NATIONAL_ID, cid, hospital_id=hospital.id)
        if patient is None:
            born = date(1945 + rng.randrange(60), rng.randrange(1, 13), rng.randrange(1, 29))
            patient = register_patient(
                actor,
                now,
                id_type=IdentifierType.NATIONAL_ID,
                id_value=cid,
                prefix="MR" if sex is Sex.MALE else "MRS",
                given_name_th=given,
                family_name_th=family,
                given_name_en=given_en,
                family_name_en=family_en,
                birth_date=born,
                sex=sex,
                hospital_id=hospital.id,
                hn=f"D{n + 1:05d}",
                phone=f"089{n + 1:07d}",
                commit=False,
            )
        patients.append(patient)
    return patients


# What the demo books: (procedure code, how many, days ahead range, priority weight)
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
REGION8_CT = 3


def load_bookings(actor: Actor, now: datetime) -> int:
    """Requests and bookings over today and the coming weeks; returns how many were made."""
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
    rng = random.Random(2021)
    patients = load_extra_patients(actor, booked_at)
    demo_patients = list(
        db.session.scalars(
            select(Patient).where(Patient.id_value.not_in([p.id_value for p in patients]))
        )
    )
    procedures = {p.code: p for p in db.session.scalars(select(Procedure))}
    devices = {d.ae_title: d for d in db.session.scalars(select(Device))}
    mkh = devices["MKH_US1"].hospital
    hospital_of = {}
    for patient in patients + demo_patients:
        hospital_of[patient.id] = patient.hospital_id
    counter = iter(range(1, 10_000))
    made = 0

    def request_for(
        patient: Patient,
        code: str,
        priority: Priority = Priority.ROUTINE,
        hub: Hospital | None = mkh,
    ) -> ImagingRequest:
        return create_request(
            actor,
            booked_at,
            patient=patient,
            procedure=procedures[code],
            requesting_hospital_id=hospital_of[patient.id],
            hub_hospital_id=hub.id if hub else None,
            priority=priority,
            indication=rng.choice(
                [
                    "ปวดท้องด้านขวาบน",
                    "ตรวจติดตามก้อนที่ตับ",
                    "นิ่วในไต",
                    "ก้อนที่คอ",
                    "ปวดหลังร้าวลงขา",
                    "ปวดศีรษะเรื้อรัง",
                    "ตรวจคัดกรองตามนัด",
                ]
            ),
            requesting_clinician=rng.choice(["นพ.สมศักดิ์ ใจงาม", "พญ.อรทัย แสงทอง", "นพ.กิตติ ศรีวงศ์"]),
            placer_order_number=f"DEMO-{next(counter):04d}",
            commit=False,
        )

    def book_first(
        request: ImagingRequest,
        *,
        device: Device | None = None,
        day: date | None = None,
        pick: int = 0,
    ) -> bool:
        slots = find_slots(
            booked_at,
            request.procedure,
            requesting_hospital_id=request.requesting_hospital_id,
            patient=request.patient,
            hub_hospital_id=request.hub_hospital_id,
            device_id=device.id if device else None,
            date_from=day,
            date_to=day,
            priority=request.priority,
            limit=pick + 1,
        )
        if not slots:
            return False
        slot = slots[min(pick, len(slots) - 1)]
        try:
            book(
                actor,
                booked_at,
                request,
                db.session.get(Device, slot.device_id),
                slot.start_at,
                commit=False,
            )
        except DomainError:
            return False
        return True

    pool = patients + demo_patients
    # Today's ultrasound list on MKH_US1 (the DICOM worklist demo).
    for i in range(TODAY_ON_US1):
        request = request_for(pool[i], US_CODES[i % len(US_CODES)])
        made += book_first(request, device=devices["MKH_US1"], day=today)
    # Ultrasound over the coming three weeks, on either machine.
    for i in range(TODAY_ON_US1, TODAY_ON_US1 + LATER_US):
        request = request_for(pool[i % len(pool)], rng.choice(US_CODES))
        if i % 3 == 0:
            accept_request(actor, booked_at, request, commit=False)
        day = today + timedelta(days=1 + (i * 5) % 21)  # spread over three weeks
        made += book_first(request, day=day, pick=rng.randrange(3)) or book_first(request)
    # CT, MRI, X-ray, mammography, bone density at Mahasarakham.
    i = TODAY_ON_US1 + LATER_US
    for code, count in OTHER_PLAN:
        for _ in range(count):
            patient = pool[i % len(pool)]
            i += 1
            request = request_for(patient, code)
            day = today + timedelta(days=(i * 3) % 18)
            made += book_first(request, day=day, pick=rng.randrange(2)) or book_first(request)
    # Cross-hospital CT: the earliest slot anywhere in Region 8 (no hub chosen).
    for _ in range(REGION8_CT):
        patient = pool[i % len(pool)]
        i += 1
        request = request_for(patient, "CT-BRAIN", hub=None)
        made += book_first(request)
    # Some requests still waiting for the hub, one accepted but unbooked, one rejected.
    for code in ("US-WABD", "CT-WABD-C", "MR-KNEE"):
        request_for(pool[i % len(pool)], code)
        i += 1
    accept_request(actor, booked_at, request_for(pool[i % len(pool)], "US-KUB"), commit=False)
    i += 1
    reject_request(
        actor,
        booked_at,
        request_for(pool[i % len(pool)], "MR-BRAIN-C"),
        "ไม่มีผลการทำงานของไต (Creatinine) กรุณาส่งผลแล้วส่งคำขอใหม่",
        commit=False,
    )
    # An urgent CT today, already scanned (so dashboards show a completed exam).
    urgent = request_for(pool[i % len(pool)], "CT-BRAIN", priority=Priority.URGENT)
    if book_first(urgent, device=devices["MKH_CT1"], day=today):
        made += 1
        appointment = urgent.current_appointment
        if appointment is not None and appointment.start_at <= now:
            mark_arrived(actor, appointment.start_at, appointment, commit=False)
            start_exam(actor, appointment.start_at, appointment, commit=False)
            complete_exam(actor, appointment.end_at, appointment, commit=False)
    return made


def load_schedule(actor: Actor, now: datetime, *, with_bookings: bool = True) -> None:
    """``with_bookings`` (``flask demo load``): sized templates, Thai public holidays,
    Mahasarakham's quotas and the bookings. Without (the tests' ``demo`` fixture):
    office-hours templates only, so tests start from a plain, predictable hub."""
    load_capacity(actor, now, sized=with_bookings)
    if not with_bookings:
        return
    load_holidays(actor, now)
    load_quotas(actor, now)
    db.session.flush()
    load_bookings(actor, now)
