"""each consultation held keeps the days from the patient's earliest referral: the delays read as numbers

The activity figures' median delay from referral to first visit counts local dates: each new
patient's two moments were read as text and turned into local dates in Python, two lookups a
moment (0.2 ms for a year on the ten-year bench data, 0.55 ms at three times the patients). Each
consultation held now keeps the whole days from its patient's earliest referral's UTC date to its
own, 0 when referred after it (domain/held_visits.py keeps them from now on): that is the delay
in local dates whenever both moments are far enough from a local midnight, and the figures read
it as a number; the few moments near a local midnight are still read as text. Existing rows are
filled here by the same rule. The index of a period's visits carries it, so that the figures
still read the index alone.

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
    op.drop_index("ix_held_visit_period", table_name="held_visit")
    op.create_index(
        "ix_held_visit_period",
        "held_visit",
        ["starts_at", "previous_at", "direct", "referred_at", "referral_days"],
    )
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
    op.drop_index("ix_held_visit_period", table_name="held_visit")
    op.create_index(
        "ix_held_visit_period", "held_visit", ["starts_at", "previous_at", "direct", "referred_at"]
    )
    op.drop_column("held_visit", "referral_days")  # SQLite ≥ 3.35 drops a column in place
