"""``flask demo load``: the demo network, users, patients and bookings. Idempotent.

Rows are found by their natural keys (MOPH code, AE title, username, procedure
code, national ID) and created only when missing, so a second run changes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, or_, select

from app import demo_data as data
from app.extensions import db
from integrations.fhir.models import ApiClient
from scheduling import regions
from scheduling.audit import Actor
from scheduling.clock import utcnow
from scheduling.models import (
    Device,
    DicomCharset,
    Hospital,
    HospitalLevel,
    HubProtocol,
    IdentifierType,
    Interface,
    Modality,
    Procedure,
    ReferralScope,
    Role,
    Sex,
    User,
    VettingRule,
)
from scheduling.patients import find_patient, national_id_check_digit, register_patient

DEMO_ACTOR = Actor(interface=Interface.CLI, name="demo-load")
# The demo's scanners are simulated on this machine (findscu, the tests): no other host
# may call as one of them.
DEMO_SCANNER_ADDRESS = "127.0.0.1"


def _get_or_create(model, lookup: dict[str, Any], **values: Any):
    row = db.session.scalar(select(model).filter_by(**lookup))
    if row is None:
        row = model(**lookup, **values)
        db.session.add(row)
        db.session.flush()
    return row


def _hospital(code, name_th, name_en, level, province, is_hub, scope=ReferralScope.ANY) -> Hospital:
    hospital = _get_or_create(
        Hospital,
        {"code": code},
        name_th=name_th,
        name_en=name_en,
        level=level,
        province_th=province[0],
        province_en=province[1],
        is_hub=is_hub,
        referral_scope=scope,
    )
    _place(hospital)
    return hospital


def _place(hospital: Hospital) -> None:
    """Province, district and coordinates, where the row has none yet (an older demo)."""
    if hospital.province_code is None:
        regions.set_province(hospital, regions.province_by_name(hospital.province_en).code)
    if hospital.latitude is None and hospital.code in data.PLACES:
        district_th, district_en, latitude, longitude = data.PLACES[hospital.code]
        hospital.district_th, hospital.district_en = district_th, district_en
        hospital.latitude, hospital.longitude = latitude, longitude


def _device(hub: Hospital, ae: str, modality: str, name: str, room, charset, **extra) -> Device:
    return _get_or_create(
        Device,
        {"ae_title": ae},
        hospital_id=hub.id,
        modality_code=modality,
        name=name,
        station_name=ae,
        room_th=room[0],
        room_en=room[1],
        charset=charset,
        allowed_addresses=DEMO_SCANNER_ADDRESS,
        **extra,
    )


ROOMS = {
    "CT": ("ห้อง CT", "CT room"),
    "MR": ("ห้อง MRI", "MRI room"),
    "US": ("ห้องอัลตราซาวด์", "Ultrasound room"),
    "MG": ("ห้องเอกซเรย์เต้านม", "Mammography room"),
}


def load_region7_hubs() -> None:
    for code, prefix, th, en, level, province, scope, scanners in data.REGION7_HUBS:
        hub = _hospital(code, th, en, level, province, True, scope)
        for modality, count, name in scanners:
            room_th, room_en = ROOMS[modality]
            for n in range(1, count + 1):
                _device(
                    hub,
                    f"{prefix}_{modality}{n}",
                    modality,
                    f"{name} #{n}" if count > 1 else name,
                    (f"{room_th} {n}", f"{room_en} {n}"),
                    DicomCharset.ASCII if modality == "MR" else DicomCharset.UTF8,
                )


def load_network() -> dict[str, Hospital]:
    for code, th, en in data.MODALITIES:
        _get_or_create(Modality, {"code": code}, name_th=th, name_en=en)
    for code, modality, th, en, minutes, prep_th, prep_en, contrast, tags in data.PROCEDURES:
        _get_or_create(
            Procedure,
            {"code": code},
            modality_code=modality,
            name_th=th,
            name_en=en,
            duration_minutes=minutes,
            prep_th=prep_th,
            prep_en=prep_en,
            uses_contrast=contrast,
            prep_tags=tags,
        )

    code, th, en, level, province = data.HUB_MKH
    mkh = _hospital(code, th, en, level, province, True)
    mkh.address_th = "168 ถนนนครสวรรค์ ตำบลตลาด อำเภอเมืองมหาสารคาม จังหวัดมหาสารคาม 44000"
    mkh.map_url = "https://maps.google.com/?q=Mahasarakham+Hospital"
    mkh.phone = "043-740-993"
    for ae, modality, name, room, charset in data.MKH_DEVICES:
        _device(mkh, ae, modality, name, room, charset)
    for code, th, en, _vendor in data.MAHASARAKHAM_REQUESTERS:
        level = HospitalLevel.UNIVERSITY if code == "11013" else HospitalLevel.COMMUNITY
        _hospital(code, th, en, level, ("มหาสารคาม", "Maha Sarakham"), False)
    load_region7_hubs()

    for (code, prefix, th, en, level, province, ct_count, ct_desc, _ct_month,
         mri_month) in data.REGION8_HUBS:  # fmt: skip
        scope = data.REGION8_OPEN_HUBS.get(code, data.REGION8_REFERRAL_SCOPE[level])
        hub = _hospital(code, th, en, level, province, True, scope)
        for n in range(1, ct_count + 1):
            _device(
                hub,
                f"{prefix}_CT{n}",
                "CT",
                f"CT {ct_desc} #{n}",
                (f"ห้อง CT {n}", f"CT room {n}"),
                DicomCharset.UTF8,
            )
        if mri_month is not None:
            # Bueng Kan's MRI is installed but not yet open (CONTEXT.md).
            _device(
                hub,
                f"{prefix}_MR1",
                "MR",
                "MRI 1.5 T",
                ("ห้อง MRI", "MRI room"),
                DicomCharset.ASCII,
                is_active=mri_month > 0,
            )
    load_vetting(mkh)
    from integrations.hl7.demo import load_hl7_demo

    load_hl7_demo()
    return {"mkh": mkh}


def load_vetting(hub: Hospital) -> None:
    """The hub's protocol list, and vetting for every contrast exam and every MRI."""
    for code, modality, th, en, contrast in data.MKH_PROTOCOLS:
        _get_or_create(
            HubProtocol,
            {"hospital_id": hub.id, "code": code},
            modality_code=modality,
            name_th=th,
            name_en=en,
            contrast=contrast,
            is_active=True,
        )
    vetted = db.session.scalars(
        select(Procedure).where(
            or_(Procedure.uses_contrast.is_(True), Procedure.modality_code == "MR")
        )
    )
    for procedure in vetted:
        _get_or_create(VettingRule, {"hospital_id": hub.id, "procedure_id": procedure.id})


DEMO_USERS = [
    ("admin", "ผู้ดูแลระบบ", Role.ADMIN, data.MKH_CODE),
    ("scheduler.mkh", "สมหญิง ใจดี (งานนัด รพ.มหาสารคาม)", Role.SCHEDULER, data.MKH_CODE),
    ("radiologist.mkh", "นพ.วีระ รักษ์ภาพ (รังสีแพทย์)", Role.RADIOLOGIST, data.MKH_CODE),
    ("staff.kudrang", "มาลี ศรีสุข (รพ.กุดรัง)", Role.REQUESTER, data.KUDRANG_CODE),
    ("staff.kosum", "ประยุทธ์ บุญมา (รพ.โกสุมพิสัย)", Role.REQUESTER, data.KOSUM_CODE),
    # Region offices sit at a hospital of their region but see only its aggregates.
    ("region7.office", "สำนักงานเขตสุขภาพที่ 7", Role.REGION_OFFICE, data.KHON_KAEN_CODE),
    ("region8.office", "สำนักงานเขตสุขภาพที่ 8", Role.REGION_OFFICE, data.UDON_THANI_CODE),
]
OFFICE_REGIONS = {"region7.office": 7, "region8.office": 8}


def load_users() -> None:
    for username, full_name, role, code in DEMO_USERS:
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == code))
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(
                username=username,
                full_name=full_name,
                role=role,
                hospital_id=hospital.id,
                region=OFFICE_REGIONS.get(username),
                created_at=utcnow(),
            )
            user.set_password(data.DEMO_PASSWORD)
            db.session.add(user)
    kudrang = db.session.scalar(select(Hospital).where(Hospital.code == data.KUDRANG_CODE))
    _get_or_create(
        ApiClient,
        {"name": "demo-his-kudrang"},
        hospital_id=kudrang.id,
        token_sha256=ApiClient.hash_token(data.DEMO_HIS_TOKEN),
        token_prefix=data.DEMO_HIS_TOKEN[:8],
        created_at=utcnow(),
        token_issued_at=utcnow(),
    )


# 12-digit stems; the 13th (check) digit is computed so every ID validates.
DEMO_PATIENTS = [
    ("110170023070", "MRS", "สมศรี", "ทองดี", date(1968, 3, 14), Sex.FEMALE, "KR0001", data.KUDRANG_CODE),
    ("340150012345", "MR", "บุญเลิศ", "ศรีสุวรรณ", date(1955, 9, 2), Sex.MALE, "KR0002", data.KUDRANG_CODE),
    ("144990012277", "MISS", "กัญญารัตน์", "พลราช", date(1990, 12, 25), Sex.FEMALE, "KR0003", data.KUDRANG_CODE),
    ("344020056781", "MR", "ประเสริฐ", "แก้วกาหลง", date(1972, 6, 30), Sex.MALE, "KS0001", data.KOSUM_CODE),
    ("344020098765", "MRS", "จันทร์เพ็ญ", "มูลมณี", date(1961, 1, 8), Sex.FEMALE, "KS0002", data.KOSUM_CODE),
    ("544990003211", "GIRL", "ปิยะดา", "สายทอง", date(2015, 4, 19), Sex.FEMALE, "KS0003", data.KOSUM_CODE),
]  # fmt: skip


def load_patients() -> None:
    now = utcnow()
    for stem, prefix, given, family, born, sex, hn, code in DEMO_PATIENTS:
        cid = stem + national_id_check_digit(stem)
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == code))
        if find_patient(IdentifierType.NATIONAL_ID, cid, hospital_id=hospital.id) is not None:
            continue
        register_patient(
            DEMO_ACTOR,
            now,
            id_type=IdentifierType.NATIONAL_ID,
            id_value=cid,
            prefix=prefix,
            given_name_th=given,
            family_name_th=family,
            birth_date=born,
            sex=sex,
            hospital_id=hospital.id,
            hn=hn,
            phone="08" + stem[-8:],
            commit=False,
        )


def load_demo(with_bookings: bool = False) -> dict[str, int]:
    """Load (or top up) the demo. ``flask demo load`` passes ``with_bookings=True``; the
    test fixture ``demo`` leaves bookings out (tests make their own), ``demo_bookings``
    puts them in."""
    load_network()
    load_users()
    load_patients()
    db.session.commit()
    from app.demo_schedule import load_schedule

    load_schedule(DEMO_ACTOR, utcnow(), with_bookings=with_bookings)
    db.session.commit()
    from integrations.line.demo import load_line_demo

    load_line_demo()
    return {
        "hospitals": db.session.scalar(select(func.count(Hospital.id))),
        "devices": db.session.scalar(select(func.count(Device.id))),
        "procedures": db.session.scalar(select(func.count(Procedure.id))),
        "users": db.session.scalar(select(func.count(User.id))),
    }
