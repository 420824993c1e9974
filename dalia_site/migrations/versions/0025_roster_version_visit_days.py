"""the roster's version, what a day's roster figures are kept against; the visits' figures by day

The activity figures' roster part (staffed hours, hours by status, half-days taken from the board
and uncovered) was worked out from every session and weekly pattern of the period on each report
(7 ms for a year on the ten-year bench data, the largest part of the page). A day's figures change
only with the roster: each worker keeps them against this version, which the session draws again
after any change of a session, a weekly pattern, an absence or a team member
(domain/roster_version.py).

A period's consultations by month and kind, walk-ins, no-shows and reminders' figures were counted
from each of its visits (2,500 a year on the ten-year bench data, 7,400 at three times the
patients): each UTC day's are kept in visit_day by the session (domain/visit_days.py), filled here
from the visits and reminders sent, so a year is about 365 rows and the visits of a few hours.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 05:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "roster_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_version")),
    )
    op.execute("INSERT INTO roster_version (id, version) VALUES (1, 1)")
    counts = ["held_first", "held_doctor", "held_nurse", "walk_ins_held", "no_shows"]
    counts += ["confirmed_by_patient", "cancelled_by_patient", "missed_reminded", "held_reminded"]
    counts += ["missed", "held"]
    op.create_table(
        "visit_day",
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counts),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_visit_day")),
    )
    # domain/visit_days.counts, as this migration wrote it.
    reminded = (
        "EXISTS (SELECT 1 FROM outbound_email o WHERE o.appointment_id = a.id AND o.sent_at IS NOT NULL)"
    )
    conditions = [
        "a.status = 'honoured' AND a.kind = 'first'",
        "a.status = 'honoured' AND a.kind = 'doctor'",
        "a.status = 'honoured' AND a.kind = 'nurse'",
        "a.status = 'honoured' AND a.walk_in",
        "a.status = 'no_show'",
        "NOT a.walk_in AND a.confirmed_by_patient_at IS NOT NULL",
        "NOT a.walk_in AND a.cancelled_by_patient_at IS NOT NULL",
        f"NOT a.walk_in AND a.status = 'no_show' AND {reminded}",
        f"NOT a.walk_in AND a.status = 'honoured' AND {reminded}",
        "NOT a.walk_in AND a.status = 'no_show'",
        "NOT a.walk_in AND a.status = 'honoured'",
    ]
    columns = ", ".join(f"count(CASE WHEN {condition} THEN 1 END)" for condition in conditions)
    fill = f"INSERT INTO visit_day (day, {', '.join(counts)}) SELECT date(a.starts_at), {columns} "  # noqa: S608
    op.execute(fill + "FROM appointment a GROUP BY date(a.starts_at)")


def downgrade():
    op.drop_table("visit_day")
    op.drop_table("roster_version")
