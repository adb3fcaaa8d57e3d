"""report versions and report status

Every version of a request's report is kept (who sent it, when, through which
interface); the request keeps the current one and its status (preliminary, final,
amended). A report stored before this revision becomes version 1, final, of unknown
interface.

Revision ID: c4e7d2a9b350
Revises: b13a0f4e2c11
Create Date: 2026-11-23 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4e7d2a9b350"
down_revision = "b13a0f4e2c11"
branch_labels = None
depends_on = None

STATUS = sa.Enum("PRELIMINARY", "FINAL", "AMENDED", name="reportstatus", native_enum=False, length=20)


def upgrade():
    op.create_table(
        "report_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=200), nullable=True),
        sa.Column("reported_at", sa.DateTime(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "interface",
            sa.Enum("WEB", "FHIR", "HL7", "DICOM", "LINE", "JOBS", "CLI", name="interface", native_enum=False, length=10),
            nullable=True,
        ),
        sa.Column("hospital_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"], name=op.f("fk_report_version_hospital_id_hospital")),
        sa.ForeignKeyConstraint(["request_id"], ["imaging_request.id"], name=op.f("fk_report_version_request_id_imaging_request")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_report_version_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_version")),
        sa.UniqueConstraint("request_id", "version", name=op.f("uq_report_version_request_id_version")),
    )
    with op.batch_alter_table("imaging_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_status", STATUS, nullable=True))

    op.execute(
        "INSERT INTO report_version (request_id, version, status, text, reported_by,"
        " reported_at, received_at, actor) SELECT id, 1, 'FINAL', report_text, reported_by,"
        " reported_at, COALESCE(reported_at, updated_at), 'before report versions'"
        " FROM imaging_request WHERE report_text IS NOT NULL"
    )
    op.execute("UPDATE imaging_request SET report_status = 'FINAL' WHERE report_text IS NOT NULL")


def downgrade():
    with op.batch_alter_table("imaging_request", schema=None) as batch_op:
        batch_op.drop_column("report_status")
    op.drop_table("report_version")
