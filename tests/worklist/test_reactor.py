"""The server's associations wait for work instead of polling (worklist.reactor), and
still notice what pynetdicom's polling loops noticed: an idle peer past the network
timeout, a release."""

from __future__ import annotations

import time

from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

from worklist import reactor
from worklist.fastfind import FastFinalDIMSE
from worklist.reactor import EventDrivenAssociation, EventDrivenDUL


def _associate(port: int) -> tuple[AE, object]:
    ae = AE(ae_title="MKH_US1")
    ae.add_requested_context(Verification)
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="RADBOOK")
    assert assoc.is_established
    return ae, assoc


def _server_side(scp):
    [assoc] = scp.server.active_associations
    return assoc


def test_an_idle_association_does_not_poll(scp, monkeypatch):
    looks = []
    real = EventDrivenDUL._is_transport_event
    monkeypatch.setattr(
        EventDrivenDUL, "_is_transport_event", lambda self: looks.append(1) or real(self)
    )
    _, assoc = _associate(scp.port)
    try:
        served = _server_side(scp)
        assert isinstance(served, EventDrivenAssociation)
        assert isinstance(served.dul, EventDrivenDUL)
        assert isinstance(served.dimse, FastFinalDIMSE)
        looks.clear()
        idle = 0.5
        time.sleep(idle)
        # pynetdicom's loop looked every millisecond (about 500 times here); now the
        # DUL only wakes for the idle checks.
        assert len(looks) <= idle / reactor.IDLE_WAIT + 5
        assert assoc.send_c_echo().Status == 0x0000  # and still answers at once
    finally:
        assoc.release()


def test_the_network_timeout_still_aborts_an_idle_peer(scp):
    scp.ae.network_timeout = 0.3
    _, assoc = _associate(scp.port)
    deadline = time.monotonic() + 5
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.02)
    assert assoc.is_aborted
    assert not scp.server.active_associations or not _server_side(scp).is_established


def test_release_ends_both_threads(scp):
    _, assoc = _associate(scp.port)
    served = _server_side(scp)
    assoc.release()
    served.join(timeout=5)
    served.dul.join(timeout=5)
    assert not served.is_alive() and not served.dul.is_alive()
    assert served.is_released
