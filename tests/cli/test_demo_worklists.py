"""The demo year uses the worklists and the médecin traitant pathway (issue 16) — plans made at
the first visits, no-shows called back, patients served from the waiting list, médecins
traitants found through search steps, refusals with their reason — and still reproduces seed
001 (tests/cli/test_demo.py). Migration 0010 on a copy of the demo year keeps the refusals'
free text, as « autre »; migration 0020 stores each patient's next step as the session keeps it."""

import json
import shutil
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from dalia_site import clock, create_app, database
from dalia_site.commands import cli
from dalia_site.database import open_site
from dalia_site.domain import worklists
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, ContactAttempt, FollowUpPlan, GpSearchStep, Patient, Referral

pytestmark = pytest.mark.xdist_group("demo")


@pytest.fixture(scope="module")
def demo_app(demo):
    app = create_app(demo[0] / "demo")
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_demo_year_goes_through_plans_calls_the_waiting_list_and_the_pathway(demo, demo_app):
    with demo_app.app_context():
        session = db.session
        seen = session.scalar(select(func.count(func.distinct(FollowUpPlan.patient_id))))
        assert seen > 800  # a plan for (nearly) every patient the pair saw
        assert session.scalar(select(func.count()).select_from(ContactAttempt)) > 50
        found = session.scalars(select(Patient).where(Patient.status == "gp_found")).all()
        assert found and all(p.gp_partner_id is not None for p in found)
        accepted = session.scalar(select(func.count()).where(GpSearchStep.answer == "accepts"))
        declined = session.scalar(select(func.count()).where(GpSearchStep.answer == "declines"))
        assert accepted == len(found) and declined > 0
        refusals = session.scalars(select(Referral.decline_code).where(Referral.status == "declined")).all()
        assert refusals and None not in refusals and len(set(refusals)) == 4
        served = session.scalar(
            select(func.count()).where(
                AuditEvent.action == "patient.status", AuditEvent.summary.like("%Liste d'attente → En suivi%")
            )
        )
        assert served > 0
    result = CliRunner().invoke(
        cli, ["report", "demo", "--format", "json", "--instances-dir", str(demo[0])], catch_exceptions=False
    )
    figures = json.loads(result.stdout)
    assert sum(figures["refusal_reasons"].values()) == figures["referrals_by_decision"]["declined"]
    assert figures["gp_found"] == figures["patients_given_gp"] > 0
    assert figures["gp_found_median_days"] > 0
    assert figures["overdue_follow_ups"] > 0 and figures["waiting_list"]["count"] >= 0


def test_migration_0010_keeps_the_refusals_free_text_as_autre_on_a_copy_of_the_demo(demo, tmp_path):
    shutil.copytree(demo[0] / "demo", tmp_path / "demo")
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            before = dict(
                connection.execute(
                    text("SELECT id, decline_reason FROM referral WHERE status = 'declined' ORDER BY id")
                ).all()
            )
        assert len(before) > 50
        database.downgrade(site.engine, "0009")
        with site.engine.begin() as connection:
            columns = [row[1] for row in connection.execute(text("PRAGMA table_info(referral)"))]
            assert "decline_code" not in columns
            connection.execute(
                text("UPDATE referral SET decline_reason = 'Texte libre ancien' WHERE id = :id"),
                {"id": min(before)},
            )
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            after = connection.execute(
                text(
                    "SELECT id, decline_code, decline_reason FROM referral "
                    "WHERE status = 'declined' ORDER BY id"
                )
            ).all()
            assert {code for _, code, _ in after} == {"other"}
            assert {rid: reason for rid, _, reason in after} == before | {min(before): "Texte libre ancien"}
            # The directory takes the new category (the CHECK constraint was rebuilt).
            connection.execute(
                text(
                    "INSERT INTO partner_organisation (name, category, address, postcode, commune, phone, "
                    "email, website, opening_hours, notes, active, search_text, created_at, updated_at, "
                    "accepts_new_patients) VALUES ('Dr Nouveau', 'medecin_generaliste', '', '', '', '', "
                    "'', '', '', '', 1, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'yes')"
                )
            )


def test_migration_0020_stores_each_patient_s_next_step_as_the_visits_give_it_on_a_copy_of_the_demo(
    demo, tmp_path
):
    """Each patient's latest visit and due date, filled by the migration, are what the session
    keeps them at after the demo's year of writes; « À recontacter »'s count read from them is
    the count worked out from the visits, at the demo's day and after."""
    shutil.copytree(demo[0] / "demo", tmp_path / "demo")
    columns = "SELECT id, last_visit_at, recall_due_at FROM patient ORDER BY id"
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            kept = connection.execute(text(columns)).all()
        assert sum(1 for _, last, _ in kept if last is not None) > 500
        database.downgrade(site.engine, "0019")
        with site.engine.begin() as connection:
            assert "recall_due_at" not in [
                row[1] for row in connection.execute(text("PRAGMA table_info(patient)"))
            ]
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            assert connection.execute(text(columns)).all() == kept
    app = create_app(tmp_path / "demo")
    with app.app_context():
        last = db.session.scalar(select(func.max(Patient.last_visit_at)))
        for moment in (last, last + timedelta(weeks=1), last + timedelta(weeks=12)):
            counted = worklists.counts(db.session, now=moment).recall
            assert counted == worklists.overdue_count(db.session, at=moment) > 0
            assert counted == worklists.recall(db.session, now=moment, overdue_only=True).total
        db.engine.dispose()


def test_migration_0021_stores_since_when_each_patient_waits_on_a_copy_of_the_demo(demo, tmp_path):
    """Since when each patient waits, filled by the migration, is what the session keeps it at
    after the demo's year of writes; the waiting list read from it is oldest first."""
    shutil.copytree(demo[0] / "demo", tmp_path / "demo")
    columns = "SELECT id, waiting_since FROM patient ORDER BY id"
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            kept = connection.execute(text(columns)).all()
            waiting = connection.execute(
                text("SELECT count(*) FROM patient WHERE status = 'waiting_list'")
            ).scalar()
        assert waiting > 0 and all(since is not None for _, since in kept)
        database.downgrade(site.engine, "0020")
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            assert connection.execute(text(columns)).all() == kept
    app = create_app(tmp_path / "demo")
    with app.app_context():
        found = worklists.waiting(db.session, now=clock.now(), zone=ZoneInfo("Europe/Paris"))
        assert found.total == waiting and found.rows
        assert [row.since for row in found.rows] == sorted(row.since for row in found.rows)
        db.engine.dispose()
