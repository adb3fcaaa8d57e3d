"""The demo as a clinician reads it: every request fits its patient (sex, age) and its
indication names the body part of the procedure; history over past weeks and bookings
over coming ones in both networks. The rules here are written independently of the
table the demo picks from (``app.demo_data.PROCEDURE_FIT``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.demo_people import age_on
from scheduling.clock import local_today, to_local
from scheduling.models import Appointment, AppointmentStatus, ImagingRequest, Sex
from scheduling.regions import accepts_referral, region_of

# Words one of which the indication must contain, by the body part in the code.
BODY_PART_WORDS = {
    "OB": ("ครรภ์",),
    "PELV": ("มดลูก", "รังไข่", "ท้องน้อย", "ช่องคลอด", "ประจำเดือน"),
    "BREAST": ("เต้านม",),
    "MG": ("เต้านม",),
    "THY": ("ไทรอยด์", "คอ"),
    "KUB": ("ไต", "ปัสสาวะ", "นิ่ว", "ลำไส้"),
    "UPABD": ("ท้อง", "ตับ", "ถุงน้ำดี", "ชายโครง"),
    "WABD": ("ท้อง", "ตับ", "ท่อน้ำดี"),
    "DOPLE": ("ขา", "น่อง"),
    "CTA-BR": ("หลอดเลือดสมอง",),
    "BRAIN": ("ศีรษะ", "สมอง", "ชัก", "อ่อนแรง", "เวียน"),
    "CHEST": ("ปอด", "ไอ", "ทรวงอก", "หอบ"),
    "LSP": ("หลัง", "เอว"),
    "KNEE": ("เข่า",),
    "MRCP": ("ท่อน้ำดี", "ตัวเหลือง"),
    "BMD": ("กระดูกพรุน",),
    "BASW": ("กลืน", "หลอดอาหาร"),
}
FEMALE_ONLY = ("US-OB", "US-PELV", "US-BREAST", "MG-")
ADULT_ONLY = ("MG-", "BMD-", "CT-CHEST-C", "CT-WABD-C", "MR-LSP", "MR-MRCP", "US-OB", "DX-KNEE")
PREFIX_FITS = {
    "MR": lambda sex, age: sex is Sex.MALE and age >= 15,
    "MASTER": lambda sex, age: sex is Sex.MALE and age < 15,
    "GIRL": lambda sex, age: sex is Sex.FEMALE and age < 15,
    "MRS": lambda sex, age: sex is Sex.FEMALE and age >= 15,
    "MISS": lambda sex, age: sex is Sex.FEMALE and age >= 15,
}


def _body_part_words(code: str) -> tuple[str, ...]:
    for part, words in BODY_PART_WORDS.items():
        if part in code.split("-", 1)[1] or code.startswith(part):
            return words
    raise AssertionError(f"no body part known for {code}")


def _problems(request: ImagingRequest) -> list[str]:
    code, patient = request.procedure.code, request.patient
    age = age_on(patient.birth_date, to_local(request.created_at).date())
    found = []
    if code == "US-OB" and (patient.sex is not Sex.FEMALE or not 15 <= age <= 55):
        found.append("pregnancy exam for a man, a child or an over-55")
    if code.startswith(FEMALE_ONLY) and patient.sex is not Sex.FEMALE:
        found.append("female exam for a man")
    if code.startswith(ADULT_ONLY) and age < 18:
        found.append("adult exam for a child")
    if code.startswith(("MG-SCREEN", "BMD-")) and age < 40:
        found.append("screening too young")
    if not any(word in request.indication for word in _body_part_words(code)):
        found.append(f"indication {request.indication!r} is not about the body part")
    if patient.prefix in PREFIX_FITS and not PREFIX_FITS[patient.prefix](patient.sex, age):
        found.append(f"prefix {patient.prefix} for a {patient.sex.name} of {age}")
    return [f"{request.placer_order_number} {code} {patient.sex.name} {age}: {p}" for p in found]


def test_every_demo_request_fits_its_patient_and_body_part(demo_bookings):
    requests = demo_bookings.session.scalars(
        select(ImagingRequest).options(
            selectinload(ImagingRequest.patient), selectinload(ImagingRequest.procedure)
        )
    ).all()
    assert len(requests) > 150
    problems = [p for r in requests for p in _problems(r)]
    assert not problems, "\n".join(problems)
    codes = {r.procedure.code for r in requests}
    assert {"US-OB", "MG-SCREEN", "BMD-HIPSP", "MR-LSP", "CT-WABD-C"} <= codes


def test_each_request_is_one_its_hub_takes(demo_bookings):
    requests = demo_bookings.session.scalars(
        select(ImagingRequest).where(ImagingRequest.hub_hospital_id.is_not(None))
    ).all()
    for request in requests:
        assert accepts_referral(request.hub_hospital, request.requesting_hospital, request.priority)
        assert request.patient.hospital_id == request.requesting_hospital_id


def test_history_and_bookings_spread_over_weeks_in_both_networks(demo_bookings):
    today = local_today()
    appointments = demo_bookings.session.scalars(select(Appointment)).all()
    past = [a for a in appointments if to_local(a.start_at).date() < today]
    ahead = [a for a in appointments if to_local(a.start_at).date() >= today]
    past_weeks = {(today - to_local(a.start_at).date()).days // 7 for a in past}
    assert len(past_weeks) >= 4 and max(past_weeks) >= 3
    assert max(to_local(a.start_at).date() for a in ahead) >= today + timedelta(days=14)
    assert all(a.status is not AppointmentStatus.BOOKED for a in past)
    no_shows = [a for a in past if a.status is AppointmentStatus.NO_SHOW]
    assert 0 < len(no_shows) < len(past) / 5
    completed = [a for a in past if a.status is AppointmentStatus.COMPLETED]
    linked = [a for a in completed if a.request.studies and a.request.report_text]
    assert 0.5 < len(linked) / len(completed) < 1  # most came back, not all
    for region in (7, 8):
        mine = [a for a in appointments if region_of(a.hub_hospital) == region]
        assert len([a for a in mine if a in past]) >= 20
        assert [a for a in mine if a in ahead]
        # each network's own hospitals refer to it (Udon Thani also takes Region 7's)
        requesters = {region_of(a.request.requesting_hospital) for a in mine}
        assert region in requesters
