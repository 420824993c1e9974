"""SMS reminders and patients' answers: phones in E.164, reminder channel, patient links

Patients' and referrals' phone numbers are rewritten in E.164 (+33612345678) with the
phonenumbers library; a value it cannot read is left as it was (the file shows it, staff fix it).
A patient's reminder channel starts as SMS where their phone is a mobile, else email where they
have one, else none.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:05:00

"""
from alembic import op
import phonenumbers
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# ARCEP's ranges for fiction (as dalia_site.domain.phones, frozen here with this migration).
FICTION = ("+3319900", "+3326191", "+3335301", "+3346571", "+3353649", "+3363998")


def _e164(raw):
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        return None
    stored = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) and not (len(stored) == 12 and stored.startswith(FICTION)):
        return None
    return stored


def _national(stored):
    if not stored.startswith("+33"):
        return stored
    return "0" + stored[3:]


def _rewrite(connection, table, columns, convert):
    rows = connection.execute(sa.text(f"SELECT id, {', '.join(columns)} FROM {table}")).all()
    for row in rows:
        changes = {}
        for column, value in zip(columns, row[1:]):
            if value:
                new = convert(value)
                if new and new != value:
                    changes[column] = new
        if changes:
            sets = ", ".join(f"{column} = :{column}" for column in changes)
            connection.execute(sa.text(f"UPDATE {table} SET {sets} WHERE id = :id"), {**changes, "id": row[0]})


def upgrade():
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminder_channel', sa.String(length=5), nullable=False, server_default='none'))
        batch_op.add_column(sa.Column('reachable_via_referrer', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_check_constraint(op.f('ck_patient_reminder_channel'), "reminder_channel IN ('sms', 'email', 'none')")
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_by_patient_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by_patient_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('outbound_email', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=5), nullable=False, server_default='email'))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_outbound_email_channel'), "channel IN ('email', 'sms')")
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remind_two_days_before', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('remind_day_before', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table('patient_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_patient_link_appointment_id_appointment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_patient_link_token_hash'))
    )
    with op.batch_alter_table('patient_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_link_appointment_id'), ['appointment_id'], unique=False)

    connection = op.get_bind()
    _rewrite(connection, "patient", ["phone"], _e164)
    _rewrite(connection, "referral", ["phone", "referrer_phone"], _e164)
    connection.execute(sa.text(
        "UPDATE patient SET reminder_channel = 'email' WHERE email <> ''"
    ))
    connection.execute(sa.text(
        "UPDATE patient SET reminder_channel = 'sms' WHERE phone LIKE '+336%' OR phone LIKE '+337%'"
    ))


def downgrade():
    connection = op.get_bind()
    _rewrite(connection, "patient", ["phone"], _national)
    _rewrite(connection, "referral", ["phone", "referrer_phone"], _national)
    with op.batch_alter_table('patient_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_link_appointment_id'))
    op.drop_table('patient_link')
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.drop_column('remind_day_before')
        batch_op.drop_column('remind_two_days_before')
    with op.batch_alter_table('outbound_email', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbound_email_channel'), type_='check')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('channel')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_column('cancelled_by_patient_at')
        batch_op.drop_column('confirmed_by_patient_at')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_patient_reminder_channel'), type_='check')
        batch_op.drop_column('reachable_via_referrer')
        batch_op.drop_column('reminder_channel')
