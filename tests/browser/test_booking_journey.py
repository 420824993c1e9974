"""Booking in a real browser: an assistant books an accepted patient's first visit with the doctor
and the nurse together, marks it honoured, books the follow-up (a nurse, as the alternation
proposes) and finds both in the day agenda.

Every page these tests land on, and every htmx swap, is checked by `check_page` (axe-core, no CSP
violation, no script error); see conftest.py.
"""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from dalia_site import clock
from dalia_site.domain import referrals, roster
from dalia_site.extensions import db
from dalia_site.models import Appointment, Shift, TeamMember
from tests.browser.conftest import STAFF, check_page, follow, log_in, visit

PARIS = ZoneInfo("Europe/Paris")
MORNING = (time(8, 30), time(12, 30))
DOCTOR, NURSE = "Dr Anne Sabatier", "Julie Cros"
PATIENT = "BASTIDE Rose"
IDENTITY = {
    "last_name": "Bastide",
    "first_names": "Rose",
    "birth_name": "",
    "birth_date": date(1949, 4, 12),
    "sex": "F",
    "phone": "04 68 47 00 00",
    "email": "",
    "address": "2 rue Victor Hugo",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "yes",
    "ald_label": "BPCO",
    "gp_status": "none",
    "gp_name": "",
}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


@pytest.fixture
def clinic(live_app) -> dict:
    """A doctor and a nurse on duty tomorrow morning, and a patient whose referral was accepted."""
    tomorrow = datetime.now(PARIS).date() + timedelta(days=1)
    with live_app.app_context():
        members = {}
        for name, profession in ((DOCTOR, "medecin"), (NURSE, "infirmier_azalee")):
            member = TeamMember(
                name=name,
                profession=profession,
                team="stable",
                doctor_status="salarie" if profession == "medecin" else None,
            )
            db.session.add(member)
            db.session.flush()
            roster.add_shift(
                db.session,
                None,
                member,
                tomorrow,
                *MORNING,
                PARIS,
                today=clock.today(ZoneInfo("Europe/Paris")),
            )
            members[name] = member.id
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            IDENTITY,
            {"referrer_name": ""},
            "Suivi BPCO.",
            now=clock.now(),
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
        patient = referrals.decide(db.session, None, referral, "accepted", now=clock.now())
        db.session.commit()
        return {"tomorrow": tomorrow, "patient": patient.id, "members": members}


def move_to_yesterday(live_app, clinic: dict) -> date:
    """What a day passing does: the first visit took place yesterday, when both were on duty
    (booking refuses the past, so the database is changed directly)."""
    yesterday = datetime.now(PARIS).date() - timedelta(days=1)
    with live_app.app_context():
        db.session.execute(
            update(Appointment)
            .where(Appointment.patient_id == clinic["patient"], Appointment.kind == "first")
            .values(starts_at=at(yesterday, 8, 30), ends_at=at(yesterday, 9, 30))
        )
        for member_id in clinic["members"].values():
            db.session.add(
                Shift(member_id=member_id, starts_at=at(yesterday, 8, 30), ends_at=at(yesterday, 12, 30))
            )
        db.session.commit()
    return yesterday


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Navigation principale")


def show_free_slots(page: Page) -> None:
    """ "Voir les créneaux libres": the list comes by htmx into the booking block."""
    page.evaluate("() => { window.sameDocument = true; }")
    with page.expect_response(
        lambda r: "/creneaux" in r.url and r.request.headers.get("hx-request") == "true"
    ) as swap:
        page.get_by_role("button", name="Voir les créneaux libres").click()
    assert swap.value.status == 200
    expect(page.get_by_role("form", name="Créneaux libres")).to_be_visible()
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    check_page(page)


WEEKDAYS = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")


def slot_button(page: Page, day: date, hour: str):
    """A slot of the picker's week: its day is the group, its time the button."""
    day_group = page.get_by_role("group", name=f"{WEEKDAYS[day.weekday()]} {day:%d/%m/%Y}")
    return day_group.get_by_role("button", name=hour, exact=True)


def agenda_day_by_htmx(page: Page, link: str, day: date) -> None:
    with page.expect_response(
        lambda r: f"/agenda?jour={day.isoformat()}" in r.url and r.request.headers.get("hx-request") == "true"
    ) as swap:
        page.get_by_role("link", name=link).click()
    assert swap.value.status == 200
    expect(page.get_by_role("heading", level=2)).to_contain_text(f"{day:%d/%m/%Y}")
    expect(page).to_have_url(re.compile(rf"/agenda\?jour={day.isoformat()}$"))
    check_page(page)


def column(page: Page, name: str):
    return page.get_by_role("region", name=re.compile(rf"^{re.escape(name)}"))


def test_an_assistant_books_the_pair_then_the_nurse_follow_up(page: Page, live_app, clinic):
    tomorrow = clinic["tomorrow"]
    log_in(page, STAFF["assistant"].email)
    visit(page, f"/patients/{clinic['patient']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{PATIENT} (En suivi)")
    expect(page.get_by_text("L'alternance propose : première consultation")).to_be_visible()

    # The first visit: the doctor and the nurse together, tomorrow 08:30.
    show_free_slots(page)
    follow(page, slot_button(page, tomorrow, "08h30"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer le rendez-vous")
    expect(page.locator("dl.facts")).to_contain_text(f"{DOCTOR} (Médecin) et {NURSE}")
    follow(page, page.get_by_role("button", name="Confirmer"))
    expect(page).to_have_url(re.compile(r"/rendez-vous/\d+/convocation$"))
    expect(page.get_by_role("status")).to_have_text("Rendez-vous confirmé.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Convocation — DALIA Bassin Carcassonnais")
    convocation = page.locator("dl.facts")
    expect(convocation).to_contain_text(f"{tomorrow:%d/%m/%Y}")
    expect(convocation).to_contain_text("08h30 (durée prévue : 60 minutes)")
    expect(convocation).to_contain_text(f"{DOCTOR} (médecin), {NURSE} (infirmière Azalée)")
    expect(convocation).to_contain_text("Carte Vitale")
    expect(page.get_by_role("link", name="Ajouter à un agenda (.ics)")).to_be_visible()

    # The visit took place: marked honoured from the patient's page.
    yesterday = move_to_yesterday(live_app, clinic)
    follow(page, page.get_by_role("link", name="← Dossier du patient"))
    expect(page.get_by_text("Aucun rendez-vous à venir.")).to_be_visible()
    follow(
        page, page.get_by_role("button", name=f"Marquer « honoré » le rendez-vous du {yesterday:%d/%m/%Y}")
    )
    expect(page.get_by_role("status")).to_have_text("Rendez-vous : honoré.")
    expect(page.get_by_role("listitem").filter(has_text=f"{yesterday:%d/%m/%Y} à 08h30 —")).to_contain_text(
        f"Première consultation (médecin et infirmière) avec {DOCTOR}, {NURSE} : honoré"
    )

    # The follow-up the alternation proposes is a nurse's; booked tomorrow at 08:30.
    expect(page.get_by_text("L'alternance propose : consultation infirmière.")).to_be_visible()
    expect(page.get_by_label("Type de rendez-vous")).to_have_value("nurse")
    show_free_slots(page)
    slots = page.get_by_role("form", name="Créneaux libres").get_by_role("button")
    expect(slots.first).to_have_text("08h30")
    follow(page, slot_button(page, tomorrow, "08h30"))
    expect(page.locator("dl.facts")).to_contain_text(NURSE)
    expect(page.locator("dl.facts")).not_to_contain_text(DOCTOR)
    follow(page, page.get_by_role("button", name="Confirmer"))
    expect(page.get_by_role("status")).to_have_text("Rendez-vous confirmé.")
    expect(page.locator("dl.facts")).to_contain_text("Consultation infirmière")
    expect(page.locator("dl.facts")).to_contain_text(f"{NURSE} (infirmière Azalée)")

    # The day agenda: yesterday both clinicians saw her; tomorrow the nurse sees her again.
    follow(page, main_nav(page).get_by_role("link", name="Agenda"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Agenda")
    agenda_day_by_htmx(page, "← Jour précédent", yesterday)
    for name in (DOCTOR, NURSE):
        expect(column(page, name)).to_contain_text(f"08h30–09h30 {PATIENT}")
        expect(column(page, name)).to_contain_text("Première consultation (médecin et infirmière) — honoré")
    agenda_day_by_htmx(page, "Jour suivant →", yesterday + timedelta(days=1))
    agenda_day_by_htmx(page, "Jour suivant →", tomorrow)
    expect(column(page, NURSE)).to_contain_text(f"08h30–09h00 {PATIENT}")
    expect(column(page, NURSE)).to_contain_text("Consultation infirmière — prévu")
    expect(column(page, DOCTOR)).to_contain_text("Aucun rendez-vous.")
    follow(page, column(page, NURSE).get_by_role("link", name=PATIENT))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{PATIENT} (En suivi)")
