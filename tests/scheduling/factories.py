"""Small factories for scheduling tests (indico-style ``create_*(**params)``)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time

from app.extensions import db
from scheduling.audit import Actor
from scheduling.capacity import WindowSpec, create_template
from scheduling.models import (
    Device,
    Hospital,
    HospitalLevel,
    IdentifierType,
    Interface,
    Modality,
    Patient,
    Priority,
    Procedure,
    Role,
    Sex,
    User,
)
from scheduling.patients import national_id_check_digit
from scheduling.requests import create_request

_seq = itertools.count(1)
SYSTEM = Actor(interface=Interface.CLI, name="test")


def create_hospital(*, is_hub: bool = False, code: str | None = None, **values) -> Hospital:
    n = next(_seq)
    hospital = Hospital(
        code=code or f"{90000 + n}",
        name_th=values.pop("name_th", f"รพ.ทดสอบ {n}"),
        name_en=values.pop("name_en", f"Test hospital {n}"),
        level=values.pop("level", HospitalLevel.GENERAL if is_hub else HospitalLevel.COMMUNITY),
        province_th="มหาสารคาม",
        province_en="Maha Sarakham",
        is_hub=is_hub,
        **values,
    )
    db.session.add(hospital)
    db.session.flush()
    return hospital


def ensure_modality(code: str) -> Modality:
    modality = db.session.get(Modality, code)
    if modality is None:
        modality = Modality(code=code, name_th=code, name_en=code)
        db.session.add(modality)
        db.session.flush()
    return modality


def create_procedure(
    *, modality: str = "US", minutes: int = 20, prep_tags: str = "", **values
) -> Procedure:
    ensure_modality(modality)
    n = next(_seq)
    procedure = Procedure(
        code=values.pop("code", f"{modality}-T{n}"),
        name_th=f"ตรวจ {n}",
        name_en=f"Exam {n}",
        modality_code=modality,
        duration_minutes=minutes,
        prep_tags=prep_tags,
        **values,
    )
    db.session.add(procedure)
    db.session.flush()
    return procedure


def create_device(hospital: Hospital, *, modality: str = "US", **values) -> Device:
    ensure_modality(modality)
    n = next(_seq)
    device = Device(
        hospital_id=hospital.id,
        modality_code=modality,
        name=f"Device {n}",
        ae_title=values.pop("ae_title", f"T{n}_{modality}"),
        **values,
    )
    db.session.add(device)
    db.session.flush()
    return device


def create_patient(**values) -> Patient:
    n = next(_seq)
    stem = f"1{n:011d}"
    patient = Patient(
        id_type=IdentifierType.NATIONAL_ID,
        id_value=values.pop("id_value", stem + national_id_check_digit(stem)),
        prefix="MR",
        given_name_th=f"ผู้ป่วย{n}",
        family_name_th="ทดสอบ",
        sex=values.pop("sex", Sex.MALE),
        **values,
    )
    db.session.add(patient)
    db.session.flush()
    return patient


def create_user(hospital: Hospital, role: Role = Role.SCHEDULER) -> User:
    n = next(_seq)
    user = User(
        username=f"user{n}",
        full_name=f"User {n}",
        role=role,
        hospital_id=hospital.id,
        password_hash="x",
    )
    db.session.add(user)
    db.session.flush()
    return user


def office_template(
    device: Device,
    *,
    now: datetime,
    start: time = time(8, 0),
    end: time = time(16, 0),
    capacity: int = 1,
    slot_minutes: int | None = None,
    weekdays=range(7),
    lead_time_minutes: int = 0,
    horizon_days: int = 90,
    valid_from: date | None = None,
    valid_to: date | None = None,
):
    return create_template(
        SYSTEM,
        now,
        device=device,
        slot_minutes=slot_minutes,
        windows=[WindowSpec(d, start, end, capacity) for d in weekdays],
        lead_time_minutes=lead_time_minutes,
        horizon_days=horizon_days,
        valid_from=valid_from,
        valid_to=valid_to,
        commit=False,
    )


def create_setup(
    now: datetime,
    *,
    modality: str = "US",
    minutes: int = 20,
    capacity: int = 1,
    slot_minutes: int | None = None,
    **template,
):
    """A hub with one templated device, a requesting hospital, a procedure; committed."""
    hub = create_hospital(is_hub=True)
    requester = create_hospital()
    device = create_device(hub, modality=modality)
    procedure = create_procedure(modality=modality, minutes=minutes)
    office_template(device, now=now, capacity=capacity, slot_minutes=slot_minutes, **template)
    db.session.commit()
    return hub, requester, device, procedure


def create_req(
    now: datetime,
    requester: Hospital,
    procedure: Procedure,
    *,
    patient: Patient | None = None,
    priority: Priority = Priority.ROUTINE,
    hub: Hospital | None = None,
    actor: Actor = SYSTEM,
    commit: bool = True,
):
    patient = patient or create_patient()
    if patient.hospital_id is None:
        # A record made without a hospital is the requester's (requests carry the
        # requesting hospital's own record of the patient).
        patient.hospital_id = requester.id
    return create_request(
        actor,
        now,
        patient=patient,
        procedure=procedure,
        requesting_hospital_id=requester.id,
        hub_hospital_id=hub.id if hub else None,
        priority=priority,
        indication="test",
        commit=commit,
    )
