"""waitlist entries: requests whose patients would take an earlier date

Revision ID: b0a4d1e2c3f7
Revises: c15b7d2e4f60
Create Date: 2026-12-03 18:10:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b0a4d1e2c3f7"
down_revision = "c15b7d2e4f60"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "waitlist_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("hub_hospital_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum("BOOKED", "REMOVED", name="waitlistoutcome", native_enum=False, length=10),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(["request_id"], ["imaging_request.id"], name=op.f("fk_waitlist_entry_request_id_imaging_request")),
        sa.ForeignKeyConstraint(["hub_hospital_id"], ["hospital.id"], name=op.f("fk_waitlist_entry_hub_hospital_id_hospital")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_waitlist_entry_patient_id_patient")),
        sa.ForeignKeyConstraint(["added_by_id"], ["user_account.id"], name=op.f("fk_waitlist_entry_added_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entry")),
    )
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.create_index("ix_waitlist_entry_hub_open", ["hub_hospital_id", "closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_waitlist_entry_request_id"), ["request_id"], unique=False)


def downgrade():
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waitlist_entry_request_id"))
        batch_op.drop_index("ix_waitlist_entry_hub_open")
    op.drop_table("waitlist_entry")
