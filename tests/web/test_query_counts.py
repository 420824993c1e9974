"""Every page reads the database a fixed, small number of times (at most 8 statements, login
and audit trail included), whatever the amount of data: the same count for a small centre and
for one with ten times more patients, appointments, referrals, partners and sessions.

The data come from the benchmark's seeder (bench/seed.py), scaled down.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bench.queries import page_queries
from bench.seed import seed
from dalia_site.domain import partners, planning
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    PartnerContact,
    PartnerOrganisation,
    Patient,
    Referral,
    StaffUser,
    TeamMember,
)
from dalia_site.models.types import utcnow

MAX_QUERIES = 8


def pages(ids: dict) -> list[tuple[str, str, bool]]:
    """(label, path, htmx partial): every GET page of the app, filled with real ids."""
    today = ids["today"]
    year = f"du={today - timedelta(days=364)}&au={today}"
    return [
        ("accueil", "/", False),
        ("file des adressages", "/adressages", False),
        ("file des adressages (htmx)", "/adressages?statut=tous&page=2", True),
        ("compteurs des adressages", "/adressages/compteurs", True),
        ("nouvel adressage", "/adressages/nouveau", False),
        ("adressage", f"/adressages/{ids['referral']}", False),
        ("formulaire partenaire", f"/adressage/{ids['link_token']}", False),
        ("patients", "/patients", False),
        ("recherche de patients (htmx)", "/patients?q=martin", True),
        ("fiche patient", f"/patients/{ids['patient']}", False),
        ("modifier un patient", f"/patients/{ids['patient']}/modifier", False),
        ("créneaux (page)", f"/patients/{ids['patient']}/creneaux?kind=first", False),
        ("créneaux (htmx)", f"/patients/{ids['patient']}/creneaux?kind=nurse", True),
        ("agenda du jour", f"/agenda?jour={today}", False),
        ("agenda du jour (htmx)", f"/agenda?jour={today - timedelta(days=1)}", True),
        ("agenda de la semaine", f"/agenda/semaine?jour={today}", False),
        ("convocation", f"/rendez-vous/{ids['appointment']}/convocation", False),
        ("convocation .ics", f"/rendez-vous/{ids['appointment']}/convocation.ics", False),
        ("reporter un rendez-vous", f"/rendez-vous/{ids['appointment']}/reporter", False),
        ("planning de la semaine", f"/planning?semaine={today}", False),
        ("planning du mois", "/planning/mois", False),
        ("équipe", "/equipe", False),
        ("membre de l'équipe", f"/equipe/{ids['member']}", False),
        ("modifier un membre", f"/equipe/{ids['member']}/modifier", False),
        ("nouveau membre", "/equipe/nouveau", False),
        ("mes vacations", "/mes-vacations", False),
        ("agenda .ics d'un membre", f"/agenda/{ids['ics_token']}.ics", False),
        ("annuaire", "/annuaire", False),
        ("recherche de partenaires (htmx)", "/annuaire?q=pharmacie", True),
        ("suggestions de partenaires", "/annuaire/suggestions?orientation_partner=ph", True),
        ("partenaire", f"/annuaire/{ids['partner']}", False),
        ("modifier un partenaire", f"/annuaire/{ids['partner']}/modifier", False),
        ("modifier une personne", f"/annuaire/{ids['partner']}/personnes/{ids['contact']}", False),
        ("nouveau partenaire", "/annuaire/nouveau", False),
        ("import de l'annuaire", "/annuaire/import", False),
        ("export de l'annuaire", "/annuaire/export.csv", False),
        ("activité d'une année", f"/activite?{year}", False),
        ("activité (htmx)", f"/activite?{year}", True),
        ("rapport d'activité", f"/activite/rapport?{year}", False),
        ("activité en CSV", f"/activite/export.csv?{year}", False),
        ("activité en JSON", f"/activite/export.json?{year}", False),
        ("comptes", "/admin/comptes", False),
        ("modifier un compte", f"/admin/comptes/{ids['admin']}", False),
        ("nouveau compte", "/admin/comptes/nouveau", False),
        ("journal d'audit", "/admin/journal", False),
        ("mot de passe", "/mot-de-passe", False),
    ]


def count_queries(app, client, ids) -> dict[str, int]:
    # "mes vacations" sends the user to their own member page.
    return page_queries(app, client, pages(ids), lambda label: 302 if label == "mes vacations" else 200)


def ids_of(app, admin: StaffUser) -> dict:
    """A patient in follow-up with the longest history, a booked appointment to come, and one
    of each other object the pages show; plus a partner link and a calendar feed token."""
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    with app.app_context():
        follow_up = select(Patient.id).where(Patient.status == "follow_up")
        patient = db.session.scalar(
            select(Appointment.patient_id)
            .where(Appointment.patient_id.in_(follow_up))
            .group_by(Appointment.patient_id)
            .order_by(db.func.count().desc())
            .limit(1)
        )
        appointment = db.session.scalar(
            select(Appointment.id)
            .where(Appointment.status == "booked", Appointment.starts_at > utcnow())
            .limit(1)
        )
        contact = db.session.execute(select(PartnerContact.organisation_id, PartnerContact.id).limit(1)).one()
        organisation = db.session.get(PartnerOrganisation, contact[0])
        _, link_token = partners.create_referral_link(db.session, None, organisation, "test")
        member = db.session.scalar(
            select(TeamMember).where(TeamMember.profession == "medecin").order_by(TeamMember.id).limit(1)
        )
        ics_token = planning.new_calendar_token(db.session, None, member)
        if db.session.scalar(select(TeamMember.id).where(TeamMember.staff_user_id == admin.id)) is None:
            member.staff_user_id = admin.id  # "mes vacations" are this doctor's
        referral = db.session.scalar(select(Referral.id).order_by(Referral.status != "new").limit(1))
        db.session.commit()
        return {
            "today": datetime.now(zone).date(),
            "patient": patient,
            "appointment": appointment,
            "partner": contact[0],
            "contact": contact[1],
            "member": member.id,
            "referral": referral,
            "admin": admin.id,
            "link_token": link_token,
            "ics_token": ics_token,
        }


@pytest.fixture
def admin_client(app, client, make_user, auth):
    admin = make_user("admin")
    auth.login_as(admin)
    return admin


def test_every_page_reads_the_database_at_most_8_times_whatever_the_data_size(app, client, admin_client):
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    today = datetime.now(zone).date()
    with app.app_context():
        seed(zone, today, seed_value=1, scale=0.002, years=2)
    small = count_queries(app, client, ids_of(app, admin_client))
    with app.app_context():
        added = seed(zone, today, seed_value=2, scale=0.02, years=2)
    assert added["patient"] == 200 and added["appointment"] >= 400
    large = count_queries(app, client, ids_of(app, admin_client))
    too_many = {label: n for label, n in large.items() if n > MAX_QUERIES}
    assert not too_many, f"pages above {MAX_QUERIES} queries: {too_many}"
    grew = {label: (small[label], large[label]) for label in small if small[label] != large[label]}
    assert not grew, f"query counts that grew with the data: {grew}"
