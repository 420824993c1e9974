"""Security headers on every kind of response, HSTS and the proxy, and how sessions end.

Completes tests/web/test_pages.py (headers of ordinary pages, static files) and
tests/web/test_auth.py / tests/web/test_admin.py (cookie flags, idle timeout by tampering with
last_seen, logout replay, password change and admin changes ending sessions). What is here:
the kinds of responses those tests do not reach (htmx fragments and redirects, 400/403/405/500,
CSV/JSON/.ics downloads), X-Frame-Options, HSTS absent over http and sent behind the trusted proxy,
the per-site cookie name and lifetime, the idle timeout of a configured length measured on the
app's clock, replays of stolen cookies in a fresh browser, and no-store on health-data pages.
"""

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dalia_site import clock, create_app
from dalia_site.access import public
from dalia_site.domain import referrals
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, StaffUser
from dalia_site.models.types import clock_at
from tests.conftest import ADMIN_EMAIL, PASSWORD, AuthActions, csrf_from, totp_code
from tests.web.test_booking import past_appointment
from tests.web.test_patients import IDENTITY, REFERRER
from tests.web.test_roster import make_member

EXPIRED = "Votre session a expiré après une période d'inactivité. Reconnectez-vous."
NEW_PASSWORD = "une toute nouvelle phrase de passe"
ONE_YEAR = 365 * 24 * 3600
FORWARDED_HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
HTMX = {"HX-Request": "true"}


# --- helpers ------------------------------------------------------------------------------------


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_protective_headers(response, what: str) -> None:
    policy = directives(response)
    script_src = policy.get("script-src", policy.get("default-src"))
    assert script_src, f"{what}: no script-src nor default-src"
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        assert unsafe not in script_src, f"{what}: script-src allows {unsafe}"
    assert policy.get("frame-ancestors") == ["'none'"], what
    assert policy.get("object-src") == ["'none'"], what
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    assert response.headers.get("X-Frame-Options") == "DENY", what
    assert response.headers.get("Referrer-Policy") in (
        "same-origin",
        "no-referrer",
        "strict-origin-when-cross-origin",
        "strict-origin",
    ), what


def hsts_max_age(response) -> int | None:
    header = response.headers.get("Strict-Transport-Security")
    if header is None:
        return None
    match = re.search(r"max-age=(\d+)", header)
    assert match, header
    return int(match.group(1))


def cookie_name(app) -> str:
    return app.config["SESSION_COOKIE_NAME"]


def stolen_cookie(app, client) -> str:
    """The value of the session cookie the browser holds, as a thief would copy it."""
    return client.get_cookie(cookie_name(app)).value


def browser_with(app, cookie: str):
    """A fresh browser that holds nothing but a copied session cookie."""
    browser = app.test_client()
    browser.set_cookie(cookie_name(app), cookie)
    return browser


def is_anonymous(browser) -> bool:
    response = browser.get("/")
    return response.status_code == 302 and response.location.startswith("/connexion")


def logged_in(app, user_or_email):
    browser = app.test_client()
    email = getattr(user_or_email, "email", user_or_email)
    assert AuthActions(browser).login(email).status_code == 302
    assert browser.get("/").status_code == 200
    return browser


def login_events(app) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.login").order_by(AuditEvent.id)
        ).all()


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


@pytest.fixture
def make_app(site_dir):
    """make_app(https=True, proxy_hops=1, …) -> an app of the test site with site.toml edited
    (keys of [security], or slug of [site]), the way an admin would configure it."""
    apps = []

    def make(**settings):
        toml = site_dir / "site.toml"
        text = toml.read_text(encoding="utf-8")
        for key, value in settings.items():
            text, found = re.subn(rf"^{key} = .*$", f"{key} = {toml_value(value)}", text, flags=re.M)
            assert found == 1, key
        toml.write_text(text, encoding="utf-8")
        app = create_app(site_dir, {"TESTING": True})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@dataclass(frozen=True)
class Record:
    patient: int
    referral: int
    appointment: int


@pytest.fixture
def record(app) -> Record:
    """A patient admitted from a referral, with a first visit (doctor) two hours ago."""
    with app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            IDENTITY,
            REFERRER,
            "Suivi à organiser.",
            now=clock.now(),
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
        patient = referrals.decide(db.session, None, referral, "accepted", now=clock.now())
        db.session.commit()
        referral_id, patient_id = referral.id, patient.id
    doctor = make_member(app, "Dr Jeanne Audouy")
    return Record(patient_id, referral_id, past_appointment(app, patient_id, [doctor]))


# --- 1. the protective headers on every kind of response ---------------------------------------


def test_every_kind_of_response_carries_csp_nosniff_referrer_policy_and_no_framing(
    app, client, auth, make_user, record
):
    """Pages, htmx fragments and redirects, error pages, downloads: all carry the headers."""

    @app.route("/panne-pour-le-test")
    @public
    def crash():
        raise RuntimeError("panne voulue")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    anonymous = app.test_client()
    reporting = logged_in(app, make_user("reporting"))
    auth.login(ADMIN_EMAIL)

    responses = {
        "page": (client.get(f"/patients/{record.patient}"), 200),
        "htmx fragment": (client.get("/patients?q=rouquette", headers=HTMX), 200),
        "htmx error fragment": (client.get("/nulle-part", headers=HTMX), 404),
        "404 page": (client.get("/nulle-part"), 404),
        "403 page": (reporting.get("/patients"), 403),
        "400 page": (auth.post("/admin/comptes/1/statut", {"active": "peut-être"}), 400),
        "400 expired form": (client.post("/admin/comptes/1/statut", data={"active": "1"}), 400),
        "405 page": (client.get("/deconnexion"), 405),
        "500 page": (client.get("/panne-pour-le-test"), 500),
        "redirect to login": (anonymous.get("/patients"), 302),
        "htmx redirect to login": (anonymous.get("/patients", headers=HTMX), 401),
        "redirect after a form": (auth.post("/admin/comptes/1/statut", {"active": "1"}), 303),
        "CSV export": (client.get("/activite/export.csv"), 200),
        "JSON export": (client.get("/activite/export.json"), 200),
        "directory CSV export": (client.get("/annuaire/export.csv"), 200),
        "calendar file": (client.get(f"/rendez-vous/{record.appointment}/convocation.ics"), 200),
        "JSON health check": (anonymous.get("/healthz"), 200),
        "static file": (anonymous.get("/static/dalia.css"), 200),
    }
    for what, (response, status) in responses.items():
        assert response.status_code == status, what
        assert_protective_headers(response, what)
    assert responses["htmx redirect to login"][0].headers["HX-Redirect"].startswith("/connexion")
    assert responses["CSV export"][0].mimetype == "text/csv"
    assert responses["JSON export"][0].mimetype == "application/json"


# --- 2. HSTS: over https only, and behind the trusted proxy -------------------------------------


def test_hsts_is_sent_over_https_and_never_over_plain_http(client):
    """HSTS for at least a year on an https request; a plain http answer must not carry it."""
    for path in ("/connexion", "/page-qui-n-existe-pas", "/"):
        assert hsts_max_age(client.get(path, base_url="https://localhost")) >= ONE_YEAR, path
        assert "Strict-Transport-Security" not in client.get(path).headers, path


def test_behind_the_trusted_proxy_x_forwarded_proto_https_means_https(make_app):
    """https = true, proxy_hops = 1 (as `new-site --domain` writes): nginx's X-Forwarded-Proto
    brings HSTS and a Secure cookie, and the address audited is the one nginx saw."""
    app = make_app(https=True, proxy_hops=1)
    client = app.test_client()
    # Gunicorn hears plain http from nginx (the Flask test client would default to https here).
    nginx = {"base_url": "http://localhost", "headers": FORWARDED_HTTPS}
    login_page = client.get("/connexion", **nginx)
    assert hsts_max_age(login_page) >= ONE_YEAR
    response = client.post(
        "/connexion",
        base_url="http://localhost",
        headers=FORWARDED_HTTPS | {"Referer": "https://localhost/connexion"},
        data={
            "csrf_token": csrf_from(login_page.get_data(as_text=True)),
            "email": ADMIN_EMAIL,
            "password": PASSWORD,
            "code": totp_code(),
        },
    )
    assert response.status_code == 302
    assert hsts_max_age(response) >= ONE_YEAR
    cookie = client.get_cookie(cookie_name(app))
    assert cookie.secure and cookie.http_only and cookie.same_site in ("Lax", "Strict")
    assert client.get("/", **nginx).status_code == 200
    assert [e.ip for e in login_events(app)] == ["203.0.113.9"]
    # A request that reached the site without nginx's header was plain http: no HSTS.
    assert "Strict-Transport-Security" not in client.get("/", base_url="http://localhost").headers


def test_x_forwarded_headers_are_ignored_without_a_trusted_proxy(app, client, auth):
    """proxy_hops = 0 (the default): anyone can send X-Forwarded-*, so nothing is believed."""
    assert app.config["PROXY_HOPS"] == 0
    response = client.get("/connexion", headers=FORWARDED_HTTPS)
    assert "Strict-Transport-Security" not in response.headers
    token = csrf_from(response.get_data(as_text=True))
    client.post(
        "/connexion",
        headers=FORWARDED_HTTPS,
        data={"csrf_token": token, "email": ADMIN_EMAIL, "password": PASSWORD, "code": totp_code()},
    )
    assert [e.ip for e in login_events(app)] == ["127.0.0.1"]


# --- 3. the session cookie: per-site name, nothing else, short life -----------------------------


def test_the_session_cookie_is_named_after_the_site_and_is_the_only_one(app, auth, make_app):
    """dalia_<slug>: two sites on one server never overwrite each other's session; no remember-me
    cookie outlives the session; the site's cookie means nothing to another site."""
    response = auth.login(ADMIN_EMAIL)
    assert cookie_name(app) == "dalia_test"
    set_names = {header.split("=", 1)[0] for header in response.headers.getlist("Set-Cookie")}
    assert set_names == {"dalia_test"}
    cookie = auth.client.get_cookie("dalia_test")
    assert cookie.http_only and cookie.same_site in ("Lax", "Strict")
    # The browser forgets it after the idle timeout (30 minutes here) even if never closed.
    assert cookie.expires is not None
    assert cookie.expires - datetime.now(UTC) <= timedelta(minutes=31)

    other_site = make_app(slug="autre-site")
    assert cookie_name(other_site) == "dalia_autre-site"
    other_browser = other_site.test_client()
    other_browser.set_cookie("dalia_test", cookie.value)
    assert is_anonymous(other_browser)
    other_login = AuthActions(other_browser).login(ADMIN_EMAIL)
    assert {h.split("=", 1)[0] for h in other_login.headers.getlist("Set-Cookie")} == {"dalia_autre-site"}


# --- 4. the idle timeout, on the app's clock ----------------------------------------------------


def test_activity_within_the_configured_timeout_keeps_the_session_open(make_app):
    """idle_timeout_minutes = 10: a click every 9 minutes keeps the user in well past 10 minutes."""
    app = make_app(idle_timeout_minutes=10)
    client = app.test_client()
    start = datetime.now(UTC)
    with clock_at(start):
        assert AuthActions(client).login(ADMIN_EMAIL).status_code == 302
    for minutes in (9, 18, 27, 36, 45):
        with clock_at(start + timedelta(minutes=minutes)):
            assert client.get("/admin/comptes").status_code == 200, minutes


def test_after_the_configured_idle_minutes_the_session_is_over_for_every_copy(make_app):
    """idle_timeout_minutes = 10: 9 min 59 s idle is fine, 10 min 1 s leads to login saying why,
    and a copy of the cookie taken before is just as expired, for pages and htmx alike."""
    app = make_app(idle_timeout_minutes=10)
    client = app.test_client()
    start = datetime.now(UTC)
    with clock_at(start):
        AuthActions(client).login(ADMIN_EMAIL)
    last_click = start + timedelta(minutes=9, seconds=59)
    with clock_at(last_click):
        assert client.get("/").status_code == 200
    copy = stolen_cookie(app, client)

    with clock_at(last_click + timedelta(minutes=10, seconds=1)):
        replayed_htmx = browser_with(app, copy).get("/admin/comptes", headers=HTMX)
        expired = client.get("/admin/comptes")
        login_page = client.get(expired.location)
        after = client.get("/")
        replayed = browser_with(app, copy).get("/")
    assert replayed_htmx.status_code == 401
    assert replayed_htmx.headers["HX-Redirect"].startswith("/connexion")
    assert expired.status_code == 302
    assert expired.location.startswith("/connexion?next=")
    assert EXPIRED in page_text(login_page)
    assert after.status_code == 302 and after.location.startswith("/connexion")
    assert replayed.status_code == 302 and replayed.location.startswith("/connexion")


# --- 5. logout, replayed in a fresh browser -----------------------------------------------------


def test_a_cookie_copied_before_logout_opens_nothing_in_another_browser(app, client, auth):
    """The thief's browser, with the cookie and even the CSRF token, can neither read nor write."""
    auth.login(ADMIN_EMAIL)
    token = auth.csrf()
    copy = stolen_cookie(app, client)
    assert browser_with(app, copy).get("/admin/comptes").status_code == 200  # the copy did work

    assert auth.logout().location == "/connexion"
    thief = browser_with(app, copy)
    assert is_anonymous(thief)
    write = thief.post(
        "/admin/comptes/nouveau",
        data={
            "csrf_token": token,
            "name": "Complice",
            "email": "complice@exemple.fr",
            "role": "admin",
            "password": "provisoire-2026-abc",
        },
    )
    assert write.status_code == 302 and write.location.startswith("/connexion")
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(StaffUser).where(StaffUser.email == "complice@exemple.fr")
            )
            == 0
        )


def test_logout_ends_every_session_of_the_account(app, auth, make_user):
    """The token is per account (rotated at logout): logging out in one browser logs the account
    out everywhere; another user's session is untouched."""
    user = make_user("assistant")
    colleague = logged_in(app, make_user("clinician"))
    desk, phone = logged_in(app, user), logged_in(app, user)
    assert AuthActions(desk).logout().status_code == 302
    assert is_anonymous(desk) and is_anonymous(phone)
    assert colleague.get("/").status_code == 200


# --- 6. a password change -----------------------------------------------------------------------


def test_a_password_change_also_kills_a_copy_of_the_changing_browsers_own_cookie(app, make_user):
    """Changing one's password after a theft locks the thief out, while the user stays in."""
    user = make_user("assistant")
    browser = logged_in(app, user)
    copy = stolen_cookie(app, browser)

    changed = AuthActions(browser).post(
        "/mot-de-passe",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert browser.get("/").status_code == 200  # deliberate: login_user with the new token
    assert stolen_cookie(app, browser) != copy
    assert is_anonymous(browser_with(app, copy))


def test_a_refused_password_change_ends_no_session(app, make_user):
    """A wrong current password changes nothing: the user's other browser stays logged in."""
    user = make_user("assistant")
    browser, other = logged_in(app, user), logged_in(app, user)
    refused = AuthActions(browser).post(
        "/mot-de-passe",
        {
            "current_password": "pas le bon mot de passe",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert refused.status_code == 422
    assert browser.get("/").status_code == 200
    assert other.get("/").status_code == 200


# --- 7. role change and deactivation by an admin ------------------------------------------------


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("/statut", {"active": "0"}),
        ("", {"role": "clinician"}),
    ],
    ids=["deactivation", "role-change"],
)
def test_undoing_a_deactivation_or_role_change_does_not_revive_the_old_session(
    app, auth, make_user, first, then
):
    """Deactivated then reactivated, or made clinician then assistant again: the cookie the user
    held (or a thief copied) before stays dead; the user logs in again."""
    user = make_user("assistant")
    browser = logged_in(app, user)
    copy = stolen_cookie(app, browser)
    auth.login(ADMIN_EMAIL)
    back = {"active": "1"} if first else {"role": "assistant"}
    for change in (then, back):
        data = change if first else {"name": user.name} | change
        assert auth.post(f"/admin/comptes/{user.id}{first}", data).status_code in (302, 303)
    with app.app_context():
        stored = db.session.get(StaffUser, user.id)
        assert (stored.role, stored.active) == ("assistant", True)
    assert is_anonymous(browser)
    assert is_anonymous(browser_with(app, copy))
    assert logged_in(app, user).get("/").status_code == 200


# --- 8. no-store on every page that shows health data -------------------------------------------


def test_pages_and_files_with_health_data_are_never_stored(client, auth, record):
    """Patient and referral pages, their htmx fragments, the agenda, convocations, exports and the
    audit log: Cache-Control no-store, so no shared cache nor back button keeps them."""
    auth.login(ADMIN_EMAIL)
    shown = {  # path, headers -> whether the page names the patient
        (f"/patients/{record.patient}", ()): True,
        (f"/patients/{record.patient}/modifier", ()): True,
        ("/patients", ()): True,
        ("/patients?q=rouquette", tuple(HTMX.items())): True,
        (f"/adressages/{record.referral}", ()): True,
        ("/adressages?statut=tous", ()): True,
        ("/adressages?statut=tous", tuple(HTMX.items())): True,
        ("/adressages/compteurs", tuple(HTMX.items())): False,
        (f"/rendez-vous/{record.appointment}/convocation", ()): True,
        (f"/rendez-vous/{record.appointment}/convocation.ics", ()): False,
        ("/agenda", ()): False,
        ("/agenda/semaine", ()): False,
        ("/activite/export.csv", ()): False,
        ("/activite/export.json", ()): False,
        ("/admin/journal", ()): False,
    }
    for (path, headers), names_patient in shown.items():
        response = client.get(path, headers=dict(headers))
        assert response.status_code == 200, path
        assert "no-store" in response.headers.get("Cache-Control", ""), path
        if names_patient:
            assert "rouquette" in page_text(response).lower(), path
