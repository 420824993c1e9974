"""Partner directory phones in E.164

The phone numbers of the partner organisations and of their people, stored until now as ten
digits (0565367387), are rewritten in E.164 (+33565367387) with the phonenumbers library, as the
patients' were in 0009. A French short number a service publishes (15, 3646, 116117) has no E.164
form and stays as its digits; a value the library cannot read is left as it was: `dalia check`
lists it (« téléphone illisible … à corriger ») for an admin to correct on the partner's page.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 18:50:00

"""
from alembic import op
import phonenumbers
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


TABLES = ("partner_organisation", "partner_contact")
# ARCEP's ranges for fiction (as dalia_site.domain.phones, frozen here with this migration).
FICTION = ("+3319900", "+3326191", "+3335301", "+3346571", "+3353649", "+3363998")


def _e164(raw):
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        return None
    stored = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) and not (len(stored) == 12 and stored.startswith(FICTION)):
        return None  # a short number (3646) or an unreadable value: kept as it is
    return stored


def _national(stored):
    if not stored.startswith("+33"):
        return None
    return "0" + stored[3:]


def _rewrite(convert):
    connection = op.get_bind()
    for table in TABLES:
        rows = connection.execute(sa.text(f"SELECT id, phone FROM {table} WHERE phone <> ''")).all()
        for row_id, phone in rows:
            new = convert(phone)
            if new and new != phone:
                connection.execute(
                    sa.text(f"UPDATE {table} SET phone = :phone WHERE id = :id"), {"phone": new, "id": row_id}
                )


def upgrade():
    _rewrite(_e164)


def downgrade():
    _rewrite(_national)
