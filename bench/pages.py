"""The one list of the app's GET pages, filled with real ids of a seeded site.

tests/web/test_query_counts.py counts the SQL statements of every page of the list;
bench/run.py loads with wrk those marked `benchmarked` (the pages a centre's team uses all day)
and reports their statement counts. A new page is added here, once, and both see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from dalia_site import clock
from dalia_site.domain import booking, centre, partners, planning, reminders
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    PartnerContact,
    PartnerOrganisation,
    Patient,
    Referral,
    TeamMember,
)
from dalia_site.models.types import utcnow
from dalia_site.models.vocabulary import CLINICIANS, NURSES


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    partial: bool = False  # fetched with `HX-Request: true` (an htmx swap)
    status: int = 200  # what an admin gets
    benchmarked: bool = False  # also loaded with wrk by bench/run.py
    # An export of every row of this table: it grows with them by nature, so bench/run.py holds
    # its growth to its cost per row.
    every_row_of: str = ""
    search: bool = False  # a search by words: held to TARGET_SEARCH_GROWTH at 3× (bench/run.py)
    # Asked right after a change of the roster: nothing the workers keep of the roster can answer
    # (the worst case of the activity figures and of the open half-days, each time someone edits
    # the planning).
    roster_changed: bool = False


def pages(ids: dict) -> list[Page]:
    """Every GET page of the app, for the ids `page_ids` returns."""
    today: date = ids["today"]
    year = f"du={today - timedelta(days=364)}&au={today}"
    patient, appointment, member, partner = ids["patient"], ids["appointment"], ids["member"], ids["partner"]
    return [
        Page("accueil : bureau du jour", "/", benchmarked=True),
        Page("bureau du jour (htmx)", f"/?jour={today}", partial=True, benchmarked=True),
        Page("compteurs du bureau", f"/bureau/compteurs?jour={today}", partial=True),
        Page("feuille du jour", f"/bureau/feuille?jour={today}"),
        Page("annuler depuis le bureau", f"/bureau/rdv/{appointment}/annuler", partial=True),
        Page("créneau libre de l'accueil", f"/bureau/creneau/{ids['desk_slot']}?q=martin", search=True),
        Page("créneau libre (htmx)", f"/bureau/creneau/{ids['desk_slot']}?q=ma", partial=True, search=True),
        Page("file des adressages", "/adressages", benchmarked=True),
        Page("file des adressages (htmx)", "/adressages?statut=tous&page=2", partial=True),
        Page("compteurs des adressages", "/adressages/compteurs", partial=True),
        Page("nouvel adressage", "/adressages/nouveau"),
        Page(
            "nouvel adressage, partenaires (htmx)",
            "/adressages/nouveau?source_search=pharm",
            partial=True,
            search=True,
        ),
        Page("adressage", f"/adressages/{ids['referral']}"),
        Page("refus depuis la file (htmx)", f"/adressages/{ids['referral']}/refus", partial=True),
        Page("formulaire partenaire", f"/adressage/{ids['link_token']}"),
        Page("votre rendez-vous (page du patient)", f"/rdv/{ids['patient_token']}"),
        Page("patients", "/patients"),
        Page(
            "recherche de patients (htmx)", "/patients?q=martin", partial=True, benchmarked=True, search=True
        ),
        Page("fiche patient", f"/patients/{patient}", benchmarked=True),
        Page("modifier un patient", f"/patients/{patient}/modifier"),
        Page("suivi et médecin traitant d'un patient", f"/patients/{patient}/suivi"),
        Page("courrier de liaison", f"/patients/{ids['gp_found']}/courrier-medecin-traitant"),
        Page("à recontacter", "/listes/a-recontacter", benchmarked=True),
        Page("à recontacter : en retard (htmx)", "/listes/a-recontacter?vue=retard", partial=True),
        Page("liste d'attente", "/listes/liste-d-attente", benchmarked=True),
        Page("liste d'attente depuis 30 jours (htmx)", "/listes/liste-d-attente?depuis=30", partial=True),
        Page("non venus", "/listes/non-venus", benchmarked=True),
        Page("non venus sur 8 semaines (htmx)", "/listes/non-venus?semaines=8", partial=True),
        Page("compteurs des listes (chaque page)", "/listes/compteurs", partial=True, benchmarked=True),
        Page("droit d'accès d'un patient", f"/patients/{patient}/droit-acces"),
        Page("droit d'accès en JSON", f"/patients/{patient}/droit-acces.json"),
        Page("effacer un patient", f"/patients/{patient}/effacement"),
        Page("données personnelles", "/donnees-personnelles"),
        Page("notice d'information des patients", "/informations-patients"),
        Page("créneaux (page)", f"/patients/{patient}/creneaux?kind=first", benchmarked=True),
        Page(
            "créneaux d'une première consultation (htmx)",
            f"/patients/{patient}/creneaux?kind=first",
            partial=True,
            benchmarked=True,
        ),
        Page("créneaux (htmx)", f"/patients/{patient}/creneaux?kind=nurse", partial=True),
        Page(
            "créneaux : semaine suivante, l'après-midi (htmx)",
            f"/patients/{patient}/creneaux?kind=nurse&du={today + timedelta(days=7)}"
            "&moment=apres-midi&override_reason=bench",
            partial=True,
            benchmarked=True,
        ),
        Page(
            "créneaux : une infirmière nommée, le matin (htmx)",
            f"/patients/{patient}/creneaux?kind=nurse&soignant={ids['nurse']}&moment=matin&override_reason=bench",
            partial=True,
        ),
        Page(
            "confirmation d'un créneau",
            f"/patients/{patient}/rendez-vous/confirmer?{ids['slot']}",
            benchmarked=True,
        ),
        Page("agenda du jour", f"/agenda?jour={today}", benchmarked=True),
        Page("agenda du jour (htmx)", f"/agenda?jour={today - timedelta(days=1)}", partial=True),
        Page("agenda de la semaine", f"/agenda/semaine?jour={today}", benchmarked=True),
        Page("convocation", f"/rendez-vous/{appointment}/convocation"),
        Page("convocation .ics", f"/rendez-vous/{appointment}/convocation.ics"),
        Page("reporter un rendez-vous", f"/rendez-vous/{appointment}/reporter", benchmarked=True),
        Page(
            "confirmation d'un report",
            f"/rendez-vous/{appointment}/reporter/confirmer?{ids['moved_slot']}",
            benchmarked=True,
        ),
        Page("planning de la semaine", f"/planning?semaine={today}"),
        Page("planning du mois", "/planning/mois"),
        Page("demi-journées ouvertes", "/planning/demi-journees-ouvertes"),
        Page(
            "demi-journées ouvertes, juste après un changement du planning",
            "/planning/demi-journees-ouvertes",
            roster_changed=True,
        ),
        Page("équipe", "/equipe"),
        Page("membre de l'équipe", f"/equipe/{member}"),
        Page("modifier un membre", f"/equipe/{member}/modifier"),
        Page("nouveau membre", "/equipe/nouveau"),
        # The admin is this doctor (page_ids makes sure): "mes vacations" sends to their page.
        Page("mes vacations", "/mes-vacations", status=302),
        Page("agenda .ics d'un membre", f"/agenda/{ids['ics_token']}.ics"),
        Page("annuaire", "/annuaire"),
        Page(
            "recherche de partenaires (htmx)",
            "/annuaire?q=pharmacie",
            partial=True,
            benchmarked=True,
            search=True,
        ),
        Page("suggestions de partenaires", "/annuaire/suggestions?orientation_partner=ph", partial=True),
        Page("partenaire", f"/annuaire/{partner}"),
        Page("modifier un partenaire", f"/annuaire/{partner}/modifier"),
        Page("modifier une personne", f"/annuaire/{partner}/personnes/{ids['contact']}"),
        Page("nouveau partenaire", "/annuaire/nouveau"),
        Page("import de l'annuaire", "/annuaire/import"),
        Page("export de l'annuaire", "/annuaire/export.csv", every_row_of="partner_organisation"),
        Page("activité d'une année", f"/activite?{year}", benchmarked=True),
        Page(
            "activité d'une année, juste après un changement du planning",
            f"/activite?{year}",
            roster_changed=True,
        ),
        Page("activité (htmx)", f"/activite?{year}", partial=True),
        Page("rapport d'activité", f"/activite/rapport?{year}"),
        Page("activité en CSV", f"/activite/export.csv?{year}"),
        Page("activité en JSON", f"/activite/export.json?{year}"),
        Page("comptes", "/admin/comptes"),
        Page("modifier un compte", f"/admin/comptes/{ids['admin']}"),
        Page("nouveau compte", "/admin/comptes/nouveau"),
        Page("journal d'audit", "/admin/journal"),
        Page("réglages du centre", "/admin/centre"),
        Page("envois (e-mails et SMS)", "/admin/envois"),
        Page("bandeau des envois (htmx)", "/admin/envois", partial=True),
        Page("mot de passe", "/mot-de-passe"),
        Page("mes sessions", "/mes-sessions"),
    ]


def page_ids(app, admin_id: int) -> dict:
    """A patient in follow-up with the longest history (the heaviest patient page), a booked
    appointment to come, and one of each other object the pages show; plus a partner link and a
    calendar feed token (both created here). The admin becomes a doctor if no member is theirs."""
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    with app.app_context():
        follow_up = select(Patient.id).where(Patient.status == "follow_up")
        patient = db.session.scalar(
            select(Appointment.patient_id)
            .where(Appointment.patient_id.in_(follow_up))
            .group_by(Appointment.patient_id)
            .order_by(func.count().desc())
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
        patient_token = reminders.issue_link(db.session, db.session.get(Appointment, appointment))
        if db.session.scalar(select(TeamMember.id).where(TeamMember.staff_user_id == admin_id)) is None:
            member.staff_user_id = admin_id  # "mes vacations" are this doctor's
        referral = db.session.scalar(select(Referral.id).order_by(Referral.status != "new").limit(1))
        # Someone on each worklist, whatever the data (a list that shows names is traced: a
        # fixed count of statements needs rows): patients declined by triage are put back.
        for status in ("waiting_list", "follow_up"):
            declined = db.session.scalar(select(Patient).where(Patient.status == "declined").limit(1))
            if declined is not None:
                declined.status = status
        # A patient whose médecin traitant was found (the liaison letter); made so if none is.
        gp_found = db.session.scalar(select(Patient.id).where(Patient.status == "gp_found").limit(1))
        if gp_found is None:
            gp_found = db.session.scalar(select(Patient.id).where(Patient.status != "follow_up").limit(1))
            db.session.get(Patient, gp_found).status = "gp_found"
        nurse = db.session.scalar(
            select(TeamMember.id)
            .where(TeamMember.profession.in_(NURSES), TeamMember.active.is_(True))
            .limit(1)
        )
        slot = _free_slot(zone, patient)
        moved_slot = _free_slot(zone, None, db.session.get(Appointment, appointment))
        db.session.commit()
        return {
            "today": clock.today(zone),
            "patient": patient,
            "appointment": appointment,
            "partner": contact[0],
            "contact": contact[1],
            "member": member.id,
            "referral": referral,
            "gp_found": gp_found,
            "admin": admin_id,
            "link_token": link_token,
            "ics_token": ics_token,
            "patient_token": patient_token,
            "nurse": nurse,
            "slot": slot,
            "moved_slot": moved_slot,
            "desk_slot": _desk_slot(zone, nurse),
        }


def _desk_slot(zone: ZoneInfo, nurse: int) -> str:
    """One of today's quarter hours for the nurse, as the desk's « créneaux libres » link it: the
    next one (later today), or the current one when the next is tomorrow (a walk-in now)."""
    now = clock.now().astimezone(zone)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    if (start + timedelta(minutes=15)).date() == start.date():
        start += timedelta(minutes=15)
    return f"{start.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%MZ}_{nurse}"


def _free_slot(zone: ZoneInfo, patient_id: int | None, moving: Appointment | None = None) -> str:
    """The query string of the picker's confirmation for the first free slot of the patient's
    proposed kind (or of the appointment being moved) in the coming weeks."""
    settings = centre.load(db.session)
    members = {
        m.id: m
        for m in db.session.scalars(
            select(TeamMember).where(TeamMember.active.is_(True), TeamMember.profession.in_(CLINICIANS))
        )
    }
    now = utcnow()
    today = now.astimezone(zone).date()
    owner = moving.patient_id if moving is not None else patient_id
    assert owner is not None
    for weeks in range(12):
        picker = booking.Picker(None, today + timedelta(weeks=weeks))
        week = booking.week_slots(
            db.session, picker, owner, members, settings.visits, settings.hours, zone, now, moving
        )
        if week.slots:
            slot = week.slots[0]
            return urlencode(
                {
                    "kind": week.kind.value,
                    "creneau": f"{slot.starts_at.isoformat()}_{','.join(map(str, slot.member_ids))}",
                }
            )
    raise RuntimeError("no free slot in the next 12 weeks: the seeded roster is empty")
