"""The admin's work: staff accounts (create, edit, deactivate, one-time password) and the audit log."""

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from dalia_site.extensions import db
from dalia_site.models import AuditEvent, StaffUser
from tests.conftest import ADMIN_EMAIL, PASSWORD, AuthActions

LAST_ADMIN = "dernier compte administrateur"
ONE_TIME = "provisoire-2026-abc"
NEW_ACCOUNT = {
    "name": "Marie Dupont",
    "email": "Marie.Dupont@Exemple.FR",
    "role": "assistant",
    "password": ONE_TIME,
}


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def table_rows(response) -> list[str]:
    body = response.get_data(as_text=True)
    match = re.search(r"<tbody>(.*?)</tbody>", body, re.S)
    return re.findall(r"<tr.*?</tr>", match.group(1), re.S) if match else []


def events(app, action):
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def staff(app, user_id) -> StaffUser:
    with app.app_context():
        user = db.session.get(StaffUser, user_id)
        db.session.expunge(user)
        return user


def staff_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StaffUser))


def logged_in_elsewhere(app, user):
    """A second browser where `user` is logged in."""
    browser = app.test_client()
    AuthActions(browser).login_as(user)
    assert browser.get("/").status_code == 200
    return browser


def is_logged_out(browser) -> bool:
    response = browser.get("/")
    return response.status_code == 302 and response.location.startswith("/connexion")


@pytest.fixture
def admin(auth):
    """The site's first admin (user 1), logged in."""
    assert auth.login(ADMIN_EMAIL).status_code == 302
    return 1


# --- creating accounts --------------------------------------------------------------------------


def test_admin_creates_a_staff_account_with_a_one_time_password(app, client, auth, admin):
    """The new account is stored lowercased, audited, and must change its password at first login."""
    response = auth.post("/admin/comptes/nouveau", NEW_ACCOUNT)
    assert response.status_code == 302
    assert response.location == "/admin/comptes"
    listing = page_text(client.get("/admin/comptes"))
    assert "Compte de Marie Dupont créé. Transmettez-lui le mot de passe provisoire." in listing
    assert "marie.dupont@exemple.fr" in listing

    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.name == "Marie Dupont"))
        assert (user.email, user.role, user.active, user.must_change_password) == (
            "marie.dupont@exemple.fr",
            "assistant",
            True,
            True,
        )
    (event,) = [e for e in events(app, "staff.create") if e.actor_id == admin]
    assert event.object_id == str(user.id)
    assert "marie.dupont@exemple.fr" in event.summary

    newcomer = AuthActions(app.test_client())
    first_login = newcomer.login("marie.dupont@exemple.fr", ONE_TIME)
    assert first_login.location == "/mot-de-passe"


def test_an_email_already_taken_in_another_case_is_refused(app, auth, admin, make_user):
    """Two accounts cannot share an address, whatever its capitals."""
    make_user("clinician", email="marie.dupont@exemple.fr")
    before = staff_count(app)
    response = auth.post("/admin/comptes/nouveau", NEW_ACCOUNT)
    assert response.status_code == 422
    assert "Un compte existe déjà avec cette adresse e-mail." in page_text(response)
    assert staff_count(app) == before
    assert [e for e in events(app, "staff.create") if e.actor_id == admin] == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "pas-une-adresse", "Adresse e-mail invalide (ex. contact@cpts.fr)."),
        ("email", "a,b@evil.invalid", "Adresse e-mail invalide (ex. contact@cpts.fr)."),
        ("email", "x<attacker@evil.invalid>.fr", "Adresse e-mail invalide (ex. contact@cpts.fr)."),
        ("email", "", "Ce champ est obligatoire."),
        ("name", "", "Ce champ est obligatoire."),
        ("name", "   ", "Ce champ est obligatoire."),
        ("password", "court", "Le mot de passe doit contenir au moins 12 caractères dont"),
        ("password", "aaaaaaaaaaaaaaaa", "Le mot de passe est trop répétitif."),
        ("password", "marie.dupont", "Le mot de passe ne doit pas reprendre l'adresse e-mail."),
        ("role", "superadmin", "N'est pas un choix valide."),
    ],
)
def test_a_refused_account_says_why_and_writes_nothing(app, auth, admin, field, value, message):
    """Each bad field gets its French message (422); no account and no audit line are written."""
    before = staff_count(app)
    response = auth.post("/admin/comptes/nouveau", NEW_ACCOUNT | {field: value})
    assert response.status_code == 422
    assert message in page_text(response)
    assert staff_count(app) == before
    assert [e for e in events(app, "staff.create") if e.actor_id == admin] == []


# --- editing, deactivating ----------------------------------------------------------------------


def test_changing_a_role_is_audited_and_ends_the_users_session(app, auth, admin, make_user):
    """An assistant made clinician is logged out at once; the log says what changed."""
    user = make_user("assistant")
    browser = logged_in_elsewhere(app, user)
    response = auth.post(f"/admin/comptes/{user.id}", {"name": user.name, "role": "clinician"})
    assert response.status_code == 302
    assert staff(app, user.id).role == "clinician"
    (event,) = events(app, "staff.update")
    assert event.summary == "rôle : assistant → clinician"
    assert (event.actor_id, event.object_id) == (admin, str(user.id))
    assert is_logged_out(browser)


def test_renaming_keeps_the_users_session(app, auth, admin, make_user):
    """A corrected name is audited but does not throw the user out."""
    user = make_user("assistant")
    browser = logged_in_elsewhere(app, user)
    auth.post(f"/admin/comptes/{user.id}", {"name": "Léa Martin", "role": "assistant"})
    (event,) = events(app, "staff.update")
    assert event.summary == f"nom : {user.name} → Léa Martin"
    assert "Bonjour Léa Martin" in page_text(browser.get("/"))


def test_deactivating_and_reactivating_an_account(app, client, auth, admin, make_user):
    """A deactivated user is logged out and refused at login, until reactivated."""
    user = make_user("clinician")
    browser = logged_in_elsewhere(app, user)

    response = auth.post(f"/admin/comptes/{user.id}/statut", {"active": "0"})
    assert response.status_code == 303
    assert response.location == "/admin/comptes"
    assert f"Compte de {user.name} désactivé." in page_text(client.get("/admin/comptes"))
    assert staff(app, user.id).active is False
    assert is_logged_out(browser)
    assert AuthActions(browser).login(user.email).status_code == 401

    auth.post(f"/admin/comptes/{user.id}/statut", {"active": "1"})
    assert staff(app, user.id).active is True
    assert AuthActions(browser).login(user.email).status_code == 302
    assert [e.summary for e in events(app, "staff.update")] == ["actif : oui → non", "actif : non → oui"]


LAST_ADMIN_ACTIONS = {
    "deactivate": ("/admin/comptes/1/statut", {"active": "0"}),
    "demote": ("/admin/comptes/1", {"name": "Administrateur du site", "role": "assistant"}),
}


@pytest.mark.parametrize("action", LAST_ADMIN_ACTIONS)
def test_the_last_active_admin_can_be_neither_deactivated_nor_demoted(
    app, client, auth, admin, make_user, action
):
    """The site always keeps an admin; an inactive second admin does not count."""
    make_user("admin", active=False)
    path, data = LAST_ADMIN_ACTIONS[action]
    response = auth.post(path, data, follow_redirects=True)
    assert LAST_ADMIN in page_text(response)
    first = staff(app, 1)
    assert (first.role, first.active) == ("admin", True)
    assert events(app, "staff.update") == []
    assert client.get("/admin/comptes").status_code == 200


@pytest.mark.parametrize("action", LAST_ADMIN_ACTIONS)
def test_an_admin_can_step_down_once_another_admin_exists(app, client, auth, admin, make_user, action):
    """With a second active admin the first may leave the role, and is logged out at once."""
    make_user("admin")
    path, data = LAST_ADMIN_ACTIONS[action]
    response = auth.post(path, data)
    assert response.status_code in (302, 303)
    first = staff(app, 1)
    assert (first.role, first.active) != ("admin", True)
    assert len(events(app, "staff.update")) == 1
    assert is_logged_out(client)


# --- one-time passwords set by the admin --------------------------------------------------------


def test_admin_sets_a_one_time_password(app, auth, admin, make_user):
    """The user is logged out, the old password stops working, the new one must be replaced."""
    user = make_user("assistant")
    browser = logged_in_elsewhere(app, user)
    response = auth.post(f"/admin/comptes/{user.id}/mot-de-passe", {"otp-password": ONE_TIME})
    assert response.status_code == 303
    assert staff(app, user.id).must_change_password is True
    (event,) = events(app, "staff.one_time_password")
    assert (event.actor_id, event.object_id) == (admin, str(user.id))
    assert is_logged_out(browser)

    again = AuthActions(browser)
    assert again.login(user.email, PASSWORD).status_code == 401
    assert again.login(user.email, ONE_TIME).location == "/mot-de-passe"
    assert browser.get("/").location == "/mot-de-passe"


def test_a_too_short_one_time_password_is_refused(app, auth, admin, make_user, password_hash):
    """The admin is told why (422) and the user's password is untouched."""
    user = make_user("assistant")
    response = auth.post(f"/admin/comptes/{user.id}/mot-de-passe", {"otp-password": "court"})
    assert response.status_code == 422
    assert "Le mot de passe doit contenir au moins 12 caractères dont" in page_text(response)
    assert staff(app, user.id).password_hash == password_hash
    assert events(app, "staff.one_time_password") == []


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/admin/comptes/9999", None),
        ("POST", "/admin/comptes/9999/statut", {"active": "0"}),
        ("POST", "/admin/comptes/9999/mot-de-passe", {"otp-password": ONE_TIME}),
    ],
)
def test_an_unknown_account_is_a_french_404(client, auth, admin, method, path, data):
    """An account number that does not exist answers the French 'page not found'."""
    response = client.get(path) if method == "GET" else auth.post(path, data)
    assert response.status_code == 404
    assert "Page introuvable" in page_text(response)


# --- the audit log ------------------------------------------------------------------------------


def add_events(app, count=1, **fields):
    with app.app_context():
        db.session.add_all(
            AuditEvent(
                **{"action": "test.lot", "object_type": "test", "summary": f"événement {i + 1}"} | fields
            )
            for i in range(count)
        )
        db.session.commit()


def test_the_audit_log_lists_who_did_what(client, admin):
    """The admin's own login comes first; the creation of their account at provisioning is there."""
    response = client.get("/admin/journal")
    assert response.status_code == 200
    rows = [html.unescape(row) for row in table_rows(response)]
    assert "Connexion" in rows[0] and "Administrateur du site" in rows[0]
    assert any("Création de compte" in row and "Compte créé : Administrateur du site" in row for row in rows)


def test_the_audit_log_filters_by_action(app, client, admin):
    """Choosing an action shows only its events."""
    add_events(app, 3, action="test.autre")
    response = client.get("/admin/journal?action=test.autre")
    rows = table_rows(response)
    assert len(rows) == 3
    assert all("test.autre" in row for row in rows)
    assert "3 événements" in page_text(response)


def test_the_audit_log_filters_by_actor(app, client, admin, make_user):
    """Choosing a person shows only what they did."""
    user = make_user("assistant")
    add_events(app, 2, actor_id=user.id, summary="fait par l'assistante")
    response = client.get(f"/admin/journal?actor={user.id}")
    rows = [html.unescape(row) for row in table_rows(response)]
    assert len(rows) == 2
    assert all(user.name in row and "fait par l'assistante" in row for row in rows)


WINTER_NIGHT = datetime(2020, 1, 10, 23, 30, tzinfo=UTC)  # 11/01/2020 à 00h30 in Paris
SUMMER_NIGHT = datetime(2020, 7, 1, 22, 30, tzinfo=UTC)  # 02/07/2020 à 00h30 in Paris


@pytest.mark.parametrize(
    ("date_from", "date_to", "shown"),
    [
        ("2020-01-11", "2020-01-11", ["hiver"]),
        ("2020-07-02", "2020-07-02", ["été"]),
        ("2020-01-10", "2020-01-10", []),
        ("", "2020-07-01", ["hiver"]),
    ],
)
def test_the_audit_log_filters_by_dates_of_the_site(app, client, admin, date_from, date_to, shown):
    """Dates are days in Europe/Paris: a 00h30 event belongs to its French day, winter and summer."""
    add_events(app, action="test.date", summary="hiver", at=WINTER_NIGHT)
    add_events(app, action="test.date", summary="été", at=SUMMER_NIGHT)
    response = client.get(f"/admin/journal?action=test.date&date_from={date_from}&date_to={date_to}")
    assert response.status_code == 200
    rows = [html.unescape(row) for row in table_rows(response)]
    assert [summary for row in rows for summary in ("hiver", "été") if summary in row] == shown
    if not shown:
        assert "Aucun événement ne correspond à ces filtres." in page_text(response)


def test_the_audit_log_shows_times_in_the_sites_timezone(app, client, admin):
    """An event at 22h30 UTC in July reads 02/07/2020 à 00h30."""
    add_events(app, action="test.date", summary="été", at=SUMMER_NIGHT)
    (row,) = table_rows(client.get("/admin/journal?action=test.date"))
    assert "02/07/2020 à 00h30" in row


def test_the_audit_log_shows_fifty_events_per_page(app, client, admin):
    """Sixty events make two pages: fifty, then ten, with links between them."""
    add_events(app, 60)
    first = client.get("/admin/journal?action=test.lot")
    assert len(table_rows(first)) == 50
    assert "événement 60</td>" in html.unescape(table_rows(first)[0])
    first_text = page_text(first)
    assert "60 événements" in first_text and "Page 1 sur 2" in first_text
    assert 'href="/admin/journal?action=test.lot&amp;page=2"' in first.get_data(as_text=True)

    second = client.get("/admin/journal?action=test.lot&page=2")
    rows = [html.unescape(row) for row in table_rows(second)]
    assert len(rows) == 10
    assert "événement 1</td>" in rows[-1]  # newest first: the oldest ends the last page
    assert "Page 2 sur 2" in page_text(second)


def test_a_long_audit_log_is_counted_up_to_a_thousand_events(app, client, admin):
    """Years of events are not counted to show the newest: past a thousand the log says « plus
    de », its pages still lead to the oldest, and the last ones know the exact total."""
    add_events(app, 1020)
    first = page_text(client.get("/admin/journal?action=test.lot"))
    assert "Plus de 1000 événements" in first and "Page 1 sur plus de 20" in first

    twentieth = client.get("/admin/journal?action=test.lot&page=20")
    assert "Page 20 sur plus de 20" in page_text(twentieth)
    assert 'href="/admin/journal?action=test.lot&amp;page=21"' in twentieth.get_data(as_text=True)

    last = client.get("/admin/journal?action=test.lot&page=21")
    rows = [html.unescape(row) for row in table_rows(last)]
    assert len(rows) == 20 and "événement 1</td>" in rows[-1]
    assert "1020 événements" in page_text(last) and "Page 21 sur 21" in page_text(last)


def test_a_page_beyond_the_last_is_a_404(client, admin):
    """page=999 of a short log answers 'Page introuvable'."""
    response = client.get("/admin/journal?page=999")
    assert response.status_code == 404
    assert "Page introuvable" in page_text(response)


def test_an_htmx_filter_gets_only_the_results(client, admin):
    """The filter form swaps in just the results table, and caches must keep the two apart."""
    response = client.get("/admin/journal?action=auth.login", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "<table>" in body and "Connexion" in body
    assert "<form" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert "HX-Request" in client.get("/admin/journal").headers["Vary"]


def test_a_boosted_navigation_gets_the_whole_page(client, admin):
    """hx-boost and history restores want the full page, filters included."""
    for header in ("HX-Boosted", "HX-History-Restore-Request"):
        response = client.get("/admin/journal", headers={"HX-Request": "true", header: "true"})
        body = response.get_data(as_text=True)
        assert "<html" in body and "<table>" in body and "<form" in body, header


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date_from=2020-13-45", "Date invalide : jj/mm/aaaa attendu (ex. 22/11/2026)."),
        ("date_to=hier", "Date invalide : jj/mm/aaaa attendu (ex. 22/11/2026)."),
        ("actor=abc", "Filtres invalides : corrigez les champs signalés."),
        ("actor=²", "Filtres invalides : corrigez les champs signalés."),
        ("actor=99999999999999999999", "Filtres invalides : corrigez les champs signalés."),
    ],
)
def test_an_invalid_filter_is_a_400_with_a_french_message(client, admin, query, message):
    """A hand-edited or mistyped filter is explained; the log shows nothing rather than everything."""
    response = client.get(f"/admin/journal?{query}")
    assert response.status_code == 400
    text = page_text(response)
    assert message in text
    assert "Filtres invalides : corrigez les champs signalés." in text
    assert table_rows(response) == []
