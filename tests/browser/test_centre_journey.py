"""The admin fills « Réglages du centre » in a real browser (a wrong phone number first, refused in
French), then a patient's convocation prints the centre's address, phone, access and hours; the
patient file reads at 390 px wide. Every page goes through check_page (axe-core, CSP)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, CentreSettings, Patient, TeamMember
from tests.browser.conftest import STAFF, field, follow, log_in, visit

PARIS = ZoneInfo("Europe/Paris")
PHONE_WIDTH = 390


@pytest.fixture
def centre_restored(live_app):
    """The session's site is shared by the browser tests: its settings are put back afterwards."""
    table = CentreSettings.__table__
    with live_app.app_context():
        before = dict(db.session.execute(select(table)).mappings().one())
    yield
    with live_app.app_context():
        db.session.execute(table.update().values(**before))
        db.session.commit()


@pytest.fixture
def convocation_of(live_app) -> tuple[int, int]:
    """(patient id, appointment id): Mr Pujol's visit with the IPA next week, and a missed one."""
    with live_app.app_context():
        patient = Patient(
            last_name="Pujol",
            first_names="Henri",
            birth_date=date(1951, 6, 2),
            sex="M",
            status="follow_up",
            address="4 avenue Franklin Roosevelt, résidence des Jardins du Canal, bâtiment B",
            postcode="11000",
            commune="Carcassonne",
            ald="yes",
            ald_label="insuffisance cardiaque",
            search_text="pujol henri",
        )
        nurse = TeamMember(name="Laure Carrière-Fontanilles", profession="ipa", team="stable", active=True)
        start = datetime.combine(datetime.now(PARIS).date() + timedelta(days=7), time(9, 0), tzinfo=PARIS)
        missed = start - timedelta(days=21)
        visits = []
        for when, status in ((start, "booked"), (missed, "no_show")):
            appointment = Appointment(
                patient=patient,
                kind="nurse",
                starts_at=when,
                ends_at=when + timedelta(minutes=30),
                status=status,
            )
            appointment.clinicians = [AppointmentClinician(member=nurse)]
            visits.append(appointment)
        db.session.add_all([patient, nurse, *visits])
        db.session.commit()
        return patient.id, visits[0].id


def test_the_admin_fills_the_settings_and_the_convocation_shows_them(
    page: Page, centre_restored, convocation_of
):
    patient_id, appointment_id = convocation_of
    log_in(page, STAFF["admin"].email)
    menu = page.get_by_role("navigation", name="Navigation principale")
    follow(page, menu.get_by_role("link", name="Réglages du centre"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Réglages du centre")

    field(page, "Nom du centre (tel qu'affiché)").fill("Centre DALIA du Bassin Carcassonnais")
    field(page, "Adresse").fill("12 rue Aimé Ramond, 11000 Carcassonne")
    field(page, "Téléphone").fill("04 68 1")
    field(page, "Accès").fill("Bus ligne 2, arrêt Gambetta.\nRez-de-chaussée, accès fauteuil.")
    # Closed on Wednesdays: both half-days of the grid unticked.
    page.get_by_label("Mercredi matin").uncheck()
    page.get_by_label("Mercredi après-midi").uncheck()
    field(page, "Après-midi").fill("14:00-18:00")
    follow(page, page.get_by_role("button", name="Enregistrer les réglages"))
    # Refused in French, what was typed kept.
    expect(page.locator("#phone-erreur")).to_have_text(
        "Numéro de téléphone invalide : 10 chiffres attendus (ex. 05 65 36 73 87)."
    )
    expect(page.get_by_label("Mercredi matin")).not_to_be_checked()
    expect(page.get_by_label("Lundi après-midi")).to_be_checked()

    field(page, "Téléphone").fill("04 68 11 22 33")
    follow(page, page.get_by_role("button", name="Enregistrer les réglages"))
    expect(page.get_by_text("Réglages du centre enregistrés.")).to_be_visible()

    visit(page, f"/rendez-vous/{appointment_id}/convocation")
    facts = page.locator("dl.facts")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Convocation — Centre DALIA du Bassin Carcassonnais"
    )
    expect(page.locator("article")).to_contain_text("PUJOL Henri, né le 02/06/1951")
    expect(facts).to_contain_text("12 rue Aimé Ramond, 11000 Carcassonne")
    expect(facts).to_contain_text("Rez-de-chaussée, accès fauteuil.")
    expect(facts).to_contain_text("04 68 11 22 33")
    expect(facts).to_contain_text("les lundi, mardi, jeudi et vendredi, 8h30–12h30 et 14h00–18h00")
    expect(facts).to_contain_text("Laure Carrière-Fontanilles (infirmière en pratique avancée (IPA))")

    # The patient file on a phone: no horizontal scroll, the path's lines one under the other.
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    visit(page, f"/patients/{patient_id}")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"the patient file is {width} px wide at {PHONE_WIDTH} px"
    lines = page.locator("ol.timeline li")
    expect(lines.first).to_contain_text("Non venu : consultation infirmière avec Laure Carrière-Fontanilles")
    boxes = [lines.nth(i).bounding_box() for i in range(lines.count())]
    facts_boxes = [
        box
        for locator in (page.locator("dl.facts dt"), page.locator("dl.facts dd"))
        for box in (locator.nth(i).bounding_box() for i in range(locator.count()))
    ]
    for group in (boxes, facts_boxes):
        for i, a in enumerate(group):
            assert a["x"] >= 0 and a["x"] + a["width"] <= PHONE_WIDTH
            for b in group[i + 1 :]:
                apart = (
                    a["x"] + a["width"] <= b["x"]
                    or b["x"] + b["width"] <= a["x"]
                    or a["y"] + a["height"] <= b["y"]
                    or b["y"] + b["height"] <= a["y"]
                )
                assert apart, (a, b)
    expect(page.get_by_label("Statut du patient")).to_have_value("follow_up")
