"""MPPS N-CREATE / N-SET against the SCP: state changes, study link, statuses, retries."""

from __future__ import annotations

import json

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep, ModalityWorklistInformationFind
from sqlalchemy import func, select

from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    ImagingRequest,
    RequestStatus,
    Role,
    Study,
    StudySource,
    User,
)
from tests.conftest import login
from tests.worklist.conftest import TODAY, book_step, find, local, mwl_query
from worklist.models import PerformedProcedureStep


class Scanner:
    """A pynetdicom MPPS SCU on one open association."""

    def __init__(self, port: int, ae_title: str = "MKH_US1"):
        ae = AE(ae_title=ae_title)
        ae.add_requested_context(ModalityPerformedProcedureStep)
        self.assoc = ae.associate("127.0.0.1", port, ae_title="RADBOOK")
        assert self.assoc.is_established

    def create(self, uid: str | None, ds: Dataset) -> Dataset:
        status, _ = self.assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)
        assert status, "no response"
        return status

    def set(self, uid: str, ds: Dataset) -> Dataset:
        status, _ = self.assoc.send_n_set(ds, ModalityPerformedProcedureStep, uid)
        assert status, "no response"
        return status

    def close(self) -> None:
        self.assoc.release()


@pytest.fixture
def scanner(scp):
    s = Scanner(scp.port)
    yield s
    s.close()


def in_progress(appointment: Appointment, **overrides) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Thongdi^Somsri=ทองดี^สมศรี"
    ds.PatientID = "MK0001"
    ds.Modality = "US"
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "MKH_US1"
    ds.PerformedStationName = "US1"
    ds.PerformedProcedureStepStartDate = "20261121"
    ds.PerformedProcedureStepStartTime = "090500"
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "Ultrasound upper abdomen"
    ds.PerformedSeriesSequence = []
    item = Dataset()
    item.StudyInstanceUID = appointment.study_instance_uid
    item.AccessionNumber = appointment.accession_number
    item.RequestedProcedureID = appointment.requested_procedure_id
    item.ScheduledProcedureStepID = appointment.sps_id
    item.ReferencedStudySequence = []
    ds.ScheduledStepAttributesSequence = [item]
    for key, value in overrides.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    return ds


def series(n_images: int = 3) -> Dataset:
    s = Dataset()
    s.SeriesInstanceUID = generate_uid()
    s.SeriesDescription = "Liver"
    s.ProtocolName = "ABD"
    s.RetrieveAETitle = "MKH_PACS"
    s.PerformingPhysicianName = ""
    s.OperatorsName = ""
    s.ReferencedNonImageCompositeSOPInstanceSequence = []
    refs = []
    for _ in range(n_images):
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
        ref.ReferencedSOPInstanceUID = generate_uid()
        refs.append(ref)
    s.ReferencedImageSequence = refs
    return s


def final(status: str, with_series: bool = True) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20261121"
    ds.PerformedProcedureStepEndTime = "092000"
    ds.PerformedSeriesSequence = [series()] if with_series else []
    return ds


def reload(db, appointment: Appointment) -> Appointment:
    db.session.expire_all()
    return db.session.get(Appointment, appointment.id)


def audit_count(db, action: str) -> int:
    return db.session.scalar(select(func.count()).where(AuditEvent.action == action))


@pytest.fixture
def booked(db, network) -> Appointment:
    return book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900"))


def test_mpps_round_trip(db, scp, scanner, booked):
    uid = generate_uid()
    assert scanner.create(uid, in_progress(booked)).Status == 0x0000

    appointment = reload(db, booked)
    assert appointment.status is AppointmentStatus.IN_PROGRESS
    assert appointment.started_at is not None
    # the started step leaves the worklist, and is found when asked for by status
    assert find(scp.port, mwl_query())[0] == []
    started, _ = find(scp.port, mwl_query(ScheduledProcedureStepStatus="STARTED"))
    assert [r.AccessionNumber for r in started] == [booked.accession_number]

    assert scanner.set(uid, final("COMPLETED")).Status == 0x0000
    appointment = reload(db, booked)
    assert appointment.status is AppointmentStatus.COMPLETED
    assert appointment.request.status is RequestStatus.COMPLETED
    study = db.session.scalar(select(Study).where(Study.request_id == booked.request_id))
    assert study.study_instance_uid == booked.study_instance_uid
    assert study.first_source is StudySource.MPPS
    assert study.mpps_instance_uid == uid
    assert study.mpps_status == "COMPLETED"
    [performed] = json.loads(study.performed_series)
    assert performed["instances"] == 3 and performed["description"] == "Liver"
    step = db.session.scalar(select(PerformedProcedureStep))
    assert (step.sop_instance_uid, step.appointment_id) == (uid, booked.id)
    actors = set(
        db.session.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.action.in_(["appointment.start", "appointment.complete", "study.link"])
            )
        )
    )
    assert actors == {"dicom:MKH_US1"}


def test_round_trip_shows_on_the_request_page(app, db, scp, scanner, booked, network):
    user = User(
        username="sched.test", full_name="งานนัด", role=Role.SCHEDULER, hospital_id=network.hub.id
    )
    user.set_password("radbook-demo")
    db.session.add(user)
    db.session.commit()
    uid = generate_uid()
    scanner.create(uid, in_progress(booked))
    scanner.set(uid, final("COMPLETED"))
    client = app.test_client()
    login(client, "sched.test")
    page = client.get(f"/requests/{booked.request_id}").get_data(as_text=True)
    # request and appointment both "ตรวจเสร็จแล้ว" (Completed), and the study is listed
    assert page.count('<span class="badge badge-completed">ตรวจเสร็จแล้ว</span>') == 2
    assert booked.study_instance_uid in page


def test_duplicate_n_create_changes_nothing(db, scanner, booked):
    uid = generate_uid()
    assert scanner.create(uid, in_progress(booked)).Status == 0x0000
    again = scanner.create(uid, in_progress(booked))
    assert again.Status == 0x0111
    assert audit_count(db, "appointment.start") == 1
    assert db.session.scalar(select(func.count(PerformedProcedureStep.id))) == 1


def test_n_set_for_an_unknown_instance(scanner, booked):
    assert scanner.set(generate_uid(), final("COMPLETED")).Status == 0x0112


def test_n_create_missing_a_required_attribute(db, scanner, booked):
    status = scanner.create(generate_uid(), in_progress(booked, PerformedStationAETitle=None))
    assert status.Status == 0x0120
    assert "PerformedStationAETitle" in status.ErrorComment
    assert reload(db, booked).status is AppointmentStatus.BOOKED


def test_n_create_must_be_in_progress(db, scanner, booked):
    status = scanner.create(
        generate_uid(), in_progress(booked, PerformedProcedureStepStatus="COMPLETED")
    )
    assert status.Status == 0x0106
    assert reload(db, booked).status is AppointmentStatus.BOOKED


def test_completing_without_series_is_a_missing_attribute(db, scanner, booked):
    uid = generate_uid()
    scanner.create(uid, in_progress(booked))
    status = scanner.set(uid, final("COMPLETED", with_series=False))
    assert status.Status == 0x0120
    assert reload(db, booked).status is AppointmentStatus.IN_PROGRESS


def test_retried_final_n_set_is_answered_without_changing_anything(db, scanner, booked):
    uid = generate_uid()
    scanner.create(uid, in_progress(booked))
    message = final("COMPLETED")
    assert scanner.set(uid, message).Status == 0x0000
    assert scanner.set(uid, message).Status == 0x0000  # the same message again
    assert audit_count(db, "appointment.complete") == 1
    assert audit_count(db, "study.link") == 1
    assert audit_count(db, "study.confirm") == 0
    # a different change to a finished step is refused
    refused = scanner.set(uid, final("DISCONTINUED"))
    assert refused.Status == 0x0110
    assert refused.ErrorID == 0xA710
    assert reload(db, booked).status is AppointmentStatus.COMPLETED


def test_discontinued(db, scanner, booked):
    uid = generate_uid()
    scanner.create(uid, in_progress(booked))
    message = final("DISCONTINUED", with_series=False)
    reason = Dataset()
    reason.CodeValue = "110514"
    reason.CodingSchemeDesignator = "DCM"
    reason.CodeMeaning = "Incorrect worklist entry selected"
    message.PerformedProcedureStepDiscontinuationReasonCodeSequence = [reason]
    assert scanner.set(uid, message).Status == 0x0000
    appointment = reload(db, booked)
    assert appointment.status is AppointmentStatus.DISCONTINUED
    assert appointment.status_reason == "Incorrect worklist entry selected"
    assert appointment.request.status is RequestStatus.ACCEPTED  # can be booked again
    assert db.session.scalar(select(func.count(Study.id))) == 0  # no series, no study


def test_intermediate_n_set_keeps_the_step_in_progress(db, scanner, booked):
    uid = generate_uid()
    scanner.create(uid, in_progress(booked))
    update = Dataset()
    update.PerformedSeriesSequence = [series(2)]
    assert scanner.set(uid, update).Status == 0x0000
    step = db.session.scalar(select(PerformedProcedureStep))
    assert step.status.name == "IN_PROGRESS"
    assert step.performed_series[0]["instances"] == 2
    assert reload(db, booked).status is AppointmentStatus.IN_PROGRESS


def test_a_cancelled_booking_cannot_be_started(db, network, scanner):
    cancelled = book_step(
        db,
        network,
        network.somsri,
        "MKH_US1",
        local(TODAY, "1000"),
        status=AppointmentStatus.CANCELLED,
    )
    assert scanner.create(generate_uid(), in_progress(cancelled)).Status == 0x0110
    assert db.session.scalar(select(func.count(PerformedProcedureStep.id))) == 0


def test_unscheduled_step_is_recorded_without_a_booking(db, network, scanner, booked):
    ds = in_progress(booked)
    ds.ScheduledStepAttributesSequence[0].StudyInstanceUID = generate_uid()
    ds.ScheduledStepAttributesSequence[0].AccessionNumber = ""
    assert scanner.create(generate_uid(), ds).Status == 0x0000
    step = db.session.scalar(select(PerformedProcedureStep))
    assert step.appointment_id is None
    assert reload(db, booked).status is AppointmentStatus.BOOKED


def test_another_hubs_booking_is_not_touched(db, network, scp):
    theirs = book_step(db, network, network.somsri, "UDN_CT1", local(TODAY, "0900"))
    scanner = Scanner(scp.port, "MKH_CT1")
    try:
        assert scanner.create(generate_uid(), in_progress(theirs)).Status == 0x0000
    finally:
        scanner.close()
    assert reload(db, theirs).status is AppointmentStatus.BOOKED


def test_n_create_without_uid_gets_one_from_the_scp(db, scp, booked):
    ae = AE(ae_title="MKH_US1")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="RADBOOK")
    try:
        status, attrs = assoc.send_n_create(
            in_progress(booked), ModalityPerformedProcedureStep, None
        )
    finally:
        assoc.release()
    assert status.Status == 0x0000
    step = db.session.scalar(select(PerformedProcedureStep))
    assert step.sop_instance_uid and step.appointment_id == booked.id


def test_request_status_follows(db, scanner, booked):
    uid = generate_uid()
    scanner.create(uid, in_progress(booked))
    scanner.set(uid, final("COMPLETED"))
    db.session.expire_all()
    assert db.session.get(ImagingRequest, booked.request_id).status is RequestStatus.COMPLETED


def test_mwl_and_mpps_contexts_are_offered(scp, network):
    ae = AE(ae_title="MKH_US1")
    ae.add_requested_context(ModalityWorklistInformationFind)
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="RADBOOK")
    try:
        assert {cx.abstract_syntax for cx in assoc.accepted_contexts} == {
            ModalityWorklistInformationFind,
            ModalityPerformedProcedureStep,
        }
    finally:
        assoc.release()
