"""the roster's version, what a day's roster figures are kept against

The activity figures' roster part (staffed hours, hours by status, half-days taken from the board
and uncovered) was worked out from every session and weekly pattern of the period on each report
(7 ms for a year on the ten-year bench data, the largest part of the page). A day's figures change
only with the roster: each worker keeps them against this version, which the session draws again
after any change of a session, a weekly pattern, an absence or a team member
(domain/roster_version.py).

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


def downgrade():
    op.drop_table("roster_version")
