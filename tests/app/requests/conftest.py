"""Factories for the requester tests (indico-style: ``create_x(**params)``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from scheduling.models import Hospital, Patient, Procedure, User
from scheduling.patients import national_id_check_digit
from tests.conftest import login

KUDRANG = "11008"
KOSUM = "11005"
MKH = "10707"


def valid_cid(stem12: str) -> str:
    return stem12 + national_id_check_digit(stem12)


def invalid_cid(stem12: str) -> str:
    """Same 12 digits with a wrong 13th: what a typo in the last digit looks like."""
    good = national_id_check_digit(stem12)
    return stem12 + str((int(good) + 1) % 10)


def hospital(db, code: str) -> Hospital:
    return db.session.scalar(select(Hospital).where(Hospital.code == code))


def user(db, username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def patient_named(db, given_name_th: str) -> Patient:
    return db.session.scalar(
        select(Patient).where(Patient.given_name_th == given_name_th).order_by(Patient.id)
    )


def procedure(db, code: str) -> Procedure:
    return db.session.scalar(select(Procedure).where(Procedure.code == code))


@pytest.fixture
def kudrang_client(app, demo):
    client = app.test_client()
    assert login(client, "staff.kudrang").status_code == 302
    return client


@pytest.fixture
def kosum_client(app, demo):
    client = app.test_client()
    assert login(client, "staff.kosum").status_code == 302
    return client


def patient_form(**overrides) -> dict[str, str]:
    data = {
        "id_type": "NATIONAL_ID",
        "id_value": valid_cid("310990012345"),
        "hn": "KR9001",
        "prefix": "MRS",
        "given_name_th": "บุญมี",
        "family_name_th": "ดีงาม",
        "birth_day": "14",
        "birth_month": "3",
        "birth_year_be": "2511",
        "sex": "FEMALE",
        "phone": "081-234-5678",
    }
    data.update(overrides)
    return data


def request_form(procedure_id: int, /, **overrides) -> dict[str, str]:
    data = {
        "modality": "",
        "procedure_id": str(procedure_id),
        "indication": "ปวดท้องด้านขวาบน สงสัยนิ่วในถุงน้ำดี",
        "icd10_code": "",
        "priority": "ROUTINE",
        "requesting_clinician": "นพ.สมชาย ใจดี",
        "hub_hospital_id": "",
        "treatment_right": "UC",
        "referral_number": "กร 6911/0042",
    }
    data.update(overrides)
    return data


def web_actor_for(db, username: str):
    from scheduling.audit import Actor
    from scheduling.models import Interface

    return Actor(interface=Interface.WEB, user=user(db, username))


def make_request(
    db, *, username: str = "staff.kudrang", patient: str = "สมศรี", code: str = "US-UPABD", **kwargs
):
    """A submitted request through the domain operation, as the given user."""
    from scheduling.clock import utcnow
    from scheduling.requests import create_request

    staff = user(db, username)
    return create_request(
        web_actor_for(db, username),
        utcnow(),
        patient=patient_named(db, patient),
        procedure=procedure(db, code),
        requesting_hospital_id=staff.hospital_id,
        indication=kwargs.pop("indication", "ทดสอบ"),
        **kwargs,
    )


def earliest_slot(db, req):
    from scheduling.availability import find_slots
    from scheduling.clock import utcnow

    return find_slots(
        utcnow(),
        req.procedure,
        requesting_hospital_id=req.requesting_hospital_id,
        patient=req.patient,
        limit=1,
    )[0]


def book_earliest(db, req, username: str = "staff.kudrang"):
    from scheduling.booking import book
    from scheduling.clock import utcnow
    from scheduling.models import Device

    slot = earliest_slot(db, req)
    return book(
        web_actor_for(db, username),
        utcnow(),
        req,
        db.session.get(Device, slot.device_id),
        slot.start_at,
    )
