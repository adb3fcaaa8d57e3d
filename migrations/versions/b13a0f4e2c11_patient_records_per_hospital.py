"""patient records per hospital

Each hospital keeps its own record of a person (IHE PIX), linked to the others by the
national ID: ``patient.hospital_id`` names the hospital, and the identifier is unique
per hospital instead of across the network.

Existing data: a patient row that several hospitals held (an HN at each, or requests
placed by each) becomes one record per hospital, each a copy of the demographics as
they stood (nobody can tell any more which hospital typed what); each hospital's HN,
requests, their appointments and the rows hanging from those move to its own record.
HNs that RadBook made up from the national ID ("N" + its last 8 digits) are dropped: a
patient without an HN at a hospital has none there.

Revision ID: b13a0f4e2c11
Revises: f7de47138c7e
Create Date: 2026-11-23 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b13a0f4e2c11"
down_revision = "f7de47138c7e"
branch_labels = None
depends_on = None

DEMOGRAPHICS = (
    "id_type",
    "id_value",
    "prefix",
    "given_name_th",
    "family_name_th",
    "given_name_en",
    "family_name_en",
    "romanised_by_staff",
    "birth_date",
    "sex",
    "phone",
    "medical_alerts",
    "preferred_language",
    "created_at",
    "updated_at",
)
# Rows that follow a request (or its appointments) to the requesting hospital's record.
BY_APPOINTMENT = ("line_link_code", "line_outbox")
BY_REQUEST = ("line_patient_reply", "hl7_inbound_message")


def upgrade():
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hospital_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_patient_id_type_id_value", type_="unique")
        batch_op.create_foreign_key(
            batch_op.f("fk_patient_hospital_id_hospital"), "hospital", ["hospital_id"], ["id"]
        )

    _split_records(op.get_bind())

    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_patient_hospital_id_id_type_id_value"),
            ["hospital_id", "id_type", "id_value"],
        )


def _split_records(conn):
    patient = sa.table("patient", sa.column("id"), sa.column("hospital_id"), *map(sa.column, DEMOGRAPHICS))
    hn = sa.table("patient_hn", sa.column("id"), sa.column("patient_id"), sa.column("hospital_id"), sa.column("hn"))
    req = sa.table("imaging_request", sa.column("id"), sa.column("patient_id"), sa.column("requesting_hospital_id"))
    appt = sa.table("appointment", sa.column("id"), sa.column("request_id"), sa.column("patient_id"))
    audit = sa.table("audit_event", sa.column("id"), sa.column("entity_type"), sa.column("entity_id"), sa.column("hospital_id"))

    rows = conn.execute(sa.select(patient).order_by(patient.c.id)).mappings().all()
    for row in rows:
        pid = row["id"]
        made_up = "N" + row["id_value"][-8:]
        conn.execute(sa.delete(hn).where(hn.c.patient_id == pid, hn.c.hn == made_up))
        holders: list[int] = []
        for (hospital_id,) in conn.execute(
            sa.select(hn.c.hospital_id).where(hn.c.patient_id == pid).order_by(hn.c.id)
        ):
            if hospital_id not in holders:
                holders.append(hospital_id)
        for (hospital_id,) in conn.execute(
            sa.select(req.c.requesting_hospital_id).where(req.c.patient_id == pid).order_by(req.c.id)
        ):
            if hospital_id not in holders:
                holders.append(hospital_id)
        if not holders:
            first = conn.execute(
                sa.select(audit.c.hospital_id)
                .where(
                    audit.c.entity_type == "patient",
                    audit.c.entity_id == pid,
                    audit.c.hospital_id.is_not(None),
                )
                .order_by(audit.c.id)
                .limit(1)
            ).scalar()
            holders = [first] if first is not None else []
        if not holders:
            continue  # no hospital held it: only admins see it (hospital_id stays empty)
        conn.execute(sa.update(patient).where(patient.c.id == pid).values(hospital_id=holders[0]))
        for hospital_id in holders[1:]:
            values = {name: row[name] for name in DEMOGRAPHICS}
            new_id = conn.execute(
                sa.insert(patient).values(hospital_id=hospital_id, **values).returning(patient.c.id)
            ).scalar_one()
            conn.execute(
                sa.update(hn)
                .where(hn.c.patient_id == pid, hn.c.hospital_id == hospital_id)
                .values(patient_id=new_id)
            )
            requests = sa.select(req.c.id).where(
                req.c.patient_id == pid, req.c.requesting_hospital_id == hospital_id
            )
            request_ids = [r for (r,) in conn.execute(requests)]
            if not request_ids:
                continue
            appointment_ids = [
                a for (a,) in conn.execute(sa.select(appt.c.id).where(appt.c.request_id.in_(request_ids)))
            ]
            conn.execute(sa.update(req).where(req.c.id.in_(request_ids)).values(patient_id=new_id))
            conn.execute(sa.update(appt).where(appt.c.request_id.in_(request_ids)).values(patient_id=new_id))
            for name in BY_REQUEST:
                t = sa.table(name, sa.column("patient_id"), sa.column("request_id"))
                conn.execute(
                    sa.update(t)
                    .where(t.c.patient_id == pid, t.c.request_id.in_(request_ids))
                    .values(patient_id=new_id)
                )
            if appointment_ids:
                for name in BY_APPOINTMENT:
                    t = sa.table(name, sa.column("patient_id"), sa.column("appointment_id"))
                    conn.execute(
                        sa.update(t)
                        .where(t.c.patient_id == pid, t.c.appointment_id.in_(appointment_ids))
                        .values(patient_id=new_id)
                    )


def downgrade():
    # Back to one row per person: every hospital's record of a person folds into the
    # oldest one (the demographics of the others are lost, as before this revision).
    conn = op.get_bind()
    patient = sa.table("patient", sa.column("id"), sa.column("id_type"), sa.column("id_value"))
    hn = sa.table("patient_hn", sa.column("id"), sa.column("patient_id"))
    rows = conn.execute(sa.select(patient).order_by(patient.c.id)).all()
    keep: dict[tuple, int] = {}
    link = sa.table("line_patient_link", sa.column("patient_id"))
    fk_columns = (
        ("imaging_request", "patient_id"),
        ("appointment", "patient_id"),
        ("line_patient_link", "patient_id"),
        ("line_link_code", "patient_id"),
        ("line_outbox", "patient_id"),
        ("line_patient_reply", "patient_id"),
        ("hl7_inbound_message", "patient_id"),
    )
    for pid, id_type, id_value in rows:
        survivor = keep.setdefault((id_type, id_value), pid)
        if survivor == pid:
            continue
        conn.execute(sa.update(hn).where(hn.c.patient_id == pid).values(patient_id=survivor))
        # One LINE account per patient: the survivor's link wins.
        if conn.execute(sa.select(link.c.patient_id).where(link.c.patient_id == survivor)).first():
            conn.execute(sa.delete(link).where(link.c.patient_id == pid))
        for name, column in fk_columns:
            t = sa.table(name, sa.column(column))
            conn.execute(sa.update(t).where(t.c[column] == pid).values({column: survivor}))
        conn.execute(sa.delete(patient).where(patient.c.id == pid))
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_patient_hospital_id_id_type_id_value"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_patient_hospital_id_hospital"), type_="foreignkey")
        batch_op.drop_column("hospital_id")
        batch_op.create_unique_constraint("uq_patient_id_type_id_value", ["id_type", "id_value"])
