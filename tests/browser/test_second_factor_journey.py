"""A new admin's first login in a real browser (issue 19): password, then the second factor is
activated — the QR code drawn by the server, the key typed into an authenticator app (here pyotp,
computing the code the app would show), the recovery codes noted — and the site opens. The next
login asks for the app's code."""

import re
from datetime import UTC, datetime, timedelta

import pyotp
from playwright.sync_api import Page, expect

from dalia_site.domain import accounts
from dalia_site.extensions import db
from tests.browser.conftest import check_page, field, follow, log_out, visit

EMAIL = "odile.second-facteur@test.dalia.invalid"  # used by no other browser test
PASSWORD = "une phrase de passe pour Odile"


def test_a_new_admin_enrols_the_second_factor_at_first_login(page: Page, live_app):
    with live_app.app_context():
        user = accounts.create_staff(db.session, None, EMAIL, "Odile Fabre", "admin", PASSWORD)
        user.must_change_password = False
        db.session.commit()

    visit(page, "/connexion")
    field(page, "Adresse e-mail").fill(EMAIL)
    field(page, "Mot de passe").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Se connecter"))

    expect(page).to_have_url(re.compile(r"/connexion/activation$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Activer la double authentification")
    expect(page.locator("figure.qr-code svg")).to_be_visible()
    code_field = field(page, "Code à 6 chiffres de l'application")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    secret = page.locator("code.totp-secret").inner_text().replace(" ", "")
    app = pyotp.TOTP(secret)  # what the person's authenticator app computes from the QR code

    code_field.fill(app.now())
    follow(page, page.get_by_role("button", name="Activer"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Vos codes de secours")
    expect(page.locator("ul.recovery-codes li")).to_have_count(10)
    follow(page, page.get_by_role("link", name="J'ai noté mes codes, continuer"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Odile Fabre")

    log_out(page)
    visit(page, "/connexion")
    field(page, "Adresse e-mail").fill(EMAIL)
    field(page, "Mot de passe").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Se connecter"))
    expect(page).to_have_url(re.compile(r"/connexion/code$"))
    # The code typed at enrolment is used up (a code opens one login): the app's next one.
    field(page, "Code à 6 chiffres de l'application").fill(app.at(datetime.now(UTC) + timedelta(seconds=30)))
    follow(page, page.get_by_role("button", name="Valider"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Odile Fabre")
    check_page(page)
