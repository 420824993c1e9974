"""Calendar feeds die with the account (issue 19): retiring the member or deactivating the linked
account revokes the feed's token, and a reactivation does not bring the old one back."""

from tests.conftest import ADMIN_EMAIL
from tests.web.test_roster import feed_path, make_member


def test_retiring_the_member_revokes_the_feed_for_good(app, auth, make_user):
    auth.login(ADMIN_EMAIL)
    member_id = make_member(app, "Jeanne Audouy")
    path = feed_path(auth.post(f"/equipe/{member_id}/agenda"))
    anonymous = app.test_client()
    assert anonymous.get(path).status_code == 200
    assert auth.post(f"/equipe/{member_id}/statut", {"active": "0"}).status_code in (302, 303)
    assert anonymous.get(path).status_code == 404
    auth.post(f"/equipe/{member_id}/statut", {"active": "1"})
    assert anonymous.get(path).status_code == 404  # back in the team, the old link stays dead


def test_deactivating_the_account_revokes_its_members_feed_for_good(app, auth, make_user):
    auth.login(ADMIN_EMAIL)
    doctor = make_user("clinician", name="Hélène Castan")
    member_id = make_member(app, "Hélène Castan", staff_user_id=doctor.id)
    path = feed_path(auth.post(f"/equipe/{member_id}/agenda"))
    anonymous = app.test_client()
    assert anonymous.get(path).status_code == 200
    assert auth.post(f"/admin/comptes/{doctor.id}/statut", {"active": "0"}).status_code == 303
    assert anonymous.get(path).status_code == 404
    assert auth.post(f"/admin/comptes/{doctor.id}/statut", {"active": "1"}).status_code == 303
    assert anonymous.get(path).status_code == 404
