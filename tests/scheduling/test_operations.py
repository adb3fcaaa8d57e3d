"""Request and booking operations on whichever database the suite runs against."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from scheduling import events
from scheduling.audit import Actor
from scheduling.booking import (
    book,
    cancel_appointment,
    complete_exam,
    discontinue_exam,
    mark_arrived,
    mark_no_show,
    reschedule,
    start_exam,
)
from scheduling.errors import Conflict, NotAllowed, ValidationFailed
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    Closure,
    ClosureKind,
    ImagingRequest,
    Interface,
    Priority,
    RequestStatus,
    Role,
    Study,
    StudySource,
)
from scheduling.requests import (
    accept_request,
    cancel_request,
    change_request,
    create_request,
    reject_request,
)
from scheduling.studies import attach_report, link_study
from tests.scheduling.factories import (
    SYSTEM,
    create_device,
    create_hospital,
    create_patient,
    create_procedure,
    create_req,
    create_setup,
    create_user,
    office_template,
)

# Monday 23 Nov 2026, 09:00 Bangkok = 02:00 UTC; the template runs 08:00-16:00 local.
MON_0900 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def audit_count(action: str | None = None) -> int:
    query = select(func.count(AuditEvent.id))
    if action:
        query = query.where(AuditEvent.action == action)
    return _db.session.scalar(query)


@pytest.fixture
def setup(db, now):
    return create_setup(now)


def test_create_accept_reject(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure, hub=hub)
    assert request.status is RequestStatus.SUBMITTED
    assert request.placer_order_number.startswith("RB")
    assert audit_count("request.create") == 1
    accept_request(SYSTEM, now, request)
    assert request.status is RequestStatus.ACCEPTED
    with pytest.raises(ValidationFailed):
        reject_request(SYSTEM, now, request, "  ")
    reject_request(SYSTEM, now, request, "ไม่มีข้อบ่งชี้")
    assert request.status is RequestStatus.REJECTED
    assert request.status_reason == "ไม่มีข้อบ่งชี้"
    with pytest.raises(Conflict) as error:
        accept_request(SYSTEM, now, request)
    assert error.value.code == "request-state"
    assert error.value.message("th") != error.value.message("en")


def test_requester_cannot_accept_and_cannot_request_for_others(db, now, setup):
    hub, requester, device, procedure = setup
    staff = create_user(requester, Role.REQUESTER)
    other = create_hospital()
    _db.session.commit()  # a refused operation rolls back whatever was only flushed
    actor = Actor(interface=Interface.WEB, user=staff)
    with pytest.raises(NotAllowed):
        create_request(
            actor,
            now,
            patient=create_patient(),
            procedure=procedure,
            requesting_hospital_id=other.id,
        )
    request = create_req(now, requester, procedure, hub=hub, actor=actor)
    with pytest.raises(NotAllowed):
        accept_request(actor, now, request)
    scheduler = Actor(interface=Interface.WEB, user=create_user(hub, Role.SCHEDULER))
    _db.session.commit()
    accept_request(scheduler, now, request)
    assert request.status is RequestStatus.ACCEPTED


def test_duplicate_placer_order_number(db, now, setup):
    hub, requester, device, procedure = setup
    p = create_patient(hospital_id=requester.id)
    create_request(
        SYSTEM,
        now,
        patient=p,
        procedure=procedure,
        requesting_hospital_id=requester.id,
        placer_order_number="ORD1",
    )
    with pytest.raises(Conflict):
        create_request(
            SYSTEM,
            now,
            patient=p,
            procedure=procedure,
            requesting_hospital_id=requester.id,
            placer_order_number="ORD1",
        )


def test_book_assigns_identifiers_and_writes_one_audit_event(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    before = audit_count()
    seen = []

    def receiver(sender, **kw):
        # Sent inside the transaction: the row is flushed, not yet committed.
        seen.append((kw["appointment"].id, _db.session().in_transaction()))

    with events.appointment_booked.connected_to(receiver):
        appointment = book(SYSTEM, now, request, device, MON_0900)
    assert audit_count() == before + 1
    assert seen == [(appointment.id, True)]
    assert appointment.status is AppointmentStatus.BOOKED
    assert appointment.end_at == MON_0900 + timedelta(minutes=20)
    assert request.status is RequestStatus.SCHEDULED
    assert request.hub_hospital_id == hub.id
    assert re.fullmatch(rf"{hub.code}69\d{{6}}", appointment.accession_number)
    assert appointment.accession_number.endswith("000001")
    assert len(appointment.accession_number) <= 16
    assert re.fullmatch(r"2\.25\.\d{1,39}", appointment.study_instance_uid)
    assert appointment.requested_procedure_id == appointment.accession_number
    assert len(appointment.sps_id) <= 16
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}", appointment.appointment_code)

    second = book(
        SYSTEM, now, create_req(now, requester, procedure), device, MON_0900 + timedelta(minutes=20)
    )
    assert second.accession_number.endswith("000002")
    other_hub = create_hospital(is_hub=True)
    other_device = create_device(other_hub)
    office_template(other_device, now=now)
    _db.session.commit()
    third = book(SYSTEM, now, create_req(now, requester, procedure), other_device, MON_0900)
    assert third.accession_number == f"{other_hub.code}69000001"


def test_slot_taken_is_a_thai_conflict_and_writes_nothing(db, now, setup):
    hub, requester, device, procedure = setup
    book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)
    loser = create_req(now, requester, procedure)
    count = audit_count()
    with pytest.raises(Conflict) as error:
        book(SYSTEM, now, loser, device, MON_0900)
    assert error.value.code == "slot-taken"
    assert "ขออภัย" in error.value.message("th")
    assert audit_count() == count
    _db.session.expire_all()
    assert _db.session.scalar(select(func.count(Appointment.id))) == 1
    assert _db.session.get(ImagingRequest, loser.id).status is RequestStatus.SUBMITTED


def test_parallel_capacity(db, now):
    hub, requester, device, procedure = create_setup(now, capacity=2)
    book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)
    book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)
    with pytest.raises(Conflict):
        book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)


def test_fixed_slot_length_rounds_up(db, now):
    hub, requester, device, procedure = create_setup(now, minutes=25, slot_minutes=15)
    appointment = book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)
    assert appointment.end_at - appointment.start_at == timedelta(minutes=30)
    with pytest.raises(Conflict) as error:  # 09:10 is not on the 15-minute grid
        book(
            SYSTEM,
            now,
            create_req(now, requester, procedure),
            device,
            MON_0900 + timedelta(minutes=10),
        )
    assert error.value.code == "not-a-slot"
    with pytest.raises(Conflict) as error:  # 09:15 is inside the first booking
        book(
            SYSTEM,
            now,
            create_req(now, requester, procedure),
            device,
            MON_0900 + timedelta(minutes=15),
        )
    assert error.value.code == "slot-taken"
    book(
        SYSTEM, now, create_req(now, requester, procedure), device, MON_0900 + timedelta(minutes=30)
    )


def test_patient_cannot_have_two_overlapping_exams(db, now, setup):
    hub, requester, device, procedure = setup
    patient = create_patient()
    other_device = create_device(hub)
    office_template(other_device, now=now)
    _db.session.commit()
    book(SYSTEM, now, create_req(now, requester, procedure, patient=patient), device, MON_0900)
    with pytest.raises(Conflict) as error:
        book(
            SYSTEM,
            now,
            create_req(now, requester, procedure, patient=patient),
            other_device,
            MON_0900,
        )
    assert error.value.code == "patient-overlap"
    book(
        SYSTEM,
        now,
        create_req(now, requester, procedure, patient=patient),
        other_device,
        MON_0900 + timedelta(minutes=20),
    )  # touching is fine


@pytest.mark.parametrize(
    "start, code",
    [
        (MON_0900 + timedelta(minutes=5), "not-a-slot"),  # off the grid
        (datetime(2026, 11, 23, 0, 30, tzinfo=UTC), "not-a-slot"),  # 07:30 local, before window
        (datetime(2026, 11, 23, 8, 50, tzinfo=UTC), "not-a-slot"),  # 15:50: would end after 16:00
        (datetime(2027, 6, 1, 2, 0, tzinfo=UTC), "horizon"),
    ],
)
def test_slot_rules(db, now, setup, start, code):
    hub, requester, device, procedure = setup
    with pytest.raises(Conflict) as error:
        book(SYSTEM, now, create_req(now, requester, procedure), device, start)
    assert error.value.code == code


def test_lead_time_and_urgent(db, now):
    hub, requester, device, procedure = create_setup(now, lead_time_minutes=24 * 60)
    soon = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)  # today 11:00 local, 2 h from now
    with pytest.raises(Conflict) as error:
        book(SYSTEM, now, create_req(now, requester, procedure), device, soon)
    assert error.value.code == "lead-time"
    urgent = create_req(now, requester, procedure, priority=Priority.URGENT)
    assert book(SYSTEM, now, urgent, device, soon).start_at == soon


def test_closures_block_booking(db, now, setup):
    hub, requester, device, procedure = setup
    _db.session.add(
        Closure(
            kind=ClosureKind.DEVICE_DOWNTIME,
            device_id=device.id,
            start_at=MON_0900,
            end_at=MON_0900 + timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
    )
    _db.session.commit()
    with pytest.raises(Conflict) as error:
        book(
            SYSTEM,
            now,
            create_req(now, requester, procedure),
            device,
            MON_0900 + timedelta(minutes=40),
        )
    assert error.value.code == "closed"
    book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900 + timedelta(hours=1))


def test_wrong_modality_and_inactive_device(db, now, setup):
    hub, requester, device, procedure = setup
    ct = create_procedure(modality="CT")
    with pytest.raises(ValidationFailed):
        book(SYSTEM, now, create_req(now, requester, ct), device, MON_0900)
    device.is_active = False
    _db.session.commit()
    with pytest.raises(Conflict):
        book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)


def test_book_twice_and_book_rejected(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    book(SYSTEM, now, request, device, MON_0900)
    with pytest.raises(Conflict) as error:
        book(SYSTEM, now, request, device, MON_0900 + timedelta(hours=1))
    assert error.value.code == "already-booked"
    rejected = create_req(now, requester, procedure)
    reject_request(SYSTEM, now, rejected, "ซ้ำ")
    with pytest.raises(Conflict) as error:
        book(SYSTEM, now, rejected, device, MON_0900 + timedelta(hours=1))
    assert error.value.code == "request-state"


def test_reschedule_keeps_history(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    first = book(SYSTEM, now, request, device, MON_0900)
    seen = []
    with events.appointment_rescheduled.connected_to(
        lambda sender, **kw: seen.append(kw["previous"].id)
    ):
        # 09:10 overlaps the old booking; it is excluded from the check (it is being moved).
        second = reschedule(
            SYSTEM, now, first, device, MON_0900 + timedelta(minutes=20), reason="ผู้ป่วยขอเลื่อน"
        )
    assert seen == [first.id]
    assert first.status is AppointmentStatus.MOVED
    assert first.status_reason == "ผู้ป่วยขอเลื่อน"
    assert second.rescheduled_from_id == first.id
    assert second.accession_number != first.accession_number
    assert request.status is RequestStatus.SCHEDULED
    _db.session.expire_all()
    assert request.current_appointment.id == second.id
    # the old slot is free again
    book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)
    with pytest.raises(Conflict):
        reschedule(SYSTEM, now, first, device, MON_0900 + timedelta(hours=2))


def test_cancel_appointment_frees_slot_and_reopens_request(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    appointment = book(SYSTEM, now, request, device, MON_0900)
    cancel_appointment(SYSTEM, now, appointment, "ผู้ป่วยไม่สะดวก")
    assert appointment.status is AppointmentStatus.CANCELLED
    assert request.status is RequestStatus.ACCEPTED
    book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)
    again = book(SYSTEM, now, request, device, MON_0900 + timedelta(minutes=20))
    assert request.status is RequestStatus.SCHEDULED
    assert again.status is AppointmentStatus.BOOKED


def test_cancel_request_cancels_its_appointment(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    appointment = book(SYSTEM, now, request, device, MON_0900)
    before = audit_count()
    cancel_request(SYSTEM, now, request, "ส่งตัวไปที่อื่น")
    assert audit_count() == before + 1
    assert request.status is RequestStatus.CANCELLED
    assert appointment.status is AppointmentStatus.CANCELLED


def test_exam_lifecycle(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    appointment = book(SYSTEM, now, request, device, MON_0900)
    later = MON_0900 + timedelta(minutes=1)
    mark_arrived(SYSTEM, later, appointment)
    assert appointment.arrived_at == later
    start_exam(SYSTEM, later, appointment)
    with pytest.raises(Conflict):
        cancel_request(SYSTEM, later, request, "x")
    complete_exam(SYSTEM, later, appointment)
    assert appointment.status is AppointmentStatus.COMPLETED
    assert request.status is RequestStatus.COMPLETED
    with pytest.raises(Conflict):
        mark_no_show(SYSTEM, later, appointment)


def test_discontinue_and_no_show_reopen_request(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    appointment = book(SYSTEM, now, request, device, MON_0900)
    start_exam(SYSTEM, MON_0900, appointment)
    discontinue_exam(SYSTEM, MON_0900, appointment, reason="ผู้ป่วยกลัวที่แคบ")
    assert appointment.status is AppointmentStatus.DISCONTINUED
    assert request.status is RequestStatus.ACCEPTED
    second = book(SYSTEM, now, request, device, MON_0900 + timedelta(hours=1))
    with pytest.raises(ValidationFailed):
        mark_no_show(SYSTEM, now, second)
    mark_no_show(SYSTEM, MON_0900 + timedelta(hours=2), second)
    assert second.status is AppointmentStatus.NO_SHOW
    assert request.status is RequestStatus.ACCEPTED


def test_requester_cannot_mark_arrival(db, now, setup):
    hub, requester, device, procedure = setup
    appointment = book(SYSTEM, now, create_req(now, requester, procedure), device, MON_0900)
    staff = Actor(interface=Interface.WEB, user=create_user(requester, Role.REQUESTER))
    with pytest.raises(NotAllowed):
        mark_arrived(staff, MON_0900, appointment)


def test_commit_false_leaves_the_transaction_to_the_caller(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    book(SYSTEM, now, request, device, MON_0900, commit=False)
    _db.session.rollback()
    assert _db.session.scalar(select(func.count(Appointment.id))) == 0
    assert _db.session.get(ImagingRequest, request.id).status is RequestStatus.SUBMITTED
    appointment = book(SYSTEM, now, request, device, MON_0900, commit=False)
    _db.session.commit()
    assert _db.session.get(Appointment, appointment.id) is not None


def test_change_request(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    other = create_procedure()
    change_request(SYSTEM, now, request, procedure=other, priority=Priority.URGENT)
    assert request.procedure_id == other.id and request.priority is Priority.URGENT
    office_template(device, now=now)  # same device, nothing changes for the grid
    _db.session.commit()
    book(SYSTEM, now, request, device, MON_0900)
    with pytest.raises(Conflict):
        change_request(SYSTEM, now, request, procedure=procedure)


def test_link_study_and_report(db, now, setup):
    hub, requester, device, procedure = setup
    request = create_req(now, requester, procedure)
    appointment = book(SYSTEM, now, request, device, MON_0900)
    study = link_study(
        SYSTEM,
        now,
        source=StudySource.MPPS,
        study_instance_uid=appointment.study_instance_uid,
        mpps_instance_uid="1.2.3.4",
        performed_series=[{"n": 1}],
    )
    assert study.request_id == request.id and study.appointment_id == appointment.id
    assert study.accession_number == appointment.accession_number
    again = link_study(
        SYSTEM,
        now,
        source=StudySource.HL7,
        study_instance_uid=appointment.study_instance_uid,
        images_in_pacs=True,
        instance_count=120,
    )
    assert again.id == study.id
    assert again.confirmed_by == "mpps,hl7"
    assert again.images_in_pacs_at == now and again.instance_count == 120
    assert _db.session.scalar(select(func.count(Study.id))) == 1
    attach_report(SYSTEM, now, request, text="No abnormality.", reported_by="นพ.วีระ")
    assert request.report_text == "No abnormality."
    assert request.reported_at == now
