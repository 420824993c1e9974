"""`dalia check` names missing or failing SMTP and SMS settings and exits non-zero when reminders
cannot leave (issue 17: nothing leaves silently)."""

from __future__ import annotations

from click.testing import CliRunner

from dalia_site import database
from dalia_site.commands import cli
from dalia_site.models import CentreSettings
from tests.cli.fake_brevo import FakeBrevo
from tests.cli.test_sms import with_sms


def check(site_dir):
    return CliRunner().invoke(cli, ["check", site_dir.name, "--instances-dir", str(site_dir.parent)])


def reminders_off(site_dir):
    with database.open_site(site_dir) as site:
        row = site.session.get(CentreSettings, 1)
        row.remind_day_before = row.remind_two_days_before = False
        site.session.commit()


def test_without_smtp_or_sms_the_reminders_cannot_leave_and_check_fails(site_dir):
    result = check(site_dir)
    assert result.exit_code == 1
    assert "les rappels de rendez-vous non plus" in result.stderr


def test_a_centre_without_reminders_is_only_told_to_complete(site_dir):
    reminders_off(site_dir)
    result = check(site_dir)
    assert "à compléter  ni serveur SMTP" in result.output
    assert "les rappels de rendez-vous non plus" not in result.output + result.stderr


def test_a_working_sms_provider_passes_and_email_is_listed_to_complete(site_dir):
    with FakeBrevo() as brevo:
        with_sms(site_dir, brevo.url)
        result = check(site_dir)
    assert "ERREUR" not in result.stderr, result.stderr
    assert "[mail] host à compléter" in result.output
    assert [r["path"] for r in brevo.requests] == []  # the probe is a GET: no SMS sent


def test_a_refused_sms_key_is_named(site_dir):
    with FakeBrevo() as brevo:
        with_sms(site_dir, brevo.url, key="wrong")
        result = check(site_dir)
    assert result.exit_code == 1
    assert "fournisseur SMS : clé d'API refusée (unauthorized Key not found)" in result.stderr


def test_sms_chosen_without_sender_or_key_is_named(site_dir):
    toml = site_dir / "site.toml"
    toml.write_text(toml.read_text() + '\n[sms]\nprovider = "brevo"\n')
    result = check(site_dir)
    assert result.exit_code == 1
    assert (
        "[sms] sender" in result.stderr
        and "sms_api_key : clé d'API du fournisseur SMS absente" in result.stderr
    )


def test_an_unreachable_smtp_server_is_named(mail_site):
    result = check(mail_site)  # [mail] points at a port where nothing listens
    assert result.exit_code == 1
    assert "serveur SMTP 127.0.0.1:" in result.stderr


def test_a_reachable_smtp_server_passes(mail_site, smtp_server):
    result = check(mail_site)
    assert "serveur SMTP" not in result.stderr, result.stderr
