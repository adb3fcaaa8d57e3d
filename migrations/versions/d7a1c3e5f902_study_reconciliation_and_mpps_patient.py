"""study reconciliation and the patient an MPPS names

A study whose patient (as the PACS or the scanner reported it) is not its request's is
not linked but held in ``study_reconciliation`` for the hub to confirm or reject. An
MPPS instance keeps the patient its N-CREATE named, to check at N-SET.

Revision ID: d7a1c3e5f902
Revises: c4e7d2a9b350
Create Date: 2026-11-23 11:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "d7a1c3e5f902"
down_revision = "c4e7d2a9b350"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "study_reconciliation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("hub_hospital_id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("accession_number", sa.String(length=16), nullable=True),
        sa.Column(
            "source",
            sa.Enum("MPPS", "HL7", "FHIR", "PACS_QUERY", name="studysource", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("reported", sa.JSON(), nullable=False),
        sa.Column("problems", sa.String(length=100), nullable=False),
        sa.Column("link_values", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("PENDING", "CONFIRMED", "REJECTED", name="reconciliationstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"], name=op.f("fk_study_reconciliation_appointment_id_appointment")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"], name=op.f("fk_study_reconciliation_decided_by_id_user_account")),
        sa.ForeignKeyConstraint(["hub_hospital_id"], ["hospital.id"], name=op.f("fk_study_reconciliation_hub_hospital_id_hospital")),
        sa.ForeignKeyConstraint(["request_id"], ["imaging_request.id"], name=op.f("fk_study_reconciliation_request_id_imaging_request")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_reconciliation")),
        sa.UniqueConstraint("request_id", "study_instance_uid", name=op.f("uq_study_reconciliation_request_id_study_instance_uid")),
    )
    with op.batch_alter_table("study_reconciliation", schema=None) as batch_op:
        batch_op.create_index("ix_study_reconciliation_hub_status", ["hub_hospital_id", "status"], unique=False)
    with op.batch_alter_table("mpps_instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_identity", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("mpps_instance", schema=None) as batch_op:
        batch_op.drop_column("patient_identity")
    with op.batch_alter_table("study_reconciliation", schema=None) as batch_op:
        batch_op.drop_index("ix_study_reconciliation_hub_status")
    op.drop_table("study_reconciliation")
