"""when each patient in follow-up was overdue, kept: the report's overdue count read from an index

The activity figures' « Patients en suivi à recontacter (retard) en fin de période » worked out,
on every report, which patients in follow-up no visit kept at the period's end: every such
patient counted and every visit of the last year looked up (1.1 ms on the ten-year bench data,
3.0 ms at three times the patients). Each patient in follow-up now keeps the stretches of time
they were overdue (domain/overdue_spans.py keeps them from now on), and the number of those
still open is kept with them; the figure is that number less the open spans begun after the
period's end, plus those begun by then and closed since — ranges of an index as long as the time
since. Existing patients are filled here by the same rule: overdue from their record's creation,
but while a visit booked or held keeps them — from the earlier of its booking and its start to
its start plus their plan's cadence.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30 08:30:00

"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

DEFAULT_CADENCE_WEEKS = 8  # domain/follow_up.py's, as this migration wrote it


def upgrade():
    op.create_table(
        "overdue_span",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_overdue_span_patient_id_patient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overdue_span")),
    )
    op.create_index("ix_overdue_span_patient_id", "overdue_span", ["patient_id"])
    op.create_index("ix_overdue_span_moment", "overdue_span", ["ends_at", "starts_at"])
    counter = op.create_table(
        "open_overdue_spans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spans", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_overdue_spans")),
    )

    patient = sa.table(
        "patient", sa.column("id"), sa.column("status"), sa.column("created_at", sa.DateTime())
    )
    plan = sa.table("follow_up_plan", sa.column("patient_id"), sa.column("cadence_weeks"))
    appointment = sa.table(
        "appointment",
        sa.column("patient_id"),
        sa.column("status"),
        sa.column("created_at", sa.DateTime()),
        sa.column("starts_at", sa.DateTime()),
    )
    span = sa.table(
        "overdue_span",
        sa.column("patient_id"),
        sa.column("starts_at", sa.DateTime()),
        sa.column("ends_at", sa.DateTime()),
    )
    bind = op.get_bind()
    followed = {
        pid: (created, cadence, [])
        for pid, created, cadence in bind.execute(
            sa.select(patient.c.id, patient.c.created_at, plan.c.cadence_weeks)
            .select_from(patient.outerjoin(plan, plan.c.patient_id == patient.c.id))
            .where(patient.c.status == "follow_up")
        )
    }
    visits = sa.select(appointment.c.patient_id, appointment.c.created_at, appointment.c.starts_at).where(
        appointment.c.status.in_(("booked", "honoured"))
    )
    for pid, booked, starts in bind.execute(visits):
        if pid in followed:
            followed[pid][2].append((booked, starts))
    rows = []
    for pid, (created, cadence, theirs) in followed.items():
        keep = timedelta(weeks=cadence or DEFAULT_CADENCE_WEEKS)
        overdue_from = created
        kept_by = sorted((min(booked, starts), starts + keep) for booked, starts in theirs)
        for kept_from, kept_until in kept_by:
            if kept_until <= overdue_from:
                continue
            if kept_from > overdue_from:
                rows.append({"patient_id": pid, "starts_at": overdue_from, "ends_at": kept_from})
            overdue_from = kept_until
        rows.append({"patient_id": pid, "starts_at": overdue_from, "ends_at": None})
    if rows:
        op.bulk_insert(span, rows)
    op.bulk_insert(counter, [{"id": 1, "spans": len(followed)}])  # one open span each


def downgrade():
    op.drop_table("open_overdue_spans")
    op.drop_index("ix_overdue_span_moment", table_name="overdue_span")
    op.drop_index("ix_overdue_span_patient_id", table_name="overdue_span")
    op.drop_table("overdue_span")
