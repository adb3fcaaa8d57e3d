"""DICOM: a scanner (calling AE title) of one hub must not get another hub's worklist
entries, nor start, finish or rewrite another hub's (or another scanner's) steps and
studies through MPPS.
"""

from __future__ import annotations

import itertools

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from app.extensions import db as _db
from scheduling.models import Appointment, AppointmentStatus, Device, Study
from tests.security.matrix import FIGURES, report
from tests.security.worlds import MKH, PLAN, UDN, Worlds
from tests.worklist.conftest import find, mwl_query
from tests.worklist.test_mpps import Scanner, final, in_progress
from worklist.models import PerformedProcedureStep

CALLERS = {"MKH_US1": MKH, "MKH_CT1": MKH, "UDN_CT1": UDN, "UDN_CT2": UDN}


@pytest.fixture(scope="module")
def scp(app, worlds):
    from worklist.server import start_server

    running = start_server(app, "127.0.0.1", 0)
    yield running
    running.stop()


def _appointment(id_: int) -> Appointment:
    _db.session.expire_all()
    return _db.session.get(Appointment, id_)


def _hub_of_world(world: str) -> str:
    return PLAN[world][1]


def queries(w: Worlds) -> list[tuple[str, object]]:
    """(label, C-FIND identifier): the whole hub, each world's scanner, and each world's
    accession number, Study Instance UID, HN and national ID."""
    day = w["KM"].day.strftime("%Y%m%d")
    out = [
        ("every station", mwl_query(ScheduledStationAETitle="*")),
        (
            "every station, the worlds' day",
            mwl_query(ScheduledStationAETitle="*", ScheduledProcedureStepStartDate=day),
        ),
        ("no station key (the caller's own)", mwl_query()),
    ]
    for ae in sorted({PLAN[n][3] for n in PLAN}):
        out.append((f"station {ae}", mwl_query(ScheduledStationAETitle=ae)))
    for name, x in w.worlds.items():
        appointment = _appointment(x.appointment_id)
        given, hn, cid = x.markers[-3:]
        for key, value in (
            ("AccessionNumber", appointment.accession_number),
            ("StudyInstanceUID", appointment.study_instance_uid),
            ("PatientID", hn),
            ("PatientID", cid),
        ):
            out.append(
                (f"{name} {key}", mwl_query(ScheduledStationAETitle="*", **{f"top_{key}": value}))
            )
    return out


def test_worklist_shows_only_the_callers_hub(worlds, scp, request):
    own_accessions = {
        code: {
            _appointment(x.appointment_id).accession_number
            for n, x in worlds.worlds.items()
            if _hub_of_world(n) == code
        }
        for code in (MKH, UDN)
    }
    failures, tried = [], 0
    for (caller, hub), (label, query) in itertools.product(CALLERS.items(), queries(worlds)):
        results, status = find(scp.port, query, calling_ae=caller)
        tried += 1
        if status != 0x0000:
            failures.append(f"{caller} {label}: final status {status:#06x}")
        hidden = worlds.hidden_markers_for_hub(hub)
        for identifier in results:
            accession = str(identifier.get("AccessionNumber", ""))
            appointment = _db.session.scalar(
                select(Appointment).where(Appointment.accession_number == accession)
            )
            if appointment is None or appointment.hub_hospital_id != worlds.hospitals[hub]:
                failures.append(f"{caller} {label}: got another hub's step {accession}")
            text = str(identifier)
            failures += [
                f"{caller} {label}: shows {n}:{m}"
                for n, markers in hidden.items()
                for m in markers
                if m in text
            ]
        # Positive control: a world at the caller's hub, asked by accession, is found.
        if (
            label.endswith("AccessionNumber")
            and worlds.hidden_markers_for_hub(hub).get(label.split()[0]) is None
            and not results
        ):
            failures.append(f"{caller} {label}: its own hub's step was not found")
    assert any(own_accessions.values())
    FIGURES["dicom"] += tried
    report(
        request,
        "dicom MWL",
        f"{len(CALLERS)} calling AEs at 2 hubs × {tried // len(CALLERS)}"
        f" C-FIND queries = {tried}; {len(failures)} failures",
    )
    assert not failures, "\n".join(failures[:40])


def _study_rows(w: Worlds, world: str) -> list[tuple]:
    with _db.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(Study.__table__).where(Study.request_id == w[world].request_id)
            )
        ]


def _world_rows(w: Worlds, world: str) -> tuple:
    appointment = _appointment(w[world].appointment_id)
    return appointment.status, appointment.start_at, _study_rows(w, world)


def test_mpps_acts_only_on_the_callers_own_steps(worlds, scp, request):
    failures, tried = [], 0
    # 1. Every calling AE tries to start every world's booking of another hub.
    for (caller, hub), world in itertools.product(CALLERS.items(), PLAN):
        if _hub_of_world(world) == hub:
            continue
        before = _world_rows(worlds, world)
        scanner = Scanner(scp.port, caller)
        try:
            status = scanner.create(
                generate_uid(), in_progress(_appointment(worlds[world].appointment_id))
            )
        finally:
            scanner.close()
        tried += 1
        if _world_rows(worlds, world) != before:
            failures.append(f"{caller} N-CREATE on {world} changed it ({status.Status:#06x})")

    # 2. A step started by MKH_US1 for its own booking: no other AE may set it.
    sm = _appointment(worlds["SM"].appointment_id)
    assert sm.device.ae_title == "MKH_US1"
    step_uid = generate_uid()
    own = Scanner(scp.port, "MKH_US1")
    try:
        assert own.create(step_uid, in_progress(sm)).Status == 0x0000
    finally:
        own.close()
    for caller in ("MKH_CT1", "UDN_CT1", "UDN_CT2"):
        scanner = Scanner(scp.port, caller)
        try:
            status = scanner.set(step_uid, final("COMPLETED"))
        finally:
            scanner.close()
        tried += 1
        step = _db.session.scalar(
            select(PerformedProcedureStep).where(
                PerformedProcedureStep.sop_instance_uid == step_uid
            )
        )
        _db.session.refresh(step)
        if status.Status == 0x0000 or step.status.name != "IN_PROGRESS":
            failures.append(f"{caller} N-SET of MKH_US1's step: {status.Status:#06x}")
    if _appointment(sm.id).status is not AppointmentStatus.IN_PROGRESS:
        failures.append("another AE finished MKH_US1's exam")

    # 3. A step for one's own booking that names another hub's Study Instance UID must not
    #    rewrite that hub's study (leak found by this module: link_study confirmed it).
    km = _appointment(worlds["KM"].appointment_id)
    cu = _appointment(worlds["CU"].appointment_id)
    before = _study_rows(worlds, "CU")
    scanner = Scanner(scp.port, "MKH_US1")
    try:
        ds = in_progress(km)
        ds.ScheduledStepAttributesSequence[0].StudyInstanceUID = cu.study_instance_uid
        uid = generate_uid()
        scanner.create(uid, ds)
        scanner.set(uid, final("COMPLETED"))
    finally:
        scanner.close()
    tried += 1
    if _study_rows(worlds, "CU") != before:
        failures.append("MKH_US1 rewrote UDN's study through its own MPPS")

    # Positive control: the owner finishes its own step.
    own = Scanner(scp.port, "MKH_US1")
    try:
        assert own.set(step_uid, final("COMPLETED")).Status == 0x0000
    finally:
        own.close()
    assert _appointment(sm.id).status is AppointmentStatus.COMPLETED
    assert _db.session.scalar(select(Device.id).where(Device.ae_title == "UDN_CT2"))
    FIGURES["dicom"] += tried
    report(
        request,
        "dicom MPPS",
        f"{tried} N-CREATE/N-SET across hubs and stations; {len(failures)} failures",
    )
    assert not failures, "\n".join(failures)
