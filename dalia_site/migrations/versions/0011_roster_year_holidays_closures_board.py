"""roster for the real year: closures, opening per half-day, the open half-days board

Closures entered by the admin; opening hours per half-day, the give-back delay and the site's
département (for the public holidays) in the centre settings; exceptional openings and half-days
taken from the board on sessions; the weekly open half-days email opt-in on team members.
An existing site keeps its opening (empty open_half_days = both halves of its open days); its
département is copied from site.toml by `upgrade`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 18:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('closure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settings_id', sa.Integer(), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('first_day <= last_day', name=op.f('ck_closure_days_in_order')),
    sa.ForeignKeyConstraint(['settings_id'], ['centre_settings.id'], name=op.f('fk_closure_settings_id_centre_settings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closure'))
    )
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_half_days', sa.String(length=250), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('give_back_days', sa.Integer(), nullable=False, server_default='7'))
        batch_op.add_column(sa.Column('departement', sa.String(length=3), nullable=False, server_default=''))
    with op.batch_alter_table('roster_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exceptional', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('from_board', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('board_email', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.drop_column('board_email')
    with op.batch_alter_table('roster_session', schema=None) as batch_op:
        batch_op.drop_column('from_board')
        batch_op.drop_column('exceptional')
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.drop_column('departement')
        batch_op.drop_column('give_back_days')
        batch_op.drop_column('open_half_days')
    op.drop_table('closure')
