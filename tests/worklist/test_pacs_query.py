"""The images-in-PACS job against a real Study Root Q/R C-FIND SCP started on a free port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind
from sqlalchemy import func, select

from scheduling.models import AppointmentStatus, Interface, Role, Study, StudySource, User
from tests.conftest import login
from tests.faults.harness import free_port
from tests.worklist.conftest import TODAY, book_step, local
from worklist.models import PacsQueryState
from worklist.pacs_query import JOB_ID, PacsSettings, check_pacs, configure, viewer_url

VIEWER = (
    "https://pacs.example.go.th/viewer?StudyInstanceUIDs={study_instance_uid}&an={accession_number}"
)


class FakePacs:
    """A PACS holding studies by accession number; answers STUDY-level C-FIND."""

    def __init__(self, port: int = 0):
        self.studies: dict[str, list[Dataset]] = {}
        self.queries: list[str] = []
        ae = AE(ae_title="MKH_PACS")
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.server = ae.start_server(
            ("127.0.0.1", port),
            block=False,
            evt_handlers=[(evt.EVT_C_FIND, self.handle_find)],
        )
        self.ae = ae
        self.port = self.server.server_address[1]

    def add(self, accession: str, uid: str, series: int = 2, instances: int = 57) -> None:
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.AccessionNumber = accession
        ds.StudyInstanceUID = uid
        ds.PatientID = "MK0001"
        ds.StudyDate = "20261121"
        ds.NumberOfStudyRelatedSeries = series
        ds.NumberOfStudyRelatedInstances = instances
        self.studies.setdefault(accession, []).append(ds)

    def handle_find(self, event):
        query = event.identifier
        assert query.QueryRetrieveLevel == "STUDY"
        self.queries.append(query.AccessionNumber)
        for ds in self.studies.get(query.AccessionNumber, []):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            answer = Dataset()
            for elem in query:
                if elem.keyword in ds:
                    answer.add(ds[elem.keyword])
                else:
                    answer.add(elem)
            yield 0xFF00, answer

    def stop(self):
        self.ae.shutdown()


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


NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def completed(db, network, patient, hhmm="0900", days_ago=0):
    appointment = book_step(
        db,
        network,
        patient,
        "MKH_US1",
        local(TODAY - timedelta(days=days_ago), hhmm),
        status=AppointmentStatus.COMPLETED,
    )
    appointment.completed_at = appointment.start_at + timedelta(minutes=20)
    db.session.commit()
    return appointment


def test_found_study_is_linked_with_counts_and_viewer(app, db, network, pacs, settings):
    appointment = completed(db, network, network.somsri)
    pacs.add(appointment.accession_number, appointment.study_instance_uid, 3, 120)

    result = check_pacs(app, settings, NOW)

    assert result.found == [appointment.id] and result.error is None
    study = db.session.scalar(select(Study))
    assert study.study_instance_uid == appointment.study_instance_uid
    assert study.request_id == appointment.request_id
    assert study.first_source is StudySource.PACS_QUERY
    assert (study.series_count, study.instance_count) == (3, 120)
    assert study.images_in_pacs_at == NOW
    assert study.viewer_url == (
        "https://pacs.example.go.th/viewer?StudyInstanceUIDs="
        f"{appointment.study_instance_uid}&an={appointment.accession_number}"
    )
    # linked: the next run asks nothing
    assert check_pacs(app, settings, NOW + timedelta(hours=1)).asked == 0
    assert pacs.queries == [appointment.accession_number]


def test_staff_see_images_in_pacs_on_the_request(app, db, network, pacs, settings):
    appointment = completed(db, network, network.somsri)
    pacs.add(appointment.accession_number, appointment.study_instance_uid)
    check_pacs(app, settings, NOW)
    user = User(
        username="sched.pacs", full_name="งานนัด", role=Role.SCHEDULER, hospital_id=network.hub.id
    )
    user.set_password("radbook-demo")
    db.session.add(user)
    db.session.commit()
    client = app.test_client()
    login(client, "sched.pacs")
    page = client.get(f"/requests/{appointment.request_id}").get_data(as_text=True)
    assert "ภาพอยู่ใน PACS แล้ว" in page


def test_pacs_uid_differs_from_the_booking(app, db, network, pacs, settings):
    appointment = completed(db, network, network.somsri)
    theirs = generate_uid()
    pacs.add(appointment.accession_number, theirs)
    check_pacs(app, settings, NOW)
    study = db.session.scalar(select(Study))
    assert study.study_instance_uid == theirs
    assert study.appointment_id == appointment.id


def test_study_known_from_mpps_is_confirmed_not_duplicated(app, db, network, pacs, settings):
    from scheduling.audit import Actor
    from scheduling.studies import link_study

    appointment = completed(db, network, network.somsri)
    link_study(
        Actor(interface=Interface.DICOM, name="MKH_US1", hospital_id=network.hub.id),
        NOW - timedelta(hours=1),
        source=StudySource.MPPS,
        study_instance_uid=appointment.study_instance_uid,
        appointment=appointment,
        mpps_instance_uid=generate_uid(),
    )
    pacs.add(appointment.accession_number, appointment.study_instance_uid, 1, 10)

    result = check_pacs(app, settings, NOW)

    assert result.found == [appointment.id]
    [study] = db.session.scalars(select(Study)).all()
    assert study.first_source is StudySource.MPPS
    assert study.confirmed_by.split(",") == ["mpps", "pacs_query"]
    assert study.images_in_pacs_at == NOW
    assert study.instance_count == 10


def test_not_there_yet_backs_off(app, db, network, pacs, settings):
    appointment = completed(db, network, network.somsri)

    first = check_pacs(app, settings, NOW)
    assert first.not_yet == [appointment.id]
    state = db.session.get(PacsQueryState, appointment.id)
    assert (state.attempts, state.next_check_at) == (1, NOW + timedelta(minutes=2))

    assert check_pacs(app, settings, NOW + timedelta(minutes=1)).asked == 0  # not due yet
    check_pacs(app, settings, NOW + timedelta(minutes=2))
    db.session.expire_all()
    state = db.session.get(PacsQueryState, appointment.id)
    assert (state.attempts, state.next_check_at) == (
        2,
        NOW + timedelta(minutes=2) + timedelta(minutes=4),
    )

    # the images arrive; the next due check links them and forgets the back-off
    pacs.add(appointment.accession_number, appointment.study_instance_uid)
    later = NOW + timedelta(minutes=10)
    assert check_pacs(app, settings, later).found == [appointment.id]
    db.session.expire_all()
    assert db.session.get(PacsQueryState, appointment.id) is None
    assert len(pacs.queries) == 3


def test_only_completed_recent_unlinked_appointments_are_asked(app, db, network, pacs, settings):
    wanted = completed(db, network, network.somsri)
    completed(db, network, network.boonlert, days_ago=30)  # outside the look-back window
    book_step(db, network, network.kanya, "MKH_US1", local(TODAY, "1100"))  # not done yet
    check_pacs(app, settings, NOW)
    assert pacs.queries == [wanted.accession_number]


def test_unreachable_pacs_changes_nothing(app, db, network, settings):
    completed(db, network, network.somsri)
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = PacsSettings(
            host="127.0.0.1", port=s.getsockname()[1], ae_title="PACS", calling_ae_title="RADBOOK"
        )
    result = check_pacs(app, dead, NOW)
    assert result.error and result.found == []
    assert db.session.scalar(select(func.count()).select_from(PacsQueryState)) == 0


def test_pacs_down_then_back_on_the_same_port_links_the_study(app, db, network):
    """Down: nothing changes, no back-off is spent on an unreachable PACS. Back: linked."""
    appointment = completed(db, network, network.somsri)
    port = free_port()
    settings = PacsSettings(
        host="127.0.0.1", port=port, ae_title="MKH_PACS", calling_ae_title="RADBOOK"
    )

    for minutes in (0, 1, 5):  # the job runs every minute; the PACS stays down
        result = check_pacs(app, settings, NOW + timedelta(minutes=minutes))
        assert result.error and result.asked == 0 and result.found == []
    assert db.session.scalar(select(func.count()).select_from(PacsQueryState)) == 0
    assert db.session.scalar(select(func.count()).select_from(Study)) == 0

    pacs = FakePacs(port)  # back, on the same port, with the images
    try:
        pacs.add(appointment.accession_number, appointment.study_instance_uid)
        result = check_pacs(app, settings, NOW + timedelta(minutes=6))
        assert result.error is None and result.found == [appointment.id]
        assert pacs.queries == [appointment.accession_number]
        db.session.expire_all()
        study = db.session.scalar(select(Study))
        assert study.appointment_id == appointment.id and study.images_in_pacs_at is not None
    finally:
        pacs.stop()


def test_settings_from_environment_and_job_registration(app):
    from flask import Flask

    from app.jobs import registered_jobs
    from app.wiring import FlaskAdapterHost

    assert PacsSettings.from_config({"PACS_HOST": ""}) is None
    s = PacsSettings.from_config(
        {
            "PACS_HOST": "10.0.0.5",
            "PACS_PORT": "4242",
            "PACS_AE_TITLE": "INFINITT",
            "DICOM_AE_TITLE": "RADBOOK",
            "PACS_QUERY_LOOKBACK_DAYS": "7",
        }
    )
    assert (s.host, s.port, s.ae_title, s.calling_ae_title, s.lookback) == (
        "10.0.0.5",
        4242,
        "INFINITT",
        "RADBOOK",
        timedelta(days=7),
    )
    bare = Flask("x")
    bare.config.update(PACS_HOST="", DICOM_AE_TITLE="RADBOOK")
    configure(bare, FlaskAdapterHost(bare))
    assert JOB_ID not in registered_jobs(bare)
    configured = Flask("y")
    configured.config.update(PACS_HOST="10.0.0.5", PACS_QUERY_INTERVAL_SECONDS="90")
    configure(configured, FlaskAdapterHost(configured))
    spec = registered_jobs(configured)[JOB_ID]
    assert spec.func is check_pacs and spec.trigger_args == {"seconds": 90}


def test_viewer_url_template():
    assert viewer_url("", study_instance_uid="1.2", accession_number="A", patient_id="P") is None
    assert (
        viewer_url(
            "http://v/{patient_id}/{study_instance_uid}",
            study_instance_uid="1.2",
            accession_number="A",
            patient_id="P",
        )
        == "http://v/P/1.2"
    )
