"""search indexes (patients, partners) and the activity figures' indexes

Patient and partner search find a word anywhere in the folded search text through an index
instead of reading every row (dalia_site/domain/search.py): on SQLite an FTS5 trigram table per
searchable table, filled from the existing rows and kept in step by triggers (whatever writes the
row: the app, the demo, a bulk load); on PostgreSQL a pg_trgm GIN index on the column.
The activity figures read each received patient's earliest referral and first visit by index
seeks, and the period's appointments from one covering index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 18:20:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SEARCHABLE = ("patient", "partner_organisation")


def upgrade():
    op.create_index(
        "ix_appointment_patient_status_start", "appointment", ["patient_id", "status", "starts_at"]
    )
    op.create_index(
        "ix_appointment_period", "appointment", ["starts_at", "status", "kind", "walk_in", "patient_id"]
    )
    op.create_index(
        "ix_referral_patient_received", "referral", ["patient_id", "received_at", "id", "channel"]
    )
    dialect = op.get_bind().dialect.name
    for name in SEARCHABLE:  # our own table names: no input reaches these statements
        if dialect == "sqlite":
            fts = f"{name}_search"
            forget = (
                f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text);"  # noqa: S608, E501
            )
            learn = f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text);"  # noqa: S608
            op.execute(
                f"CREATE VIRTUAL TABLE {fts} USING fts5("
                f"search_text, content='{name}', content_rowid='id', tokenize='trigram')"
            )
            op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # noqa: S608
            op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {name} BEGIN {learn} END")
            op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {name} BEGIN {forget} END")
            changed = f"AFTER UPDATE OF search_text ON {name}"
            op.execute(f"CREATE TRIGGER {fts}_update {changed} BEGIN {forget} {learn} END")
        elif dialect == "postgresql":
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            op.execute(
                f"CREATE INDEX ix_{name}_search_text_trigram ON {name} USING gin (search_text gin_trgm_ops)"
            )


def downgrade():
    dialect = op.get_bind().dialect.name
    for name in SEARCHABLE:
        if dialect == "sqlite":
            fts = f"{name}_search"
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{trigger}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
        elif dialect == "postgresql":
            op.execute(f"DROP INDEX IF EXISTS ix_{name}_search_text_trigram")
    op.drop_index("ix_referral_patient_received", table_name="referral")
    op.drop_index("ix_appointment_period", table_name="appointment")
    op.drop_index("ix_appointment_patient_status_start", table_name="appointment")
