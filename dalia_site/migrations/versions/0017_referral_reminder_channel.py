"""The reminder channel chosen at intake, on the referral

The assistant's entry form asks the patient's reminder channel (SMS, e-mail, aucun rappel); the
referral keeps it until the acceptance carries it to the patient. Referrals from before have none
(NULL: the channel is proposed at acceptance, as before).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 19:05:00

"""
import warnings
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


@contextmanager
def _referral_batch():
    """SQLite's batch copy reflects the referral's patient too, whose expression index (0014)
    SQLAlchemy cannot reflect: a warning about a table this migration leaves alone."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning
        )
        with op.batch_alter_table('referral', schema=None) as batch_op:
            yield batch_op


def upgrade():
    with _referral_batch() as batch_op:
        batch_op.add_column(sa.Column('reminder_channel', sa.String(length=5), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_referral_reminder_channel'),
            "reminder_channel IS NULL OR reminder_channel IN ('sms', 'email', 'none')",
        )


def downgrade():
    with _referral_batch() as batch_op:
        batch_op.drop_constraint(op.f('ck_referral_reminder_channel'), type_='check')
        batch_op.drop_column('reminder_channel')
