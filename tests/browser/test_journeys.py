"""The journeys of the staff, in a real browser, by what they read on screen.

Every page these tests land on is checked by `check_page` (axe-core, no CSP violation, no script
error); see conftest.py.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    STAFF,
    check_a11y,
    check_page,
    csp_violations,
    field,
    follow,
    log_in,
    log_out,
    visit,
)
from tests.conftest import ROLES

ADMIN_ONLY_LINKS = ("Comptes", "Journal d'audit")


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Navigation principale")


@pytest.mark.parametrize("role", ROLES)
def test_each_role_logs_in_sees_its_own_navigation_and_logs_out(page: Page, role):
    staff = STAFF[role]
    log_in(page, staff.email)

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bonjour {staff.name}")
    expect(page.locator("header")).to_contain_text(staff.role_label)
    expect(main_nav(page).get_by_role("link", name="Accueil")).to_be_visible()
    for label in ADMIN_ONLY_LINKS:
        if role == "admin":
            expect(main_nav(page).get_by_role("link", name=label, exact=True)).to_be_visible()
        else:  # neither in the menu nor among the home page's shortcuts
            expect(page.get_by_role("link", name=label, exact=True)).to_have_count(0)

    log_out(page)
    expect(page).to_have_url(re.compile(r"/connexion$"))
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté·e.")
    expect(page.get_by_role("button", name="Se déconnecter")).to_have_count(0)

    # The session is really over: home sends back to the login form.
    visit(page, "/")
    expect(page).to_have_url(re.compile(r"/connexion\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")


def test_a_wrong_password_is_refused_with_a_clear_message(page: Page):
    log_in(page, STAFF["assistant"].email, "pas le bon mot de passe")

    expect(page).to_have_url(re.compile(r"/connexion$"))
    expect(page.get_by_role("alert")).to_have_text("Adresse e-mail ou mot de passe incorrect.")
    expect(page.get_by_role("button", name="Se déconnecter")).to_have_count(0)
    expect(field(page, "Adresse e-mail")).to_have_value(STAFF["assistant"].email)


def test_a_clinician_is_refused_the_staff_accounts(page: Page):
    log_in(page, STAFF["clinician"].email)

    visit(page, "/admin/comptes", status=403)
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    expect(page.get_by_role("alert")).to_contain_text("Votre rôle ne permet pas")
    expect(page.get_by_text("Comptes de l'équipe")).to_have_count(0)

    follow(page, page.get_by_role("link", name="Retour à l'accueil"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bonjour {STAFF['clinician'].name}")


def test_an_admin_creates_an_account_whose_owner_then_chooses_a_password(page: Page):
    name, email = "Inès Bousquet", "ines.bousquet@example.org"
    provisional, personal = "provisoire-Carcassonne-2026", "ma phrase de passe personnelle"

    log_in(page, STAFF["admin"].email)
    follow(page, main_nav(page).get_by_role("link", name="Comptes", exact=True))
    expect(page.get_by_role("heading", level=1)).to_have_text("Comptes de l'équipe")
    follow(page, page.get_by_role("link", name="Créer un compte"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouveau compte")

    # Sent empty, the form says what is missing, field by field.
    follow(page, page.get_by_role("button", name="Créer le compte"))
    expect(field(page, "Nom et prénom")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Ce champ est obligatoire.").first).to_be_visible()

    field(page, "Nom et prénom").fill(name)
    field(page, "Adresse e-mail").fill(email)
    field(page, "Rôle").select_option(label=STAFF["clinician"].role_label)
    field(page, "Mot de passe provisoire").fill(provisional)
    follow(page, page.get_by_role("button", name="Créer le compte"))

    # A clinician's account leads straight to their team member (no member, no slots).
    expect(page).to_have_url(re.compile(r"/equipe/nouveau\?compte=\d+$"))
    expect(page.get_by_role("status")).to_contain_text(f"Compte de {name} créé.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouveau membre de l'équipe")
    expect(page.get_by_text("Sans fiche, aucun créneau.", exact=False)).to_be_visible()
    expect(field(page, "Nom et prénom")).to_have_value(name)
    expect(field(page, "Compte sur le site")).to_contain_text(email)
    field(page, "Profession").select_option(label="Médecin")
    field(page, "Statut (médecins)").select_option(label="Retraité·e")
    follow(page, page.get_by_role("button", name="Enregistrer"))
    expect(page.get_by_role("status")).to_contain_text(f"{name} : fiche enregistrée.")

    follow(page, main_nav(page).get_by_role("link", name="Comptes", exact=True))
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name))
    expect(row).to_contain_text(email)
    expect(row).to_contain_text(STAFF["clinician"].role_label)
    expect(row).to_contain_text("Mot de passe provisoire")
    expect(row).not_to_contain_text("Créer sa fiche d'équipe")
    log_out(page)

    # The new colleague logs in with the provisional password and must choose their own.
    log_in(page, email, provisional)
    expect(page).to_have_url(re.compile(r"/mot-de-passe$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Changer de mot de passe")
    expect(page.get_by_role("status")).to_contain_text("Choisissez votre mot de passe personnel")
    field(page, "Mot de passe actuel").fill(provisional)
    field(page, "Nouveau mot de passe").fill(personal)
    field(page, "Confirmez le nouveau mot de passe").fill(personal)
    follow(page, page.get_by_role("button", name="Enregistrer le mot de passe"))

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bonjour {name}")
    expect(page.get_by_role("status")).to_have_text("Votre mot de passe a été changé.")

    # From now on the personal password opens the site directly.
    log_out(page)
    log_in(page, email, personal)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bonjour {name}")


def test_an_admin_filters_the_audit_log_without_reloading_the_page(page: Page):
    stranger = "inconnu.audit@test.dalia.invalid"
    log_in(page, stranger, "une tentative au hasard")  # leaves an auth.login_failed event
    log_in(page, STAFF["admin"].email)
    follow(page, main_nav(page).get_by_role("link", name="Journal d'audit"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Journal d'audit")
    results = page.locator("#audit-results")
    expect(results.get_by_role("cell", name="Connexion", exact=True).first).to_be_visible()

    page.evaluate("() => { window.sameDocument = true; }")
    with page.expect_response(
        lambda r: "/admin/journal?" in r.url and r.request.headers.get("hx-request") == "true"
    ) as swap:
        field(page, "Action").select_option(label="Échec de connexion")
    assert swap.value.status == 200

    expect(page).to_have_url(re.compile(r"/admin/journal\?.*\baction=auth\.login_failed\b"))
    action_cells = results.locator("tbody tr td:nth-child(3)")
    expect(action_cells.first).to_have_text("Échec de connexion")
    expect(action_cells).to_have_text(["Échec de connexion"] * action_cells.count())
    expect(results).to_contain_text("Échec de connexion : adresse inconnue")
    assert page.evaluate("() => window.sameDocument") is True, "the page was reloaded"
    expect(field(page, "Action")).to_have_value("auth.login_failed")
    check_page(page)


def test_htmx_runs_under_the_sites_content_security_policy(page: Page):
    log_in(page, STAFF["admin"].email)
    response = visit(page, "/admin/journal")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.evaluate("() => window.htmx && htmx.version") == "2.0.11"

    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        field(page, "Par").select_option(label=STAFF["admin"].name)
    expect(page).to_have_url(re.compile(r"\bactor=\d+"))
    expect(page.locator("#audit-results tbody tr").first).to_contain_text(STAFF["admin"].name)
    check_page(page)  # includes: no CSP violation reported in the console
    assert csp_violations(page) == []

    # The console listener does see violations: an inline script is refused and reported.
    page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.inlineRan = true';
        document.body.append(script);
    }""")
    for _ in range(50):  # the console event reaches Python a moment later
        if csp_violations(page):
            break
        page.wait_for_timeout(20)
    assert page.evaluate("() => window.inlineRan === undefined"), "inline script ran despite CSP"
    assert csp_violations(page), "the CSP violation of an inline script was not seen"


def test_the_accessibility_check_does_catch_a_violation(page: Page):
    """The control for every check above: an unlabelled field added to a page fails check_a11y."""
    visit(page, "/connexion")
    page.evaluate("""() => {
        const input = document.createElement('input');
        input.type = 'text';
        document.querySelector('form').append(input);
    }""")
    with pytest.raises(AssertionError, match=r"- label \[critical\]"):
        check_a11y(page)
