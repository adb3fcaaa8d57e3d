"""LINE staff groups per hospital and the pushes of staff notifications to them

Revision ID: c15b7d2e4f60
Revises: c15a0e1f2a3b
Create Date: 2026-12-03 18:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c15b7d2e4f60"
down_revision = "c15a0e1f2a3b"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "line_staff_group",
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"]),
        sa.PrimaryKeyConstraint("hospital_id"),
    )
    op.create_table(
        "line_staff_push",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("retry_key", sa.String(length=36), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"]),
        sa.ForeignKeyConstraint(["notification_id"], ["staff_notification.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id"),
    )
    with op.batch_alter_table("line_staff_push", schema=None) as batch_op:
        batch_op.create_index("ix_line_staff_push_due", ["status", "next_attempt_at"])


def downgrade():
    with op.batch_alter_table("line_staff_push", schema=None) as batch_op:
        batch_op.drop_index("ix_line_staff_push_due")
    op.drop_table("line_staff_push")
    op.drop_table("line_staff_group")
