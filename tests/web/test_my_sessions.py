"""Sessions (issue 19): a new token at each login, an absolute lifetime on top of the idle timeout,
and « Mes sessions » to see one's browsers and end the others."""

import html
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dalia_site.extensions import db
from dalia_site.models import AuditEvent, StaffSession
from tests.conftest import AuthActions
from tests.web.test_headers_sessions import make_app  # noqa: F401  (the fixture)


def is_logged_in(client) -> bool:
    return client.get("/").status_code == 200


def session_cookie(app, client) -> str:
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def test_each_login_gets_a_new_token_and_a_planted_cookie_is_worthless(app, make_user):
    """A cookie fixed before the login (session fixation) names no session afterwards."""
    user = make_user("assistant")
    first, second = app.test_client(), app.test_client()
    AuthActions(first).login_as(user)
    AuthActions(second).login_as(user)
    with app.app_context():
        tokens = db.session.scalars(select(StaffSession.token).where(StaffSession.user_id == user.id)).all()
    assert len(set(tokens)) == 2 and user.session_token not in tokens
    assert is_logged_in(first) and is_logged_in(second)  # a login no longer ends the other browser


def test_a_session_ends_twelve_hours_after_login_however_active(app, client, make_user, monkeypatch):
    user = make_user("clinician")
    AuthActions(client).login_as(user)
    start = datetime.now(UTC)
    for minutes in range(25, 12 * 60, 25):  # active every 25 minutes: the idle timeout never strikes
        monkeypatch.setattr("dalia_site.clock.now", lambda m=minutes: start + timedelta(minutes=m))
        assert is_logged_in(client), minutes
    monkeypatch.setattr("dalia_site.clock.now", lambda: start + timedelta(hours=12, minutes=1))
    assert not is_logged_in(client)


def test_the_lifetime_is_a_site_setting(make_app, make_user, monkeypatch):  # noqa: F811
    app = make_app(session_max_hours=2)
    user = make_user("clinician")
    client = app.test_client()
    AuthActions(client).login_as(user)
    start = datetime.now(UTC)
    monkeypatch.setattr("dalia_site.clock.now", lambda: start + timedelta(minutes=25))
    assert is_logged_in(client)
    monkeypatch.setattr("dalia_site.clock.now", lambda: start + timedelta(hours=2, minutes=1))
    assert not is_logged_in(client)


def test_my_sessions_lists_the_browsers_and_ends_another_one(app, make_user):
    user = make_user("reporting")
    phone, laptop = app.test_client(), app.test_client()
    AuthActions(phone).login_as(user)
    auth = AuthActions(laptop)
    auth.login_as(user)
    page = laptop.get("/mes-sessions")
    body = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert body.count("Fermer cette session") == 1 and "Cette session" in body
    other = re.search(r'action="/mes-sessions/(\d+)/fermer"', body).group(1)
    response = auth.post(f"/mes-sessions/{other}/fermer")
    assert response.status_code == 303
    assert not is_logged_in(phone) and is_logged_in(laptop)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.session_ended"))
    assert event.actor_id == user.id


def test_end_all_other_sessions_keeps_this_one(app, make_user):
    user = make_user("assistant")
    others = [app.test_client() for _ in range(3)]
    for browser in others:
        AuthActions(browser).login_as(user)
    mine = AuthActions(app.test_client())
    mine.login_as(user)
    response = mine.post("/mes-sessions/fermer-les-autres")
    assert response.status_code == 303
    assert "3 autres sessions fermées." in html.unescape(
        mine.client.get(response.location).get_data(as_text=True)
    )
    assert not any(is_logged_in(browser) for browser in others)
    assert is_logged_in(mine.client)


def test_nobody_ends_someone_elses_session(app, make_user):
    owner, intruder = make_user("assistant"), make_user("assistant")
    owner_browser = app.test_client()
    AuthActions(owner_browser).login_as(owner)
    with app.app_context():
        owners = db.session.scalar(select(StaffSession.id).where(StaffSession.user_id == owner.id))
    auth = AuthActions(app.test_client())
    auth.login_as(intruder)
    assert auth.post(f"/mes-sessions/{owners}/fermer").status_code == 404
    assert is_logged_in(owner_browser)


def test_this_session_is_ended_by_logging_out_not_here(app, make_user):
    user = make_user("assistant")
    auth = AuthActions(app.test_client())
    auth.login_as(user)
    with app.app_context():
        mine = db.session.scalar(select(StaffSession.id).where(StaffSession.user_id == user.id))
    response = auth.post(f"/mes-sessions/{mine}/fermer")
    assert response.status_code == 400
    assert is_logged_in(auth.client)


def test_sessions_over_for_a_month_are_deleted_at_the_next_login(app, make_user):
    user = make_user("assistant")
    AuthActions(app.test_client()).login_as(user)
    with app.app_context():
        old = db.session.scalar(select(StaffSession).where(StaffSession.user_id == user.id))
        old.last_seen_at = old.created_at = datetime.now(UTC) - timedelta(days=31)
        db.session.commit()
        old_token = old.token
    AuthActions(app.test_client()).login_as(user)
    with app.app_context():
        tokens = db.session.scalars(select(StaffSession.token).where(StaffSession.user_id == user.id)).all()
    assert len(tokens) == 1 and old_token not in tokens
