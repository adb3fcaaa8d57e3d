"""Prepared C-FINDs (worklist.prepared): a repeated query is built once, yet every answer
shows what is in the database at that moment and every query is still audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from scheduling.audit import Actor
from scheduling.models import AuditEvent, Device, Interface
from scheduling.requests import update_screening
from tests.worklist.conftest import TODAY, book_step, find, local, mwl_query


def test_a_repeated_query_is_built_once_and_still_reads_and_audits(
    app, db, network, scp, monkeypatch, now
):
    from worklist import mwl

    built = []
    real = mwl.build_query
    monkeypatch.setattr(mwl, "build_query", lambda *a: built.append(1) or real(*a))
    step = book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900"))
    query = mwl_query(ScheduledProcedureStepStartDate="20261121")

    first, _ = find(scp.port, query)
    # A step booked and another changed between the two queries: both show.
    book_step(db, network, network.boonlert, "MKH_US1", local(TODAY, "1000"))
    step.accession_number = "CHANGED1"
    step.updated_at = now + timedelta(minutes=1)  # as every writer of a step does
    db.session.commit()
    second, _ = find(scp.port, query)

    assert len(built) == 1
    assert len(first) == 1 and len(second) == 2
    assert [r.AccessionNumber for r in first] != ["CHANGED1"]
    assert "CHANGED1" in [r.AccessionNumber for r in second]
    audited = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "worklist.find")
    )
    assert audited == 2


def test_a_changed_device_makes_the_query_again(app, db, network, scp, monkeypatch):
    from worklist import mwl

    built = []
    real = mwl.build_query
    monkeypatch.setattr(mwl, "build_query", lambda *a: built.append(1) or real(*a))
    book_step(db, network, network.kanya, "MKH_US2", local(TODAY, "0830"))
    query = mwl_query(ScheduledStationAETitle="MKH_US2", ScheduledProcedureStepStartDate="20261121")
    assert len(find(scp.port, query)[0]) == 1

    # MKH_US2 is handed to another hub: its steps are no longer this caller's to see.
    device = db.session.scalar(select(Device).where(Device.ae_title == "MKH_US2"))
    device.hospital_id = network.other_hub.id
    db.session.commit()
    scp.directory.refresh()
    assert find(scp.port, query)[0] == []
    assert len(built) == 2


def test_a_screened_step_is_encoded_once_until_its_request_changes(
    app, db, network, scp, monkeypatch, now
):
    """Screening answers (JSON) do not keep a step out of the answer cache, and a change
    made through the screening form's path reaches the next answer."""
    from worklist import mwl

    encoded = []
    real = mwl.AnswerEncoder.encode
    monkeypatch.setattr(
        mwl.AnswerEncoder, "encode", lambda self, *a: encoded.append(1) or real(self, *a)
    )
    step = book_step(db, network, network.kanya, "MKH_CT1", local(TODAY, "1100"))
    requester = Actor(Interface.CLI, name="test", hospital_id=network.requester.id)
    screening = {
        "egfr": 80,
        "lab_date": "2026-11-10",
        "contrast_allergy": "no",
        "pregnancy": "not_pregnant",
        "weight_kg": 52.5,
    }
    update_screening(
        requester,
        now,
        step.request,
        screening=screening,
        treatment_right=None,
        referral_number=None,
    )
    query = mwl_query(ScheduledStationAETitle="MKH_CT1", ScheduledProcedureStepStartDate="20261121")
    query.PatientWeight = None

    first = find(scp.port, query, "MKH_CT1")[0]
    assert find(scp.port, query, "MKH_CT1")[0] == first
    assert len(encoded) == 1 and float(first[0].PatientWeight) == 52.5

    update_screening(
        requester,
        now + timedelta(minutes=5),
        step.request,
        screening={**screening, "weight_kg": 49},
        treatment_right=None,
        referral_number=None,
    )
    [changed] = find(scp.port, query, "MKH_CT1")[0]
    assert len(encoded) == 2
    assert float(changed.PatientWeight) == 49


def test_every_column_an_answer_shows_is_in_the_cache_key_or_stamped():
    """A column of a record without a moving ``updated_at`` is part of the key itself."""
    from worklist import mwl

    for column in mwl.COLUMNS:
        tables = {table.name for table in column._from_objects}
        assert tables <= mwl.VERSIONED_TABLES or column.name in mwl.ANSWER_KEY, column.name
    assert {"ae_title", "hn", "procedure_name_en", "requester_name_th"} <= set(mwl.ANSWER_KEY)
    assert "screening" not in mwl.ANSWER_KEY and "updated_at" in mwl.ANSWER_KEY
