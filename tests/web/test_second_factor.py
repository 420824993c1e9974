"""The second factor (issue 19): TOTP for admins always and for every role when the site asks,
enrolment with a server-drawn QR code, 10 single-use recovery codes stored hashed, throttled
codes, and an admin's audited reset."""

import html
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from dalia_site.extensions import db
from dalia_site.models import AuditEvent, RecoveryCode, StaffUser
from tests.conftest import ADMIN_EMAIL, PASSWORD, TOTP_SECRET, csrf_from, totp_code
from tests.web.test_headers_sessions import make_app  # noqa: F401  (the fixture)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def password_step(client, email: str, password: str = PASSWORD, **extra):
    token = csrf_from(client.get("/connexion").get_data(as_text=True))
    return client.post(
        "/connexion", data={"csrf_token": token, "email": email, "password": password, **extra}
    )


def code_step(client, path: str, code: str):
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "code": code})


def is_logged_in(client) -> bool:
    return client.get("/").status_code == 200


def user(app, email) -> StaffUser:
    with app.app_context():
        found = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        db.session.expunge(found)
        return found


def actions(app, action) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_an_admins_password_alone_opens_nothing(app, client):
    """The right password leads to the code page; no page opens until the code is given."""
    response = password_step(client, ADMIN_EMAIL)
    assert response.status_code == 302 and response.location == "/connexion/code"
    assert not is_logged_in(client)
    page = client.get("/connexion/code")
    assert 'autocomplete="one-time-code"' in page.get_data(as_text=True)
    done = code_step(client, "/connexion/code", totp_code())
    assert done.status_code == 302 and done.location == "/"
    assert is_logged_in(client)
    assert len(actions(app, "auth.login")) == 1


def test_a_wrong_code_is_refused_counted_and_throttled(app, client):
    password_step(client, ADMIN_EMAIL)
    for _ in range(5):
        refused = code_step(client, "/connexion/code", "000000")
        assert refused.status_code == 401
        assert "Code incorrect" in text(refused)
    assert not is_logged_in(client)
    # Codes are throttled as passwords are: the right one now waits too.
    waiting = code_step(client, "/connexion/code", totp_code())
    assert waiting.status_code == 429
    assert "Trop de tentatives de connexion" in text(waiting)
    assert not is_logged_in(client)
    assert any(
        "Code de double authentification refusé" in e.summary for e in actions(app, "auth.login_failed")
    )


def test_a_code_once_accepted_is_not_accepted_again_for_that_account(app, make_user):
    """A code seen over a shoulder or caught on the way cannot open a second session while it is
    still shown (RFC 6238 5.2): the time step accepted is kept for the account. The same code
    still opens another account that happens to show it (each account its own last step)."""
    admin, other = make_user("admin"), make_user("admin")
    code = totp_code()
    first = app.test_client()
    password_step(first, admin.email)
    assert code_step(first, "/connexion/code", code).location == "/"
    replay = app.test_client()
    password_step(replay, admin.email)
    refused = code_step(replay, "/connexion/code", code)
    assert refused.status_code == 401 and "Code incorrect" in text(refused)
    assert not is_logged_in(replay)
    # Sent with the password at once, it is refused the same.
    at_once = app.test_client()
    assert password_step(at_once, admin.email, code=code).status_code == 401
    assert not is_logged_in(at_once)
    # An older code of the window is refused too: steps only move forward.
    older = pyotp.TOTP(TOTP_SECRET).at(datetime.now(UTC) - timedelta(seconds=30))
    assert code_step(replay, "/connexion/code", older).status_code == 401
    # Another account is not held back by this one's code.
    elsewhere = app.test_client()
    password_step(elsewhere, other.email)
    assert code_step(elsewhere, "/connexion/code", code).location == "/"
    # The account's next code opens a session.
    later = pyotp.TOTP(TOTP_SECRET).at(datetime.now(UTC) + timedelta(seconds=30))
    assert code_step(replay, "/connexion/code", later).location == "/"
    assert is_logged_in(replay)


def test_the_code_page_without_a_password_first_leads_back_to_login(client):
    response = client.get("/connexion/code")
    assert response.status_code == 302 and response.location == "/connexion"


def test_a_clinician_logs_in_with_the_password_alone_on_a_local_site(client, make_user):
    clinician = make_user("clinician")
    assert password_step(client, clinician.email).location == "/"


def test_every_role_is_asked_when_the_site_says_so(make_app, make_user):  # noqa: F811
    app = make_app(second_factor_for_all=True)
    clinician = make_user("clinician")
    client = app.test_client()
    assert password_step(client, clinician.email).location == "/connexion/activation"
    assert not is_logged_in(client)


def test_first_login_of_an_admin_enrols_then_shows_ten_recovery_codes_once(app, client, make_user):
    admin = make_user("admin", totp_secret=None, totp_confirmed_at=None)
    assert password_step(client, admin.email).location == "/connexion/activation"
    page = client.get("/connexion/activation")
    body = page.get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", body, re.S).group(0)  # the QR code, drawn by the server
    assert "<path" in svg and "script" not in svg
    secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', body).group(1).replace(" ", "")
    assert not is_logged_in(client)
    wrong = code_step(client, "/connexion/activation", "000000")
    assert wrong.status_code == 422 and not is_logged_in(client)
    shown = code_step(client, "/connexion/activation", pyotp.TOTP(secret).now())
    assert shown.status_code == 200
    codes = re.findall(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", shown.get_data(as_text=True))
    assert len(set(codes)) == 10
    assert is_logged_in(client)
    with app.app_context():
        stored = db.session.scalars(
            select(RecoveryCode.code_hash).where(RecoveryCode.user_id == admin.id)
        ).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # hashed, never the codes themselves
    assert len(actions(app, "auth.second_factor_enrolled")) == 1


def test_a_recovery_code_opens_once(app, make_user):
    admin = make_user("admin", totp_secret=None, totp_confirmed_at=None)
    client = app.test_client()
    password_step(client, admin.email)
    client.get("/connexion/activation")
    secret = user(app, admin.email).totp_secret
    shown = code_step(client, "/connexion/activation", pyotp.TOTP(secret).now())
    code = re.findall(r"<code>([a-z2-9-]{14})</code>", shown.get_data(as_text=True))[0]

    first = app.test_client()
    password_step(first, admin.email)
    assert code_step(first, "/connexion/code", code.upper()).status_code == 302
    assert is_logged_in(first)
    again = app.test_client()
    password_step(again, admin.email)
    assert code_step(again, "/connexion/code", code).status_code == 401
    assert not is_logged_in(again)
    assert "9 restants" in actions(app, "auth.recovery_code_used")[0].summary


def test_an_admin_resets_a_members_second_factor_audited(app, auth, make_user):
    other = make_user("admin")
    victim_browser = app.test_client()
    password_step(victim_browser, other.email, code=totp_code())
    assert is_logged_in(victim_browser)

    auth.login(ADMIN_EMAIL)
    page = auth.client.get(f"/admin/comptes/{other.id}")
    assert "Réinitialiser la double authentification" in text(page)
    response = auth.post(f"/admin/comptes/{other.id}/double-authentification")
    assert response.status_code == 303
    assert not is_logged_in(victim_browser)  # the lost phone's sessions are over
    after = user(app, other.email)
    assert after.totp_secret is None and not after.has_second_factor
    with app.app_context():
        assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == other.id)).all() == []
    event = actions(app, "staff.second_factor_reset")[0]
    assert event.object_id == str(other.id)
    # At the next login the member enrols again.
    assert password_step(app.test_client(), other.email).location == "/connexion/activation"


def test_a_waiting_login_expires_after_five_minutes(app, client, monkeypatch):
    password_step(client, ADMIN_EMAIL)
    page = client.get("/connexion/code")
    later = datetime.now(UTC) + timedelta(minutes=6)
    monkeypatch.setattr("dalia_site.clock.now", lambda: later)
    response = client.post(
        "/connexion/code",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "code": pyotp.TOTP(TOTP_SECRET).at(later),
        },
    )
    assert response.status_code == 302 and response.location == "/connexion"
    assert not is_logged_in(client)


@pytest.mark.parametrize("role", ["assistant", "clinician", "reporting"])
def test_roles_other_than_admin_are_not_asked_by_default(client, make_user, role):
    member = make_user(role)
    assert password_step(client, member.email).location == "/"
