"""The hand-made encoding (worklist.encoding, worklist.fastfind) against pydicom's own."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.dsutils import decode, encode
from pynetdicom.sop_class import ModalityWorklistInformationFind

from scheduling.models import DicomCharset
from tests.worklist.conftest import BANGKOK, TODAY, book_step, find, local, mwl_query
from worklist import mwl
from worklist.devices import load_devices
from worklist.fastfind import response_command


def _full_query() -> Dataset:
    query = mwl_query(
        top_RequestingPhysician="",
        top_RequestingService="",
        top_ReasonForTheRequestedProcedure="",
        top_PatientState="",
        top_PregnancyStatus=None,
        top_ReferencedStudySequence=[],
        top_RequestedProcedureCodeSequence=[],
    )
    query.SpecificCharacterSet = ""
    return query


@pytest.mark.parametrize("ae", ["MKH_US1", "MKH_US2", "MKH_US3"])
@pytest.mark.parametrize("implicit", [True, False])
def test_same_bytes_as_pydicom(db, network, ae, implicit):
    appointment = book_step(db, network, network.somsri, ae, local(TODAY, "0900"))
    devices = load_devices()
    caller = devices[ae]
    query = _full_query()
    built = mwl.build_query(query, caller, devices.get, BANGKOK)
    [row] = [r for r in mwl.fetch(built, BANGKOK) if r.appointment_id == appointment.id]
    ctx = mwl.Context(caller=caller, zone=BANGKOK)
    plan = mwl.response_plan(query)

    ours = mwl.answer_bytes(plan, row, ctx, implicit)
    theirs = encode(mwl.identifier_for(query, row, ctx), implicit, True)
    assert ours == theirs
    # and the raw-element Dataset handed to pynetdicom writes the same bytes
    assert encode(mwl.encoded_identifier(plan, row, ctx, implicit), implicit, True) == theirs
    decoded = decode(BytesIO(ours), implicit, True)
    if caller.charset is not DicomCharset.ASCII:
        assert "ทองดี^สมศรี" in str(decoded.PatientName)


def test_response_command_decodes_as_pynetdicom_expects():
    command = decode(BytesIO(response_command(ModalityWorklistInformationFind, 7)), True, True)
    assert command.CommandField == 0x8020
    assert command.MessageIDBeingRespondedTo == 7
    assert command.Status == 0xFF00
    assert command.CommandDataSetType != 0x0101
    assert command.AffectedSOPClassUID == ModalityWorklistInformationFind
    assert (
        command.CommandGroupLength == len(response_command(ModalityWorklistInformationFind, 7)) - 12
    )


def test_answers_fragment_to_a_small_peer_pdu(scp, db, network):
    # long alerts make each answer bigger than the SCU's maximum PDU
    network.somsri.medical_alerts = "\n".join(f"แพ้ยา {i} " + "ก" * 50 for i in range(40))
    db.session.commit()
    steps = [
        book_step(db, network, network.somsri, "MKH_US1", local(TODAY, f"{h:02d}00"))
        for h in (8, 9, 10)
    ]
    ae = AE(ae_title="MKH_US1")
    ae.maximum_pdu_size = 1024
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="RADBOOK")
    try:
        answers = [
            ds
            for status, ds in assoc.send_c_find(
                mwl_query(ScheduledProcedureStepStartDate="20261121"),
                ModalityWorklistInformationFind,
            )
            if status and status.Status == 0xFF00
        ]
    finally:
        assoc.release()
    assert [a.AccessionNumber for a in answers] == [s.accession_number for s in steps]
    assert all(len(a.MedicalAlerts) == 40 for a in answers)


def test_standard_pynetdicom_path_gives_the_same_answers(app, db, network, scp):
    from worklist.server import start_server

    for hour, patient in ((9, network.somsri), (10, network.boonlert)):
        book_step(db, network, patient, "MKH_US2", local(TODAY, f"{hour:02d}00"))
    query = _full_query()
    fast, _ = find(scp.port, query, calling_ae="MKH_US2")
    app.config["DICOM_FAST_FIND"] = "0"
    try:
        running = start_server(app, "127.0.0.1", 0)
        try:
            standard, final = find(running.port, query, calling_ae="MKH_US2")
        finally:
            running.stop()
    finally:
        app.config["DICOM_FAST_FIND"] = "1"
    assert final == 0 and len(standard) == 2
    assert [encode(d, True, True) for d in standard] == [encode(d, True, True) for d in fast]


def test_direct_pdu_bytes_match_pynetdicoms_p_data_tf():
    from pynetdicom.pdu import P_DATA_TF
    from pynetdicom.pdu_primitives import P_DATA

    from worklist.fastfind import pdu_bytes

    pdvs = [
        (3, b"\x03" + response_command(ModalityWorklistInformationFind, 9)),
        (3, b"\x02" + b"\x10\x00\x10\x00\x04\x00\x00\x00AB^C"),
    ]
    primitive = P_DATA()
    primitive.presentation_data_value_list = [list(p) for p in pdvs]
    pdu = P_DATA_TF()
    pdu.from_primitive(primitive)
    assert pdu_bytes(pdvs) == pdu.encode()


def test_more_matches_than_go_straight_to_the_socket(scp, db, network):
    from tests.worklist.conftest import bulk_steps
    from worklist.fastfind import DIRECT_LIMIT

    bulk_steps(db, network, "MKH_US1", TODAY, DIRECT_LIMIT + 40)
    results, final = find(scp.port, mwl_query(ScheduledProcedureStepStartDate="20261121"))
    assert final == 0
    assert len(results) == DIRECT_LIMIT + 40
    times = [r.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime for r in results]
    assert times == sorted(times)  # in order across the switch to the queued path
