"""A small hub with scanners in each character set, patients, and a factory for steps.

Rows are made with the models directly (``book_step``): the worklist reads what a
booking leaves in the database, whichever code path made it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from scheduling.models import (
    Appointment,
    AppointmentStatus,
    Device,
    DicomCharset,
    Hospital,
    HospitalLevel,
    IdentifierType,
    ImagingRequest,
    Modality,
    Patient,
    PatientHN,
    PatientIdPolicy,
    Priority,
    Procedure,
    RequestStatus,
    Sex,
)

BANGKOK = ZoneInfo("Asia/Bangkok")
TODAY = date(2026, 11, 21)  # the suite's `now` fixture: 09:00 in Bangkok


def local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time(int(hhmm[:2]), int(hhmm[2:])), tzinfo=BANGKOK)


@dataclass
class Network:
    hub: Hospital
    other_hub: Hospital
    requester: Hospital
    us: Procedure
    ct: Procedure
    devices: dict[str, Device]
    somsri: Patient
    boonlert: Patient
    kanya: Patient


_counter = itertools.count(1)


def _hospital(db, code, th, en, level, hub, policy=PatientIdPolicy.HN) -> Hospital:
    h = Hospital(
        code=code,
        name_th=th,
        name_en=en,
        level=level,
        province_th="มหาสารคาม",
        province_en="Maha Sarakham",
        is_hub=hub,
        patient_id_policy=policy,
    )
    db.session.add(h)
    return h


def _patient(db, cid, prefix, th, en, born, sex, alerts=None, hns=()) -> Patient:
    """The first hospital's record (the requester's); each further HN is that hospital's
    own record of the same person (e.g. the hub's, with its HN)."""
    records = []
    for hospital, hn in hns:
        p = Patient(
            hospital=hospital,
            id_type=IdentifierType.NATIONAL_ID,
            id_value=cid,
            prefix=prefix,
            given_name_th=th[1],
            family_name_th=th[0],
            given_name_en=en[1],
            family_name_en=en[0],
            birth_date=born,
            sex=sex,
            medical_alerts=alerts if not records else None,
            created_at=datetime.now(UTC),
        )
        p.hospital_numbers.append(PatientHN(hospital=hospital, hn=hn))
        db.session.add(p)
        records.append(p)
    return records[0]


@pytest.fixture
def network(db) -> Network:
    hub = _hospital(
        db, "10707", "โรงพยาบาลมหาสารคาม", "Mahasarakham Hospital", HospitalLevel.GENERAL, True
    )
    other = _hospital(
        db, "10671", "โรงพยาบาลอุดรธานี", "Udon Thani Hospital", HospitalLevel.REGIONAL, True
    )
    kudrang = _hospital(
        db, "11008", "โรงพยาบาลกุดรัง", "Kut Rang Hospital", HospitalLevel.COMMUNITY, False
    )
    db.session.add_all(
        [
            Modality(code="US", name_th="อัลตราซาวด์", name_en="Ultrasound"),
            Modality(code="CT", name_th="เอกซเรย์คอมพิวเตอร์", name_en="Computed tomography"),
        ]
    )
    us = Procedure(
        code="US-UPABD",
        name_th="อัลตราซาวด์ช่องท้องส่วนบน",
        name_en="Ultrasound upper abdomen",
        modality_code="US",
        duration_minutes=20,
        prep_tags="fasting",
    )
    ct = Procedure(
        code="CT-BRAIN-C",
        name_th="CT สมอง (ฉีดสารทึบรังสี)",
        name_en="CT brain with contrast",
        modality_code="CT",
        duration_minutes=20,
        uses_contrast=True,
        prep_tags="iodinated_contrast",
    )
    db.session.add_all([us, ct])
    db.session.flush()
    devices = {}
    for ae, modality, charset, hospital, by_calling_ae in (
        ("MKH_US1", "US", DicomCharset.UTF8, hub, True),
        ("MKH_US2", "US", DicomCharset.TIS620, hub, True),
        ("MKH_US3", "US", DicomCharset.ASCII, hub, True),
        ("MKH_CT1", "CT", DicomCharset.UTF8, hub, False),
        ("UDN_CT1", "CT", DicomCharset.UTF8, other, False),
    ):
        devices[ae] = Device(
            hospital=hospital,
            modality_code=modality,
            name=f"Scanner {ae}",
            ae_title=ae,
            station_name=ae,
            charset=charset,
            mwl_filter_by_calling_ae=by_calling_ae,
            allowed_addresses="127.0.0.1",
        )
        db.session.add(devices[ae])
    somsri = _patient(
        db,
        "1101700230705",
        "MRS",
        ("ทองดี", "สมศรี"),
        ("Thongdi", "Somsri"),
        date(1968, 3, 14),
        Sex.FEMALE,
        alerts="แพ้สารทึบรังสี (contrast allergy)\nDiabetes",
        hns=[(kudrang, "KR0001"), (hub, "MK0001")],
    )
    boonlert = _patient(
        db,
        "3401500123452",
        "MR",
        ("ศรีสุวรรณ", "บุญเลิศ"),
        ("Sisuwan", "Bunloet"),
        date(1955, 9, 2),
        Sex.MALE,
        hns=[(kudrang, "KR0002"), (hub, "MK0002")],
    )
    kanya = _patient(
        db,
        "1449900122771",
        "MISS",
        ("พลราช", "กัญญารัตน์"),
        ("Phonrat", "Kanyarat"),
        date(1990, 12, 25),
        Sex.FEMALE,
        hns=[(kudrang, "KR0003")],
    )
    db.session.commit()
    return Network(hub, other, kudrang, us, ct, devices, somsri, boonlert, kanya)


def book_step(
    db,
    network: Network,
    patient: Patient,
    ae_title: str,
    start: datetime,
    *,
    procedure: Procedure | None = None,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    priority: Priority = Priority.ROUTINE,
    commit: bool = True,
) -> Appointment:
    device = network.devices[ae_title]
    procedure = procedure or (network.us if device.modality_code == "US" else network.ct)
    n = next(_counter)
    now = datetime.now(UTC)
    request = ImagingRequest(
        placer_order_number=f"KR-{n:06d}",
        requesting_hospital_id=network.requester.id,
        hub_hospital_id=device.hospital_id,
        patient_id=patient.id,
        procedure_id=procedure.id,
        priority=priority,
        status=RequestStatus.SCHEDULED,
        indication="ปวดท้องด้านขวาบน",
        requesting_clinician="นพ.สมชาย ใจดี",
        created_at=now,
        updated_at=now,
    )
    db.session.add(request)
    db.session.flush()
    appointment = Appointment(
        request_id=request.id,
        patient_id=patient.id,
        hub_hospital_id=device.hospital_id,
        device_id=device.id,
        start_at=start,
        end_at=start + timedelta(minutes=20),
        status=status,
        accession_number=f"A{n:07d}",
        study_instance_uid=f"1.2.826.0.1.3680043.10.1234.{n}",
        requested_procedure_id=f"RP{n:06d}",
        sps_id=f"SPS{n:06d}",
        appointment_code=f"C{n:07d}",
        created_at=now,
        updated_at=now,
    )
    db.session.add(appointment)
    if commit:
        db.session.commit()
    return appointment


@pytest.fixture
def scp(app, network):
    """RadBook's DICOM SCP on a free port of 127.0.0.1."""
    from worklist.server import start_server

    running = start_server(app, "127.0.0.1", 0)
    yield running
    running.stop()


def mwl_query(**sps_keys) -> Dataset:
    """A typical scanner query; pass SPS keys (and top-level ones with a ``top_`` prefix)."""
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    ds.IssuerOfPatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.AccessionNumber = ""
    ds.StudyInstanceUID = ""
    ds.RequestedProcedureID = ""
    ds.RequestedProcedureDescription = ""
    ds.RequestedProcedurePriority = ""
    ds.MedicalAlerts = ""
    ds.Allergies = ""
    ds.PatientWeight = ""
    step = Dataset()
    step.ScheduledStationAETitle = ""
    step.ScheduledProcedureStepStartDate = ""
    step.ScheduledProcedureStepStartTime = ""
    step.Modality = ""
    step.ScheduledPerformingPhysicianName = ""
    step.ScheduledProcedureStepID = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProcedureStepStatus = ""
    for key, value in sps_keys.items():
        if key.startswith("top_"):
            setattr(ds, key[4:], value)
        else:
            setattr(step, key, value)
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def find(port: int, query: Dataset, calling_ae: str = "MKH_US1"):
    """C-FIND over a fresh association: (list of identifiers, final status)."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="RADBOOK")
    assert assoc.is_established, "association rejected"
    try:
        results = []
        final = None
        for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
            assert status, "no response (timeout or abort)"
            if status.Status in (0xFF00, 0xFF01):
                results.append(identifier)
            else:
                final = status.Status
        return results, final
    finally:
        assoc.release()


def bulk_steps(db, network: Network, ae_title: str, day: date, count: int) -> None:
    """``count`` booked steps on one device and day, one a minute from 07:00 (bulk insert)."""
    from sqlalchemy import insert

    device = network.devices[ae_title]
    now = datetime.now(UTC)
    base = next(_counter) * 100000
    requests = [
        dict(
            id=base + i,
            placer_order_number=f"BULK-{base + i}",
            requesting_hospital_id=network.requester.id,
            hub_hospital_id=device.hospital_id,
            patient_id=network.somsri.id,
            procedure_id=network.us.id,
            priority=Priority.ROUTINE,
            status=RequestStatus.SCHEDULED,
            indication="",
            requesting_clinician="",
            created_at=now,
            updated_at=now,
        )
        for i in range(count)
    ]
    start = local(day, "0700")
    appointments = [
        dict(
            request_id=base + i,
            patient_id=network.somsri.id,
            hub_hospital_id=device.hospital_id,
            device_id=device.id,
            start_at=start + timedelta(minutes=i),
            end_at=start + timedelta(minutes=i + 1),
            status=AppointmentStatus.BOOKED,
            accession_number=f"B{base + i}",
            study_instance_uid=f"1.2.826.0.1.3680043.10.1234.9.{base + i}",
            requested_procedure_id=f"B{base + i}",
            sps_id=f"B{base + i}",
            appointment_code=f"B{base + i}",
            created_at=now,
            updated_at=now,
            version=1,
        )
        for i in range(count)
    ]
    db.session.execute(insert(ImagingRequest), requests)
    db.session.execute(insert(Appointment), appointments)
    db.session.commit()
