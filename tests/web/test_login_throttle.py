"""Login throttling without lock-out by strangers (issue 19): failures count per (account, address)
with growing delays, an admin clears them, the owner is told by email, and a limited request
writes nothing."""

import html
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from dalia_site.clock import clock_at
from dalia_site.domain import accounts
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, LoginAttempt, OutboundEmail, RateLimitHit, StaffUser
from tests.conftest import ADMIN_EMAIL, PASSWORD, csrf_from, totp_code

STRANGER = "203.0.113.9"
OFFICE = "198.51.100.20"


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def login_from(client, address: str, email: str, password: str = PASSWORD):
    """A login posted from `address`, with the CSRF token of that browser's session."""
    environ = {"REMOTE_ADDR": address}
    token = csrf_from(client.get("/connexion", environ_base=environ).get_data(as_text=True))
    return client.post(
        "/connexion",
        data={"csrf_token": token, "email": email, "password": password, "code": totp_code()},
        environ_base=environ,
    )


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_stranger_guessing_the_email_does_not_lock_the_real_user_out(app, client):
    """Five (or fifty) wrong passwords from a stranger's address: the real user, from the
    centre's address, logs in with the right password at once."""
    stranger = app.test_client()
    for _ in range(5):
        assert login_from(stranger, STRANGER, ADMIN_EMAIL, "devinette au hasard").status_code == 401
    assert login_from(stranger, STRANGER, ADMIN_EMAIL, PASSWORD).status_code == 429
    assert login_from(client, OFFICE, ADMIN_EMAIL, PASSWORD).status_code == 302


def test_the_delays_grow_and_are_never_a_fixed_lock(app, client):
    """The sixth failure doubles the wait of the fifth; once it has passed, the right password works."""
    now = datetime.now(UTC)
    key = accounts.throttle_key(ADMIN_EMAIL, STRANGER)
    with app.app_context():
        db.session.add_all(
            LoginAttempt(email=key, at=now - timedelta(seconds=s), succeeded=False)
            for s in (61, 70, 80, 90, 100)
        )
        db.session.commit()
    # The clock held at `now`: the sixth failure is recorded then, however slow the machine.
    with clock_at(now):
        # 5 failures, the latest 61 s ago: the 30 s wait is over.
        assert login_from(client, STRANGER, ADMIN_EMAIL, "encore une erreur").status_code == 401
        # 6 failures: one minute to wait, then (7) two minutes…
        waiting = login_from(client, STRANGER, ADMIN_EMAIL, PASSWORD)
    assert waiting.status_code == 429
    assert "Réessayez dans 1 minute." in page_text(waiting)
    with app.app_context():
        wait = accounts.check_throttle(db.session, ADMIN_EMAIL, STRANGER, now=now + timedelta(seconds=61))
    assert wait is None


def test_an_admin_clears_a_members_throttle_and_it_is_audited(app, client, auth, make_user):
    member = make_user("assistant")
    member_browser = app.test_client()
    for _ in range(6):
        login_from(member_browser, OFFICE, member.email, "mauvais mot de passe")
    assert login_from(member_browser, OFFICE, member.email).status_code == 429

    auth.login(ADMIN_EMAIL)
    page = auth.client.get(f"/admin/comptes/{member.id}")
    assert "Débloquer les connexions" in page_text(page)
    response = auth.post(f"/admin/comptes/{member.id}/connexions")
    assert response.status_code == 303
    assert "débloquées" in page_text(auth.client.get(response.location))

    assert login_from(member_browser, OFFICE, member.email).status_code == 302
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.throttle_cleared"))
        admin = db.session.scalar(select(StaffUser).where(StaffUser.email == ADMIN_EMAIL))
        assert (event.actor_id, event.object_id) == (admin.id, str(member.id))


def test_the_owner_is_told_by_email_of_repeated_failures_once(app, make_user):
    member = make_user("clinician")
    for n in range(accounts.WARN_AFTER + 3):
        # From many addresses, so that none is slowed down: the account's failures still add up.
        login_from(app.test_client(), f"192.0.2.{n + 1}", member.email, "mauvais mot de passe")
    with app.app_context():
        sent = db.session.scalars(select(OutboundEmail).where(OutboundEmail.to == member.email)).all()
    assert len(sent) == 1
    assert "tentatives de connexion" in sent[0].subject
    assert f"{accounts.WARN_AFTER} tentatives de connexion à votre compte DALIA" in sent[0].body


def test_the_owners_email_gives_the_time_in_the_sites_timezone(app, make_user, monkeypatch):
    """The last failure at 12:05 UTC on 14 July reads « 14h05 » for a centre in France (summer
    time), in the French format — not UTC, which the owner would take for their own time."""
    assert app.config["SITE"]["timezone"] == "Europe/Paris"
    moment = datetime(2026, 7, 14, 12, 5, tzinfo=UTC)
    monkeypatch.setattr("dalia_site.clock.now", lambda: moment)
    member = make_user("clinician")
    for n in range(accounts.WARN_AFTER):
        login_from(app.test_client(), f"192.0.2.{n + 1}", member.email, "mauvais mot de passe")
    with app.app_context():
        sent = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to == member.email))
    assert "la dernière le 14/07/2026 à 14h05." in sent.body
    assert "UTC" not in sent.body and "12h05" not in sent.body


def test_once_an_address_is_limited_its_requests_write_nothing(app):
    """Past the address limit (many accounts tried from one address) nothing is written: no hit,
    no attempt, no audit event — a flood no longer grows the database."""
    from dalia_site.auth.routes import ADDRESS_LIMIT

    client = app.test_client()
    for n in range(ADDRESS_LIMIT):
        login_from(client, STRANGER, f"personne{n}@test.dalia.invalid", "x")
    before = (count(app, RateLimitHit), count(app, LoginAttempt), count(app, AuditEvent))
    for n in range(20):
        response = login_from(client, STRANGER, f"autre{n}@test.dalia.invalid", "x")
        assert response.status_code == 429
        assert "Trop de tentatives depuis cette adresse" in page_text(response)
    assert (count(app, RateLimitHit), count(app, LoginAttempt), count(app, AuditEvent)) == before


def test_anonymous_gets_of_unknown_referral_links_stop_writing_once_limited(app):
    """Guessing private links: each try counts until the limit, then nothing more is written."""
    from dalia_site.referrals.routes import ADDRESS_LIMIT

    client = app.test_client()
    for n in range(ADDRESS_LIMIT):
        client.get(f"/adressage/devine-{n}", environ_base={"REMOTE_ADDR": STRANGER})
    before = count(app, RateLimitHit)
    for n in range(50):
        response = client.get(f"/adressage/encore-{n}", environ_base={"REMOTE_ADDR": STRANGER})
        assert response.status_code == 429
    assert count(app, RateLimitHit) == before
