"""Screening and protocol in outbound orders: AL1, NTE and LOINC-coded OBX, sent to an
HL7 receiver over MLLP; a protocol decided after booking goes out as an order update."""

from __future__ import annotations

from datetime import date

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from sqlalchemy import select

from app.extensions import db
from integrations.hl7.models import Hl7OrderFormat, Hl7OutboundEvent
from integrations.hl7.outbound import drain_outbox
from scheduling import vetting
from scheduling.audit import Actor
from scheduling.booking import book
from scheduling.models import HubProtocol, IdentifierType, Interface, Role, Sex
from scheduling.patients import register_patient
from scheduling.requests import create_request
from tests.integrations.hl7.conftest import KUDRANG, MKH, cid, hospital, procedure
from tests.integrations.hl7.test_outbound import MON_0900, destination, outbox
from tests.scheduling.factories import SYSTEM, create_user, office_template

SCREENING = {
    "creatinine": "1.4",
    "egfr": "42",
    "lab_date": "2026-11-12",
    "contrast_allergy": "yes",
    "contrast_allergy_detail": "hives after CT 2022",
    "pregnancy": "possible",
    "weight_kg": "61",
}


@pytest.fixture
def ct(network, now):
    from scheduling.models import Device

    device = db.session.scalar(select(Device).where(Device.ae_title == "MKH_CT1"))
    office_template(device, now=now)
    db.session.commit()
    return device


def _contrast_ct(now, device):
    patient = register_patient(
        SYSTEM,
        now,
        id_type=IdentifierType.NATIONAL_ID,
        id_value=cid("144990012277"),
        prefix="MISS",
        given_name_th="กัญญารัตน์",
        family_name_th="พลราช",
        birth_date=date(1990, 12, 25),
        sex=Sex.FEMALE,
        hospital_id=hospital(KUDRANG).id,
    )
    request = create_request(
        SYSTEM,
        now,
        patient=patient,
        procedure=procedure("CT-WABD-C"),
        requesting_hospital_id=hospital(KUDRANG).id,
        indication="mass",
        screening=SCREENING,
    )
    return request, book(SYSTEM, now, request, device, MON_0900)


@pytest.mark.parametrize("order_format", [Hl7OrderFormat.OMI_O23, Hl7OrderFormat.ORM_O01])
def test_order_carries_allergy_and_loinc_observations(ct, now, receiver, order_format):
    destination(receiver.port, order_format=order_format)
    _contrast_ct(now, ct)
    [row] = outbox()
    parsed = parse_message(row.payload, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    if order_format is Hl7OrderFormat.OMI_O23:
        # AL1, NTE and OBX sit where the structure puts them (hl7apy cannot validate the
        # v2.3.1 ORM choice group, see test_outbound.py; it parsed strictly above).
        parsed.validate()
    drain_outbox(now=now)
    [msg] = receiver.messages()
    al1 = msg.segment("AL1")
    assert al1.get(3) == "CONTRAST" and al1.get(5) == "hives after CT 2022"
    obx = {o.get(3): o for o in msg.all("OBX")}
    assert obx["2160-0"].get(5) == "1.4" and obx["2160-0"].get(6) == "mg/dL"
    assert obx["2160-0"].get(14) == "20261112"
    assert obx["98979-8"].get(5) == "42"
    assert obx["29463-7"].get(5) == "61"
    assert obx["82810-3"].get(5) == "102874004"  # SNOMED CT: possible pregnancy
    notes = " ".join(n.get(3) for n in msg.all("NTE"))
    assert "CONTRAST ALLERGY" in notes and "PREGNANCY POSSIBLE" in notes


def test_protocol_after_booking_goes_out_as_an_update(ct, now, receiver):
    destination(receiver.port)
    request, appointment = _contrast_ct(now, ct)
    hub = hospital(MKH)
    protocol = db.session.scalar(
        select(HubProtocol).where(HubProtocol.code == "CT-ABD-PV")
    ) or HubProtocol(
        hospital_id=hub.id,
        modality_code="CT",
        code="CT-ABD-PV",
        name_th="CT ช่องท้อง",
        name_en="CT abdomen portal venous",
        contrast=True,
    )
    db.session.add(protocol)
    db.session.commit()
    radiologist = create_user(hub, Role.RADIOLOGIST)
    vetting.approve(
        Actor(interface=Interface.WEB, user=radiologist),
        now,
        request,
        protocol=protocol,
        contrast=True,
        notes="split bolus",
    )
    rows = outbox()
    assert [r.event for r in rows] == [Hl7OutboundEvent.BOOKED, Hl7OutboundEvent.UPDATED]
    drain_outbox(now=now)
    booked_msg, update = receiver.messages()
    assert booked_msg.segment("ORC").get(1) == "NW" and update.segment("ORC").get(1) == "XO"
    notes = [n.get(3) for n in update.all("NTE")]
    assert notes[0] == "Protocol CT-ABD-PV: CT abdomen portal venous, with contrast"
    assert notes[1] == "Protocol notes: split bolus"
    assert update.segment("IPC").get(1) == appointment.accession_number
