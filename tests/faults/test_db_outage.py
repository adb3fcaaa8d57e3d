"""The database goes away and comes back (tests/faults/outage.py), under each interface.

- web: a clear 503 page, Thai then English, no stack trace, nothing stored; the
  next request after the database returns is served normally, with no restart;
- HL7: an order that cannot be stored is answered AR (never AA); sent again once the
  database is back, it is accepted and stored once;
- DICOM: C-FIND and MPPS answer failure statuses while associations are still accepted;
  once the database is back the same association works again.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep, ModalityWorklistInformationFind
from sqlalchemy import func, select

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from integrations.hl7.message import Hl7Message, decode_message
from integrations.hl7.mllp import send_block
from scheduling.availability import find_slots
from scheduling.booking import book
from scheduling.clock import utcnow
from scheduling.models import Appointment, AppointmentStatus, Device, ImagingRequest, User
from tests.app.requests.conftest import procedure, web_actor_for
from tests.conftest import IsolatedClient, login
from tests.faults.outage import Outage
from tests.scheduling.factories import create_patient, create_req
from tests.worklist.test_mpps import in_progress

TRACE_MARKERS = ("Traceback", "OperationalError", "sqlalchemy", "psycopg", "sqlite3")


@pytest.fixture
def outage(database_url, tmp_path):
    outage = Outage(database_url, tmp_path)
    yield outage
    outage.close()


@pytest.fixture
def outage_app(outage):
    """A second RadBook app on the same database, reached through the outage."""

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = outage.url
        SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}  # as in production (Config)
        DICOM_DEVICE_REFRESH_SECONDS = "0"  # every association re-reads the devices

    application = create_app(Config)
    application.test_client_class = IsolatedClient
    with application.app_context():
        outage.dispose = _db.engine.dispose
    yield application
    with application.app_context():
        _db.engine.dispose()


def booking_form(app_db):
    staff = app_db.session.scalar(select(User).where(User.username == "staff.kudrang"))
    us = procedure(app_db, "US-UPABD")
    now = utcnow()
    [slot] = find_slots(now, us, requesting_hospital_id=staff.hospital_id, limit=1)
    req = create_req(now, staff.hospital, us, patient=create_patient())
    return req.id, {"device_id": slot.device_id, "start_at": slot.start_at.isoformat()}


def test_web_shows_a_thai_then_english_503_and_recovers_by_itself(demo, outage, outage_app):
    request_id, form = booking_form(demo)
    client = outage_app.test_client()
    assert login(client, "staff.kudrang").status_code == 302
    assert client.get("/requests").status_code == 200

    english_reader = outage_app.test_client()
    english_reader.get("/login?lang=en")  # the choice lives in the session cookie

    outage.cut()
    assert english_reader.get("/login").status_code == 200  # needs no database
    logging_in = {"username": "staff.kosum", "password": "radbook-demo"}
    for response in (
        client.get("/requests"),
        client.post(f"/requests/{request_id}/confirm", data=form),
        english_reader.post("/login", data=logging_in),
    ):
        html = response.get_data(as_text=True)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert "no-store" in response.headers["Cache-Control"]
        assert not any(marker in html for marker in TRACE_MARKERS), html
        assert "RadBook ใช้งานไม่ได้ชั่วคราว" in html  # the Thai title
        assert "ฐานข้อมูล" in html and "database" in html  # both languages
    thai_first = client.get("/requests").get_data(as_text=True)
    assert thai_first.index("ฐานข้อมูล") < thai_first.index("database")
    assert '<html lang="th">' in thai_first
    english = english_reader.post("/login", data=logging_in).get_data(as_text=True)
    assert english.index("ฐานข้อมูล") < english.index("database")  # Thai first for all

    outage.restore()
    assert client.get("/requests").status_code == 200  # same process, same pool
    demo.session.rollback()
    assert demo.session.scalar(select(func.count(Appointment.id))) == 0  # nothing half-done
    response = client.post(f"/requests/{request_id}/confirm", data=form)
    assert response.status_code == 302 and "/slip" in response.headers["Location"]


def test_fhir_clients_get_a_transient_operation_outcome(demo, outage, outage_app):
    client = outage_app.test_client()
    outage.cut()
    response = client.get("/fhir/Patient", headers={"Authorization": "Bearer demo-his-token"})
    assert response.status_code == 503
    assert response.get_json()["issue"][0]["code"] == "transient"
    outage.restore()
    response = client.get("/fhir/Patient", headers={"Authorization": "Bearer demo-his-token"})
    assert response.status_code == 200


def test_hl7_listener_never_acks_aa_what_it_could_not_store(demo, outage, outage_app):
    from integrations.hl7 import make_listener
    from tests.integrations.hl7.conftest import cid, orm

    listener = make_listener(outage_app, "127.0.0.1", 0).start()
    try:
        first = orm("OUT00001", cid("310990077001"), "KR-OUT1", hn="HNOUT1").encode()
        second = orm("OUT00002", cid("310990077002"), "KR-OUT2", hn="HNOUT2").encode()
        assert _msa(send_block("127.0.0.1", listener.port, first)) == "AA"

        outage.cut()
        assert _msa(send_block("127.0.0.1", listener.port, second)) == "AR"
        demo.session.rollback()
        assert demo.session.scalar(select(func.count(ImagingRequest.id))) == 1

        outage.restore()
        assert _msa(send_block("127.0.0.1", listener.port, second)) == "AA"
        assert _msa(send_block("127.0.0.1", listener.port, first)) == "AA"  # a repeat
        demo.session.rollback()
        placers = demo.session.scalars(select(ImagingRequest.placer_order_number)).all()
        assert sorted(placers) == ["KR-OUT1", "KR-OUT2"]
    finally:
        listener.stop()


def _msa(ack: bytes) -> str:
    return Hl7Message(decode_message(ack)[0]).segment("MSA").get(1)


def test_dicom_answers_failure_statuses_and_serves_again(demo, outage, outage_app):
    from worklist.server import start_server

    request_id, form = booking_form(demo)
    req = demo.session.get(ImagingRequest, request_id)
    device = demo.session.get(Device, form["device_id"])
    appointment = book(
        web_actor_for(demo, "staff.kudrang"),
        utcnow(),
        req,
        device,
        datetime.fromisoformat(form["start_at"]),
    )
    ae_title = device.ae_title
    running = start_server(outage_app, "127.0.0.1", 0)
    try:
        scanner = AE(ae_title=ae_title)
        scanner.add_requested_context(ModalityWorklistInformationFind)
        scanner.add_requested_context(ModalityPerformedProcedureStep)
        assoc = scanner.associate("127.0.0.1", running.port, ae_title="RADBOOK")
        assert assoc.is_established
        query = Dataset()
        query.AccessionNumber = appointment.accession_number
        query.PatientName = ""
        step = Dataset()
        step.ScheduledStationAETitle = ""
        step.Modality = ""
        query.ScheduledProcedureStepSequence = [step]
        assert _find(assoc, query) == (1, 0x0000)
        assoc.release()

        outage.cut()
        assoc = scanner.associate("127.0.0.1", running.port, ae_title="RADBOOK")
        assert assoc.is_established  # the known scanners are remembered
        assert _find(assoc, query) == (0, 0xA700)
        create = in_progress(appointment, PerformedStationAETitle=ae_title)
        status, _ = assoc.send_n_create(
            create, ModalityPerformedProcedureStep, "1.2.826.0.1.3680043.10.1234.88.1"
        )
        assert status.Status == 0x0110
        demo.session.rollback()
        assert demo.session.get(Appointment, appointment.id).status is AppointmentStatus.BOOKED

        outage.restore()
        assert _find(assoc, query) == (1, 0x0000)
        status, _ = assoc.send_n_create(
            create, ModalityPerformedProcedureStep, "1.2.826.0.1.3680043.10.1234.88.1"
        )
        assert status.Status == 0x0000
        assoc.release()
        demo.session.rollback()
        assert demo.session.get(Appointment, appointment.id).status is (
            AppointmentStatus.IN_PROGRESS
        )
    finally:
        running.stop()


def _find(assoc, query) -> tuple[int, int]:
    matches, final = 0, None
    for status, _identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
        assert status, "no answer"
        if status.Status in (0xFF00, 0xFF01):
            matches += 1
        else:
            final = status.Status
    return matches, final
