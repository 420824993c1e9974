"""since when each patient waits, stored: the waiting list read in order from an index

The waiting list, oldest first, worked out since when each of its patients waits (their oldest
referral on the waiting list) for every one of them on each page, to show the first 25; the
patient now keeps it (domain/recall.py, with their next step), and the list reads its page from
an index on (status, waiting_since, id). Existing patients are filled here by the same rule: the
decision that put their oldest referral still on the waiting list there, or their record's
creation without one.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 00:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE on both databases (as 0020: a batch copy would lose the expression index).
    op.add_column("patient", sa.Column("waiting_since", sa.DateTime(), nullable=True))
    op.create_index("ix_patient_status_waiting_since", "patient", ["status", "waiting_since", "id"])
    patient = sa.table(
        "patient",
        sa.column("id"),
        sa.column("created_at", sa.DateTime()),
        sa.column("waiting_since", sa.DateTime()),
    )
    referral = sa.table(
        "referral", sa.column("patient_id"), sa.column("status"), sa.column("decided_at", sa.DateTime())
    )
    oldest = (
        sa.select(sa.func.min(referral.c.decided_at))
        .where(referral.c.patient_id == patient.c.id, referral.c.status == "waiting_list")
        .scalar_subquery()
    )
    op.get_bind().execute(
        patient.update().values(waiting_since=sa.func.coalesce(oldest, patient.c.created_at))
    )


def downgrade():
    op.drop_index("ix_patient_status_waiting_since", table_name="patient")
    op.drop_column("patient", "waiting_since")  # SQLite >= 3.35 drops a column in place
