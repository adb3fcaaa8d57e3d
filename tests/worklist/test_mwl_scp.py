"""The worklist SCP against pynetdicom SCUs: every matching type, Thai, rejection, cancel."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from pydicom import config
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification
from sqlalchemy import event, select

from scheduling.models import AppointmentStatus, Patient, PatientIdPolicy, Priority
from tests.worklist.conftest import TODAY, book_step, find, local, mwl_query
from worklist.mwl import NATIONAL_ID_ISSUER


@pytest.fixture
def day(db, network):
    """Today's ultrasound list on MKH_US1 and MKH_US2, CT on MKH_CT1, some noise around it."""
    n = network
    steps = {
        "somsri_us1": book_step(db, n, n.somsri, "MKH_US1", local(TODAY, "0900")),
        "boonlert_us1": book_step(
            db, n, n.boonlert, "MKH_US1", local(TODAY, "1000"), priority=Priority.URGENT
        ),
        "kanya_us2": book_step(db, n, n.kanya, "MKH_US2", local(TODAY, "0830")),
        "boonlert_ct": book_step(db, n, n.boonlert, "MKH_CT1", local(TODAY, "1300")),
        "somsri_tomorrow": book_step(
            db, n, n.somsri, "MKH_US1", local(TODAY + timedelta(days=1), "0900")
        ),
        "kanya_yesterday": book_step(
            db, n, n.kanya, "MKH_US1", local(TODAY - timedelta(days=1), "1500")
        ),
        "started": book_step(
            db, n, n.kanya, "MKH_US1", local(TODAY, "0800"), status=AppointmentStatus.IN_PROGRESS
        ),
        "completed": book_step(
            db, n, n.boonlert, "MKH_US1", local(TODAY, "0720"), status=AppointmentStatus.COMPLETED
        ),
        "cancelled": book_step(
            db, n, n.somsri, "MKH_US1", local(TODAY, "1100"), status=AppointmentStatus.CANCELLED
        ),
        "moved": book_step(
            db, n, n.somsri, "MKH_US1", local(TODAY, "1120"), status=AppointmentStatus.MOVED
        ),
        "other_hub": book_step(db, n, n.somsri, "UDN_CT1", local(TODAY, "0900")),
    }
    return steps


def accessions(results) -> list[str]:
    return [r.AccessionNumber for r in results]


def sps(result) -> Dataset:
    return result.ScheduledProcedureStepSequence[0]


# --- universal matching, the calling-AE filter and the finished-steps default ----------------


def test_empty_query_gives_the_calling_scanners_open_steps(scp, day):
    results, final = find(scp.port, mwl_query())
    assert final == 0x0000
    # MKH_US1 filters by calling AE: its own open steps on every day, in time order;
    # started, completed, cancelled and moved ones are hidden.
    assert accessions(results) == [
        day["kanya_yesterday"].accession_number,
        day["somsri_us1"].accession_number,
        day["boonlert_us1"].accession_number,
        day["somsri_tomorrow"].accession_number,
    ]


def test_without_the_calling_ae_filter_a_scanner_sees_its_whole_hub(scp, day):
    results, _ = find(
        scp.port, mwl_query(ScheduledProcedureStepStartDate="20261121"), calling_ae="MKH_CT1"
    )
    assert sorted(accessions(results)) == sorted(
        day[k].accession_number for k in ("somsri_us1", "boonlert_us1", "kanya_us2", "boonlert_ct")
    )  # never another hub's steps


def test_star_asks_for_every_station_even_with_the_filter_on(scp, day):
    results, _ = find(
        scp.port, mwl_query(ScheduledStationAETitle="*", ScheduledProcedureStepStartDate="20261121")
    )
    assert len(results) == 4


# --- single value matching ------------------------------------------------------------------


def test_station_ae_title(scp, day):
    results, _ = find(scp.port, mwl_query(ScheduledStationAETitle="MKH_US2"))
    assert accessions(results) == [day["kanya_us2"].accession_number]


@pytest.mark.parametrize("station", ["NOSUCH", "UDN_CT1"])
def test_unknown_or_other_hubs_station_matches_nothing(scp, day, station):
    results, final = find(scp.port, mwl_query(ScheduledStationAETitle=station))
    assert (results, final) == ([], 0x0000)


def test_modality(scp, day):
    results, _ = find(scp.port, mwl_query(Modality="CT"), calling_ae="MKH_CT1")
    assert accessions(results) == [day["boonlert_ct"].accession_number]
    results, _ = find(scp.port, mwl_query(Modality="MR"), calling_ae="MKH_CT1")
    assert results == []


def test_accession_number(scp, day):
    wanted = day["boonlert_us1"]
    results, _ = find(scp.port, mwl_query(top_AccessionNumber=wanted.accession_number))
    assert accessions(results) == [wanted.accession_number]
    assert results[0].StudyInstanceUID == wanted.study_instance_uid
    assert results[0].RequestedProcedurePriority == "HIGH"


def test_patient_id_is_the_hubs_hn(scp, day):
    results, _ = find(scp.port, mwl_query(top_PatientID="MK0001"))
    assert accessions(results) == [
        day["somsri_us1"].accession_number,
        day["somsri_tomorrow"].accession_number,
    ]
    assert {(r.PatientID, r.IssuerOfPatientID) for r in results} == {("MK0001", "10707")}
    # the requesting hospital's HN is not the hub's Patient ID
    assert find(scp.port, mwl_query(top_PatientID="KR0001"))[0] == []


def test_patient_without_hub_hn_gets_the_national_id(scp, day, network):
    results, _ = find(scp.port, mwl_query(ScheduledStationAETitle="MKH_US2"))
    assert results[0].PatientID == network.kanya.id_value
    assert results[0].IssuerOfPatientID == NATIONAL_ID_ISSUER


def test_patient_id_is_the_national_id_when_the_hub_says_so(app, db, network, day):
    from worklist.server import start_server

    network.hub.patient_id_policy = PatientIdPolicy.NATIONAL_ID
    db.session.commit()
    running = start_server(app, "127.0.0.1", 0)
    try:
        results, _ = find(running.port, mwl_query(top_PatientID=network.somsri.id_value))
        assert {(r.PatientID, r.IssuerOfPatientID) for r in results} == {
            (network.somsri.id_value, NATIONAL_ID_ISSUER)
        }
        assert len(results) == 2
        assert find(running.port, mwl_query(top_PatientID="MK0001"))[0] == []
    finally:
        running.stop()


def test_requested_procedure_id_and_sps_id(scp, day):
    wanted = day["somsri_tomorrow"]
    results, _ = find(scp.port, mwl_query(top_RequestedProcedureID=wanted.requested_procedure_id))
    assert accessions(results) == [wanted.accession_number]
    results, _ = find(scp.port, mwl_query(ScheduledProcedureStepID=wanted.sps_id))
    assert sps(results[0]).ScheduledProcedureStepID == wanted.sps_id


def test_study_instance_uid(scp, day):
    wanted = day["boonlert_us1"]
    results, _ = find(scp.port, mwl_query(top_StudyInstanceUID=wanted.study_instance_uid))
    assert accessions(results) == [wanted.accession_number]


# --- wildcards on names and identifiers -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "who"),
    [
        ("Thongdi^Somsri", "somsri"),
        ("THONGDI^SOMSRI", "somsri"),  # case-insensitive
        ("thong*", "somsri"),
        ("Th?ngdi^*", "somsri"),
        ("*^BUNLOET", "boonlert"),
        ("ทองดี^สมศรี", "somsri"),  # Thai typed in the one group a query has
        ("*สมศรี", "somsri"),
        ("=ศรีสุวรรณ^*", "boonlert"),  # ideographic group only
        ("Sisuwan*=ศรี*", "boonlert"),  # both groups must match
        ("Thongdi*=ศรี*", None),
        ("Thongdi", None),  # single value matching is exact: the given name is missing
        ("Th?ngd", None),
    ],
)
def test_patient_name_matching(scp, day, network, name, who):
    query = mwl_query(ScheduledProcedureStepStartDate="20261121", top_PatientName=name)
    query.SpecificCharacterSet = "ISO_IR 192"
    results, final = find(scp.port, query)
    assert final == 0
    names = {r.PatientName.components[0] for r in results}
    expected = {
        "somsri": {"Thongdi^Somsri^^Mrs."},
        "boonlert": {"Sisuwan^Bunloet^^Mr."},
        None: set(),
    }[who]
    assert names == expected


def test_wildcard_on_accession_number(scp, day):
    prefix = day["somsri_us1"].accession_number[:-1]
    results, _ = find(
        scp.port, mwl_query(ScheduledStationAETitle="*", top_AccessionNumber=prefix + "?")
    )
    assert day["somsri_us1"].accession_number in accessions(results)
    assert all(a.startswith(prefix) and len(a) == len(prefix) + 1 for a in accessions(results))


# --- dates and times ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "time", "keys"),
    [
        ("20261121", "", ["somsri_us1", "boonlert_us1"]),
        ("20261121-20261122", "", ["somsri_us1", "boonlert_us1", "somsri_tomorrow"]),
        ("-20261120", "", ["kanya_yesterday"]),
        ("20261122-", "", ["somsri_tomorrow"]),
        ("20261121", "0930-1030", ["boonlert_us1"]),
        ("20261121", "-0900", ["somsri_us1"]),  # 09:00 is inside "up to 09:00"
        ("20261121", "0901-", ["boonlert_us1"]),
        ("20261120-20261121", "1400-0930", ["kanya_yesterday", "somsri_us1"]),  # combined
        ("", "0900", ["somsri_us1", "somsri_tomorrow"]),  # time of day on every date
    ],
)
def test_start_date_and_time(scp, day, date, time, keys):
    results, _ = find(
        scp.port,
        mwl_query(ScheduledProcedureStepStartDate=date, ScheduledProcedureStepStartTime=time),
    )
    assert accessions(results) == [day[k].accession_number for k in keys]


def test_dates_are_local_not_utc(scp, db, network):
    # 06:30 in Bangkok on the 22nd is 23:30 UTC on the 21st
    early = book_step(
        db, network, network.somsri, "MKH_US1", local(TODAY + timedelta(days=1), "0630")
    )
    results, _ = find(scp.port, mwl_query(ScheduledProcedureStepStartDate="20261122"))
    assert accessions(results) == [early.accession_number]
    assert sps(results[0]).ScheduledProcedureStepStartDate == "20261122"
    assert sps(results[0]).ScheduledProcedureStepStartTime == "063000"


def test_a_bad_date_is_a_failure_status(scp, day):
    with config.disable_value_validation():  # pydicom would refuse to build it otherwise
        query = mwl_query(ScheduledProcedureStepStartDate="2026-11-21")
    results, final = find(scp.port, query)
    assert results == []
    assert final == 0xA900


# --- step status ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "key"),
    [
        ("STARTED", "started"),
        ("COMPLETED", "completed"),
        ("CANCELED", "cancelled"),
        ("ARRIVED", None),
    ],
)
def test_finished_steps_only_when_asked_by_status(scp, day, status, key):
    results, _ = find(scp.port, mwl_query(ScheduledProcedureStepStatus=status))
    assert accessions(results) == ([day[key].accession_number] if key else [])
    if key:
        assert sps(results[0]).ScheduledProcedureStepStatus == status


def test_scheduled_performing_physician_is_never_set(scp, day):
    results, _ = find(scp.port, mwl_query(ScheduledPerformingPhysicianName="SMITH*"))
    assert results == []


# --- the answer -----------------------------------------------------------------------------


def test_every_requested_key_comes_back_with_its_vr(scp, day):
    query = mwl_query(ScheduledStationAETitle="MKH_US1", ScheduledProcedureStepStartDate="20261121")
    query.PatientState = ""  # keys RadBook has no value for
    query.PregnancyStatus = None
    query.ReferencedStudySequence = []
    query.RequestingPhysician = ""
    query.RequestingService = ""
    query.ReasonForTheRequestedProcedure = ""
    query.RequestedProcedureCodeSequence = []
    query.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence = [Dataset()]
    query.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0].CodeValue = ""
    query.ScheduledProcedureStepSequence[0].RequestedContrastAgent = ""
    results, _ = find(scp.port, query)
    first = results[0]
    for elem in query:
        assert elem.tag in first, elem.keyword
        assert first[elem.tag].VR == elem.VR or elem.VR in ("UN",), elem.keyword
    assert first["PatientState"].VR == "LO" and first.PatientState in ("", None)
    assert first["PregnancyStatus"].VR == "US" and first.PregnancyStatus is None
    assert first.ReferencedStudySequence == []
    assert first.PatientWeight in ("", None)
    assert first.RequestingPhysician == "นพ.สมชาย ใจดี"
    assert first.RequestingService == "โรงพยาบาลกุดรัง"
    assert first.ReasonForTheRequestedProcedure == "ปวดท้องด้านขวาบน"
    code = first.RequestedProcedureCodeSequence[0]  # empty sequence: the whole item
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "US-UPABD",
        "99RADBOOK",
        "Ultrasound upper abdomen",
    )
    protocol = sps(first).ScheduledProtocolCodeSequence[0]
    assert set(protocol.keys()) == {0x00080100}  # only what the item asked for
    assert protocol.CodeValue == "US-UPABD"
    assert sps(first).ScheduledPerformingPhysicianName == ""
    assert set(sps(first).keys()) == set(query.ScheduledProcedureStepSequence[0].keys())


def test_identifiers_alerts_and_demographics(scp, day, network):
    step = day["somsri_us1"]
    results, _ = find(scp.port, mwl_query(top_AccessionNumber=step.accession_number))
    r = results[0]
    assert r.PatientBirthDate == "19680314"
    assert r.PatientSex == "F"
    assert r.StudyInstanceUID == step.study_instance_uid
    assert r.RequestedProcedureID == step.requested_procedure_id
    assert r.RequestedProcedureDescription == "Ultrasound upper abdomen"
    assert list(r.MedicalAlerts) == ["แพ้สารทึบรังสี (contrast allergy)", "Diabetes"]
    assert r.Allergies == "แพ้สารทึบรังสี (contrast allergy)"
    s = sps(r)
    assert (
        s.ScheduledStationAETitle,
        s.Modality,
        s.ScheduledProcedureStepStartDate,
        s.ScheduledProcedureStepStartTime,
        s.ScheduledProcedureStepStatus,
    ) == ("MKH_US1", "US", "20261121", "090000", "SCHEDULED")


def test_contrast_agent_for_contrast_procedures(scp, db, network):
    step = book_step(db, network, network.somsri, "MKH_CT1", local(TODAY, "1400"))
    query = mwl_query()
    query.ScheduledProcedureStepSequence[0].RequestedContrastAgent = ""
    results, _ = find(scp.port, query, calling_ae="MKH_CT1")
    assert accessions(results) == [step.accession_number]
    assert sps(results[0]).RequestedContrastAgent == "Iodinated contrast"


# --- Thai in each character set -------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "charset", "name"),
    [
        ("MKH_US1", "ISO_IR 192", "Thongdi^Somsri^^Mrs.=ทองดี^สมศรี^^นาง"),
        ("MKH_US2", "ISO_IR 166", "Thongdi^Somsri^^Mrs.=ทองดี^สมศรี^^นาง"),
        ("MKH_US3", None, "Thongdi^Somsri^^Mrs."),
    ],
)
def test_patient_name_in_each_character_set(scp, db, network, caller, charset, name):
    step = book_step(db, network, network.somsri, caller, local(TODAY, "1500"))
    query = mwl_query(top_AccessionNumber=step.accession_number, top_RequestingPhysician="")
    query.SpecificCharacterSet = ""
    results, _ = find(scp.port, query, calling_ae=caller)
    r = results[0]
    assert (r.SpecificCharacterSet or None) == charset
    assert str(r.PatientName) == name
    if charset is None:
        # nothing but ASCII anywhere in the answer
        assert all(str(e.value).isascii() for e in r.iterall() if e.VR != "SQ")
        assert str(r.RequestingPhysician).endswith("Chaidi")  # romanised for the console


def test_tis620_bytes_on_the_wire(scp, db, network):
    step = book_step(db, network, network.somsri, "MKH_US2", local(TODAY, "1500"))
    seen = []

    def keep_raw(event):
        seen.append(event.message.data_set.getvalue() if event.message.data_set else b"")

    ae = AE(ae_title="MKH_US2")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate(
        "127.0.0.1", scp.port, ae_title="RADBOOK", evt_handlers=[(evt.EVT_DIMSE_RECV, keep_raw)]
    )
    assert assoc.is_established
    try:
        list(
            assoc.send_c_find(
                mwl_query(top_AccessionNumber=step.accession_number),
                ModalityWorklistInformationFind,
            )
        )
    finally:
        assoc.release()
    raw = b"".join(seen)
    assert "ทองดี^สมศรี".encode("tis-620") in raw
    assert "ทองดี".encode() not in raw  # not UTF-8


# --- associations ---------------------------------------------------------------------------


def test_unknown_ae_title_is_rejected(scp, network):
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="RADBOOK")
    assert not assoc.is_established
    assert assoc.is_rejected


def test_inactive_device_is_rejected(app, db, network):
    from worklist.server import start_server

    network.devices["MKH_US3"].is_active = False
    db.session.commit()
    running = start_server(app, "127.0.0.1", 0)
    try:
        ae = AE(ae_title="MKH_US3")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", running.port, ae_title="RADBOOK")
        assert assoc.is_rejected
    finally:
        running.stop()


def test_echo_and_tcp_nodelay(scp, network):
    ae = AE(ae_title="MKH_US1")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="RADBOOK")
    assert assoc.is_established
    try:
        assert assoc.send_c_echo().Status == 0
        [acceptor] = scp.server.active_associations
        server_socket = acceptor.dul.socket.socket
        assert server_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        assoc.release()


def test_c_cancel_stops_the_answer(scp, db, network):
    from tests.worklist.conftest import bulk_steps

    bulk_steps(db, network, "MKH_US1", TODAY, 600)
    ae = AE(ae_title="MKH_US1")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="RADBOOK")
    assert assoc.is_established
    try:
        responses = assoc.send_c_find(
            mwl_query(ScheduledProcedureStepStartDate="20261121"),
            ModalityWorklistInformationFind,
            msg_id=7,
        )
        # the request goes out with the first next(); cancel as soon as the first match
        # is back, while the SCP is still sending the other 599
        statuses = [next(responses)[0].Status]
        assoc.send_c_cancel(7, query_model=ModalityWorklistInformationFind)
        statuses += [status.Status for status, _ in responses]
    finally:
        assoc.release()
    assert statuses[-1] == 0xFE00
    assert statuses.count(0xFF00) < 600


# --- one indexed query ----------------------------------------------------------------------


def test_one_sql_query_per_c_find(app, scp, db, day):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        results, _ = find(scp.port, mwl_query(ScheduledProcedureStepStartDate="20261121"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(results) == 2
    assert len(statements) == 1, statements


def test_the_usual_query_uses_the_device_and_start_index(app, db, network):
    from tests.worklist.conftest import BANGKOK
    from worklist.devices import load_devices
    from worklist.mwl import build_query

    devices = load_devices()
    query = build_query(
        mwl_query(ScheduledProcedureStepStartDate="20261121"),
        devices["MKH_US1"],
        devices.get,
        BANGKOK,
    )
    compiled = query.statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
        else:
            # tiny test tables make a sequential scan cheapest; ask what it would do at scale
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert "ix_appointment_device_start" in plan, plan


def test_staff_corrected_romanisation_wins_and_missing_one_is_made(scp, db, network):
    # Somsri has a record at the hub (HN MK0001): the worklist shows the hub's.
    hub_record = db.session.scalar(
        select(Patient).where(
            Patient.id_value == network.somsri.id_value, Patient.hospital_id == network.hub.id
        )
    )
    hub_record.given_name_en, hub_record.family_name_en = "Somsree", "Thongdee"
    hub_record.romanised_by_staff = True
    network.kanya.given_name_en = network.kanya.family_name_en = ""  # never romanised
    db.session.commit()
    mine = book_step(db, network, network.somsri, "MKH_US3", local(TODAY, "0900"))
    hers = book_step(db, network, network.kanya, "MKH_US3", local(TODAY, "1000"))
    results, _ = find(scp.port, mwl_query(), calling_ae="MKH_US3")
    names = {r.AccessionNumber: str(r.PatientName) for r in results}
    assert names[mine.accession_number] == "Thongdee^Somsree^^Mrs."
    assert names[hers.accession_number] == "Phonrat^Kanyarat^^Miss"  # RTGS, by pythainlp
