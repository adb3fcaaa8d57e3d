"""Prepared C-FINDs (worklist.prepared): a repeated query is built once, yet every answer
shows what is in the database at that moment and every query is still audited."""

from __future__ import annotations

from sqlalchemy import func, select

from scheduling.models import AuditEvent, Device
from tests.worklist.conftest import TODAY, book_step, find, local, mwl_query


def test_a_repeated_query_is_built_once_and_still_reads_and_audits(
    app, db, network, scp, monkeypatch
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
