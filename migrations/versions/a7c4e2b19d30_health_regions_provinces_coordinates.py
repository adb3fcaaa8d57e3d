"""health regions: province code, district and coordinates of every hospital, a hub's
rule for out-of-region referrals, region office accounts and their waiting-time targets

Revision ID: a7c4e2b19d30
Revises: 4a3baeabb6f8
Create Date: 2026-12-03 18:10:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "a7c4e2b19d30"
down_revision = "4a3baeabb6f8"
branch_labels = None
depends_on = None


def _province_codes():
    """(code, Thai name, English name): province codes do not change, so the live table serves."""
    from scheduling.regions import PROVINCES

    return [(p.code, p.name_th, p.name_en) for p in PROVINCES.values()]


def upgrade():
    with op.batch_alter_table("hospital", schema=None) as batch_op:
        batch_op.add_column(sa.Column("province_code", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("district_th", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("district_en", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "referral_scope",
                sa.Enum("ANY", "REGION_AND_URGENT", "REGION_ONLY", name="referralscope", native_enum=False, length=20),
                server_default="ANY",
                nullable=False,
            )
        )
        batch_op.create_index(batch_op.f("ix_hospital_province_code"), ["province_code"], unique=False)
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.Integer(), nullable=True))
    op.create_table(
        "region_wait_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("modality_code", sa.String(length=8), nullable=False),
        sa.Column("target_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["modality_code"], ["modality.code"], name=op.f("fk_region_wait_target_modality_code_modality")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"], name=op.f("fk_region_wait_target_updated_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_wait_target")),
        sa.UniqueConstraint("region", "modality_code", name=op.f("uq_region_wait_target_region_modality_code")),
    )
    # Existing hospitals get the province their name says (Thai or English).
    hospital = sa.table(
        "hospital",
        sa.column("province_code", sa.String),
        sa.column("province_th", sa.String),
        sa.column("province_en", sa.String),
    )
    for code, name_th, name_en in _province_codes():
        op.execute(
            hospital.update()
            .where(
                sa.or_(
                    hospital.c.province_th == name_th,
                    sa.func.lower(hospital.c.province_en) == name_en.lower(),
                )
            )
            .values(province_code=code)
        )


def downgrade():
    op.drop_table("region_wait_target")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("region")
    with op.batch_alter_table("hospital", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hospital_province_code"))
        batch_op.drop_column("referral_scope")
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
        batch_op.drop_column("district_en")
        batch_op.drop_column("district_th")
        batch_op.drop_column("province_code")
