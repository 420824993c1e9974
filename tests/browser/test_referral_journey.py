"""Referrals in a real browser: a partner's private link, triage by an assistant, patient search,
and a direct access recorded at the desk.

Every page these tests land on, and every htmx swap, is checked by `check_page` (axe-core, no CSP
violation, no script error); see conftest.py.
"""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from dalia_site.domain import partners
from dalia_site.extensions import db
from dalia_site.models import PartnerOrganisation
from tests.browser.conftest import STAFF, check_page, field, follow, log_in, type_code, visit
from tests.conftest import PASSWORD

DAC = "DAC de l'Aude"
REFERENCE = re.compile(r"DAL-\d{4}-\d{5}")


@pytest.fixture
def dac_link(live_app) -> str:
    """The path of a new private referral link of the DAC de l'Aude."""
    with live_app.app_context():
        dac = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == DAC))
        _, token = partners.create_referral_link(db.session, None, dac, "Coordinatrices")
        db.session.commit()
    return f"/adressage/{token}"


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Navigation principale")


def choose(page: Page, group: str, option: str) -> None:
    """Tick a radio button by its group's legend and its own label."""
    page.get_by_role("group", name=group).get_by_label(option, exact=True).check()


def fill_patient(page: Page, last_name: str, first_names: str, birth_date: str) -> None:
    """The patient's identity and the DALIA criteria, as a person types them."""
    field(page, "Nom d'usage").fill(last_name)
    field(page, "Prénom(s)").fill(first_names)
    field(page, "Date de naissance").fill(birth_date)
    choose(page, "Sexe", "Femme")
    field(page, "Adresse").fill("8 rue Trivalle")
    field(page, "Code postal").fill("11000")
    field(page, "Commune").fill("Carcassonne")
    field(page, "Téléphone du patient").fill("04 68 25 00 00")
    choose(page, "Affection de longue durée (ALD)", "Oui")
    field(page, "ALD, en quelques mots (facultatif)").fill("insuffisance cardiaque")
    choose(page, "Médecin traitant", "Pas de médecin traitant")


def partner_choices(page: Page):
    """« Partenaire qui adresse » on the new referral form: its search field and choices."""
    return page.get_by_role("group", name="Partenaire qui adresse")


def partners_found(page: Page, typed: str):
    """Wait for the partners htmx brings as `typed` is typed in the search field."""
    query = re.compile(r"source_search=" + r"(\+|%20)".join(map(re.escape, typed.split())) + r"(&|$)")
    return page.expect_response(
        lambda r: (
            "/adressages/nouveau?" in r.url
            and query.search(r.url) is not None
            and r.request.headers.get("hx-request") == "true"
        )
    )


def mark_document(page: Page) -> None:
    page.evaluate("() => { window.sameDocument = true; }")


def same_document(page: Page) -> bool:
    return page.evaluate("() => window.sameDocument === true")


def test_a_partner_refers_a_patient_who_is_accepted_then_found(page: Page, dac_link):
    # The partner, not logged in, opens its private link and gets a reference, nothing else.
    visit(page, dac_link)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Adresser un patient au centre DALIA Bassin Carcassonnais"
    )
    expect(page.get_by_text(f"Formulaire réservé à {DAC}.", exact=False)).to_be_visible()
    fill_patient(page, "Lagarde", "Mireille", "1947-06-21")
    field(page, "Votre nom").fill("Inès Barthe")
    field(page, "Votre profession").fill("infirmière libérale")
    field(page, "Votre e-mail").fill("ines.barthe@exemple.fr")
    field(page, "Motif de l'adressage").fill("Sortie d'hospitalisation, plus de médecin traitant.")
    follow(page, page.get_by_role("button", name="Envoyer l'adressage"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Adressage reçu")
    reference = page.locator(".reference").inner_text()
    assert REFERENCE.fullmatch(reference)
    expect(page.get_by_text("Lagarde")).to_have_count(0)

    # An assistant finds it in the queue, reads the checklist and accepts it.
    log_in(page, STAFF["assistant"].email)
    follow(page, main_nav(page).get_by_role("link", name="Adressages"))
    expect(page.get_by_role("heading", level=1)).to_have_text("File des adressages")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=reference))
    expect(row).to_contain_text("LAGARDE Mireille")
    expect(row).to_contain_text(DAC)
    follow(page, row.get_by_role("link", name=reference))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Adressage {reference} (Nouveau)")
    expect(page.get_by_role("heading", name="Critères d'éligibilité")).to_be_visible()
    expect(page.locator("ul.checklist > li")).to_have_text(
        [
            re.compile(r"Habite le territoire — code postal 11000 dans la zone du site\s+\(rempli\)"),
            re.compile(r"Affection de longue durée \(ALD\) — insuffisance cardiaque\s+\(rempli\)"),
            re.compile(r"Sans médecin traitant — aucun médecin traitant déclaré\s+\(rempli\)"),
        ]
    )
    follow(page, page.get_by_role("button", name=f"Accepter l'adressage {reference}"))
    expect(page.get_by_role("status")).to_have_text(f"Adressage {reference} : accepté.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Adressage {reference} (Accepté)")
    expect(page.get_by_text("Rattaché au patient LAGARDE Mireille (En suivi).")).to_be_visible()

    # The patient is found by the search box, without reloading the page.
    follow(page, main_nav(page).get_by_role("link", name="Patients"))
    mark_document(page)
    with page.expect_response(
        lambda r: (
            "/patients?" in r.url and "q=lagarde" in r.url and r.request.headers.get("hx-request") == "true"
        )
    ) as swap:
        field(page, "Rechercher un patient").fill("lagarde")
    assert swap.value.status == 200
    results = page.locator("#patients")
    expect(results.get_by_role("link", name="LAGARDE Mireille")).to_be_visible()
    expect(results.get_by_role("table")).to_contain_text("21/06/1947")
    expect(page).to_have_url(re.compile(r"/patients\?q=lagarde"))
    assert same_document(page), "the page was reloaded"
    check_page(page)

    follow(page, results.get_by_role("link", name="LAGARDE Mireille"))
    expect(page.get_by_role("heading", level=1)).to_have_text("LAGARDE Mireille (En suivi)")
    expect(page.get_by_role("link", name=reference)).to_be_visible()
    expect(page.get_by_role("link", name=DAC)).to_be_visible()


def test_an_assistant_records_a_direct_access(page: Page):
    """A patient who came in without a referral: no partner, no referrer; then found in the queue
    by its origin."""
    log_in(page, STAFF["assistant"].email)
    follow(page, main_nav(page).get_by_role("link", name="Adressages"))
    follow(page, page.get_by_role("link", name="Enregistrer un adressage ou un accès direct"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer un adressage ou un accès direct")
    expect(partner_choices(page).get_by_label("Accès direct (sans partenaire)")).to_be_checked()
    fill_patient(page, "Sarda", "Josette", "1952-11-02")
    follow(page, page.get_by_role("button", name="Enregistrer", exact=True))

    status = page.get_by_role("status")
    expect(status).to_have_text(re.compile(r"Adressage DAL-\d{4}-\d{5} enregistré\."))
    reference = REFERENCE.search(status.inner_text()).group(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Adressage {reference} (Nouveau)")
    expect(page.get_by_text("(Accès direct)")).to_be_visible()

    follow(page, page.get_by_role("link", name="← File des adressages"))
    mark_document(page)
    with page.expect_response(
        lambda r: "source=direct" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        field(page, "Origine").select_option(label="Accès direct")
    rows = page.locator("#adressages")
    expect(rows.get_by_role("link", name=reference)).to_be_visible()
    expect(rows.get_by_role("row").filter(has_text=DAC)).to_have_count(0)
    assert same_document(page), "the page was reloaded"
    check_page(page)

    # Declined from its row: « Refuser » fetches the form; the row comes back declined.
    row = rows.get_by_role("row").filter(has=page.get_by_role("link", name=reference))
    with page.expect_response(lambda r: r.url.endswith("/refus") and r.status == 200):
        row.locator("summary", has_text="Refuser").click()
    row.get_by_label("Motif du refus").select_option(label="Hors territoire")
    row.get_by_label("Orientation proposée").select_option(label="SAS (soins non programmés)")
    row.get_by_role("button", name="Refuser et orienter").click()
    expect(row.get_by_role("cell", name="Refusé", exact=True)).to_be_visible()
    assert same_document(page), "the page was reloaded"
    check_page(page)


def test_an_assistant_picks_the_referring_partner_by_typing_its_name(page: Page):
    """A referral taken on the phone: the partner is found by typing a few letters (accents and
    case ignored) and picked with the keyboard; a search typed afterwards keeps the choice."""
    log_in(page, STAFF["assistant"].email)
    visit(page, "/adressages/nouveau")
    choices = partner_choices(page)
    mark_document(page)
    with partners_found(page, "dac aude") as swap:
        field(page, "Rechercher le partenaire").press_sequentially("dac aude", delay=30)
    assert swap.value.status == 200
    expect(choices.get_by_role("status")).to_have_text("1 partenaire trouvé pour « dac aude ».")
    # From the search field, Tab reaches the choices (« Accès direct », ticked) and the arrow
    # key ticks the next one: the DAC.
    field(page, "Rechercher le partenaire").press("Tab")
    page.keyboard.press("ArrowDown")
    expect(choices.get_by_label(f"{DAC} (DAC)")).to_be_checked()
    # A choice is undone the same way: « Accès direct » again, then the DAC after all.
    page.keyboard.press("ArrowUp")
    expect(choices.get_by_label("Accès direct (sans partenaire)")).to_be_checked()
    page.keyboard.press("ArrowDown")
    expect(choices.get_by_label(f"{DAC} (DAC)")).to_be_checked()
    check_page(page)

    # Another search shows its partners and keeps the DAC chosen.
    with partners_found(page, "CPAM"):
        field(page, "Rechercher le partenaire").fill("CPAM")
    expect(choices.get_by_label("CPAM de l'Aude (CPAM)")).not_to_be_checked()
    expect(choices.get_by_label(f"{DAC} (DAC)")).to_be_checked()
    assert same_document(page), "the page was reloaded"

    field(page, "Reçu par").select_option(label="Téléphone")
    fill_patient(page, "Cathala", "Renée", "1944-02-17")
    field(page, "Votre nom").fill("Coordinatrice du DAC")
    field(page, "Votre téléphone").fill("04 68 11 22 33")
    field(page, "Motif de l'adressage").fill("Sortie d'hospitalisation, plus de médecin traitant.")
    follow(page, page.get_by_role("button", name="Enregistrer", exact=True))
    expect(page.get_by_role("status")).to_have_text(re.compile(r"Adressage DAL-\d{4}-\d{5} enregistré\."))
    expect(page.get_by_role("link", name=DAC)).to_be_visible()


def test_without_javascript_the_partner_is_found_by_sending_its_search(browser, base_url):
    """No script: Entrée in the search field sends the form, which comes back with what was
    typed, the partners found and nothing recorded; the one picked is recorded with the rest."""
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    page = context.new_page()
    try:
        page.goto("/connexion")
        field(page, "Adresse e-mail").fill(STAFF["assistant"].email)
        field(page, "Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state("load")
        if page.url.endswith("/connexion/code"):
            type_code(page, STAFF["assistant"].email)
            page.get_by_role("button", name="Valider").click()
            page.wait_for_load_state("load")
        page.goto("/adressages/nouveau")
        fill_patient(page, "Bonnafous", "Gisèle", "1939-09-09")
        with page.expect_navigation():
            field(page, "Rechercher le partenaire").fill("hôpital carcassonne")
            field(page, "Rechercher le partenaire").press("Enter")
        expect(
            page.get_by_text("Rien n'a été enregistré : choisissez ci-dessous le partenaire")
        ).to_be_visible()
        expect(field(page, "Nom d'usage")).to_have_value("Bonnafous")
        hospital = "Centre hospitalier de Carcassonne (Hôpital / clinique, Carcassonne)"
        partner_choices(page).get_by_label(hospital).check()
        field(page, "Reçu par").select_option(label="Fax")
        field(page, "Votre nom").fill("Service des urgences")
        field(page, "Votre téléphone").fill("04 68 24 24 24")
        field(page, "Motif de l'adressage").fill("Sortie des urgences sans médecin traitant.")
        with page.expect_navigation():
            page.get_by_role("button", name="Enregistrer", exact=True).click()
        expect(page.get_by_role("status")).to_have_text(re.compile(r"Adressage DAL-\d{4}-\d{5} enregistré\."))
        expect(page.get_by_role("link", name="Centre hospitalier de Carcassonne")).to_be_visible()
    finally:
        context.close()
