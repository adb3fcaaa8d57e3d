import pytest

from scheduling.errors import ValidationFailed
from scheduling.patients import (
    format_national_id,
    mask_national_id,
    mask_national_ids_in,
    national_id_check_digit,
    romanise_thai,
    validate_national_id,
)


def test_valid_national_id_with_dashes():
    stem = "110170023070"
    cid = stem + national_id_check_digit(stem)
    assert validate_national_id(f"{cid[0]}-{cid[1:5]}-{cid[5:10]}-{cid[10:12]}-{cid[12]}") == cid


def test_wrong_check_digit_is_a_thai_message():
    stem = "110170023070"
    wrong = stem + str((int(national_id_check_digit(stem)) + 1) % 10)
    with pytest.raises(ValidationFailed) as error:
        validate_national_id(wrong)
    assert error.value.code == "cid-checksum"
    assert "เลขบัตรประชาชนไม่ถูกต้อง" in error.value.message("th")
    assert "check digit" in error.value.message("en")


def test_short_id():
    with pytest.raises(ValidationFailed) as error:
        validate_national_id("12345")
    assert error.value.message("th") == "เลขบัตรประชาชนต้องมี 13 หลัก"


def test_mask_shows_the_last_three_only_and_the_full_format_keeps_every_digit():
    assert mask_national_id("1101700230705") == "x-xxxx-xxxxx-70-5"
    assert mask_national_id("AA1234567") == "xxxxxx567"
    assert mask_national_id("AB") == "AB"
    assert mask_national_id(None) == ""
    assert format_national_id("1101700230705") == "1-1017-00230-70-5"
    assert format_national_id("AA1234567") == "AA1234567"
    # Valid IDs only (1234567890123 fails its check digit), and never part of a longer number.
    assert (
        mask_national_ids_in("identifier=1101700230708&x=1234567890123 11017002307081")
        == "identifier=x-xxxx-xxxxx-70-8&x=1234567890123 11017002307081"
    )


def test_romanise_rtgs():
    assert romanise_thai("สมชาย") == "Somchai"


def test_another_hospital_registering_the_id_gets_its_own_record(demo, now):
    from sqlalchemy import select

    from scheduling.audit import Actor
    from scheduling.models import AuditEvent, Hospital, IdentifierType, Interface, Sex
    from scheduling.patients import find_patient, linked_records, register_patient

    stem = "110170023070"
    cid = stem + national_id_check_digit(stem)  # สมศรี ทองดี, held by รพ.กุดรัง (demo)
    kosum = demo.session.scalar(select(Hospital).where(Hospital.code == "11005"))
    kudrang = demo.session.scalar(select(Hospital).where(Hospital.code == "11008"))
    theirs = find_patient(IdentifierType.NATIONAL_ID, cid, hospital_id=kudrang.id)
    before = (theirs.given_name_th, theirs.family_name_th, theirs.birth_date, theirs.sex, theirs.hn)
    own = register_patient(
        Actor(interface=Interface.FHIR, name="kosum-his", hospital_id=kosum.id),
        now,
        id_type=IdentifierType.NATIONAL_ID,
        id_value=cid,
        prefix="MR",
        given_name_th="ชื่อปลอม",
        family_name_th="นามสกุลปลอม",
        birth_date=None,
        sex=Sex.MALE,
        hospital_id=kosum.id,
    )
    demo.session.expire_all()
    # Kosum's own record, with what Kosum sent and nothing of Kud Rang's...
    assert own.id != theirs.id and own.hospital_id == kosum.id
    assert (own.given_name_th, own.birth_date, own.phone) == ("ชื่อปลอม", None, None)
    # ...no HN made up for it, and Kud Rang's record exactly as it was.
    assert own.hospital_numbers == []
    after = (theirs.given_name_th, theirs.family_name_th, theirs.birth_date, theirs.sex, theirs.hn)
    assert after == before
    assert [r.id for r in demo.session.scalars(linked_records(own))] == [theirs.id]
    last = demo.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.entity_id, last.hospital_id) == ("patient.register", own.id, kosum.id)
    assert last.detail["changes"]["given_name_th"] == [None, "ชื่อปลอม"]


def test_an_update_keeps_what_the_sender_left_out_and_audits_before_and_after(demo, now):
    from sqlalchemy import select

    from scheduling.audit import Actor
    from scheduling.models import AuditEvent, Hospital, IdentifierType, Interface, Sex
    from scheduling.patients import find_patient, register_patient

    stem = "110170023070"
    cid = stem + national_id_check_digit(stem)
    kudrang = demo.session.scalar(select(Hospital).where(Hospital.code == "11008"))
    somsri = find_patient(IdentifierType.NATIONAL_ID, cid, hospital_id=kudrang.id)
    born = somsri.birth_date
    register_patient(
        Actor(interface=Interface.HL7, name="kudrang-his", hospital_id=kudrang.id),
        now,
        id_type=IdentifierType.NATIONAL_ID,
        id_value=cid,
        prefix="MRS",
        given_name_th="สมศรี",
        family_name_th="ทองมาก",
        birth_date=None,  # not sent: not "unknown"
        sex=Sex.UNKNOWN,
        hospital_id=kudrang.id,
    )
    assert somsri.birth_date == born and somsri.sex is Sex.FEMALE
    last = demo.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last.action == "patient.update"
    assert last.detail["changes"]["family_name_th"] == ["ทองดี", "ทองมาก"]
    assert "birth_date" not in last.detail["changes"]
