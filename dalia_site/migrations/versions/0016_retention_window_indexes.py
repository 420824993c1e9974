"""what retention erases next, from the date indexes

« Données personnelles » lists what becomes due in the next 30 days (retention.coming): the
patients and referrals whose last activity or decision fell in that window, some years back, are
found through indexes on the dates — the appointments' and the referrals' receipt dates had one;
the patients' creation and the referrals' decision get theirs — instead of reading every patient.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 19:05:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_patient_created_at", "patient", ["created_at"])
    op.create_index("ix_referral_decided_at", "referral", ["decided_at"])


def downgrade():
    op.drop_index("ix_referral_decided_at", table_name="referral")
    op.drop_index("ix_patient_created_at", table_name="patient")
