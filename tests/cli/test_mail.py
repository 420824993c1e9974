"""Emails to referring professionals, received by a real SMTP server (aiosmtpd) on loopback."""

from datetime import date
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import select

from dalia_site import clock, create_app
from dalia_site.commands import cli
from dalia_site.domain import referrals
from dalia_site.extensions import db
from dalia_site.models import OutboundEmail, PartnerOrganisation
from tests.cli.mailtools import Inbox, outbox

IDENTITY = {
    "last_name": "Rouquette",
    "first_names": "Adèle",
    "birth_date": date(1947, 6, 2),
    "sex": "F",
    "postcode": "11000",
    "ald": "yes",
    "ald_label": "insuffisance cardiaque",
    "gp_status": "none",
}
REFERRER = {"referrer_name": "IDE Combes", "referrer_email": "ide.combes@example.org"}


def referral_received(site_dir, decide_with: str | None = None) -> str:
    app = create_app(site_dir)
    with app.app_context():
        source = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.category == "cpts"))
        referral = referrals.receive(
            db.session,
            None,
            "phone",
            IDENTITY,
            REFERRER,
            "Suivi après hospitalisation",
            source=source,
            now=clock.now(),
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
        if decide_with:
            referrals.decide(
                db.session, None, referral, "declined", "Hors territoire", decide_with, now=clock.now()
            )
        db.session.commit()
        reference = referral.reference
        db.engine.dispose()
    return reference


def send(site_dir):
    return CliRunner().invoke(cli, ["send-mail", site_dir.name, "--instances-dir", str(site_dir.parent)])


def test_acknowledgement_and_decision_arrive_by_reference_only_and_once(mail_site, smtp_port):
    reference = referral_received(mail_site, decide_with="sas")
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        first = send(mail_site)
        second = send(mail_site)
    finally:
        controller.stop()
    assert first.exit_code == 0, first.output
    assert "2 envoyé(s), 0 en échec" in first.output
    assert "0 envoyé(s)" in second.output  # never sent twice
    assert len(inbox.messages) == 2
    ack, decision = inbox.messages
    assert ack["To"] == "ide.combes@example.org"
    assert reference in ack["Subject"] and reference in decision["Subject"]
    assert "SAS" in decision.get_content()
    for message in inbox.messages:
        text = message.get_content() + message["Subject"]
        for secret in ("Rouquette", "Adèle", "1947", "02/06", "insuffisance", "Hors territoire"):
            assert secret not in text


def test_an_smtp_failure_is_recorded_and_retried_next_run(mail_site, smtp_port):
    referral_received(mail_site)
    failed = send(mail_site)  # nothing listens on the port yet
    assert failed.exit_code == 1
    [email] = outbox(mail_site)
    # An unreachable server costs no attempt: the email is never given up for that
    assert email.sent_at is None and email.attempts == 0 and "connexion SMTP" in email.last_error
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        retried = send(mail_site)
    finally:
        controller.stop()
    assert retried.exit_code == 0
    assert len(inbox.messages) == 1
    [email] = outbox(mail_site)
    assert email.sent_at is not None and email.attempts == 1


def test_without_an_smtp_server_configured_emails_wait_in_the_outbox_and_the_timer_fails(site_dir):
    """Issue 17: nothing leaves silently — mail waiting with no server set is an error."""
    referral_received(site_dir)
    result = send(site_dir)
    assert result.exit_code == 1
    assert "1 e-mail(s) en attente mais pas de serveur SMTP dans site.toml [mail]" in result.output
    [email] = outbox(site_dir)
    assert email.sent_at is None and email.attempts == 0


def test_an_email_claimed_by_one_sender_is_not_sent_by_another(site_dir):
    """Two runs at once (a timer and a manual run, or two hosts): each email goes once."""
    from dalia_site.domain.mail import _claim
    from dalia_site.models.types import utcnow

    referral_received(site_dir)
    app = create_app(site_dir)
    with app.app_context():
        [email_id] = db.session.scalars(select(OutboundEmail.id)).all()
        now = utcnow()
        assert _claim(db.session, email_id, now) is True
        assert _claim(db.session, email_id, now) is False
        db.engine.dispose()
