"""`dalia retention`: the daily timer that erases what is past its retention period — on the demo
year, whose activity report must add up the same before and after (the patients' identities gone,
the rows the figures count kept)."""

import json
import os
import shutil
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from dalia_site import clock
from dalia_site.commands import cli
from dalia_site.database import open_site
from dalia_site.models import AuditEvent, OutboundEmail, Patient, Referral

pytestmark = pytest.mark.xdist_group("demo")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def demo_copy(demo, tmp_path):
    """A copy of the session's demo site (the original is shared read-only)."""
    instances = tmp_path / "instances"
    shutil.copytree(demo[0] / "demo", instances / "demo")
    return instances


def report(instances, first, last) -> dict:
    result = run(
        "report", "demo", "--from", first, "--to", last, "--format", "json", "--instances-dir", instances
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_erasing_a_past_year_leaves_its_activity_report_identical(demo_copy):
    """Four years on, every patient of the demo year is past the three years of inactivity: the
    timer erases them all, and the year's report (every key, every figure) is unchanged."""
    today = clock.today(clock.now().tzinfo)
    first, last = (today - timedelta(days=364)).isoformat(), today.isoformat()
    before = report(demo_copy, first, last)
    assert before["patients_received"] == 921

    with clock.clock_at(clock.now() + timedelta(days=4 * 365 + 1)):
        dry = run("retention", "demo", "--dry-run", "--instances-dir", demo_copy)
        assert dry.exit_code == 0, dry.output
        with open_site(demo_copy / "demo") as site:
            assert site.session.scalar(select(func.count()).where(Patient.erased_at.is_not(None))) == 0
        done = run("retention", "demo", "--instances-dir", demo_copy)
    assert done.exit_code == 0, done.output

    with open_site(demo_copy / "demo") as site:
        names = site.session.execute(select(Patient.last_name, Patient.first_names, Patient.phone)).all()
        total = len(names)
        assert total >= 921 and set(names) == {("EFFACÉ", "", "")}
        assert site.session.scalar(select(func.count()).where(Referral.erased_at.is_(None))) == 0
        kept = select(func.count()).where(OutboundEmail.appointment_id.is_not(None), OutboundEmail.body != "")
        assert site.session.scalar(kept) == 0
        erased = site.session.scalar(select(func.count()).where(AuditEvent.action == "patient.erase"))
        assert erased == total
        # Referrals never decided and attached to no patient go too (inactive as long).
        alone = site.session.scalar(select(func.count()).where(Referral.patient_id.is_(None)))
    # The dry run listed every one of them, by number only; the run said how many went.
    assert f"{total + alone} dossier(s) à effacer (simulation : rien n'est modifié)" in dry.output
    assert "patient n° 1 :" in dry.output and "EFFACÉ" not in dry.output
    assert f"{total + alone} dossier(s) effacé(s)" in done.output
    assert report(demo_copy, first, last) == before


def test_nothing_of_the_demo_year_is_due_today(demo_copy):
    result = run("retention", "demo", "--dry-run", "--instances-dir", demo_copy)
    assert result.exit_code == 0, result.output
    assert "demo : 0 dossier(s) à effacer (simulation : rien n'est modifié)" in result.output


def test_the_backup_timer_prunes_backups_older_than_the_retention_window(site_dir):
    """The window is the shortest retention period (a declined referral's year by default): a
    backup older than that may still hold what the site has erased since."""
    backups = site_dir / "backups"
    backups.mkdir(exist_ok=True)
    old, recent = backups / "test-20240101-023000.sqlite3", backups / "test-20260101-023000.sqlite3"
    for path, age_days in ((old, 366), (recent, 300)):
        path.write_bytes(b"SQLite format 3\x00")
        moment = (clock.now() - timedelta(days=age_days)).timestamp()
        os.utime(path, (moment, moment))
    result = run("backup", "test", "--keep", "30", "--instances-dir", site_dir.parent)
    assert result.exit_code == 0, result.output
    assert "1 sauvegarde(s) plus ancienne(s) que la durée de conservation supprimée(s)" in result.output
    assert not old.exists() and recent.exists()
    assert len(list(backups.glob("test-2*"))) == 2  # the recent one and today's
