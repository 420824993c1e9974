"""`send-open-half-days SLUG`: the weekly email of the open half-days to the volunteers of the
flexible team who asked for it, received by a real SMTP server (aiosmtpd) on loopback; it lists
what each half-day lacks and the board's address, and names no patient."""

from datetime import datetime, time, timedelta

from click.testing import CliRunner

from dalia_site import create_app
from dalia_site.clock import clock_at
from dalia_site.commands import cli
from dalia_site.extensions import db
from dalia_site.models import TeamMember
from tests.web.test_roster import PARIS


def volunteers(site_dir) -> None:
    app = create_app(site_dir)
    with app.app_context():
        for name, email, wanted in (
            ("Dr Hélène Fabre", "helene.fabre@example.org", True),
            ("Dr Paul Sans-Courriel", "paul@example.org", False),  # did not ask for it
        ):
            db.session.add(
                TeamMember(
                    name=name,
                    profession="medecin",
                    team="flexible",
                    doctor_status="retraite",
                    email=email,
                    board_email=wanted,
                )
            )
        db.session.commit()
        db.engine.dispose()


def test_the_weekly_email_lists_the_open_half_days_to_who_asked(mail_site, smtp_server):
    volunteers(mail_site)
    monday = datetime.now(PARIS).date()
    monday += timedelta(days=(7 - monday.weekday()) % 7)
    with clock_at(datetime.combine(monday, time(7, 30), tzinfo=PARIS)):
        result = CliRunner().invoke(
            cli, ["send-open-half-days", mail_site.name, "--instances-dir", str(mail_site.parent)]
        )
    assert result.exit_code == 0, result.output
    assert (
        "test : 1 courriel(s) des demi-journées ouvertes préparé(s), 1 e-mail(s) envoyé(s)" in result.output
    )
    [message] = smtp_server.messages
    assert message["To"] == "helene.fabre@example.org"
    assert message["Subject"] == "DALIA Bassin Carcassonnais : demi-journées ouvertes"
    body = message.get_payload(decode=True).decode()
    assert "Bonjour Dr Hélène Fabre," in body
    assert ": sans médecin ni infirmière" in body  # nobody is on the roster yet
    assert "/planning/demi-journees-ouvertes" in body
