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


def test_another_hospital_cannot_overwrite_a_patient_it_does_not_hold(demo, now):
    from sqlalchemy import select

    from scheduling.audit import Actor
    from scheduling.models import AuditEvent, Hospital, IdentifierType, Interface, Sex
    from scheduling.patients import find_patient, register_patient

    stem = "110170023070"
    cid = stem + national_id_check_digit(stem)  # สมศรี ทองดี, held by รพ.กุดรัง (demo)
    kosum = demo.session.scalar(select(Hospital).where(Hospital.code == "11005"))
    register_patient(
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
    patient = find_patient(IdentifierType.NATIONAL_ID, cid)
    assert (patient.given_name_th, patient.family_name_th) == ("สมศรี", "ทองดี")
    assert patient.sex is Sex.FEMALE
    # ...but Kosum now holds an HN for the person it registered, so it can see them.
    assert patient.hn_at(kosum.id) is not None
    last = demo.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last.action == "patient.attach_hn"
