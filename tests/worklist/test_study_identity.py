"""Issue 13: a study is linked only to its own patient.

The images-in-PACS job used to ask the PACS by accession number only and link whatever
came back: a study with the right accession number but another patient's ID became a
second study on the request, and the page said "ภาพอยู่ใน PACS แล้ว". Here a PACS
stand-in (a real Study Root C-FIND SCP) and a scanner (MPPS over a real association)
report another patient's study; it is held for reconciliation at the hub, where a
radiologist sees both identities side by side and confirms or rejects it, audited.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from scheduling.models import (
    AuditEvent,
    ReconciliationStatus,
    Role,
    Study,
    StudyReconciliation,
    StudySource,
    User,
)
from tests.conftest import login
from tests.worklist.conftest import TODAY, book_step, local
from tests.worklist.test_mpps import final, in_progress, reload
from tests.worklist.test_pacs_query import NOW, VIEWER, FakePacs, completed
from worklist.pacs_query import PacsSettings, check_pacs

OTHER_PATIENT = {
    "PatientID": "KR0002",  # บุญเลิศ's HN at Kud Rang
    "PatientName": "Sisuwan^Bunloet",
    "PatientBirthDate": "19550902",
    "PatientSex": "M",
}


@pytest.fixture
def pacs():
    fake = FakePacs()
    yield fake
    fake.stop()


@pytest.fixture
def settings(pacs) -> PacsSettings:
    return PacsSettings(
        host="127.0.0.1",
        port=pacs.port,
        ae_title="MKH_PACS",
        calling_ae_title="RADBOOK",
        viewer_url_template=VIEWER,
    )


@pytest.fixture
def people(db, network):
    """A requester at Kud Rang, a scheduler and a radiologist at the hub."""
    for username, role, hospital in (
        ("staff.kudrang", Role.REQUESTER, network.requester),
        ("scheduler.mkh", Role.SCHEDULER, network.hub),
        ("radiologist.mkh", Role.RADIOLOGIST, network.hub),
        ("radiologist.udn", Role.RADIOLOGIST, network.other_hub),
    ):
        user = User(username=username, full_name=username, role=role, hospital=hospital)
        user.set_password("radbook-demo")
        db.session.add(user)
    db.session.commit()


def _add(pacs: FakePacs, accession: str, uid: str, **patient) -> None:
    pacs.add(accession, uid)
    ds = pacs.studies[accession][-1]
    for keyword, value in patient.items():
        setattr(ds, keyword, value)


def _held(db) -> list[StudyReconciliation]:
    db.session.expire_all()
    return list(db.session.scalars(select(StudyReconciliation).order_by(StudyReconciliation.id)))


def _studies(db) -> int:
    return db.session.scalar(select(func.count(Study.id)))


def _actions(db, prefix: str) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)
        )
    )


def test_another_patients_study_in_pacs_is_held_and_rejected_at_the_hub(
    app,
    db,
    network,
    pacs,
    settings,
    people,
):
    appointment = completed(db, network, network.somsri)
    wrong = generate_uid()
    _add(pacs, appointment.accession_number, wrong, **OTHER_PATIENT)

    result = check_pacs(app, settings, NOW)

    assert result.found == [] and result.held == [appointment.id]
    assert _studies(db) == 0
    [held] = _held(db)
    assert (held.status, held.source, held.study_instance_uid) == (
        ReconciliationStatus.PENDING,
        StudySource.PACS_QUERY,
        wrong,
    )
    assert set(held.problems.split(",")) == {"patient-id", "name", "birth-date", "sex"}
    assert _actions(db, "study.") == ["study.hold"]
    # The requesting hospital is not told the images are there.
    requester = app.test_client()
    login(requester, "staff.kudrang")
    page = requester.get(f"/requests/{appointment.request_id}").get_data(as_text=True)
    assert "ภาพอยู่ใน PACS แล้ว" not in page
    # Asked again later: still held once, still not linked.
    check_pacs(app, settings, NOW + timedelta(hours=7))
    assert len(_held(db)) == 1 and _studies(db) == 0

    # The hub's radiologist sees both identities side by side, and rejects.
    radiologist = app.test_client()
    login(radiologist, "radiologist.mkh")
    html = radiologist.get("/hub/reconciliation").get_data(as_text=True)
    assert "สมศรี" in html and "Sisuwan^Bunloet" in html and "KR0002" in html
    assert "MK0001" in html  # the hub's HN of the booking's patient
    # Another hub's staff neither see it nor can decide it.
    other = app.test_client()
    login(other, "radiologist.udn")
    assert "Sisuwan" not in other.get("/hub/reconciliation").get_data(as_text=True)
    assert other.post(f"/hub/reconciliation/{held.id}/confirm").status_code == 404
    assert _held(db)[0].status is ReconciliationStatus.PENDING

    response = radiologist.post(f"/hub/reconciliation/{held.id}/reject")
    assert response.status_code == 302
    [held] = _held(db)
    assert held.status is ReconciliationStatus.REJECTED and held.decided_by_id is not None
    assert _actions(db, "study.") == ["study.hold", "study.reconcile_reject"]
    # The rejected study is never linked to this request, however often it is found.
    check_pacs(app, settings, NOW + timedelta(days=1))
    assert _studies(db) == 0


def test_only_the_patients_own_study_is_linked_when_pacs_holds_both(
    app,
    db,
    network,
    pacs,
    settings,
):
    appointment = completed(db, network, network.somsri)
    wrong, right = generate_uid(), generate_uid()
    _add(pacs, appointment.accession_number, wrong, **OTHER_PATIENT)
    _add(
        pacs,
        appointment.accession_number,
        right,
        PatientID="MK0001",
        PatientName="Thongdi^Somsri",
        PatientBirthDate="19680314",
        PatientSex="F",
    )
    result = check_pacs(app, settings, NOW)
    assert result.found == [appointment.id]
    [study] = db.session.scalars(select(Study)).all()
    assert study.study_instance_uid == right and study.images_in_pacs_at is not None
    assert [h.study_instance_uid for h in _held(db)] == [wrong]


def test_a_held_study_confirmed_at_the_hub_is_linked(
    app,
    db,
    network,
    pacs,
    settings,
    people,
):
    appointment = completed(db, network, network.somsri)
    uid = generate_uid()
    # Registered at the console under a temporary ID, but it is her: name and birth date.
    _add(
        pacs,
        appointment.accession_number,
        uid,
        PatientID="TEMP-0815",
        PatientName="THONGDI^SOMSRI",
        PatientBirthDate="19680314",
    )
    check_pacs(app, settings, NOW)
    [held] = _held(db)
    assert held.problems == "patient-id" and _studies(db) == 0
    scheduler = app.test_client()
    login(scheduler, "scheduler.mkh")
    assert scheduler.post(f"/hub/reconciliation/{held.id}/confirm").status_code == 302
    [study] = db.session.scalars(select(Study)).all()
    assert (study.study_instance_uid, study.request_id) == (uid, appointment.request_id)
    assert study.images_in_pacs_at is not None and study.series_count == 2
    assert _held(db)[0].status is ReconciliationStatus.CONFIRMED
    assert _actions(db, "study.") == ["study.hold", "study.link", "study.reconcile_confirm"]
    # Decided once: a second confirmation is refused, nothing changes.
    scheduler.post(f"/hub/reconciliation/{held.id}/confirm")
    assert _studies(db) == 1
    requester = app.test_client()
    login(requester, "staff.kudrang")
    page = requester.get(f"/requests/{appointment.request_id}").get_data(as_text=True)
    assert "ภาพอยู่ใน PACS แล้ว" in page


def test_an_mpps_naming_another_patient_does_not_link_its_study(app, db, network, scp):
    from tests.worklist.test_mpps import Scanner

    booked = book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900"))
    scanner = Scanner(scp.port)
    try:
        uid = generate_uid()
        step = in_progress(booked, PatientID="KR0002", PatientName="Sisuwan^Bunloet")
        assert scanner.create(uid, step).Status == 0x0000
        assert scanner.set(uid, final("COMPLETED")).Status == 0x0000
    finally:
        scanner.close()
    # The exam happened (the booking is completed), but its study is not linked.
    assert reload(db, booked).completed_at is not None
    assert _studies(db) == 0
    [held] = _held(db)
    assert (held.source, held.study_instance_uid) == (StudySource.MPPS, booked.study_instance_uid)
    assert held.reported["patient_id"] == "KR0002"
    assert held.link_values["mpps_instance_uid"] == uid
