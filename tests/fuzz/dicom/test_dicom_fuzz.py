"""DICOM fuzz: malformed MWL C-FIND identifiers and MPPS N-CREATE/N-SET datasets.

Every request must be answered with a DICOM status (success, pending, cancel or a
failure the SCP chose), never an exception escaping into pynetdicom (which would log
it and answer 0xC311/0x0110 for us), and the SCP must still answer C-ECHO afterwards.
Seeded (``RADBOOK_FUZZ_SEED``); ``RADBOOK_FUZZ_DICOM_CASES`` sets the size.
"""

from __future__ import annotations

import logging
import os
import random
import threading

import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)

from tests.worklist.conftest import TODAY, book_step, local

# pydicom warns (and logs) about each value that breaks its VR's rules, on both sides:
# that is the input this test is made of, not a fault.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom.*")

CASES = int(os.environ.get("RADBOOK_FUZZ_DICOM_CASES", "200"))
SEED = int(os.environ.get("RADBOOK_FUZZ_SEED", "20261121"))
# Only these case numbers (comma-separated), to reproduce one failure.
ONLY = {int(n) for n in os.environ.get("RADBOOK_FUZZ_ONLY", "").split(",") if n.strip()}

# Top-level and SPS keys of an MWL query (PS3.4 K.6), with their tags.
TOP_KEYS = [
    0x00100010,
    0x00100020,
    0x00100021,
    0x00100030,
    0x00100040,
    0x00080050,
    0x0020000D,
    0x00401001,
    0x00321060,
    0x00401003,
    0x00102000,
    0x00102110,
    0x00101030,
    0x00080090,
    0x00321032,
    0x00380300,
    0x00080005,
]
SPS_KEYS = [
    0x00400001,
    0x00400002,
    0x00400003,
    0x00080060,
    0x00400006,
    0x00400009,
    0x00400007,
    0x00400020,
    0x00400010,
    0x00400011,
    0x00400012,
]
ODD_TAGS = [
    0x00110010,
    0x00111001,
    0x00091001,
    0x7FE00010,
    0x00081150,
    0xFFFEE000,
    0x00000000,
    0x00020010,
    0x00089999,
    0x00400100,
]
VRS = [
    "AE",
    "AS",
    "CS",
    "DA",
    "DS",
    "DT",
    "IS",
    "LO",
    "LT",
    "OB",
    "PN",
    "SH",
    "SQ",
    "ST",
    "TM",
    "UI",
    "UL",
    "US",
    "UN",
    "UT",
    "SS",
    "FL",
    "FD",
    "AT",
    "OW",
]
CHARSETS = [
    "",
    "ISO_IR 192",
    "ISO_IR 166",
    "ISO 2022 IR 166",
    "ISO_IR 100",
    "GB18030",
    "ISO 2022 IR 87",
    "XYZ",
    "ISO_IR 6",
    "\\ISO 2022 IR 166",
    "ISO_IR 192\\ISO_IR 166",
    "ISO 2022 IR 6\\ISO 2022 IR 166",
    "ISO_IR 13",
    "ISO-IR 192",
    "utf-8",
]
TEXT = [
    "",
    "*",
    "?",
    "**",
    "*?*",
    "A*B?C",
    "\\",
    "\\\\\\",
    "-",
    "20261121-",
    "-20261121",
    "20261121-20261120",
    "2026-11-21",
    "abcdefgh",
    "99999999",
    "20261121\\20261122",
    "0900-0800",
    "25:00",
    "090000.1234567-",
    "A" * 70,
    "ก" * 70,
    "^^^^^",
    "=",
    "Thongdi^Somsri=ทองดี^สมศรี",
    "ทอง*",
    "*=*",
    "\x00",
    "\x1b$)\x1c",
    "1.2.3\\1.2.4",
    "1..2",
    "ABCDEFGHIJKLMNOPQ",
    "MKH_US1",
    "MKH_US1\\MKH_US2",
    "US\\CT",
    "SCHEDULED",
    "STARTED\\ARRIVED",
    "'; DROP TABLE appointment; --",
    "%_%",
    "[a-z]*",
    "1e400",
    "-1",
    " ",
    "x" * 10_000,
]
BYTES = [
    b"\xff\xfe",
    b"\x80\x81\x82",
    b"\xe0\xb8",
    b"\x00\x00",
    b"\x1b$B\x1b(B",
    b"\xc0\xaf",
    b"\xa1\xa2\xa3",
    b"*\xff?",
    b"\xff" * 300,
]


class ErrorLog(logging.Handler):
    """Collects ERROR records (pynetdicom logs an exception escaping a handler there)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The test's own thread is the SCU: its "could not encode" is not the SCP's fault.
        if record.thread != threading.main_thread().ident:
            self.records.append(record)

    def messages(self) -> list[str]:
        formatter = logging.Formatter()
        return [
            f"{r.name}: {r.getMessage()}\n{formatter.formatException(r.exc_info)[-900:]}"
            if r.exc_info
            else f"{r.name}: {r.getMessage()}"
            for r in self.records
        ]


@pytest.fixture
def error_log():
    handler = ErrorLog()
    loggers = [logging.getLogger(name) for name in ("pynetdicom", "worklist")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def _raw(rng: random.Random, vr: str) -> bytes:
    """A value's bytes as they go on the wire, whatever the VR says they should be."""
    roll = rng.random()
    if roll < 0.15:
        value = rng.choice(BYTES)
    elif vr in ("US", "SS"):
        value = rng.choice([b"\x00\x00", b"\xff\xff", b"\x01"])
    elif vr in ("UL", "FL", "AT"):
        value = rng.choice([b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02"])
    elif vr == "FD":
        value = rng.choice([b"\x00" * 8, b"\xff" * 8, b"\x7f\xf0" + b"\x00" * 6])
    else:
        value = rng.choice(TEXT).encode(
            rng.choice(["utf-8", "utf-8", "cp874", "latin-1"]), "replace"
        )
    return value + b" " if len(value) % 2 else value


class Wire:
    """Builds elements as raw bytes in one transfer syntax, so the SCU sends anything."""

    def __init__(self, rng: random.Random, implicit: bool):
        self.rng, self.implicit = rng, implicit

    def element(self, tag: int, vr: str | None = None, value: bytes | None = None):
        from pydicom.datadict import dictionary_VR
        from pydicom.dataelem import RawDataElement
        from pydicom.tag import Tag

        if vr is None:
            try:
                vr = dictionary_VR(tag).split(" or ")[0]
            except KeyError:
                vr = "UN"
            if self.rng.random() < 0.25:
                vr = self.rng.choice([v for v in VRS if v != "SQ"])  # the wrong VR
        if value is None:
            value = _raw(self.rng, vr)
        return RawDataElement(
            Tag(tag), None if self.implicit else vr, len(value), value, 0, self.implicit, True
        )

    def add(self, ds: Dataset, tag: int, vr: str | None = None, value: bytes | None = None) -> None:
        ds[tag] = self.element(tag, vr, value)


def mwl_identifier(rng: random.Random, implicit: bool) -> Dataset:
    wire = Wire(rng, implicit)
    ds = Dataset()
    for tag in rng.sample(TOP_KEYS, rng.randint(0, len(TOP_KEYS))):
        wire.add(ds, tag)
    if rng.random() < 0.2:
        tag = rng.choice(ODD_TAGS)
        if tag != 0x00400100:
            wire.add(ds, tag)
    if rng.random() < 0.3:
        wire.add(ds, 0x00080005, "CS", _even(rng.choice(CHARSETS).encode()))
    shape = rng.random()
    if shape < 0.7:
        items = []
        for _ in range(rng.choice([1, 1, 1, 0, 2, 3])):
            step = Dataset()
            for tag in rng.sample(SPS_KEYS, rng.randint(0, len(SPS_KEYS))):
                wire.add(step, tag)
            if rng.random() < 0.1:  # a sequence inside the step where none belongs
                step.add(DataElement(0x00400001, "SQ", Sequence([Dataset()])))
            items.append(step)
        ds.add(DataElement(0x00400100, "SQ", Sequence(items)))
    elif shape < 0.85:  # the step sequence as something else
        wire.add(ds, 0x00400100, rng.choice(["LO", "UN", "OB"]))
    if len(ds) == 0:
        # pynetdicom sends no data set for an empty one although the command announces
        # it: the SCP then rightly waits for it until its network timeout.
        wire.add(ds, 0x00100010)
    return ds


def _even(value: bytes) -> bytes:
    return value + b" " if len(value) % 2 else value


def _send_find(assoc, ds: Dataset) -> tuple[int | None, int, str]:
    """(final status or None, pending count, note)."""
    pending = 0
    try:
        responses = assoc.send_c_find(ds, ModalityWorklistInformationFind)
        for status, _identifier in responses:
            if not status:
                return None, pending, "no response (aborted or timed out)"
            if status.Status in (0xFF00, 0xFF01):
                pending += 1
            else:
                return status.Status, pending, ""
    except Exception as exc:  # the SCU could not encode the identifier: not sent
        return -1, 0, f"{type(exc).__name__}: {exc}"
    return None, pending, "no final response"


def _associate(port: int, ae_title: str, sop_class, syntax) -> object:
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 8
    ae.add_requested_context(sop_class, [syntax])
    assoc = ae.associate("127.0.0.1", port, ae_title="RADBOOK")
    assert assoc.is_established
    return assoc


def _echo(port: int) -> int:
    assoc = _associate(port, "MKH_US1", Verification, ImplicitVRLittleEndian)
    try:
        return assoc.send_c_echo().Status
    finally:
        assoc.release()


def test_mwl_c_find_with_malformed_identifiers(db, network, scp, error_log):
    for hhmm in ("0800", "0900", "1000"):
        book_step(db, network, network.somsri, "MKH_US1", local(TODAY, hhmm))
    book_step(db, network, network.boonlert, "MKH_US2", local(TODAY, "0900"))
    rng = random.Random(f"mwl:{SEED}")
    statuses: dict[str, int] = {}
    problems, unsendable = [], 0
    assoc = None
    for i in range(CASES):
        # A new association now and then, alternating transfer syntaxes and stations.
        if i % 25 == 0:
            if assoc is not None:
                assoc.release()
            syntax = [ImplicitVRLittleEndian, ExplicitVRLittleEndian][i // 25 % 2]
            assoc = _associate(
                scp.port,
                rng.choice(["MKH_US1", "MKH_US2", "MKH_US3", "MKH_CT1"]),
                ModalityWorklistInformationFind,
                syntax,
            )
        ds = mwl_identifier(rng, implicit=syntax == ImplicitVRLittleEndian)
        if ONLY and i not in ONLY:
            continue
        final, pending, note = _send_find(assoc, ds)
        if final == -1:
            # The SCU may have sent half a request: start over on a new association.
            unsendable += 1
            assoc.abort()
            assoc = _associate(scp.port, "MKH_US1", ModalityWorklistInformationFind, syntax)
            continue
        if final is None:
            problems.append(f"case {i}: {note}\n{ds}\nSCP log: {error_log.messages()}")
            assoc = _associate(
                scp.port, "MKH_US1", ModalityWorklistInformationFind, ImplicitVRLittleEndian
            )
            continue
        key = f"0x{final:04X}"
        statuses[key] = statuses.get(key, 0) + 1
        # A failure must be one the SCP chose, not pynetdicom's answer to an exception.
        if final in (
            0xC311,
            0xC312,
            0xC313,
            0xC314,
            0xC315,
            0xC316,
            0xC317,
            0xC318,
            0xC319,
            0xC320,
            0xC321,
            0xC322,
            0xC323,
            0xC310,
        ):
            problems.append(f"case {i}: status {key} (an exception in the handler)\n{ds}")
    assoc.release()
    print(
        f"\nDICOM MWL fuzz, seed {SEED}: {CASES} identifiers ({unsendable} the SCU could "
        f"not encode), final statuses {statuses}"
    )
    assert problems == []
    assert error_log.messages() == [], "\n".join(error_log.messages())
    assert _echo(scp.port) == 0x0000
    assert statuses.get("0x0000", 0) > CASES // 4  # the fuzz also reaches real matching


def mpps_dataset(rng: random.Random, appointment, create: bool, implicit: bool) -> Dataset:
    wire = Wire(rng, implicit)
    ds = Dataset()
    # Two in five start from a complete, valid dataset (the first choice of each list),
    # so that the fuzz gets past the attribute checks into the state changes.
    valid = rng.random() < 0.4
    odd = 0.03 if valid else 0.1

    def pick(options: list[str]) -> str:
        return options[0] if valid and rng.random() > odd else rng.choice(options)

    def text(ds: Dataset, tag: int, vr: str, value: str) -> None:
        if rng.random() < odd:
            wire.add(ds, tag)  # a random value, perhaps with the wrong VR
        else:
            wire.add(ds, tag, vr, _even(value.encode("utf-8")))

    fields = [
        (0x00080005, "CS", lambda: pick(["ISO_IR 192", *CHARSETS])),
        (0x00100010, "PN", lambda: pick(["Thongdi^Somsri", *TEXT])),
        (0x00100020, "LO", lambda: pick(["MK0001", "", "X" * 80])),
        (0x00080060, "CS", lambda: pick(["US", "CT", "", "ZZ", "US\\CT"])),
        (0x00400253, "SH", lambda: pick(["PPS1", "", "P" * 40])),
        (0x00400241, "AE", lambda: pick(["MKH_US1", "", "A" * 40])),
        (0x00400242, "SH", lambda: "US1"),
        (0x00400244, "DA", lambda: pick(["20261121", "", "2026", "99999999", "abc"])),
        (0x00400245, "TM", lambda: pick(["090500", "", "256161", "x"])),
        (
            0x00400250,
            "DA",
            lambda: pick(["" if create else "20261121", "", "20261121", "19000101"]),
        ),
        (0x00400251, "TM", lambda: pick(["" if create else "092000", "", "092000"])),
        (
            0x00400252,
            "CS",
            lambda: pick(
                [
                    "IN PROGRESS" if create else rng.choice(["COMPLETED", "DISCONTINUED"]),
                    "IN PROGRESS",
                    "COMPLETED",
                    "DISCONTINUED",
                    "",
                    "in progress",
                    "PAUSED",
                    "IN PROGRESS\\COMPLETED",
                    "X" * 20,
                    "COMPLETED",
                    "DISCONTINUED",
                ]
            ),
        ),
        (0x00400254, "LO", lambda: pick(["US upper abdomen", *TEXT])),
    ]
    for tag, vr, make in fields:
        if (valid and rng.random() > odd) or rng.random() < (0.85 if create else 0.5):
            text(ds, tag, vr, make())
    if valid or rng.random() < 0.8:
        item = Dataset()
        refs = [
            (
                0x0020000D,
                "UI",
                lambda: pick(
                    [appointment.study_instance_uid, generate_uid(), "", "1..2", "9" * 70]
                ),
            ),
            (0x00080050, "SH", lambda: pick([appointment.accession_number, "", "NOPE", "A" * 30])),
            (0x00401001, "SH", lambda: pick([appointment.requested_procedure_id, "", "RP?"])),
            (0x00400009, "SH", lambda: pick([appointment.sps_id, "", "*"])),
        ]
        for tag, vr, make in refs:
            if valid or rng.random() < 0.8:
                text(item, tag, vr, make())
        if valid or rng.random() < 0.9:
            items = [item] * (1 if valid else rng.choice([1, 1, 2, 0]))
            ds.add(DataElement(0x00400270, "SQ", Sequence(items)))
        else:  # the sequence as something else
            wire.add(ds, 0x00400270, rng.choice(["LO", "UN"]))
    if valid or rng.random() < 0.6:
        series = []
        for _ in range(1 if valid else rng.choice([0, 1, 2])):
            item = Dataset()
            text(item, 0x0020000E, "UI", rng.choice([generate_uid(), "", "x"]))
            if rng.random() < 0.8:
                text(item, 0x0008103E, "LO", rng.choice(TEXT))
            if rng.random() < 0.7:
                ref = Dataset()
                ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
                ref.ReferencedSOPInstanceUID = generate_uid()
                item.add(DataElement(0x00081140, "SQ", Sequence([ref] * rng.choice([0, 1, 5]))))
            elif rng.random() < 0.2:
                wire.add(item, 0x00081140, "LO", b"not a sequence")
            series.append(item)
        if rng.random() < 0.9:
            ds.add(DataElement(0x00400340, "SQ", Sequence(series)))
        else:
            wire.add(ds, 0x00400340, "LO", b"x ")
    if rng.random() < 0.1:
        tag = rng.choice(ODD_TAGS)
        if tag not in (0x00400100,):
            wire.add(ds, tag)
    if len(ds) == 0:  # see mwl_identifier
        wire.add(ds, 0x00400254)
    return ds


def test_mpps_n_create_and_n_set_with_malformed_datasets(db, network, scp, error_log):
    rng = random.Random(f"mpps:{SEED}")
    appointments = [
        book_step(
            db, network, network.somsri, "MKH_US1", local(TODAY, f"{8 + i % 8:02d}{i % 2 * 30:02d}")
        )
        for i in range(12)
    ]
    known: list[str] = []
    statuses: dict[str, int] = {}
    problems, unsendable = [], 0
    scanner = None
    for i in range(CASES):
        if i % 20 == 0:
            if scanner is not None:
                scanner.release()
            syntax = [ImplicitVRLittleEndian, ExplicitVRLittleEndian][i // 20 % 2]
            scanner = _associate(
                scp.port,
                rng.choice(["MKH_US1", "MKH_US1", "MKH_US2"]),
                ModalityPerformedProcedureStep,
                syntax,
            )
        appointment = rng.choice(appointments)
        create = rng.random() < 0.5 or not known
        ds = mpps_dataset(rng, appointment, create, implicit=syntax == ImplicitVRLittleEndian)
        try:
            if create:
                uid = rng.choice(
                    [
                        generate_uid(),
                        generate_uid(),
                        None,
                        "1.2.3",
                        known[-1] if known else "1.2",
                        "1." + "2" * 70,
                    ]
                )
                status, _ = scanner.send_n_create(ds, ModalityPerformedProcedureStep, uid)
                if status and status.Status == 0 and uid:
                    known.append(uid)
            else:
                uid = rng.choice(known + [generate_uid(), "1.2.3.4"])
                status, _ = scanner.send_n_set(ds, ModalityPerformedProcedureStep, uid)
        except Exception:  # the SCU could not encode it: perhaps half sent, start over
            unsendable += 1
            scanner.abort()
            scanner = _associate(scp.port, "MKH_US1", ModalityPerformedProcedureStep, syntax)
            continue
        kind = "N-CREATE" if create else "N-SET"
        if not status:
            problems.append(f"case {i} {kind}: no response\n{ds}")
            scanner = _associate(
                scp.port, "MKH_US1", ModalityPerformedProcedureStep, ImplicitVRLittleEndian
            )
            continue
        key = f"{kind} 0x{status.Status:04X}"
        statuses[key] = statuses.get(key, 0) + 1
        if status.Status in (0x0110, 0xC310, 0xC311) and "Exception" in str(
            status.get("ErrorComment", "")
        ):
            problems.append(f"case {i} {kind}: {status}\n{ds}")
    scanner.release()
    print(
        f"\nDICOM MPPS fuzz, seed {SEED}: {CASES} datasets ({unsendable} the SCU could not "
        f"encode), statuses {dict(sorted(statuses.items()))}"
    )
    assert problems == []
    assert error_log.messages() == [], "\n".join(error_log.messages())
    assert _echo(scp.port) == 0x0000
    assert statuses.get("N-CREATE 0x0000", 0) > 0 and statuses.get("N-SET 0x0000", 0) > 0


def test_mpps_sequence_sent_as_text_is_refused_not_a_handler_exception(db, network, scp, error_log):
    """Found by the fuzz: an N-SET whose Performed Series Sequence came with VR LO
    (explicit VR) raised AttributeError in the handler; now 0x0106."""
    from tests.worklist.test_mpps import in_progress

    appointment = book_step(db, network, network.somsri, "MKH_US1", local(TODAY, "0900"))
    uid = generate_uid()
    scanner = _associate(
        scp.port, "MKH_US1", ModalityPerformedProcedureStep, ExplicitVRLittleEndian
    )
    try:
        status, _ = scanner.send_n_create(
            in_progress(appointment), ModalityPerformedProcedureStep, uid
        )
        assert status.Status == 0x0000
        mods = Dataset()
        mods.PerformedProcedureStepStatus = "COMPLETED"
        mods.PerformedProcedureStepEndDate = "20261121"
        mods.PerformedProcedureStepEndTime = "092000"
        mods.add(DataElement(0x00400340, "LO", "not a sequence"))
        status, _ = scanner.send_n_set(mods, ModalityPerformedProcedureStep, uid)
        assert status.Status == 0x0106
        assert "not a sequence" in status.ErrorComment
    finally:
        scanner.release()
    assert error_log.messages() == []


def test_non_ascii_digits_in_a_time_are_an_invalid_matching_value():
    """ "²".isdigit() is true but int() refuses it: a TM of "²²" raised ValueError in the
    C-FIND handler instead of answering 0xA900."""
    from worklist.matching import InvalidMatchingValue, parse_da, parse_time_matching

    for bad in ("²²", "0²", "09.²"):
        with pytest.raises(InvalidMatchingValue):
            parse_time_matching(bad)
    with pytest.raises(InvalidMatchingValue):
        parse_da("2026112²")


@pytest.mark.parametrize(
    "key, value",
    [
        ("PatientName", "*" + "ก" * 60_000 + "*"),
        ("PatientName", "A" * 60_000),
        ("PatientName", "=" + "?" * 60_000),
        ("PatientID", "*" * 2 + "9" * 60_000),
        ("AccessionNumber", "x" * 300 + "*"),
    ],
)
def test_a_matching_value_far_too_long_is_a_failure_not_an_outage(
    db, network, scp, error_log, key, value
):
    """A 60,000-character name wildcard reached SQLite's LIKE, which refused it as too
    complex: answered A700 "out of resources" (and logged as a database outage). Now
    the identifier is refused (A900) and the SCP serves the next query as before."""
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    ds.AccessionNumber = ""
    step = Dataset()
    step.ScheduledStationAETitle = ""
    step.ScheduledProcedureStepStartDate = ""
    ds.ScheduledProcedureStepSequence = [step]
    setattr(ds, key, value)
    assoc = _associate(scp.port, "MKH_US1", ModalityWorklistInformationFind, ExplicitVRLittleEndian)
    try:
        status, pending, note = _send_find(assoc, ds)
        assert (status, pending) == (0xA900, 0), note
        ds.PatientName = ds.PatientID = ds.AccessionNumber = ""
        status, _pending, note = _send_find(assoc, ds)
        assert status == 0x0000, note
    finally:
        assoc.release()
    assert error_log.messages() == []
