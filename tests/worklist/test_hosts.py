"""Scanners are known by host as well as by AE title, and must call RadBook's AE title.

The scanners of the fixture network call from 127.0.0.1. An SCU bound to 127.0.0.2
(Linux routes all of 127/8 to lo) is another host calling with the same AE title.

Refusals are read off the wire (``request``: an A-ASSOCIATE-RQ from a raw socket, the
answer PDU parsed): pynetdicom's own requestor sometimes reports an immediate
A-ASSOCIATE-RJ as an abort, when its reader closes the socket before the requesting
thread looks at it.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
from pynetdicom import AE
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)
from pynetdicom.transport import AddressInformation

from app.extensions import db
from tests.worklist.conftest import TODAY, book_step, local, mwl_query

CALLING_AE_NOT_RECOGNISED = (0x01, 0x01, 0x03)
CALLED_AE_NOT_RECOGNISED = (0x01, 0x01, 0x07)


def associate(port: int, *, calling="MKH_US1", called="RADBOOK", source="127.0.0.1"):
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.network_timeout = 10
    for context in (Verification, ModalityWorklistInformationFind, ModalityPerformedProcedureStep):
        ae.add_requested_context(context)
    return ae.associate("127.0.0.1", port, ae_title=called, bind_address=(source, 0))


ASSOCIATE_AC, ASSOCIATE_RJ = 0x02, 0x03


def request(port: int, *, calling="MKH_US1", called="RADBOOK", source="127.0.0.1"):
    """Send an A-ASSOCIATE-RQ from ``source``: ("AC", None) or ("RJ", (result, source,
    reason)) as the SCP answered."""
    rq = A_ASSOCIATE()
    rq.application_context_name = "1.2.840.10008.3.1.1.1"
    rq.calling_ae_title, rq.called_ae_title = calling, called
    rq.calling_presentation_address = AddressInformation(source, 0)
    rq.called_presentation_address = AddressInformation("127.0.0.1", port)
    context = build_context(ModalityWorklistInformationFind)
    context.context_id = 1
    rq.presentation_context_definition_list = [context]
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = 16382
    rq.user_information = [max_length]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(rq)
    with socket.socket() as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(pdu.encode())
        head = sock.recv(6, socket.MSG_WAITALL)
        body = sock.recv(struct.unpack(">I", head[2:6])[0], socket.MSG_WAITALL)
        if head[0] == ASSOCIATE_AC:
            sock.sendall(b"\x07\x00" + struct.pack(">I", 4) + b"\x00\x00\x00\x00")  # A-ABORT
            return "AC", None
    assert head[0] == ASSOCIATE_RJ, f"unexpected PDU type {head[0]:#x}"
    return "RJ", (body[1], body[2], body[3])


def rejection(port: int, **kw) -> tuple[int, int, int]:
    kind, reason = request(port, **kw)
    assert kind == "RJ", "association was not rejected"
    return reason


def test_known_ae_title_from_another_host_is_rejected(scp, network):
    book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "1000"))
    assert rejection(scp.port, source="127.0.0.2") == CALLING_AE_NOT_RECOGNISED
    # The same scanner from its own address is served.
    assoc = associate(scp.port, source="127.0.0.1")
    try:
        assert assoc.is_established
        answers = [
            ds
            for status, ds in assoc.send_c_find(
                mwl_query(ScheduledProcedureStepStartDate="20261121"),
                ModalityWorklistInformationFind,
            )
            if status and status.Status in (0xFF00, 0xFF01)
        ]
        assert len(answers) == 1
    finally:
        assoc.release()


def test_called_ae_title_other_than_radbooks_is_rejected(scp, network):
    for called in ("ANY-SCP", "PACS", "RADBOOK2"):
        assert rejection(scp.port, called=called) == CALLED_AE_NOT_RECOGNISED
    assert request(scp.port) == ("AC", None)


def test_unknown_ae_title_from_a_known_host_is_rejected(scp, network):
    assert rejection(scp.port, calling="NOBODY") == CALLING_AE_NOT_RECOGNISED


def test_a_network_allows_its_addresses_and_an_empty_list_nobody(app, network):
    from worklist.server import start_server

    network.devices["MKH_US2"].allowed_addresses = "127.0.0.0/30"
    network.devices["MKH_US3"].allowed_addresses = ""
    db.session.commit()
    running = start_server(app, "127.0.0.1", 0)
    try:
        assert request(running.port, calling="MKH_US2", source="127.0.0.2") == ("AC", None)
        outside = rejection(running.port, calling="MKH_US2", source="127.0.0.5")
        assert outside == CALLING_AE_NOT_RECOGNISED
        for source in ("127.0.0.1", "127.0.0.2"):
            nowhere = rejection(running.port, calling="MKH_US3", source=source)
            assert nowhere == CALLING_AE_NOT_RECOGNISED
    finally:
        running.stop()


def test_a_device_moved_while_associated_gets_a_failure_status(app, network, monkeypatch):
    """The check holds inside an open association too: the admin changes the scanner's
    address, and its next C-FIND is refused with a failure status."""
    from worklist.server import start_server

    monkeypatch.setitem(app.config, "DICOM_DEVICE_REFRESH_SECONDS", "0.2")
    running = start_server(app, "127.0.0.1", 0)
    try:
        assoc = associate(running.port)
        assert assoc.is_established
        network.devices["MKH_US1"].allowed_addresses = "10.7.1.20"
        db.session.commit()
        time.sleep(0.3)
        statuses = [
            status.Status
            for status, _ds in assoc.send_c_find(
                mwl_query(ScheduledProcedureStepStartDate="20261121"),
                ModalityWorklistInformationFind,
            )
            if status
        ]
        assoc.release()
    finally:
        running.stop()
    assert statuses == [0xC000]


@pytest.mark.parametrize("source", ["127.0.0.2", "127.0.0.9"])
def test_every_ae_title_is_refused_from_an_unknown_host(scp, network, source):
    for calling in ("MKH_US1", "MKH_US2", "MKH_US3", "MKH_CT1", "UDN_CT1"):
        assert rejection(scp.port, calling=calling, source=source) == CALLING_AE_NOT_RECOGNISED


def test_demo_devices_allow_loopback_only(db):
    from sqlalchemy import select

    from app.demo import load_network
    from scheduling.models import Device

    load_network()
    assert {d.allowed_addresses for d in db.session.scalars(select(Device))} == {"127.0.0.1"}
