"""each UTC month's referrals by origin and decision, kept: the report's referrals summed by month

The activity figures counted a period's referrals by the category of their sender and by
decision from every referral of the period, sorted by sender: 0.6 ms a year on the ten-year bench
data, 1.9 ms at three times the patients. Each UTC month's counts are now kept
(domain/referral_months.py keeps them from now on); a period sums its whole months and reads the
referrals of the days its bounds cut off. Existing referrals are counted here by the same rule:
the month (UTC) a referral was received in, its sender's category or « direct », its decision.
The refusals by reason are read from an index of the declined referrals with their code.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "referral_month",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("referrals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "category", "status", name=op.f("pk_referral_month")),
    )
    referral = sa.table(
        "referral", sa.column("received_at", sa.DateTime()), sa.column("status"), sa.column("source_id")
    )
    partner = sa.table("partner_organisation", sa.column("id"), sa.column("category"))
    if op.get_bind().dialect.name == "postgresql":
        month = sa.cast(sa.func.date_trunc("month", referral.c.received_at), sa.Date())
    else:
        month = sa.func.date(referral.c.received_at, "start of month")
    origin = sa.func.coalesce(partner.c.category, "direct")
    counted = (
        sa.select(month, origin, referral.c.status, sa.func.count())
        .select_from(referral.outerjoin(partner, partner.c.id == referral.c.source_id))
        .group_by(month, origin, referral.c.status)
    )
    kept = sa.table(
        "referral_month",
        sa.column("month"),
        sa.column("category"),
        sa.column("status"),
        sa.column("referrals"),
    )
    op.execute(kept.insert().from_select(["month", "category", "status", "referrals"], counted))
    # The refusals of a period by reason read from an index alone: each declined referral's row
    # was read for its code (0.5 ms of the figures at three times the patients). An index of its
    # own, of the declined only (the status first, as in ix_referral_status_received, so that
    # SQLite's planner takes the one that holds the code): the code added to
    # ix_referral_status_received would come between the receipt and the row, and the queue's
    # order (received_at, id) could no longer be read from it.
    declined = sa.text("status = 'declined'")
    op.create_index(
        "ix_referral_declined",
        "referral",
        ["status", "received_at", "decline_code"],
        sqlite_where=declined,
        postgresql_where=declined,
    )


def downgrade():
    op.drop_index("ix_referral_declined", table_name="referral")
    op.drop_table("referral_month")
