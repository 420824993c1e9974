"""security for health data: second factor (TOTP + recovery codes), sessions, referral link expiry

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 18:00:00

"""
from datetime import UTC, datetime, timedelta

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_confirmed_at', sa.DateTime(), nullable=True))
    op.create_table('staff_recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=255), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_staff_recovery_code_user_id_staff_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_recovery_code'))
    )
    with op.batch_alter_table('staff_recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_recovery_code_user_id'), ['user_id'], unique=False)
    op.create_table('staff_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('generation', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_staff_session_user_id_staff_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_session')),
    sa.UniqueConstraint('token', name=op.f('uq_staff_session_token'))
    )
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.create_index('ix_staff_session_user_id_ended_at', ['user_id', 'ended_at'], unique=False)
    with op.batch_alter_table('partner_referral_link', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
    # Links already given to partners keep working for twelve months from the upgrade.
    expires = (datetime.now(UTC) + timedelta(days=365)).replace(tzinfo=None)
    op.get_bind().execute(
        sa.text("UPDATE partner_referral_link SET expires_at = :expires WHERE revoked_at IS NULL"),
        {"expires": expires},
    )


def downgrade():
    with op.batch_alter_table('partner_referral_link', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_session_user_id_ended_at')
    op.drop_table('staff_session')
    with op.batch_alter_table('staff_recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_recovery_code_user_id'))
    op.drop_table('staff_recovery_code')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_column('totp_confirmed_at')
        batch_op.drop_column('totp_secret')
