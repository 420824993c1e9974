"""each patient's next step stored: the start of their latest visit and when they are due again

« À recontacter » and the navigation's count read the patients in follow-up by the day they are
due again, from an index, instead of working it out from every patient's visits on each page
(domain/recall.py keeps both columns from now on). Existing patients are filled here by the same
rule: the plan's cadence (8 weeks without a plan) after their latest visit booked or honoured,
or their record's creation when they have had none. The waiting list reads since when each of
its patients waits from an index of the referrals by status and patient.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 21:20:00

"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

DEFAULT_CADENCE_WEEKS = 8
ACTIVE = ("booked", "honoured")


def upgrade():
    # Plain ALTER TABLE on both databases: a batch copy of the table would lose the expression
    # index on the names (ix_patient_name_order), which SQLAlchemy cannot reflect.
    op.add_column("patient", sa.Column("last_visit_at", sa.DateTime(), nullable=True))
    op.add_column("patient", sa.Column("recall_due_at", sa.DateTime(), nullable=True))
    op.create_index("ix_patient_status_recall_due", "patient", ["status", "recall_due_at", "last_visit_at"])
    op.create_index("ix_referral_status_patient", "referral", ["status", "patient_id", "decided_at"])

    patient = sa.table("patient", sa.column("id"), sa.column("created_at", sa.DateTime()))
    appointment = sa.table(
        "appointment", sa.column("patient_id"), sa.column("status"), sa.column("starts_at", sa.DateTime())
    )
    plan = sa.table("follow_up_plan", sa.column("patient_id"), sa.column("cadence_weeks"))
    connection = op.get_bind()  # naive UTC in and out, as the models store it
    rows = []
    for pid, created, last, cadence in connection.execute(
        sa.select(
            patient.c.id,
            patient.c.created_at,
            sa.type_coerce(sa.func.max(appointment.c.starts_at), sa.DateTime()),
            plan.c.cadence_weeks,
        )
        .select_from(patient)
        .outerjoin(
            appointment,
            sa.and_(appointment.c.patient_id == patient.c.id, appointment.c.status.in_(ACTIVE)),
        )
        .outerjoin(plan, plan.c.patient_id == patient.c.id)
        .group_by(patient.c.id, patient.c.created_at, plan.c.cadence_weeks)
    ):
        due = created if last is None else last + timedelta(weeks=cadence or DEFAULT_CADENCE_WEEKS)
        rows.append({"pid": pid, "last": last, "due": due})
    if rows:
        target = sa.table(
            "patient",
            sa.column("id"),
            sa.column("last_visit_at", sa.DateTime()),
            sa.column("recall_due_at", sa.DateTime()),
        )
        connection.execute(
            target.update()
            .where(target.c.id == sa.bindparam("pid"))
            .values(last_visit_at=sa.bindparam("last"), recall_due_at=sa.bindparam("due")),
            rows,
        )


def downgrade():
    op.drop_index("ix_referral_status_patient", table_name="referral")
    op.drop_index("ix_patient_status_recall_due", table_name="patient")
    op.drop_column("patient", "recall_due_at")  # SQLite >= 3.35 drops a column in place
    op.drop_column("patient", "last_visit_at")
