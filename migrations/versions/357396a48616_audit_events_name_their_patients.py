"""audit events name their patients

An indexed patient reference on each event (and a link table for events that name
several, such as a list page or a worklist answer), so that "everything that
happened to patient X" is one query. Existing events about a patient, a request or an
appointment get the patient filled in from the row they name.

Revision ID: 357396a48616
Revises: a78407f99b76
Create Date: 2026-11-22 00:31:39.597223

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '357396a48616'
down_revision = 'a78407f99b76'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_event_patient',
    sa.Column('patient_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('audit_event_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.ForeignKeyConstraint(['audit_event_id'], ['audit_event.id'], name=op.f('fk_audit_event_patient_audit_event_id_audit_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('patient_id', 'audit_event_id', name=op.f('pk_audit_event_patient'))
    )
    with op.batch_alter_table('audit_event_patient', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_patient_event', ['audit_event_id'], unique=False)

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_audit_event_patient', ['patient_id', 'at'], unique=False)

    for table in ("imaging_request", "appointment"):
        op.execute(
            f"UPDATE audit_event SET patient_id = (SELECT {table}.patient_id FROM {table} "
            f"WHERE {table}.id = audit_event.entity_id) WHERE entity_type = '{table}'"
        )
    op.execute("UPDATE audit_event SET patient_id = entity_id WHERE entity_type = 'patient'")


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_patient')
        batch_op.drop_column('patient_id')

    with op.batch_alter_table('audit_event_patient', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_patient_event')

    op.drop_table('audit_event_patient')
