"""the activity figures' indexes: the newest write of the audit trail, a period's referrals

The figures cache's key is the newest audit event that is not a read: it was found by reading the
trail backwards past every read since (68,000 patient views on the ten-year bench data: 8 ms on
each activity page); a partial index on the writes finds it in one step. A period's referrals by
decision and origin were read row by row from the table (1,400 a year on the ten-year data, 4,200
at three times the patients): an index on (received_at, status, source_id) gives them alone.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 02:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# The reads of models/audit.py as this migration wrote them: the index's condition must be the
# query's (a later change of the list is a migration of its own).
READS = (
    "patient.view",
    "patient.list_view",
    "referral.view",
    "referral.list_view",
    "patient_link.view",
    "auth.login",
    "auth.login_failed",
    "auth.logout",
)
WRITES = "action NOT IN (" + ", ".join(f"'{action}'" for action in READS) + ")"


def upgrade():
    op.create_index(
        "ix_audit_event_write",
        "audit_event",
        ["id"],
        sqlite_where=sa.text(WRITES),
        postgresql_where=sa.text(WRITES),
    )
    op.create_index("ix_referral_received_status_source", "referral", ["received_at", "status", "source_id"])


def downgrade():
    op.drop_index("ix_referral_received_status_source", table_name="referral")
    op.drop_index("ix_audit_event_write", table_name="audit_event")
