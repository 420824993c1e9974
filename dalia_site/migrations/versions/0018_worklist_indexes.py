"""the worklists' patients and appointments read by status from indexes

« À recontacter » and its count (shown in the navigation on every page) read the patients in
follow-up and the visits booked ahead; « Non venus » the missed visits of the last weeks; the
waiting list its patients: each by a range on (status, date) instead of reading every patient or
every appointment.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 19:10:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_patient_status_created", "patient", ["status", "created_at"])
    op.create_index("ix_appointment_status_start", "appointment", ["status", "starts_at"])


def downgrade():
    op.drop_index("ix_appointment_status_start", table_name="appointment")
    op.drop_index("ix_patient_status_created", table_name="patient")
