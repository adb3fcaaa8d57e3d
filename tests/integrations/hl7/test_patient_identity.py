"""Issue 13 over a real MLLP listener: ADT from one hospital never reads, rewrites, merges
or deletes another hospital's patient record (docs/patient-identity.md)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from scheduling.models import AuditEvent, ImagingRequest, Patient, PatientHN
from scheduling.patients import national_id_check_digit
from tests.integrations.hl7.conftest import (
    KOSUM,
    KUDRANG,
    adt,
    cid,
    err,
    exchange,
    hospital,
    msa,
    msh,
    orm,
)

SOMCHAI = cid("110170099990")  # Kud Rang's patient in these tests
OTHER = cid("110170099981")


def kosum_pid(national_id: str | None, hn: str, given: str, *, authority: str = KOSUM) -> str:
    ids = f"{hn}^^^{authority}^MR" + (f"~{national_id}^^^TH-CID^NI" if national_id else "")
    return f"PID|1||{ids}||ปลอม^{given}^^^นาย||19990101|M|||||0899999999"


def kosum_adt(control_id: str, event: str, pid: str) -> str:
    return "\r".join([msh(f"ADT^{event}^ADT_A01", control_id, sender=KOSUM), pid, "PV1|1|O"]) + "\r"


def kosum_merge(control_id: str, pid: str, mrg: str) -> str:
    return "\r".join([msh("ADT^A40^ADT_A39", control_id, sender=KOSUM), pid, mrg]) + "\r"


def record(code: str, national_id: str) -> Patient | None:
    return db.session.scalar(
        select(Patient).where(
            Patient.id_value == national_id, Patient.hospital_id == hospital(code).id
        )
    )


def everything_of(patient_id: int) -> tuple:
    """A Kud Rang record and every row that hangs from it."""
    db.session.expire_all()
    p = db.session.get(Patient, patient_id)
    if p is None:
        return ()
    return (
        p.hospital_id,
        p.id_value,
        p.given_name_th,
        p.family_name_th,
        p.birth_date,
        p.sex,
        p.phone,
        tuple(
            db.session.execute(
                select(PatientHN.hospital_id, PatientHN.hn).where(PatientHN.patient_id == p.id)
            ).all()
        ),
        tuple(
            db.session.scalars(
                select(ImagingRequest.id).where(ImagingRequest.patient_id == p.id)
            ).all()
        ),
    )


def test_an_a08_from_another_hospital_makes_its_own_record_and_changes_nothing_else(listener):
    [ack] = exchange(listener.port, adt("KR-1", SOMCHAI, hn="KR5001"))
    assert msa(ack)[0] == "AA"
    theirs = record(KUDRANG, SOMCHAI)
    before = everything_of(theirs.id)
    answers = exchange(
        listener.port,
        kosum_adt("KS-1", "A08", kosum_pid(SOMCHAI, "KS5001", "ชื่อปลอม")),
        kosum_adt("KS-2", "A08", kosum_pid(SOMCHAI, "KS5001", "ชื่อปลอมสอง")),
    )
    assert [msa(a)[0] for a in answers] == ["AA", "AA"]
    # Kosum has its own record, with what Kosum sent; Kud Rang's is exactly as it was.
    own = record(KOSUM, SOMCHAI)
    assert (own.given_name_th, own.hn) == ("ชื่อปลอมสอง", "KS5001")
    assert everything_of(theirs.id) == before
    changes = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "patient.update")
    ).all()
    assert [e.entity_id for e in changes] == [own.id]
    assert changes[0].detail["changes"]["given_name_th"] == ["ชื่อปลอม", "ชื่อปลอมสอง"]


def test_a_kosum_a40_merges_kosums_own_records_and_leaves_kud_rangs_alone(listener):
    """The old A40 deleted Kud Rang's patient and pointed Kud Rang's HN at Kosum's."""
    exchange(listener.port, adt("KR-2", SOMCHAI, hn="KR5002"))
    theirs = record(KUDRANG, SOMCHAI)
    before = everything_of(theirs.id)
    kept = cid("344020011112")
    answers = exchange(
        listener.port,
        # Kosum "claims" Kud Rang's patient, then merges that record into one of its own.
        kosum_adt("KS-10", "A08", kosum_pid(SOMCHAI, "KS5010", "ชื่อปลอม")),
        kosum_adt("KS-11", "A04", kosum_pid(kept, "KS5011", "คนของโกสุม")),
        kosum_merge("KS-12", kosum_pid(kept, "KS5011", "คนของโกสุม"), f"MRG|{SOMCHAI}^^^TH-CID^NI"),
    )
    assert [msa(a)[0] for a in answers] == ["AA", "AA", "AA"]
    # Kosum's claimed record is gone into its survivor; Kud Rang's record, HN and rows stay.
    assert record(KOSUM, SOMCHAI) is None
    assert record(KOSUM, kept).hn == "KS5011"
    assert everything_of(theirs.id) == before
    holder = db.session.scalar(
        select(PatientHN.patient_id).where(
            PatientHN.hospital_id == hospital(KUDRANG).id, PatientHN.hn == "KR5002"
        )
    )
    assert holder == theirs.id


def _counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count(Patient.id))),
        db.session.scalar(select(func.count(PatientHN.id))),
        db.session.scalar(select(func.count(ImagingRequest.id))),
    )


def test_an_a40_naming_another_hospitals_record_is_refused_and_changes_nothing(listener):
    exchange(
        listener.port,
        adt("KR-3", SOMCHAI, hn="KR5003"),
        adt("KR-4", OTHER, hn="KR5004", given="สมหญิง"),
        orm("KR-5", OTHER, "PO5004", hn="KR5004"),
    )
    kosums = cid("344020011121")
    [ack] = exchange(listener.port, kosum_adt("KS-20", "A04", kosum_pid(kosums, "KS5020", "ก")))
    assert msa(ack)[0] == "AA"
    theirs = [record(KUDRANG, SOMCHAI).id, record(KUDRANG, OTHER).id]
    before = [everything_of(p) for p in theirs]
    counts = _counts()
    survivor = kosum_pid(kosums, "KS5020", "ก")
    answers = exchange(
        listener.port,
        # MRG-1 by Kud Rang's HN (assigning authority 11008): not Kosum's to merge.
        kosum_merge("KS-21", survivor, f"MRG|KR5003^^^{KUDRANG}^MR"),
        # MRG-1 by a national ID Kosum has no record of: nothing of Kosum's to merge.
        kosum_merge("KS-22", survivor, f"MRG|{OTHER}^^^TH-CID^NI"),
        # PID-3 by Kud Rang's HN: re-identifying Kud Rang's record.
        kosum_merge("KS-23", kosum_pid(None, "KR5004", "x", authority=KUDRANG), "MRG|KS5020"),
        # An A08 that names the patient only by Kud Rang's HN.
        kosum_adt("KS-24", "A08", kosum_pid(None, "KR5003", "ชื่อปลอม", authority=KUDRANG)),
    )
    codes = [(msa(a)[0], str(err(a)[5][0][0])) for a in answers]
    assert codes == [
        ("AE", "foreign-hn"),
        ("AE", "merge-prior-unknown"),
        ("AE", "foreign-hn"),
        ("AE", "foreign-hn"),
    ]
    # The ERR says why, in Thai and English (ERR-8 and ERR-7).
    assert "โรงพยาบาลอื่น" in str(err(answers[0])[8])
    assert [everything_of(p) for p in theirs] == before
    assert _counts() == counts


def test_patients_without_an_hn_get_none_and_never_collide(listener):
    """The old automatic HN was "N" + the last 8 digits of the ID: two IDs that end alike
    collided ("HN N… belongs to another patient") although nobody typed an HN."""
    first, second = _two_ids_ending_alike()
    no_hn = "PID|1||{}^^^TH-CID^NI||ใจดี^สมชาย^^^นาย||19800115|M"
    answers = exchange(
        listener.port,
        *(
            "\r".join([msh("ADT^A04^ADT_A01", f"NOHN-{i}"), no_hn.format(n), "PV1|1|O"]) + "\r"
            for i, n in enumerate((first, second))
        ),
    )
    assert [msa(a)[0] for a in answers] == ["AA", "AA"]
    for n in (first, second):
        assert record(KUDRANG, n).hospital_numbers == []


def _two_ids_ending_alike() -> tuple[str, str]:
    """Two valid national IDs whose last 8 digits are the same."""
    tail = "0012345"  # digits 6-12; the 13th (check digit) must come out the same too
    seen: dict[str, str] = {}
    for head in range(11000, 11100):
        stem = f"{head}{tail}"
        check = national_id_check_digit(stem)
        if check in seen:
            return seen[check], stem + check
        seen[check] = stem + check
    raise AssertionError("no two IDs found")


def test_a_result_naming_another_patient_links_nothing(listener, us_capacity, now):
    """An ORU whose PID is not the request's patient: its study is not linked (and its
    report not stored): AE ``patient-mismatch``."""
    from scheduling.booking import book
    from scheduling.models import Study
    from tests.integrations.hl7.conftest import MKH, segment
    from tests.integrations.hl7.test_orders import MON_0900, request_by_placer
    from tests.scheduling.factories import SYSTEM

    exchange(listener.port, orm("ORM-ID1", SOMCHAI, "PO-ID1"))
    request = request_by_placer("PO-ID1")
    appointment = book(SYSTEM, now, request, us_capacity, MON_0900)

    def oru(control_id: str, pid: str) -> str:
        return (
            "\r".join(
                [
                    msh("ORU^R01^ORU_R01", control_id, sender=MKH, app="RIS"),
                    pid,
                    segment("ORC", {1: "RE", 3: f"{request.id}^RADBOOK"}),
                    segment("OBR", {1: "1", 3: f"{request.id}^RADBOOK", 4: "US-UPABD", 25: "F"}),
                    segment("OBX", {1: "1", 2: "TX", 3: "IMP", 5: "ปกติ", 11: "F"}),
                    f"ZDS|{appointment.study_instance_uid}^RADBOOK^Application^DICOM",
                ]
            )
            + "\r"
        )

    [ack] = exchange(
        listener.port, oru("RIS-ID1", f"PID|1||{OTHER}^^^TH-CID^NI||ศรีสุวรรณ^บุญเลิศ||19550902|M")
    )
    assert msa(ack)[0] == "AE" and str(err(ack)[5][0][0]) == "patient-mismatch"
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Study.id))) == 0
    assert db.session.get(ImagingRequest, request.id).report_text is None
    # The same result naming the right patient is taken.
    [ack] = exchange(listener.port, oru("RIS-ID2", f"PID|1||{SOMCHAI}^^^TH-CID^NI||ใจดี^สมชาย"))
    assert msa(ack)[0] == "AA"
    assert db.session.scalar(select(func.count(Study.id))) == 1
