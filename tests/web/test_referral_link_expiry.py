"""Referral links expire (issue 19): twelve months after creation, renewable in one click (audited),
the expiry shown in the directory; an expired link opens no form and stores nothing."""

import html
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from dalia_site.domain import partners
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, PartnerOrganisation, PartnerReferralLink, Referral
from tests.conftest import ADMIN_EMAIL

PARIS = ZoneInfo("Europe/Paris")  # the dates the site shows


def new_link(app) -> tuple[int, int, str]:
    with app.app_context():
        organisation = db.session.scalar(select(PartnerOrganisation).order_by(PartnerOrganisation.id))
        link, token = partners.create_referral_link(db.session, None, organisation, "Accueil")
        db.session.commit()
        return organisation.id, link.id, token


def age(app, link_id: int, days: int) -> None:
    """Move the link's creation and expiry `days` into the past."""
    with app.app_context():
        link = db.session.get(PartnerReferralLink, link_id)
        link.created_at -= timedelta(days=days)
        link.expires_at -= timedelta(days=days)
        db.session.commit()


def test_a_new_link_works_for_twelve_months_and_says_so(app, auth):
    org_id, link_id, token = new_link(app)
    with app.app_context():
        link = db.session.get(PartnerReferralLink, link_id)
        assert link.expires_at - link.created_at == timedelta(days=365)
    auth.login(ADMIN_EMAIL)
    page = html.unescape(auth.client.get(f"/annuaire/{org_id}").get_data(as_text=True))
    assert f"Actif jusqu'au {link.expires_at.astimezone(PARIS):%d/%m/%Y}" in page
    assert app.test_client().get(f"/adressage/{token}").status_code == 200


def test_an_expired_link_opens_nothing_and_is_shown_expired_then_renewed(app, auth):
    org_id, link_id, token = new_link(app)
    age(app, link_id, 366)
    partner = app.test_client()
    assert partner.get(f"/adressage/{token}").status_code == 404
    with app.app_context():
        referrals = db.session.scalar(select(func.count()).select_from(Referral))
    assert partner.post(f"/adressage/{token}", data={"last_name": "Essai"}).status_code in (400, 404)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Referral)) == referrals

    auth.login(ADMIN_EMAIL)
    page = html.unescape(auth.client.get(f"/annuaire/{org_id}").get_data(as_text=True))
    assert "Expiré le " in page and "Renouveler 12 mois" in page
    response = auth.post(f"/annuaire/{org_id}/liens/{link_id}/renouveler")
    assert response.status_code == 303
    until = (datetime.now(PARIS) + timedelta(days=365)).strftime("%d/%m/%Y")
    assert f"jusqu'au {until}" in html.unescape(auth.client.get(response.location).get_data(as_text=True))
    assert partner.get(f"/adressage/{token}").status_code == 200
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "partner.link_renew"))
    assert event is not None and event.object_id == str(org_id)


def test_a_revoked_link_cannot_be_renewed(app, auth):
    org_id, link_id, token = new_link(app)
    auth.login(ADMIN_EMAIL)
    auth.post(f"/annuaire/{org_id}/liens/{link_id}/revoquer")
    response = auth.post(f"/annuaire/{org_id}/liens/{link_id}/renouveler")
    assert response.status_code == 303
    assert "révoqué : créez-en un nouveau" in html.unescape(
        auth.client.get(response.location).get_data(as_text=True)
    )
    assert app.test_client().get(f"/adressage/{token}").status_code == 404
