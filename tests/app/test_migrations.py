"""The Alembic revisions build exactly the models, and go down and up again cleanly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db as _db


def _diff():
    with _db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, _db.metadata)


def test_migrations_match_models(db):
    assert _diff() == []


def test_downgrade_and_upgrade_again(db):
    downgrade(revision="base")
    with _db.engine.connect() as conn:
        tables = _db.inspect(conn).get_table_names() if hasattr(_db, "inspect") else None
    from sqlalchemy import inspect

    remaining = set(inspect(_db.engine).get_table_names()) - {"alembic_version"}
    assert remaining == set()
    upgrade()
    assert _diff() == []
    assert tables is None or "hospital" not in tables


def test_shared_patients_are_split_into_one_record_per_hospital(db):
    """b13a0f4e2c11: a patient two hospitals held becomes one record each; each hospital's
    HN and requests go to its own record; an HN made up from the national ID goes."""
    from sqlalchemy import text

    downgrade(revision="f7de47138c7e")
    at = "2026-11-20 03:00:00"
    cid = "1101700230705"
    statements = [
        "INSERT INTO hospital (id, code, name_th, name_en, level, province_th, province_en,"
        " is_hub, patient_id_policy) VALUES"
        " (1, '11008', 'กุดรัง', 'Kut Rang', 'COMMUNITY', 'ม', 'M', false, 'HN'),"
        " (2, '11005', 'โกสุม', 'Kosum', 'COMMUNITY', 'ม', 'M', false, 'HN'),"
        " (3, '10707', 'มหาสารคาม', 'MKH', 'GENERAL', 'ม', 'M', true, 'HN')",
        "INSERT INTO modality (code, name_th, name_en) VALUES ('US', 'US', 'US')",
        "INSERT INTO procedure (id, code, name_th, name_en, modality_code, duration_minutes,"
        " prep_th, prep_en, uses_contrast, prep_tags, is_active)"
        " VALUES (1, 'US-X', 'x', 'x', 'US', 20, '', '', false, '', true)",
        "INSERT INTO patient (id, id_type, id_value, prefix, given_name_th, family_name_th,"
        " given_name_en, family_name_en, romanised_by_staff, sex, preferred_language) VALUES"
        f" (1, 'NATIONAL_ID', '{cid}', 'MRS', 'สมศรี', 'ทองดี', 'Somsri', 'Thongdi', false,"
        " 'FEMALE', 'th')",
        "INSERT INTO patient_hn (id, patient_id, hospital_id, hn) VALUES"
        " (1, 1, 1, 'KR0001'), (2, 1, 3, 'MK0001'), (3, 1, 2, 'N00230705')",
        "INSERT INTO imaging_request (id, placer_order_number, requesting_hospital_id,"
        " hub_hospital_id, patient_id, procedure_id, priority, status, indication,"
        " requesting_clinician, created_at, updated_at) VALUES"
        f" (1, 'KR-1', 1, 3, 1, 1, 'ROUTINE', 'SUBMITTED', '', '', '{at}', '{at}'),"
        f" (2, 'KS-1', 2, 3, 1, 1, 'ROUTINE', 'SUBMITTED', '', '', '{at}', '{at}')",
    ]
    with _db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
        if conn.dialect.name == "postgresql":  # ids given above do not move the sequence
            conn.execute(text("SELECT setval('patient_id_seq', (SELECT max(id) FROM patient))"))
    upgrade()
    with _db.engine.connect() as conn:
        records = conn.execute(
            text("SELECT id, hospital_id, given_name_th FROM patient ORDER BY id")
        ).all()
        hns = conn.execute(text("SELECT patient_id, hospital_id, hn FROM patient_hn")).all()
        requests = dict(conn.execute(text("SELECT id, patient_id FROM imaging_request")).all())
    by_hospital = {hospital: pid for pid, hospital, _ in records}
    assert sorted(by_hospital) == [1, 2, 3] and by_hospital[1] == 1
    assert {name for _, _, name in records} == {"สมศรี"}
    assert sorted(hns) == sorted([(1, 1, "KR0001"), (by_hospital[3], 3, "MK0001")])
    assert requests == {1: by_hospital[1], 2: by_hospital[2]}
    assert _diff() == []
