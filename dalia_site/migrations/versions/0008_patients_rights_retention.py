"""patients' rights and retention: objections, erasure, rectification history, retention settings

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 17:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('objects_to_reminders', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('objects_to_gp_search', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_inactive_years', sa.Integer(), nullable=False, server_default='3'))
        batch_op.add_column(sa.Column('retention_declined_years', sa.Integer(), nullable=False, server_default='1'))
    op.create_table('patient_rectification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=60), nullable=False),
    sa.Column('before', sa.String(length=400), nullable=False),
    sa.Column('after', sa.String(length=400), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['staff_user.id'], name=op.f('fk_patient_rectification_actor_id_staff_user')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_patient_rectification_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_rectification'))
    )
    with op.batch_alter_table('patient_rectification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_rectification_patient_id'), ['patient_id'], unique=False)


def downgrade():
    with op.batch_alter_table('patient_rectification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_rectification_patient_id'))
    op.drop_table('patient_rectification')
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.drop_column('retention_declined_years')
        batch_op.drop_column('retention_inactive_years')
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('objects_to_gp_search')
        batch_op.drop_column('objects_to_reminders')
