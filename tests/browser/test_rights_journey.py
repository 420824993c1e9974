"""A patient asks what the centre holds about them: in a real browser, the admin opens the file,
produces the access document and prints it (print media, then a PDF); the document lists the
file's rectification and who read it. Every page goes through check_page (axe-core, CSP)."""

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from dalia_site.extensions import db
from dalia_site.models import Patient
from tests.browser.conftest import STAFF, follow, log_in, visit


@pytest.fixture
def requester(live_app) -> int:
    """A patient no other journey of the shared live site uses."""
    with live_app.app_context():
        patient = Patient(
            last_name="Escarguel",
            first_names="Rosalie",
            birth_date=date(1947, 11, 23),
            sex="F",
            status="follow_up",
            phone="+33468112299",
            address="9 chemin des Vignes",
            postcode="11610",
            commune="Pennautier",
            ald="yes",
            objects_to_reminders=True,
            search_text="escarguel rosalie",
        )
        db.session.add(patient)
        db.session.commit()
        return patient.id


def test_the_admin_produces_a_patients_access_document_and_prints_it(page: Page, requester):
    log_in(page, STAFF["admin"].email)
    visit(page, f"/patients/{requester}")
    expect(page.locator("dl.facts")).to_contain_text("Rappels de rendez-vous par SMS ou e-mail")
    follow(page, page.get_by_role("link", name="Droit d'accès : document à imprimer"))

    expect(page.get_by_role("heading", level=1)).to_contain_text("Vos données au centre")
    document = page.locator("article.access-document")
    expect(document).to_contain_text("ESCARGUEL Rosalie")
    expect(document).to_contain_text("9 chemin des Vignes 11610 Pennautier")
    expect(page.get_by_role("heading", name="Qui a consulté ou modifié le dossier")).to_be_visible()
    expect(document).to_contain_text("Claire Lefèvre")  # the admin's own reading of the file
    facts = page.locator("#acces-information_et_oppositions + dl")
    expect(
        facts.locator("dt", has_text="Opposition — Rappels de rendez-vous par SMS ou e-mail")
    ).to_be_visible()
    expect(facts).to_contain_text("Rappels de rendez-vous par SMS ou e-mailoui")

    # Printed: the links around the document are left out, the document itself is all there.
    page.emulate_media(media="print")
    expect(page.get_by_role("link", name="Télécharger en JSON")).to_be_hidden()
    expect(document).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
