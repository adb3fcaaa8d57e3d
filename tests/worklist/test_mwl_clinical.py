"""Screening and the radiologist's protocol reach the scanner (checked with DCMTK findscu)."""

from __future__ import annotations

import pydicom

from scheduling.models import HubProtocol, VettingDecision
from tests.worklist.conftest import TODAY, book_step, local
from tests.worklist.test_findscu import SPS, dcmtk_utf8, dcmtk_value, findscu

KEYS = [
    "SpecificCharacterSet",
    "AccessionNumber",
    "MedicalAlerts",
    "Allergies",
    "PatientWeight",
    "PregnancyStatus",
    SPS + "ScheduledStationAETitle",
    SPS + "ScheduledProcedureStepDescription",
    SPS + "ScheduledProtocolCodeSequence[0].CodeValue",
    SPS + "ScheduledProtocolCodeSequence[0].CodingSchemeDesignator",
    SPS + "ScheduledProtocolCodeSequence[0].CodeMeaning",
    SPS + "CommentsOnTheScheduledProcedureStep",
    SPS + "RequestedContrastAgent",
]


def _protocolled_step(db, network):
    appointment = book_step(db, network, network.kanya, "MKH_CT1", local(TODAY, "1400"))
    protocol = HubProtocol(
        hospital_id=network.hub.id,
        modality_code="CT",
        code="CT-BR-C",
        name_th="CT สมอง ก่อนและหลังฉีดสี",
        name_en="CT brain pre and post contrast",
        contrast=True,
    )
    db.session.add(protocol)
    db.session.flush()
    request = appointment.request
    request.screening = {
        "creatinine": 0.8,
        "egfr": 28,
        "lab_date": "2026-11-10",
        "contrast_allergy": "yes",
        "contrast_allergy_detail": "urticaria after iohexol 2019",
        "pregnancy": "not_pregnant",
        "weight_kg": 52.5,
    }
    request.vetting_decision = VettingDecision.APPROVED
    request.protocol_id = protocol.id
    request.protocol_contrast = True
    request.protocol_notes = "premedicate: prednisolone 50 mg 13, 7, 1 h before"
    db.session.commit()
    return appointment


def test_findscu_receives_screening_and_protocol(scp, db, network, tmp_path):
    appointment = _protocolled_step(db, network)
    proc, files = findscu(scp.port, KEYS, tmp_path / "out", aet="MKH_CT1")
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(files) == 1
    dump = dcmtk_utf8(files[0])
    assert dcmtk_value(dump, "AccessionNumber") == appointment.accession_number
    alerts = dcmtk_value(dump, "MedicalAlerts")
    assert "CONTRAST ALLERGY" in alerts and "LOW EGFR 28" in alerts
    assert "urticaria after iohexol 2019" in dcmtk_value(dump, "Allergies")
    assert dcmtk_value(dump, "ScheduledProcedureStepDescription") == (
        "CT brain pre and post contrast WITH CONTRAST"
    )
    assert dcmtk_value(dump, "CodeValue") == "CT-BR-C"
    assert dcmtk_value(dump, "CodingSchemeDesignator") == "99RBPROTOCOL"
    assert "prednisolone" in dcmtk_value(dump, "CommentsOnTheScheduledProcedureStep")
    # Numbers are read back by pydicom: DS weight, US pregnancy status (1 = not pregnant).
    ds = pydicom.dcmread(files[0])
    assert float(ds.PatientWeight) == 52.5
    assert ds.PregnancyStatus == 1
    assert ds.ScheduledProcedureStepSequence[0].RequestedContrastAgent == "Iodinated contrast"


def test_no_contrast_decision_removes_the_agent(scp, db, network, tmp_path):
    appointment = _protocolled_step(db, network)
    appointment.request.protocol_contrast = False
    db.session.commit()
    proc, files = findscu(scp.port, KEYS, tmp_path / "out", aet="MKH_CT1")
    ds = pydicom.dcmread(files[0])
    step = ds.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepDescription.endswith("NO CONTRAST")
    assert not step.get("RequestedContrastAgent")


def test_without_screening_or_protocol_the_old_answer_stands(scp, db, network, tmp_path):
    book_step(db, network, network.boonlert, "MKH_CT1", local(TODAY, "1500"))
    proc, files = findscu(scp.port, KEYS, tmp_path / "out", aet="MKH_CT1")
    ds = pydicom.dcmread(files[0])
    step = ds.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProtocolCodeSequence[0].CodeValue == "CT-BRAIN-C"
    assert not ds.get("PatientWeight") and ds.get("PregnancyStatus") in (None, "")
