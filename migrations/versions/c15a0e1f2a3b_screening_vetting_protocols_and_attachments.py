"""screening, treatment right, referral number, vetting and protocol on requests; hub
protocol lists, vetting rules and request attachments

Revision ID: c15a0e1f2a3b
Revises: a7c4e2b19d30
Create Date: 2026-12-03 18:20:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c15a0e1f2a3b"
down_revision = "a7c4e2b19d30"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hub_protocol",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("modality_code", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name_th", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("contrast", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"]),
        sa.ForeignKeyConstraint(["modality_code"], ["modality.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hospital_id", "code"),
    )
    with op.batch_alter_table("hub_protocol", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_protocol_hospital_id"), ["hospital_id"])
    op.create_table(
        "vetting_rule",
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"]),
        sa.ForeignKeyConstraint(["procedure_id"], ["procedure.id"]),
        sa.PrimaryKeyConstraint("hospital_id", "procedure_id"),
    )
    with op.batch_alter_table("imaging_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("treatment_right", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("referral_number", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("screening", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("vetting_decision", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("vetted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("vetted_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("protocol_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("protocol_contrast", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("protocol_notes", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            "fk_imaging_request_vetted_by_id_user_account", "user_account", ["vetted_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_imaging_request_protocol_id_hub_protocol", "hub_protocol", ["protocol_id"], ["id"]
        )
    op.create_table(
        "request_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["imaging_request.id"]),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_attachment_request_id"), ["request_id"])


def downgrade():
    with op.batch_alter_table("request_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_attachment_request_id"))
    op.drop_table("request_attachment")
    with op.batch_alter_table("imaging_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_imaging_request_protocol_id_hub_protocol", type_="foreignkey")
        batch_op.drop_constraint("fk_imaging_request_vetted_by_id_user_account", type_="foreignkey")
        for column in (
            "protocol_notes",
            "protocol_contrast",
            "protocol_id",
            "vetted_by_id",
            "vetted_at",
            "vetting_decision",
            "screening",
            "referral_number",
            "treatment_right",
        ):
            batch_op.drop_column(column)
    op.drop_table("vetting_rule")
    with op.batch_alter_table("hub_protocol", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_protocol_hospital_id"))
    op.drop_table("hub_protocol")
