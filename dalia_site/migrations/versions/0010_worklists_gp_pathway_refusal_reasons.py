"""worklists and the médecin traitant pathway: follow-up plans, contact attempts, GP search steps,
freed slots offered to the waiting list, refusal reasons from a closed list

The directory gains the « médecin généraliste » category (with « accepte de nouveaux patients »
and the date checked); a referral's refusal gets its reason from a closed list: the free text of
referrals declined before this migration is kept, as « autre ».

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 18:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

CATEGORIES = (
    'cpts', 'dac', 'sas', 'samu_urgences', 'hopital_clinique', 'cpam', 'ars', 'cdom', 'collectivite',
    'msp_esp', 'pharmacie', 'infirmiers_liberaux', 'ehpad', 'autre',
)


def _categories(*extra):
    return "category IN ({})".format(", ".join(repr(c) for c in (*CATEGORIES, *extra)))


def upgrade():
    with op.batch_alter_table('partner_organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepts_new_patients', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('accepts_checked_on', sa.Date(), nullable=True))
        batch_op.drop_constraint(op.f('ck_partner_organisation_category'), type_='check')
        batch_op.create_check_constraint('category', _categories('medecin_generaliste'))
        batch_op.create_check_constraint(
            'accepts_new_patients',
            "accepts_new_patients IS NULL OR accepts_new_patients IN ('yes', 'no', 'to_check')",
        )
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decline_code', sa.String(length=12), nullable=True))
        batch_op.create_check_constraint(
            'decline_code',
            "decline_code IS NULL OR decline_code IN "
            "('out_of_area', 'no_ald', 'has_gp', 'urgent', 'dac', 'other')",
        )
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gp_partner_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_patient_gp_partner_id_partner_organisation'),
            'partner_organisation', ['gp_partner_id'], ['id'],
        )
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('no_show_flag_after', sa.Integer(), nullable=False, server_default='3'))

    op.create_table('follow_up_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('cadence_weeks', sa.Integer(), nullable=False),
    sa.Column('preferred_nurse', sa.String(length=10), nullable=False),
    sa.Column('azalee_protocols', sa.String(length=120), nullable=False),
    sa.Column('etp', sa.Boolean(), nullable=False),
    sa.Column('gp_search_started', sa.Boolean(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('cadence_weeks BETWEEN 1 AND 52', name=op.f('ck_follow_up_plan_cadence_weeks')),
    sa.CheckConstraint("preferred_nurse IN ('azalee', 'ipa', 'other')", name=op.f('ck_follow_up_plan_preferred_nurse')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_follow_up_plan_patient_id_patient')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_user.id'], name=op.f('fk_follow_up_plan_updated_by_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_plan')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_follow_up_plan_patient_id'))
    )
    op.create_table('contact_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.CheckConstraint("outcome IN ('reached', 'message', 'unreachable', 'stops')", name=op.f('ck_contact_attempt_outcome')),
    sa.ForeignKeyConstraint(['by_id'], ['staff_user.id'], name=op.f('fk_contact_attempt_by_id_staff_user')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_contact_attempt_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_attempt'))
    )
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_contact_attempt_patient_at', ['patient_id', 'attempted_at'], unique=False)
    op.create_table('gp_search_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('contacted_on', sa.Date(), nullable=False),
    sa.Column('answer', sa.String(length=10), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("answer IN ('pending', 'accepts', 'declines')", name=op.f('ck_gp_search_step_answer')),
    sa.ForeignKeyConstraint(['by_id'], ['staff_user.id'], name=op.f('fk_gp_search_step_by_id_staff_user')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner_organisation.id'], name=op.f('fk_gp_search_step_partner_id_partner_organisation')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_gp_search_step_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gp_search_step'))
    )
    with op.batch_alter_table('gp_search_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gp_search_step_patient_id'), ['patient_id'], unique=False)
    op.create_table('slot_offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cancelled_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('lead_member_id', sa.Integer(), nullable=False),
    sa.Column('member_ids', sa.String(length=60), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('first', 'doctor', 'nurse')", name=op.f('ck_slot_offer_kind')),
    sa.CheckConstraint("status IN ('open', 'dismissed')", name=op.f('ck_slot_offer_status')),
    sa.ForeignKeyConstraint(['cancelled_id'], ['appointment.id'], name=op.f('fk_slot_offer_cancelled_id_appointment')),
    sa.ForeignKeyConstraint(['lead_member_id'], ['team_member.id'], name=op.f('fk_slot_offer_lead_member_id_team_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slot_offer')),
    sa.UniqueConstraint('cancelled_id', name=op.f('uq_slot_offer_cancelled_id'))
    )
    with op.batch_alter_table('slot_offer', schema=None) as batch_op:
        batch_op.create_index('ix_slot_offer_status_starts', ['status', 'starts_at'], unique=False)

    # Refusals recorded before the closed list: their free text is kept, as « autre ».
    op.execute("UPDATE referral SET decline_code = 'other' WHERE status = 'declined'")


def downgrade():
    op.drop_table('slot_offer')
    op.drop_table('gp_search_step')
    op.drop_table('contact_attempt')
    op.drop_table('follow_up_plan')
    with op.batch_alter_table('centre_settings', schema=None) as batch_op:
        batch_op.drop_column('no_show_flag_after')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_patient_gp_partner_id_partner_organisation'), type_='foreignkey')
        batch_op.drop_column('gp_partner_id')
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_referral_decline_code'), type_='check')
        batch_op.drop_column('decline_code')
    op.execute("UPDATE partner_organisation SET category = 'autre' WHERE category = 'medecin_generaliste'")
    with op.batch_alter_table('partner_organisation', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_partner_organisation_accepts_new_patients'), type_='check')
        batch_op.drop_constraint(op.f('ck_partner_organisation_category'), type_='check')
        batch_op.create_check_constraint('category', _categories())
        batch_op.drop_column('accepts_checked_on')
        batch_op.drop_column('accepts_new_patients')
