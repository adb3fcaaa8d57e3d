"""The issue's "done when" on the demo network: a booking made through the scheduling
operations shows on MKH_US1's worklist in findscu with Thai and romanised names, and an
MPPS sequence moves it to completed."""

from __future__ import annotations

import os
import subprocess
from datetime import date

import pydicom
from pydicom.uid import generate_uid
from sqlalchemy import select

from app.demo import load_demo
from scheduling.audit import Actor
from scheduling.availability import find_slots
from scheduling.booking import book
from scheduling.models import (
    AppointmentStatus,
    Device,
    Hospital,
    IdentifierType,
    Interface,
    Procedure,
    RequestStatus,
    User,
)
from scheduling.patients import find_patient, national_id_check_digit
from scheduling.requests import create_request

MONDAY = date(2026, 11, 23)  # the demo capacity is Monday to Friday


def test_demo_ultrasound_list_in_findscu_then_mpps(app, db, now, tmp_path):
    from tests.worklist.test_mpps import Scanner, final, in_progress
    from worklist.server import start_server

    load_demo()
    scheduler = db.session.scalar(select(User).where(User.username == "scheduler.mkh"))
    kudrang = db.session.scalar(select(Hospital).where(Hospital.code == "11008"))
    device = db.session.scalar(select(Device).where(Device.ae_title == "MKH_US1"))
    procedure = db.session.scalar(select(Procedure).where(Procedure.code == "US-UPABD"))
    stem = "110170023070"
    patient = find_patient(
        IdentifierType.NATIONAL_ID, stem + national_id_check_digit(stem), hospital_id=kudrang.id
    )
    actor = Actor(interface=Interface.WEB, user=scheduler)
    request = create_request(
        Actor(interface=Interface.CLI, name="test", hospital_id=kudrang.id),
        now,
        patient=patient,
        procedure=procedure,
        requesting_hospital_id=kudrang.id,
        hub_hospital_id=device.hospital_id,
        indication="ปวดท้อง",
    )
    [slot] = find_slots(
        now,
        procedure,
        requesting_hospital_id=kudrang.id,
        device_id=device.id,
        date_from=MONDAY,
        date_to=MONDAY,
        limit=1,
    )
    appointment = book(actor, now, request, device, slot.start_at)

    running = start_server(app, "127.0.0.1", 0)
    try:
        out = tmp_path / "rsp"
        out.mkdir()
        proc = subprocess.run(
            [
                "/usr/bin/findscu",
                "-W",
                "-aec",
                "RADBOOK",
                "-aet",
                "MKH_US1",
                "-X",
                "-od",
                str(out),
                "-k",
                "PatientName",
                "-k",
                "PatientID",
                "-k",
                "AccessionNumber",
                "-k",
                "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261123",
                "127.0.0.1",
                str(running.port),
            ],
            capture_output=True,
            env={**os.environ, "TCP_NODELAY": "1"},
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        [answer] = [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]
        assert answer.AccessionNumber == appointment.accession_number
        romanised, thai = str(answer.PatientName).split("=")
        assert romanised.startswith(f"{patient.family_name_en}^{patient.given_name_en}")
        assert thai.startswith("ทองดี^สมศรี")
        assert answer.PatientID  # the hub's HN, or the national ID when it has none

        scanner = Scanner(running.port, "MKH_US1")
        try:
            uid = generate_uid()
            assert scanner.create(uid, in_progress(appointment)).Status == 0
            assert scanner.set(uid, final("COMPLETED")).Status == 0
        finally:
            scanner.close()
    finally:
        running.stop()
    db.session.expire_all()
    assert appointment.status is AppointmentStatus.COMPLETED
    assert appointment.request.status is RequestStatus.COMPLETED
