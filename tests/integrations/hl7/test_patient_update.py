"""ADT patient updates for referral images: which destinations get one, and what it says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from integrations.hl7.models import (
    Hl7Destination,
    Hl7OutboundEvent,
    Hl7OutboxMessage,
    Hl7PatientUpdate,
    OutboxStatus,
)
from integrations.hl7.outbound import drain_outbox, retry
from scheduling.audit import Actor
from scheduling.models import Interface, PatientHN, PriorIdentity, Role
from scheduling.referrals import add_prior_study, decide_identity, record_arrival
from scheduling.studies import ReportedIdentity
from tests.conftest import login
from tests.integrations.hl7.conftest import KUDRANG, MKH, hospital, procedure
from tests.scheduling.factories import create_patient, create_req

SYSTEM = Actor(Interface.JOBS, name="test")


@pytest.fixture
def arrived(network, now):
    """A referral study from Kut Rang in the hub's PACS under Kut Rang's HN (issuer sent)."""
    kudrang, hub = hospital(KUDRANG), hospital(MKH)
    record = create_patient(
        hospital_id=kudrang.id, given_name_en="Somsri", family_name_en="Thongdi"
    )
    record.hospital_numbers.append(PatientHN(hospital_id=kudrang.id, hn="KR0001"))
    ours = create_patient(hospital_id=hub.id, id_value=record.id_value)
    ours.hospital_numbers.append(PatientHN(hospital_id=hub.id, hn="MK0001"))
    request = create_req(now, kudrang, procedure("US-UPABD"), patient=record, hub=hub)
    prior = add_prior_study(
        Actor(Interface.WEB, hospital_id=kudrang.id),
        now,
        request,
        modality_code="CT",
        accession_number="KR9",
    )
    record_arrival(
        SYSTEM,
        now,
        prior,
        study_instance_uid="1.2.3.77",
        series_count=1,
        instance_count=1,
        identity=ReportedIdentity(patient_id="KR0001", issuer=KUDRANG),
    )
    assert prior.identity is PriorIdentity.PENDING
    return prior


def _destination(name, update, hub=None, port=1):
    row = Hl7Destination(
        name=name,
        host="127.0.0.1",
        port=port,
        hub_hospital_id=hub.id if hub else None,
        patient_update=update,
    )
    db.session.add(row)
    db.session.commit()
    return row


def test_only_destinations_of_the_hub_that_take_patient_updates_get_one(arrived, now):
    _destination("RIS", Hl7PatientUpdate.OFF)
    pacs = _destination("PACS", Hl7PatientUpdate.A47, hospital(MKH))
    _destination("other hub PACS", Hl7PatientUpdate.A40, hospital("10671"))
    decide_identity(SYSTEM, now, arrived, confirm=True)
    (row,) = db.session.scalars(select(Hl7OutboxMessage))
    assert (row.destination_id, row.event, row.message_type) == (
        pacs.id,
        Hl7OutboundEvent.PATIENT_ID_CHANGE,
        "ADT^A47",
    )
    segments = row.payload.rstrip("\r").split("\r")
    assert [s[:3] for s in segments] == ["MSH", "EVN", "PID", "MRG"]
    msh = segments[0].split("|")
    assert msh[8] == "ADT^A47^ADT_A30" and msh[9] == row.control_id
    assert segments[1].startswith("EVN|A47|")
    pid3 = segments[2].split("|")[3].split("~")
    assert pid3[0] == f"MK0001^^^{MKH}^MR"
    assert pid3[1].startswith(arrived.request.patient.id_value + "^^^TH-CID")
    assert segments[3] == f"MRG|KR0001^^^{KUDRANG}"  # as the PACS files it, issuer and all


def test_a_rejected_study_sends_nothing(arrived, now):
    _destination("PACS", Hl7PatientUpdate.A40)
    decide_identity(SYSTEM, now, arrived, confirm=False)
    assert db.session.scalars(select(Hl7OutboxMessage)).all() == []


def test_an_unbuildable_update_is_kept_as_failed_and_rebuilt_on_retry(
    monkeypatch, arrived, now, receiver
):
    from integrations.hl7 import outbound

    _destination("PACS", Hl7PatientUpdate.A40, port=receiver.port)
    real = outbound.build_patient_update
    monkeypatch.setattr(outbound, "build_patient_update", lambda *a, **k: 1 / 0)
    decide_identity(SYSTEM, now, arrived, confirm=True)
    (row,) = db.session.scalars(select(Hl7OutboxMessage))
    assert row.status is OutboxStatus.FAILED and "ZeroDivisionError" in row.last_error
    assert db.session.get(type(arrived), arrived.id).identity is PriorIdentity.CONFIRMED
    monkeypatch.setattr(outbound, "build_patient_update", real)
    row.payload = ""
    retry(row, now + timedelta(minutes=1))
    db.session.commit()
    assert drain_outbox(now=now + timedelta(minutes=1))["sent"] == 1
    (message,) = receiver.messages()
    assert message.segment("MRG").get(1) == "KR0001"


def test_admin_pages_show_the_update_and_save_the_setting(app, client, arrived, now):
    from tests.scheduling.factories import create_user

    _destination("PACS", Hl7PatientUpdate.A40)
    decide_identity(SYSTEM, now, arrived, confirm=True)
    (row,) = db.session.scalars(select(Hl7OutboxMessage))
    admin = create_user(hospital(MKH), role=Role.ADMIN)
    admin.set_password("radbook-demo")
    db.session.commit()
    login(client, admin.username)
    page = client.get(f"/admin/hl7/outbox/{row.id}").get_data(as_text=True)
    assert "ADT^A40" in page and f"/requests/{arrived.request_id}" in page
    client.post(
        "/admin/hl7/destinations",
        data={
            "name": "PACS 2",
            "host": "10.0.0.9",
            "port": "2575",
            "hub_hospital_id": "0",
            "order_format": "OMI_O23",
            "charset": "UTF8",
            "patient_update": "A47",
            "is_enabled": "y",
        },
    )
    saved = db.session.scalar(select(Hl7Destination).where(Hl7Destination.name == "PACS 2"))
    assert saved.patient_update is Hl7PatientUpdate.A47
