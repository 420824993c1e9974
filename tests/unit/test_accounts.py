"""Account operations on a real database, without HTTP."""

from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dalia_site import clock
from dalia_site.domain import accounts
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, StaffUser
from dalia_site.models.types import utcnow
from tests.conftest import ADMIN_EMAIL, PASSWORD


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def admin(session) -> StaffUser:
    return session.scalar(select(StaffUser).where(StaffUser.email == ADMIN_EMAIL))


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_created_account_has_a_one_time_password_and_an_audit_event(session):
    user = accounts.create_staff(
        session, admin(session), " Nina.IPA@Centre.FR ", "Nina Ipa", "clinician", "provisoire-123456"
    )
    session.commit()
    assert user.email == "nina.ipa@centre.fr"
    assert user.must_change_password
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.action == "staff.create", AuditEvent.object_id == str(user.id))
    )
    assert event.object_id == str(user.id) and event.actor_id == admin(session).id


def test_account_and_its_audit_event_are_written_together_or_not_at_all(session):
    accounts.create_staff(session, None, "x@centre.fr", "X", "assistant", "provisoire-123456")
    session.rollback()
    assert count(session, StaffUser, StaffUser.email == "x@centre.fr") == 0
    assert count(session, AuditEvent, AuditEvent.summary.contains("x@centre.fr")) == 0


def test_same_email_in_another_case_is_refused(session):
    with pytest.raises(accounts.AccountError, match="existe déjà"):
        accounts.create_staff(session, None, ADMIN_EMAIL.upper(), "Bis", "admin", "provisoire-123456")


def test_database_refuses_an_uppercase_email_written_around_the_domain(session):
    session.add(StaffUser(email="Upper@Centre.fr", name="U", role="admin", password_hash="x"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_database_refuses_an_unknown_role(session):
    session.add(StaffUser(email="r@centre.fr", name="R", role="superuser", password_hash="x"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_last_active_admin_can_be_neither_demoted_nor_deactivated(session):
    only = admin(session)
    for role, active in (("assistant", True), ("admin", False)):
        with pytest.raises(accounts.AccountError, match="dernier compte administrateur actif"):
            accounts.update_staff(session, only, only, only.name, role, active)
    assert only.role == "admin" and only.active


def test_an_admin_can_step_down_once_another_admin_exists(session):
    first = admin(session)
    accounts.create_staff(session, first, "second@centre.fr", "Second", "admin", "provisoire-123456")
    token = first.session_token
    assert accounts.update_staff(session, first, first, first.name, "assistant", True)
    session.commit()
    assert first.role == "assistant"
    assert first.session_token != token  # a role change takes effect at once


def test_login_with_right_password_then_throttled_after_five_failures(session):
    assert accounts.authenticate(session, ADMIN_EMAIL, PASSWORD, now=clock.now(), zone=UTC).ok
    for _ in range(5):
        assert not accounts.authenticate(session, ADMIN_EMAIL, "mauvais", now=clock.now(), zone=UTC).ok
    session.commit()
    blocked = accounts.authenticate(session, ADMIN_EMAIL, PASSWORD, now=clock.now(), zone=UTC)
    assert blocked.throttled and not blocked.ok
    later = accounts.authenticate(
        session, ADMIN_EMAIL, PASSWORD, now=utcnow() + timedelta(minutes=16), zone=UTC
    )
    assert later.ok


def test_unknown_email_is_throttled_like_a_known_one(session):
    for _ in range(5):
        result = accounts.authenticate(session, "personne@nulle.part", "x", now=clock.now(), zone=UTC)
        assert not result.ok and not result.throttled
    assert accounts.authenticate(session, "personne@nulle.part", "x", now=clock.now(), zone=UTC).throttled


def test_one_time_password_forces_a_change_and_ends_sessions(session):
    user = accounts.create_staff(session, None, "a@centre.fr", "A", "assistant", "provisoire-123456")
    user.must_change_password = False
    token = user.session_token
    accounts.set_one_time_password(session, admin(session), user, "nouveau-provisoire-1")
    assert user.must_change_password and user.session_token != token
    assert accounts.authenticate(session, "a@centre.fr", "nouveau-provisoire-1", now=clock.now(), zone=UTC).ok


def test_changing_own_password_checks_the_current_one_and_the_policy(session):
    user = admin(session)
    with pytest.raises(accounts.AccountError, match="actuel est incorrect"):
        accounts.change_own_password(session, user, "faux", "une nouvelle phrase")
    with pytest.raises(accounts.AccountError, match="différent de l'actuel"):
        accounts.change_own_password(session, user, PASSWORD, PASSWORD)
    with pytest.raises(accounts.AccountError, match="au moins 12 caractères"):
        accounts.change_own_password(session, user, PASSWORD, "court")
    accounts.change_own_password(session, user, PASSWORD, "une nouvelle phrase")
    assert accounts.authenticate(session, ADMIN_EMAIL, "une nouvelle phrase", now=clock.now(), zone=UTC).ok
    assert not user.must_change_password
