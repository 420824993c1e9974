"""The partner directory in a real browser: search as you type, inline validation, read-only reading.

Every page these tests land on, and every htmx swap, is checked by `check_page` (axe-core, no CSP
violation, no script error); see conftest.py.
"""

import re

from playwright.sync_api import Page, expect

from dalia_site.domain.phones import SHORT_MESSAGE as PHONE_MESSAGE
from tests.browser.conftest import STAFF, check_page, field, follow, log_in

HOSPITAL = "Centre hospitalier de Carcassonne"
URPS = "URPS Médecins Libéraux d'Occitanie"


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Navigation principale")


def search(page: Page, text: str) -> None:
    """Type in "Rechercher" and wait for the htmx answer that swaps the results in."""
    with page.expect_response(
        lambda r: (
            "/annuaire?" in r.url and r.request.headers.get("hx-request") == "true" and f"q={text}" in r.url
        )
    ) as swap:
        field(page, "Rechercher").fill(text)
    assert swap.value.status == 200


def mark_document(page: Page) -> None:
    page.evaluate("() => { window.sameDocument = true; }")


def same_document(page: Page) -> bool:
    return page.evaluate("() => window.sameDocument === true")


def test_an_admin_finds_a_partner_and_corrects_its_phone(page: Page):
    """Search by commune without reload, an inline message for a bad phone, then the saved
    number formatted in the list."""
    log_in(page, STAFF["admin"].email)
    follow(page, main_nav(page).get_by_role("link", name="Annuaire"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Annuaire des partenaires")
    results = page.locator("#partner-results")

    mark_document(page)
    search(page, "Carcassonne")
    expect(page).to_have_url(re.compile(r"/annuaire\?q=Carcassonne\b"))
    expect(results.get_by_role("table")).to_contain_text("4 partenaires pour « Carcassonne »")
    expect(results.get_by_role("link", name=URPS)).to_have_count(0)
    assert same_document(page), "the page was reloaded"
    check_page(page)

    follow(page, results.get_by_role("link", name=HOSPITAL))
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSPITAL)
    follow(page, page.get_by_role("link", name="Modifier la fiche"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Modifier « {HOSPITAL} »")

    # A wrong number is explained under the field as it is typed, before anything is sent.
    edit_url = page.url
    mark_document(page)
    phone = field(page, "Téléphone")
    phone.press_sequentially("05 65")
    expect(page.locator("#phone-erreur")).to_have_text(PHONE_MESSAGE)
    assert page.url == edit_url and same_document(page), "the form was submitted"
    check_page(page)

    phone.fill("")
    phone.press_sequentially("05 65 36 73 87")
    expect(page.locator("#phone-erreur")).to_be_empty()
    check_page(page)
    follow(page, page.get_by_role("button", name="Enregistrer"))
    expect(page.get_by_role("status")).to_have_text("Fiche mise à jour.")
    expect(page.get_by_role("link", name="05 65 36 73 87")).to_be_visible()

    follow(page, main_nav(page).get_by_role("link", name="Annuaire"))
    search(page, "hospitalier")
    row = results.get_by_role("row").filter(has=page.get_by_role("link", name=HOSPITAL))
    expect(row).to_contain_text("05 65 36 73 87")
    check_page(page)


def test_a_clinician_reads_the_directory_without_changing_it(page: Page):
    """No button to add, export, edit, archive or add a person: the directory is read-only."""
    log_in(page, STAFF["clinician"].email)
    follow(page, main_nav(page).get_by_role("link", name="Annuaire"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Annuaire des partenaires")
    expect(page.get_by_role("link", name="Ajouter un partenaire")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Exporter|Importer"))).to_have_count(0)

    follow(page, page.locator("#partner-results").get_by_role("link", name=URPS))
    expect(page.get_by_role("heading", level=1)).to_have_text(URPS)
    expect(page.get_by_role("cell", name="Mathilde POTIGNON")).to_be_visible()
    expect(page.get_by_role("link", name="07 57 76 89 10")).to_be_visible()
    expect(page.get_by_role("link", name="Modifier la fiche")).to_have_count(0)
    for button in ("Archiver", "Ajouter", "Créer un lien d'adressage"):
        expect(page.get_by_role("button", name=button)).to_have_count(0)
    expect(page.get_by_text("Ajouter une personne")).to_have_count(0)
