"""Issue 13: a scanner finds a step again by the Patient ID (and Issuer of Patient ID)
the worklist gave it, the hub's HN or the national ID, over the real SCP.

The worklist returned the national ID (with its issuer) for a patient without a hub HN,
but a C-FIND with that same Patient ID matched only hub HNs and found nothing.
"""

from __future__ import annotations

import pytest

from scheduling.models import PatientIdPolicy
from tests.worklist.conftest import TODAY, book_step, find, local, mwl_query
from worklist.mwl import NATIONAL_ID_ISSUER


@pytest.fixture
def steps(db, network):
    return {
        # Kanya has no HN at the hub: the worklist gives her national ID.
        "kanya": book_step(db, network, network.kanya, "MKH_US1", local(TODAY, "0830")),
        # Somsri has the hub's HN MK0001.
        "somsri": book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900")),
    }


def _accessions(results) -> list[str]:
    return sorted(r.AccessionNumber for r in results)


def test_every_patient_id_the_worklist_hands_out_finds_its_step(scp, steps, network):
    everything, _ = find(scp.port, mwl_query())
    assert len(everything) == 2
    for answer in everything:
        pid, issuer = str(answer.PatientID), str(answer.IssuerOfPatientID)
        # Patient ID alone, and Patient ID with its issuer: the same step comes back.
        for keys in (
            {"top_PatientID": pid},
            {"top_PatientID": pid, "top_IssuerOfPatientID": issuer},
        ):
            results, status = find(scp.port, mwl_query(**keys))
            assert status == 0x0000
            assert _accessions(results) == [answer.AccessionNumber], keys
    by_accession = {a.AccessionNumber: a for a in everything}
    kanya = by_accession[steps["kanya"].accession_number]
    assert (kanya.PatientID, kanya.IssuerOfPatientID) == (
        network.kanya.id_value,
        NATIONAL_ID_ISSUER,
    )
    somsri = by_accession[steps["somsri"].accession_number]
    assert (somsri.PatientID, somsri.IssuerOfPatientID) == ("MK0001", network.hub.code)


def test_issuer_of_patient_id_is_a_matching_key(scp, steps, network):
    kanya, somsri = steps["kanya"].accession_number, steps["somsri"].accession_number
    by_issuer = {
        NATIONAL_ID_ISSUER: [kanya],
        network.hub.code: [somsri],
        "10671": [],  # another hub's HNs
        "*": sorted([kanya, somsri]),
    }
    for issuer, wanted in by_issuer.items():
        results, _ = find(scp.port, mwl_query(top_IssuerOfPatientID=issuer))
        assert _accessions(results) == sorted(wanted), issuer
    # A Patient ID under the wrong issuer is not that patient.
    wrong, _ = find(
        scp.port,
        mwl_query(top_PatientID=network.kanya.id_value, top_IssuerOfPatientID=network.hub.code),
    )
    assert wrong == []
    # The requesting hospital's HN is not an identifier the hub's worklist gives out.
    assert find(scp.port, mwl_query(top_PatientID="KR0003"))[0] == []


def test_a_device_taking_national_ids_finds_by_them(app, db, network, steps):
    from worklist.server import start_server

    network.hub.patient_id_policy = PatientIdPolicy.NATIONAL_ID
    db.session.commit()
    running = start_server(app, "127.0.0.1", 0)
    try:
        results, _ = find(
            running.port,
            mwl_query(
                top_PatientID=network.somsri.id_value, top_IssuerOfPatientID=NATIONAL_ID_ISSUER
            ),
        )
        assert _accessions(results) == [steps["somsri"].accession_number]
        assert find(running.port, mwl_query(top_IssuerOfPatientID=network.hub.code))[0] == []
    finally:
        running.stop()
