"""each patient's last activity stored, as retention counts it

« Données personnelles » lists what retention erases in the next 30 days: it found every patient
active in that month some years back (a visit, a referral, their record's creation) and asked
each whether anything came later — three times the patients, three times the work, nearly all of
them seen again since. The patient now keeps their last activity (the latest of their record's
creation, any visit's start, any referral's receipt: domain/last_active.py keeps it from now on),
and an index of those not yet erased by that date gives the month's patients directly, and the
timer those past their time; the declined of a month are found by an index of the referrals'
decisions with their status and patient. Existing patients are filled here by the same rule.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 05:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

NOT_ERASED = sa.text("erased_at IS NULL")


def upgrade():
    # Plain ALTER TABLE on both databases: a batch copy of the table would lose the expression
    # index on the names (ix_patient_name_order), which SQLAlchemy cannot reflect.
    op.add_column("patient", sa.Column("last_active_at", sa.DateTime(), nullable=True))
    patient = sa.table(
        "patient",
        sa.column("id"),
        sa.column("created_at", sa.DateTime()),
        sa.column("last_active_at", sa.DateTime()),
    )
    appointment = sa.table("appointment", sa.column("patient_id"), sa.column("starts_at", sa.DateTime()))
    referral = sa.table("referral", sa.column("patient_id"), sa.column("received_at", sa.DateTime()))
    created = patient.c.created_at
    visit = sa.select(sa.func.max(appointment.c.starts_at)).where(appointment.c.patient_id == patient.c.id)
    received = sa.select(sa.func.max(referral.c.received_at)).where(referral.c.patient_id == patient.c.id)
    # The latest of the three (SQLite's max of several values, PostgreSQL's greatest).
    latest = sa.func.greatest if op.get_bind().dialect.name == "postgresql" else sa.func.max
    op.execute(
        patient.update().values(
            last_active_at=latest(
                created,
                sa.func.coalesce(visit.scalar_subquery(), created),
                sa.func.coalesce(received.scalar_subquery(), created),
            )
        )
    )
    # Read from the index alone: erased_at in it too, as SQLite reads the row for the term its
    # condition implies.
    op.create_index(
        "ix_patient_last_active",
        "patient",
        ["last_active_at", "status", "erased_at"],
        sqlite_where=NOT_ERASED,
        postgresql_where=NOT_ERASED,
    )
    # The patients declined in a window: the referrals' decisions read from the index alone (their
    # rows read one by one for the status emptied SQLite's page cache at three times the data).
    op.create_index("ix_referral_decided_status_patient", "referral", ["decided_at", "status", "patient_id"])


def downgrade():
    op.drop_index("ix_referral_decided_status_patient", table_name="referral")
    op.drop_index("ix_patient_last_active", table_name="patient")
    op.drop_column("patient", "last_active_at")  # SQLite >= 3.35 drops a column in place
