"""What every page shares: security headers, no inline script, the French layout, error pages, health."""

import hashlib
import html
import re
import socket
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dalia_site import create_app
from dalia_site.access import public
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, StaffUser
from tests.conftest import ADMIN_EMAIL, ROLES

STATIC = Path(__file__).resolve().parents[2] / "dalia_site" / "static"
ADMIN_PAGES = ("/admin/comptes", "/admin/comptes/nouveau", "/admin/comptes/1", "/admin/journal")
EVERY_ROLE_PAGES = ("/", "/mot-de-passe", "/page-qui-n-existe-pas")


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";"))


def assert_protective_headers(response, page=True):
    policy = csp(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in (
        "same-origin",
        "no-referrer",
        "strict-origin-when-cross-origin",
    )
    if page:
        assert "no-store" in response.headers["Cache-Control"]


def assert_no_inline_code(response):
    """What the CSP would block: inline scripts, event-handler attributes, inline styles."""
    body = response.get_data(as_text=True)
    for attributes in re.findall(r"<script\b([^>]*)>", body):
        assert "src=" in attributes, f"inline <script{attributes}> in {response.request.path}"
    tags = re.findall(r"<[a-zA-Z][^>]*>", body)
    assert not [t for t in tags if re.search(r"\son[a-z]+\s*=", t)], "inline event handler"
    assert not [t for t in tags if re.search(r"\sstyle\s*=", t)], "inline style attribute"
    assert "<style" not in body


def navigation(response) -> str:
    match = re.search(
        r'<nav aria-label="Navigation principale">.*?</nav>', response.get_data(as_text=True), re.S
    )
    return html.unescape(match.group(0)) if match else ""


# --- headers and inline code, for every role ----------------------------------------------------


def test_anonymous_responses_carry_the_protective_headers(client):
    """Login, a 404, a redirect to login and the health check all carry CSP and friends."""
    for path in ("/connexion", "/page-qui-n-existe-pas", "/", "/healthz"):
        assert_protective_headers(client.get(path))


def test_static_files_are_protected_but_may_be_cached(client):
    """The stylesheet carries nosniff and CSP, and no no-store: browsers may keep it."""
    response = client.get("/static/dalia.css")
    assert response.status_code == 200
    assert_protective_headers(response, page=False)
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_pages_seen_before_login_have_no_inline_code(client):
    """The login page, with and without errors, and the 404 page run no inline code."""
    for response in (
        client.get("/connexion"),
        client.get("/page-qui-n-existe-pas"),
        client.post("/connexion", data={"email": "x"}),
    ):
        assert_no_inline_code(response)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_a_role_is_protected_and_free_of_inline_code(client, as_role, role):
    """Home, password change, 404, and the admin pages or the 403 page: headers and no inline JS."""
    as_role(role)
    paths = EVERY_ROLE_PAGES + ADMIN_PAGES
    for path in paths:
        response = client.get(path)
        expected = 404 if "existe-pas" in path else 403 if (path in ADMIN_PAGES and role != "admin") else 200
        assert response.status_code == expected, path
        assert_protective_headers(response)
        assert_no_inline_code(response)


# --- error pages --------------------------------------------------------------------------------


def test_an_unknown_address_is_a_french_404(client):
    """A mistyped address says 'Page introuvable' in French, with a way back home."""
    response = client.get("/nulle-part/42")
    assert response.status_code == 404
    text = page_text(response)
    assert "Page introuvable" in text
    assert "Retour à l'accueil" in text


def test_an_unexpected_error_is_a_french_500_and_nothing_half_written(app, client, auth):
    """A crash midway shows the French 500 page; the row written before it is rolled back."""

    @app.route("/panne")
    @public
    def failing_halfway():
        db.session.add(AuditEvent(action="test.panne", object_type="test", summary="avant"))
        db.session.flush()
        db.session.add(StaffUser(email=ADMIN_EMAIL, name="Doublon", role="admin", password_hash="x"))
        db.session.flush()  # the email is taken: IntegrityError
        return "jamais"

    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    auth.login(ADMIN_EMAIL)
    response = client.get("/panne")
    assert response.status_code == 500
    text = page_text(response)
    assert "Erreur du serveur" in text and "réessayez dans un instant" in text
    assert "Se déconnecter" in text  # still logged in, with the usual layout
    with app.app_context():
        written = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.panne")
        )
    assert written == 0
    assert client.get("/").status_code == 200


# --- health check -------------------------------------------------------------------------------


def test_healthz_says_ok_when_the_database_answers(client):
    """Monitoring gets 200 and a small JSON body."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


@pytest.fixture
def app_without_database(site_dir, db_backend):
    """The same site, pointed at a database that cannot be reached."""
    if db_backend == "sqlite":
        url = "sqlite:////nonexistent-dir/dalia.sqlite3"
    else:
        with socket.socket() as probe:  # a port nobody listens on once closed
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/dalia"
    app = create_app(site_dir, {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_healthz_is_503_when_the_database_is_unreachable(app_without_database):
    """nginx and systemd learn that the site cannot serve: 503 and status error."""
    response = app_without_database.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"


def test_a_logged_in_user_gets_a_french_error_page_when_the_database_is_down(
    app, client, auth, app_without_database
):
    """During a database outage the staff see the French error page, not a bare server error."""
    auth.login(ADMIN_EMAIL)
    name = app.config["SESSION_COOKIE_NAME"]
    browser = app_without_database.test_client()
    browser.set_cookie(name, client.get_cookie(name).value)
    app_without_database.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    response = browser.get("/")
    assert response.status_code == 503
    text = page_text(response)
    assert '<html lang="fr">' in text
    assert "Service momentanément indisponible" in text
    assert "réessayez" in text.lower()
    assert "Content-Security-Policy" in response.headers


# --- the htmx script ----------------------------------------------------------------------------


def test_the_htmx_script_served_is_the_pinned_release(client):
    """The script the layout loads is served and is byte for byte the recorded htmx release."""
    recorded = (STATIC / "htmx.VERSION").read_text()
    sha256 = re.search(r"^sha256: ([0-9a-f]{64})$", recorded, re.M).group(1)
    page = client.get("/connexion").get_data(as_text=True)
    (src,) = re.findall(r'<script src="([^"]+)"', page)
    response = client.get(src)
    assert response.status_code == 200
    assert "javascript" in response.mimetype
    assert hashlib.sha256(response.get_data()).hexdigest() == sha256


# --- the layout ---------------------------------------------------------------------------------


def test_the_layout_is_french_with_landmarks_and_a_skip_link(client, as_role):
    """lang=fr, a skip link to <main>, and for a logged-in user a labelled navigation."""
    anonymous = client.get("/connexion").get_data(as_text=True)
    assert '<html lang="fr">' in anonymous
    assert navigation(client.get("/connexion")) == ""

    as_role("clinician")
    body = client.get("/").get_data(as_text=True)
    assert '<html lang="fr">' in body
    skip = re.search(r'<a class="skip-link" href="#([\w-]+)">Aller au contenu</a>', body)
    assert skip, "no skip link"
    assert re.search(rf'<main id="{skip.group(1)}"', body), "the skip link leads nowhere"
    assert body.index(skip.group(0)) < body.index("<nav")  # first thing a keyboard reaches
    assert re.search(r'<nav aria-label="[^"]+">', body)
    assert 'aria-current="page"' in navigation(client.get("/"))


def test_the_navigation_marks_the_page_shown_and_follows_whoever_is_logged_in(client, auth, as_role):
    """The menu is rendered once per role and page, then reused: the current page still moves
    with each page, and another role in the same server never gets the first one's menu."""

    def current(path: str) -> list[str]:
        menu = navigation(client.get(path))
        return re.findall(r'aria-current="page">([^<]+)', menu)

    as_role("admin")
    assert current("/") == ["Accueil"]
    assert current("/listes/a-recontacter") == ["À recontacter"]
    assert current("/patients/nouveau") == []  # not a page of the menu
    assert current("/") == ["Accueil"]
    assert "Comptes" in navigation(client.get("/"))
    auth.logout()
    as_role("assistant")
    assert current("/listes/liste-d-attente") == ["Liste d'attente"]
    assert "Comptes" not in navigation(client.get("/listes/liste-d-attente"))
    assert "Comptes" not in navigation(client.get("/"))


@pytest.mark.parametrize("role", ROLES)
def test_only_the_admin_sees_accounts_and_audit_log_in_the_navigation(client, as_role, role):
    """The menu never offers a link its user would be refused."""
    as_role(role)
    response = client.get("/")
    menu = navigation(response)
    assert "Accueil" in menu
    is_admin = role == "admin"
    assert ("Comptes" in menu) is is_admin
    assert ("Journal d'audit" in menu) is is_admin
    assert ('href="/admin/' in response.get_data(as_text=True)) is is_admin
