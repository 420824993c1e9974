"""Logging in and out, throttling, session cookies and timeouts, one-time and changed passwords."""

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from dalia_site import create_app
from dalia_site.domain.accounts import throttle_key
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, LoginAttempt, StaffUser
from tests.conftest import ADMIN_EMAIL, PASSWORD, AuthActions, csrf_from, login_code, totp_code

LOGIN_FAILED = "Adresse e-mail ou mot de passe incorrect."
NEW_PASSWORD = "une toute nouvelle phrase de passe"
EXPIRED = "Votre session a expiré après une période d'inactivité. Reconnectez-vous."


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def form_errors(response) -> str:
    match = re.search(r'<div class="form-errors".*?</div>', response.get_data(as_text=True), re.S)
    return match.group(0) if match else ""


def session_cookie(client, app):
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"])


def events(app, action):
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def login_with_next(auth, target, email=ADMIN_EMAIL):
    return auth.post(
        "/connexion?" + urlencode({"next": target}),
        {"email": email, "password": PASSWORD, "code": login_code(auth.client.application, email)},
    )


# --- logging in ---------------------------------------------------------------------------------


def test_login_leads_home_where_the_user_is_greeted_by_name(client, auth):
    """A good email and password open the home page, which greets the admin by name."""
    response = auth.login(ADMIN_EMAIL)
    assert response.status_code == 302
    assert response.location == "/"
    home = page_text(client.get("/"))
    assert "Bonjour Administrateur du site" in home


def test_wrong_password_and_unknown_email_look_exactly_the_same(auth):
    """No account enumeration: same status, same message for a wrong password and a stranger."""
    wrong_password = auth.login(ADMIN_EMAIL, "pas le bon mot de passe")
    unknown_email = auth.login("personne@test.dalia.invalid", PASSWORD)
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert LOGIN_FAILED in page_text(wrong_password)
    assert form_errors(wrong_password) == form_errors(unknown_email) != ""


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("", PASSWORD, "Ce champ est obligatoire."),
        (ADMIN_EMAIL, "", "Ce champ est obligatoire."),
    ],
)
def test_login_form_requires_both_fields(auth, email, password, message):
    """An empty field is pointed out in French and nobody is logged in."""
    response = auth.login(email, password)
    assert response.status_code == 400
    assert message in page_text(response)
    assert auth.client.get("/").location.startswith("/connexion")


def test_email_is_case_and_space_insensitive_at_login(client, auth):
    """The admin may type their address with capitals and stray spaces."""
    response = auth.login(" Admin@Test.Dalia.Invalid ")
    assert response.status_code == 302
    assert "Bonjour Administrateur du site" in page_text(client.get("/"))


def test_a_deactivated_account_cannot_log_in(auth, make_user):
    """The right password of a deactivated account gets the same generic refusal."""
    user = make_user("assistant", active=False)
    response = auth.login(user.email)
    assert response.status_code == 401
    assert LOGIN_FAILED in page_text(response)
    assert auth.client.get("/").location.startswith("/connexion")


def test_login_without_csrf_token_is_refused_as_an_expired_form(client):
    """A login posted from elsewhere (no token) is refused with the French 'form expired' page."""
    response = client.post("/connexion", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert response.status_code == 400
    assert "Le formulaire a expiré ou n'a pas pu être vérifié." in page_text(response)
    assert client.get("/").location.startswith("/connexion")


# --- throttling ---------------------------------------------------------------------------------


def test_five_failures_slow_down_that_address_even_for_the_right_password(auth, make_user):
    """After 5 failures from one address the 6th try from it waits (429); a colleague still logs in."""
    for attempt in range(5):
        typed = ADMIN_EMAIL.upper() if attempt % 2 else ADMIN_EMAIL  # counted per account, any case
        assert auth.login(typed, "mauvais mot de passe").status_code == 401
    response = auth.login(ADMIN_EMAIL, PASSWORD)
    assert response.status_code == 429
    assert "Trop de tentatives de connexion. Réessayez dans 1 minute." in page_text(response)
    assert auth.client.get("/").location.startswith("/connexion")

    colleague = make_user("assistant")
    assert auth.login(colleague.email).status_code == 302


def add_failures(app, email, *minutes_ago, address="127.0.0.1"):
    now = datetime.now(UTC)
    with app.app_context():
        db.session.add_all(
            LoginAttempt(email=throttle_key(email, address), at=now - timedelta(minutes=m), succeeded=False)
            for m in minutes_ago
        )
        db.session.commit()


def test_throttling_does_not_tell_which_addresses_exist(app, auth):
    """A slowed-down unknown address gets exactly the answer a slowed-down real account gets."""
    add_failures(app, ADMIN_EMAIL, 0.1, 0.2, 0.3, 0.4, 0.5)
    add_failures(app, "inconnu@test.dalia.invalid", 0.1, 0.2, 0.3, 0.4, 0.5)
    known = auth.login(ADMIN_EMAIL)
    unknown = auth.login("inconnu@test.dalia.invalid")
    assert known.status_code == unknown.status_code == 429
    assert form_errors(known) == form_errors(unknown) != ""


def test_failures_older_than_an_hour_no_longer_count(app, auth):
    """Five failures 61 minutes ago and four recent ones: the admin can still log in."""
    add_failures(app, ADMIN_EMAIL, 61, 62, 63, 64, 65, 0.1, 0.2, 0.3, 0.4)
    assert auth.login(ADMIN_EMAIL).status_code == 302


# --- where login leads --------------------------------------------------------------------------


def test_login_returns_to_the_page_first_asked_for(client):
    """An anonymous visit to the audit log leads to login, then back to that very page."""
    asked = client.get("/admin/journal?action=auth.login")
    assert asked.status_code == 302
    login_page = client.get(asked.location)
    body = login_page.get_data(as_text=True)
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', body).group(1))
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)
    response = client.post(
        action, data={"csrf_token": token, "email": ADMIN_EMAIL, "password": PASSWORD, "code": totp_code()}
    )
    assert response.status_code == 302
    assert response.location == "/admin/journal?action=auth.login"


def test_next_with_a_local_path_is_followed(auth):
    """next=/admin/comptes sends the admin straight to the staff list."""
    response = login_with_next(auth, "/admin/comptes")
    assert response.status_code == 302
    assert response.location == "/admin/comptes"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
    ],
)
def test_next_pointing_off_site_is_ignored(auth, target):
    """No open redirect: a next parameter that leaves the site leads home instead."""
    response = login_with_next(auth, target)
    assert response.status_code == 302
    assert response.location == "/"


# --- the session cookie -------------------------------------------------------------------------


def _session_set_cookie(response, app) -> str:
    name = app.config["SESSION_COOKIE_NAME"]
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert cookies, "the response sets no session cookie"
    return cookies[-1]


def test_session_cookie_is_httponly_lax_and_not_secure_over_http(app, auth):
    """By default (https = false) the cookie is out of reach of scripts and cross-site posts."""
    header = _session_set_cookie(auth.login(ADMIN_EMAIL), app)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header


def test_session_cookie_is_secure_when_the_site_is_served_over_https(site_dir):
    """With [security] https = true in site.toml the cookie is only sent over https."""
    toml = site_dir / "site.toml"
    assert "https = false" in toml.read_text()
    toml.write_text(toml.read_text().replace("https = false", "https = true"))
    app = create_app(site_dir, {"TESTING": True})
    try:
        client = app.test_client()
        login_page = client.get("/connexion", base_url="https://localhost")
        token = csrf_from(login_page.get_data(as_text=True))
        response = client.post(
            "/connexion",
            base_url="https://localhost",
            headers={"Referer": "https://localhost/connexion"},  # as a browser sends over https
            data={"csrf_token": token, "email": ADMIN_EMAIL, "password": PASSWORD, "code": totp_code()},
        )
        assert response.status_code == 302
        header = _session_set_cookie(response, app)
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- idle timeout and logout --------------------------------------------------------------------


def _last_seen(client, minutes_ago: int) -> None:
    with client.session_transaction() as session:
        session["last_seen"] = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def test_a_session_idle_for_31_minutes_has_expired(client, auth):
    """After 31 idle minutes the next click leads to login, which says why."""
    auth.login(ADMIN_EMAIL)
    _last_seen(client, 31)
    response = client.get("/admin/comptes")
    assert response.status_code == 302
    assert response.location.startswith("/connexion")
    login_page = client.get(response.location)
    assert EXPIRED in page_text(login_page)
    assert client.get("/").location.startswith("/connexion")


def test_a_session_idle_for_29_minutes_is_still_open(client, auth):
    """Within the 30 minutes the user carries on where they were."""
    auth.login(ADMIN_EMAIL)
    _last_seen(client, 29)
    response = client.get("/admin/comptes")
    assert response.status_code == 200
    assert "Comptes de l'équipe" in page_text(response)


def test_logout_ends_the_session_even_for_a_replayed_cookie(app, client, auth):
    """After logout, a copy of the old session cookie no longer opens anything."""
    auth.login(ADMIN_EMAIL)
    stolen = session_cookie(client, app).value
    response = auth.logout()
    assert response.status_code == 302
    assert response.location == "/connexion"
    assert "Vous êtes déconnecté·e." in page_text(client.get("/connexion"))

    client.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    replay = client.get("/")
    assert replay.status_code == 302
    assert replay.location.startswith("/connexion")


# --- one-time passwords and changing one's password ---------------------------------------------


def test_a_one_time_password_user_must_choose_a_password_before_anything_else(client, auth, make_user):
    """With a one-time password, every page leads to /mot-de-passe until it is changed."""
    user = make_user("clinician", must_change_password=True)
    response = auth.login(user.email)
    assert response.location == "/mot-de-passe"
    for path in ("/", "/admin/comptes", "/admin/journal"):
        answer = client.get(path)
        assert (answer.status_code, answer.location) == (302, "/mot-de-passe"), path
    fragment = client.get("/", headers={"HX-Request": "true"})
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"] == "/mot-de-passe"
    assert "Votre mot de passe actuel est provisoire" in page_text(client.get("/mot-de-passe"))

    changed = auth.post(
        "/mot-de-passe",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert f"Bonjour {user.name}" in page_text(home)


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("pas le bon mot de passe", NEW_PASSWORD, NEW_PASSWORD, "Le mot de passe actuel est incorrect."),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + " !", "Les deux mots de passe ne sont pas identiques."),
        (PASSWORD, "trop court", "trop court", "Le mot de passe doit contenir au moins 12 caractères dont"),
        (PASSWORD, PASSWORD, PASSWORD, "Le nouveau mot de passe doit être différent de l'actuel."),
        (PASSWORD, "password1234", "password1234", "ou au moins 14 caractères de tout type."),
        (PASSWORD, "azertyuiop123", "azertyuiop123", "au moins 12 caractères dont une majuscule"),
        (PASSWORD, "Motdepasse2026", "Motdepasse2026", "Ce mot de passe est trop facile à deviner"),
        (PASSWORD, "", "", "Ce champ est obligatoire."),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    app, auth, make_user, password_hash, current, new, confirm, message
):
    """Each mistake gets its French message (422) and the password stays as it was."""
    user = auth.login_as(make_user("assistant"))
    response = auth.post(
        "/mot-de-passe", {"current_password": current, "new_password": new, "confirm_password": confirm}
    )
    assert response.status_code == 422
    assert message in page_text(response)
    with app.app_context():
        assert db.session.get(StaffUser, user.id).password_hash == password_hash
    assert events(app, "auth.password_changed") == []


def test_changing_password_logs_out_the_other_sessions(app, client, auth, make_user):
    """The browser that changes the password stays in; another one is logged out."""
    user = make_user("assistant")
    other_browser = app.test_client()
    AuthActions(other_browser).login_as(user)
    auth.login_as(user)

    response = auth.post(
        "/mot-de-passe",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert "Votre mot de passe a été changé." in page_text(client.get(response.location))
    assert client.get("/").status_code == 200

    assert other_browser.get("/").location.startswith("/connexion")
    other = AuthActions(other_browser)
    assert other.login(user.email, PASSWORD).status_code == 401
    assert other.login(user.email, NEW_PASSWORD).status_code == 302


# --- the audit trail of authentication ----------------------------------------------------------


def test_logins_failures_logouts_and_password_changes_are_audited(app, auth, make_user):
    """Each step of a user's session leaves a line in the audit log, with its IP."""
    user = make_user("clinician")
    auth.login("inconnu@test.dalia.invalid", PASSWORD)
    auth.login(user.email, "pas le bon mot de passe")
    auth.login_as(user)
    auth.post(
        "/mot-de-passe",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    auth.logout()

    stranger, known = events(app, "auth.login_failed")
    assert stranger.actor_id is None
    # What was typed is not kept (it could be a password typed in the wrong box)
    assert stranger.summary == "Échec de connexion : adresse inconnue"
    assert f"compte {user.email}" in known.summary
    assert (known.object_type, known.object_id) == ("staff_user", str(user.id))
    for action in ("auth.login", "auth.password_changed", "auth.logout"):
        (event,) = events(app, action)
        assert (event.actor_id, event.object_id) == (user.id, str(user.id)), action
    assert events(app, "auth.login")[0].ip == "127.0.0.1"
    with app.app_context():
        attempts = db.session.scalar(
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.user_id == user.id)
        )
    assert attempts == 2
