"""a second-factor code is accepted once: the time step of the last code accepted per account

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 19:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.drop_column("totp_last_step")
