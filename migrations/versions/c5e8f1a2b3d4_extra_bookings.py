"""extra bookings: walk-ins and deliberate overbookings, counted apart from capacity

Revision ID: c5e8f1a2b3d4
Revises: b0a4d1e2c3f7
Create Date: 2026-12-03 18:15:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c5e8f1a2b3d4"
down_revision = "b0a4d1e2c3f7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "extra_booking",
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("WALK_IN", "OVERBOOK", name="extrakind", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"], name=op.f("fk_extra_booking_appointment_id_appointment")),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"], name=op.f("fk_extra_booking_created_by_id_user_account")),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_extra_booking")),
    )


def downgrade():
    op.drop_table("extra_booking")
