"""the activity figures: the newest write of the audit trail, a period's referrals, the visits held

The figures cache's key is the newest audit event that is not a read: it was found by reading the
trail backwards past every read since (68,000 patient views on the ten-year bench data: 8 ms on
each activity page); a partial index on the writes finds it in one step. A period's referrals by
decision and origin were read row by row from the table (1,400 a year on the ten-year data, 4,200
at three times the patients): an index on (received_at, status, source_id) gives them alone.
The patients received, those who came directly and the new ones were worked out per patient from
their whole history (index seeks for each of 1,900 patients a year, 5,700 at three times the
patients); each consultation held now keeps the patient's one before it and their earliest
referral (domain/held_visits.py keeps them), filled here for existing sites by the same rule.

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
    op.create_table(
        "held_visit",
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("previous_at", sa.DateTime(), nullable=True),
        sa.Column("referred_at", sa.DateTime(), nullable=True),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
            name=op.f("fk_held_visit_appointment_id_appointment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_held_visit_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_held_visit")),
    )
    op.create_index("ix_held_visit_patient_id", "held_visit", ["patient_id"])
    op.create_index(
        "ix_held_visit_period", "held_visit", ["starts_at", "previous_at", "direct", "referred_at"]
    )
    # Each consultation held with the patient's one before it (by start, then id), their earliest
    # referral and whether it came by « accès direct ».
    op.execute(
        "INSERT INTO held_visit (appointment_id, patient_id, starts_at, previous_at, referred_at, direct) "
        "SELECT a.id, a.patient_id, a.starts_at, "
        "LAG(a.starts_at) OVER (PARTITION BY a.patient_id ORDER BY a.starts_at, a.id), "
        "(SELECT min(r.received_at) FROM referral r WHERE r.patient_id = a.patient_id), "
        "COALESCE((SELECT r.channel = 'direct' FROM referral r WHERE r.patient_id = a.patient_id "
        "ORDER BY r.received_at, r.id LIMIT 1), false) "
        "FROM appointment a WHERE a.status = 'honoured'"
    )


def downgrade():
    op.drop_table("held_visit")
    op.drop_index("ix_referral_received_status_source", table_name="referral")
    op.drop_index("ix_audit_event_write", table_name="audit_event")
