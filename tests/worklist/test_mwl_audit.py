"""Every answered worklist query leaves one audit event: which steps, whose, to which AE."""

from __future__ import annotations

from sqlalchemy import select

from scheduling.models import AuditEvent, AuditEventPatient, Interface
from tests.worklist.conftest import TODAY, book_step, find, local, mwl_query


def _events(db):
    db.session.rollback()  # see what the SCP's threads committed
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "worklist.find").order_by(AuditEvent.id)
    ).all()


def test_an_answer_names_its_steps_and_patients_and_the_calling_ae(db, network, scp):
    n = network
    a = book_step(db, n, n.somsri, "MKH_US1", local(TODAY, "0900"))
    b = book_step(db, n, n.boonlert, "MKH_US1", local(TODAY, "1000"))
    book_step(db, n, n.kanya, "MKH_US2", local(TODAY, "0900"))  # another station's

    results, final = find(scp.port, mwl_query(), calling_ae="MKH_US1")
    assert final == 0x0000 and len(results) == 2

    [event] = _events(db)
    assert event.interface is Interface.DICOM
    assert event.actor == "dicom:MKH_US1"
    assert event.hospital_id == n.hub.id
    assert event.entity_type == "device" and event.entity_id == n.devices["MKH_US1"].id
    assert sorted(event.detail["appointments"]) == sorted([a.id, b.id])
    assert event.patient_id is None  # two patients: named in the link table
    linked = set(
        db.session.scalars(
            select(AuditEventPatient.patient_id).where(AuditEventPatient.audit_event_id == event.id)
        )
    )
    assert linked == {n.somsri.id, n.boonlert.id}


def test_one_patient_goes_on_the_event_itself_and_an_empty_answer_records_nothing(db, network, scp):
    n = network
    book_step(db, n, n.kanya, "MKH_US2", local(TODAY, "0900"))
    results, _ = find(scp.port, mwl_query(), calling_ae="MKH_US2")
    assert len(results) == 1
    results, _ = find(scp.port, mwl_query(), calling_ae="MKH_US3")  # nothing booked there
    assert results == []

    [event] = _events(db)
    assert event.actor == "dicom:MKH_US2" and event.patient_id == n.kanya.id
