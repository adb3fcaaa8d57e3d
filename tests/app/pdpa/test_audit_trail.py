"""The audit trail names patients: one event per page, list or query, one query per patient."""

from __future__ import annotations

from sqlalchemy import select

from scheduling.audit import Actor, about_patients, record, record_read
from scheduling.models import AuditEvent, AuditEventPatient, Interface, Patient


def test_record_read_is_one_row_for_one_patient_and_links_for_several(demo, now):
    patients = demo.session.scalars(select(Patient).order_by(Patient.id)).all()
    actor = Actor(Interface.JOBS, name="test")
    assert record_read(actor, "x.none", now, []) is None
    single = record_read(actor, "x.one", now, [patients[0].id, patients[0].id, None])
    several = record_read(actor, "x.many", now, [p.id for p in patients[:3]], page=1)
    demo.session.commit()

    one = demo.session.get(AuditEvent, single)
    assert one.patient_id == patients[0].id
    assert (
        demo.session.scalar(
            select(AuditEventPatient).where(AuditEventPatient.audit_event_id == single)
        )
        is None
    )
    many = demo.session.get(AuditEvent, several)
    assert many.patient_id is None and many.detail == {"page": 1}
    assert set(
        demo.session.scalars(
            select(AuditEventPatient.patient_id).where(AuditEventPatient.audit_event_id == several)
        )
    ) == {p.id for p in patients[:3]}
    assert demo.session.scalar(select(AuditEvent).where(AuditEvent.action == "x.none")) is None

    # "Everything that happened to patient X" is one query over both.
    about_second = demo.session.scalars(
        select(AuditEvent.action).where(about_patients([patients[1].id]))
    ).all()
    assert "x.many" in about_second and "x.one" not in about_second


def test_record_takes_the_patient_from_the_entity(demo, now):
    patient = demo.session.scalars(select(Patient)).first()
    event = record(Actor(Interface.CLI), "x.write", now, entity=patient)
    demo.session.commit()
    assert event.patient_id == patient.id and event.entity_type == "patient"
