"""Demo patients whose age and sex fit the exams the demo books for them.

``PROCEDURE_FIT`` (``app.demo_data``) says who each procedure is for; ``Picker`` hands
out the next patient of a hospital that fits, so the lists a clinician sees hold no
obstetric scan for a man and no mammogram for a child.
"""

from __future__ import annotations

import random
from datetime import date, datetime

from sqlalchemy import select

from app import demo_data as data
from app.extensions import db
from scheduling.audit import Actor
from scheduling.clock import local_today
from scheduling.models import Hospital, IdentifierType, Patient, Sex
from scheduling.patients import find_patient, national_id_check_digit, register_patient

# Given names (Thai, RTGS) and sex; family names (Thai, RTGS). Romanised here rather
# than by pythainlp: demo load runs before many tests.
GIVEN = [("สมชาย", "Somchai", Sex.MALE), ("สมพร", "Somphon", Sex.FEMALE),
         ("วิไล", "Wilai", Sex.FEMALE), ("ทองใบ", "Thongbai", Sex.MALE),
         ("บุญมี", "Bunmi", Sex.MALE), ("คำปุน", "Khampun", Sex.FEMALE),
         ("อำนาจ", "Amnat", Sex.MALE), ("สุดารัตน์", "Sudarat", Sex.FEMALE),
         ("ประสิทธิ์", "Prasit", Sex.MALE), ("นงลักษณ์", "Nongluk", Sex.FEMALE),
         ("สมบัติ", "Sombat", Sex.MALE), ("บัวผัน", "Buaphan", Sex.FEMALE),
         ("ธนากร", "Thanakon", Sex.MALE), ("พรทิพย์", "Phonthip", Sex.FEMALE),
         ("วีระพงษ์", "Wiraphong", Sex.MALE), ("อรอุมา", "On-uma", Sex.FEMALE)]  # fmt: skip
FAMILY = [("ศรีสุข", "Sisuk"), ("พลสา", "Phonsa"), ("จันทร์หอม", "Chanhom"),
          ("แสนมี", "Saenmi"), ("บุญประคม", "Bunprakhom"), ("ไชยวงศ์", "Chaiwong"),
          ("ทองมา", "Thongma"), ("นามวงษ์", "Namwong"), ("โพธิ์ศรี", "Phosi"),
          ("ภูมิสะอาด", "Phumsa-at")]  # fmt: skip
# Ages in years, cycled: a community hospital's imaging patients are mostly adults and
# elderly, some young women (antenatal scans) and some children.
AGES = [62, 28, 45, 71, 9, 54, 33, 67, 24, 48, 80, 38, 58, 19, 74, 42, 6, 65, 31, 51]

MSK_PATIENTS = 60  # Maha Sarakham community hospitals
R8_PATIENTS = 40  # Region 8 hospitals that refer to the region's MRI and CT


def age_on(born: date | None, day: date) -> int | None:
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def fits(code: str, patient: Patient, day: date) -> bool:
    """Whether the procedure suits the patient's sex and age on ``day``."""
    sexes, youngest, oldest, _indications = data.PROCEDURE_FIT[code]
    age = age_on(patient.birth_date, day)
    return patient.sex.value in sexes and age is not None and youngest <= age <= oldest


def _prefix(sex: Sex, age: int, n: int) -> str:
    if age < 15:
        return "MASTER" if sex is Sex.MALE else "GIRL"
    if sex is Sex.MALE:
        return "MR"
    return "MISS" if age < 25 or n % 3 == 0 else "MRS"


def load_people(
    actor: Actor, now: datetime, hospital_codes: list[str], *, count: int, stem_head: str,
    hn_head: str, seed: int,
) -> list[Patient]:  # fmt: skip
    """``count`` patients spread over the hospitals, made once (found by national ID)."""
    hospitals = [
        db.session.scalar(select(Hospital).where(Hospital.code == code)) for code in hospital_codes
    ]
    rng = random.Random(seed)
    today = local_today(now)
    patients = []
    for n in range(count):
        stem = f"{stem_head}{n + 1:0{12 - len(stem_head)}d}"
        cid = stem + national_id_check_digit(stem)
        given, given_en, sex = GIVEN[n % len(GIVEN)]
        family, family_en = FAMILY[n % len(FAMILY)]
        hospital = hospitals[n % len(hospitals)]
        age = AGES[n % len(AGES)]
        born = date(today.year - age - 1, rng.randrange(1, 13), rng.randrange(1, 29))
        patient = find_patient(IdentifierType.NATIONAL_ID, cid, hospital_id=hospital.id)
        if patient is None:
            patient = register_patient(
                actor,
                now,
                id_type=IdentifierType.NATIONAL_ID,
                id_value=cid,
                prefix=_prefix(sex, age, n),
                given_name_th=given,
                family_name_th=family,
                given_name_en=given_en,
                family_name_en=family_en,
                birth_date=born,
                sex=sex,
                hospital_id=hospital.id,
                hn=f"{hn_head}{n + 1:05d}",
                phone=f"08{stem[-8:]}",
                commit=False,
            )
        patients.append(patient)
    return patients


class Picker:
    """Hands out patients in turn, each the next that fits the procedure asked."""

    def __init__(self, patients: list[Patient], seed: int):
        self.patients = patients
        self.turn = 0
        self.rng = random.Random(seed)

    def pick(self, code: str, day: date, hospital_ids: set[int] | None = None) -> Patient | None:
        for step in range(len(self.patients)):
            patient = self.patients[(self.turn + step) % len(self.patients)]
            if hospital_ids is not None and patient.hospital_id not in hospital_ids:
                continue
            if fits(code, patient, day):
                self.turn = (self.turn + step + 1) % len(self.patients)
                return patient
        return None

    def indication(self, code: str) -> str:
        return self.rng.choice(data.PROCEDURE_FIT[code][3])
