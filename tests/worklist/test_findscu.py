"""The worklist SCP against DCMTK's findscu, the reference SCU scanners are tested with.

Responses are extracted with ``-X`` and read twice: by DCMTK itself (``dcmdump +U8``
converts from the declared character set to UTF-8, so it shows what a DCMTK-based
console would display) and by pydicom.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.worklist.conftest import TODAY, book_step, bulk_steps, local

FINDSCU = "/usr/bin/findscu"
DCMDUMP = "/usr/bin/dcmdump"
SPS = "ScheduledProcedureStepSequence[0]."


def findscu(
    port: int,
    keys: list[str],
    out: Path | None = None,
    *,
    aet: str = "MKH_US1",
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess, list[Path]]:
    args = [FINDSCU, "-W", "-aet", aet, "-aec", "RADBOOK", *extra]
    if out is not None:
        out.mkdir(exist_ok=True)
        args += ["-X", "-od", str(out)]
    for key in keys:
        args += ["-k", key]
    args += ["127.0.0.1", str(port)]
    env = {**os.environ, "TCP_NODELAY": "1"}
    proc = subprocess.run(args, capture_output=True, env=env, timeout=60)
    files = sorted(out.glob("rsp*.dcm")) if out is not None else []
    return proc, files


def dcmtk_utf8(path: Path) -> str:
    return subprocess.run(
        [DCMDUMP, "+U8", str(path)], capture_output=True, check=True, timeout=30
    ).stdout.decode("utf-8")


def dcmtk_value(dump: str, keyword: str) -> str:
    match = re.search(rf"\[([^\]]*)\][^\n]*# *\d+, *\d+ {keyword}\n", dump)
    assert match, f"{keyword} not in\n{dump}"
    return match.group(1)


BASE_KEYS = [
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "AccessionNumber",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "RequestedProcedureID",
    SPS + "ScheduledStationAETitle",
    SPS + "ScheduledProcedureStepStartDate",
    SPS + "ScheduledProcedureStepStartTime",
    SPS + "Modality",
]


@pytest.mark.parametrize(
    ("aet", "charset", "name"),
    [
        ("MKH_US1", "ISO_IR 192", "Thongdi^Somsri^^Mrs.=ทองดี^สมศรี^^นาง"),
        ("MKH_US2", "ISO_IR 166", "Thongdi^Somsri^^Mrs.=ทองดี^สมศรี^^นาง"),
        ("MKH_US3", "", "Thongdi^Somsri^^Mrs."),
    ],
)
def test_thai_names_in_each_character_set(scp, db, network, tmp_path, aet, charset, name):
    book_step(db, network, network.somsri, aet, local(TODAY, "0900"))
    proc, files = findscu(scp.port, BASE_KEYS, tmp_path / "rsp", aet=aet)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert len(files) == 1
    ds = pydicom.dcmread(files[0])
    assert (ds.get("SpecificCharacterSet") or "") == charset
    assert str(ds.PatientName) == name
    raw = files[0].read_bytes()
    if charset == "ISO_IR 166":
        assert "ทองดี".encode("tis-620") in raw and "ทองดี".encode() not in raw
    if not charset:
        assert "ทองดี".encode("tis-620") not in raw and "ทองดี".encode() not in raw
    # DCMTK's own conversion to UTF-8 shows the same name
    assert dcmtk_value(dcmtk_utf8(files[0]), "PatientName") == name


def test_todays_list_for_the_calling_scanner(scp, db, network, tmp_path):
    first = book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900"))
    second = book_step(db, network, network.boonlert, "MKH_US1", local(TODAY, "1030"))
    book_step(db, network, network.kanya, "MKH_US2", local(TODAY, "0900"))  # other station
    keys = [k for k in BASE_KEYS if not k.endswith("StartDate")]
    proc, files = findscu(
        scp.port, keys + [SPS + "ScheduledProcedureStepStartDate=20261121"], tmp_path / "rsp"
    )
    assert proc.returncode == 0
    found = [pydicom.dcmread(f) for f in files]
    assert [d.AccessionNumber for d in found] == [first.accession_number, second.accession_number]
    assert [d.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime for d in found] == [
        "090000",
        "103000",
    ]
    assert found[1].PatientName.components[1] == "ศรีสุวรรณ^บุญเลิศ^^นาย"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("PatientName=thong*", ["somsri"]),
        ("PatientName=*^B?NLOET", ["boonlert"]),
        ("PatientID=MK0002", ["boonlert"]),
        (SPS + "ScheduledProcedureStepStartTime=1000-1200", ["boonlert"]),
        (SPS + "Modality=CT", []),
    ],
)
def test_matching_keys_from_findscu(scp, db, network, tmp_path, key, expected):
    steps = {
        "somsri": book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900")),
        "boonlert": book_step(db, network, network.boonlert, "MKH_US1", local(TODAY, "1030")),
    }
    name = key.split("=")[0]
    keys = [k for k in BASE_KEYS if k != name] + [key]
    proc, files = findscu(scp.port, keys, tmp_path / "rsp")
    assert proc.returncode == 0
    assert [pydicom.dcmread(f).AccessionNumber for f in files] == [
        steps[k].accession_number for k in expected
    ]


def test_thai_matching_value_from_findscu(scp, db, network, tmp_path):
    step = book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900"))
    book_step(db, network, network.boonlert, "MKH_US1", local(TODAY, "1030"))
    keys = [k for k in BASE_KEYS if k not in ("SpecificCharacterSet", "PatientName")]
    proc, files = findscu(
        scp.port,
        keys + ["SpecificCharacterSet=ISO_IR 192", "PatientName=*สมศรี*"],
        tmp_path / "rsp",
    )
    assert proc.returncode == 0
    assert [pydicom.dcmread(f).AccessionNumber for f in files] == [step.accession_number]


def test_unknown_calling_ae_is_rejected(scp, network):
    proc, _ = findscu(scp.port, ["PatientName"], aet="STRANGER")
    assert proc.returncode != 0
    assert b"Calling AE Title Not Recognized" in proc.stderr


def test_findscu_cancel(scp, db, network):
    bulk_steps(db, network, "MKH_US1", TODAY, 300)
    proc, _ = findscu(
        scp.port,
        ["PatientName", SPS + "ScheduledProcedureStepStartDate=20261121"],
        extra=("-v", "--cancel", "1"),
    )
    log = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert proc.returncode == 0
    assert "Received Final Find Response (Cancel" in log
    assert log.count("(Pending)") < 300


def test_repeated_queries_in_one_association(scp, db, network):
    book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900"))
    proc, _ = findscu(scp.port, BASE_KEYS, extra=("-v", "--repeat", "5"))
    log = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert proc.returncode == 0
    assert log.count("Requesting Association") == 1
    assert log.count("Received Final Find Response (Success)") == 5
