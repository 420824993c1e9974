"""the held visits kept by month, and each one's delay from the referral: the activity figures' growth

The activity figures counted a period's patients received in one pass over its held visits
(6,400 a year at three times the bench's patients), and turned each new patient's two moments
into local dates in Python for the delay from referral to first visit (0.55 ms a year at three
times the patients). Now (domain/held_visits.py keeps them from now on):
- each consultation held keeps the whole days from its patient's earliest referral's UTC date to
  its own, 0 when referred after it: the delay in local dates whenever both moments are far
  enough from a local midnight, read as a number (those near one are still read as text); the
  first visits get an index of their own, with it;
- each UTC month keeps how many of its held visits had the one before in each earlier month (and
  how many of those came directly): a period's whole months are counted from these rows, and
  only the visits of the days its bounds cut off, and those whose visit before came in its
  start's month before it (an index on the visit before), are read one by one.
Existing rows are filled here by the same rules.

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column("held_visit", sa.Column("referral_days", sa.Integer(), nullable=True))
    if postgresql:
        days = (
            "CASE WHEN referred_at IS NOT NULL "
            "THEN GREATEST(0, CAST(starts_at AS DATE) - CAST(referred_at AS DATE)) END"
        )
    else:
        days = "max(0, CAST(julianday(date(starts_at)) - julianday(date(referred_at)) AS INTEGER))"
    op.execute(f"UPDATE held_visit SET referral_days = {days}")  # noqa: S608 (no value from outside)
    not_first = sa.text("previous_at IS NOT NULL")
    op.create_index(
        "ix_held_visit_previous",
        "held_visit",
        ["previous_at", "starts_at", "direct"],
        sqlite_where=not_first,
        postgresql_where=not_first,
    )
    first_only = sa.text("previous_at IS NULL")
    op.create_index(
        "ix_held_visit_first",
        "held_visit",
        ["starts_at", "previous_at", "referred_at", "referral_days"],
        sqlite_where=first_only,
        postgresql_where=first_only,
    )
    op.create_table(
        "held_month",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("previous_month", sa.Date(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("direct", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "previous_month", name=op.f("pk_held_month")),
        sqlite_with_rowid=False,
    )
    if postgresql:
        month, before = (f"CAST(date_trunc('month', {c}) AS DATE)" for c in ("starts_at", "previous_at"))
    else:
        month, before = (f"date({c}, 'start of month')" for c in ("starts_at", "previous_at"))
    op.execute(
        "INSERT INTO held_month (month, previous_month, visits, direct) "  # noqa: S608 (no value from outside)
        f"SELECT {month}, coalesce({before}, '0001-01-01'), count(*), count(*) FILTER (WHERE direct) "
        "FROM held_visit GROUP BY 1, 2"
    )


def downgrade():
    op.drop_table("held_month")
    op.drop_index("ix_held_visit_first", table_name="held_visit")
    op.drop_index("ix_held_visit_previous", table_name="held_visit")
    op.drop_column("held_visit", "referral_days")  # SQLite ≥ 3.35 drops a column in place
