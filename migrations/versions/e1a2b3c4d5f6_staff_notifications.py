"""staff notifications: what the other side of a referral did, read per user

Revision ID: e1a2b3c4d5f6
Revises: d7a1c3e5f902
Create Date: 2026-12-03 18:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e1a2b3c4d5f6"
down_revision = "d7a1c3e5f902"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"], name=op.f("fk_staff_notification_hospital_id_hospital")),
        sa.ForeignKeyConstraint(["request_id"], ["imaging_request.id"], name=op.f("fk_staff_notification_request_id_imaging_request")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notification")),
    )
    with op.batch_alter_table("staff_notification", schema=None) as batch_op:
        batch_op.create_index("ix_staff_notification_hospital_at", ["hospital_id", "created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_notification_request_id"), ["request_id"], unique=False)
    op.create_table(
        "staff_notification_read",
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["staff_notification.id"], name=op.f("fk_staff_notification_read_notification_id_staff_notification"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_staff_notification_read_user_id_user_account"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("notification_id", "user_id", name=op.f("pk_staff_notification_read")),
    )


def downgrade():
    op.drop_table("staff_notification_read")
    with op.batch_alter_table("staff_notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_notification_request_id"))
        batch_op.drop_index("ix_staff_notification_hospital_at")
    op.drop_table("staff_notification")
