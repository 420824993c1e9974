"""Migration 0024 on a copy of the demo year: each patient's last activity it stores (retention's
rule: the latest of their record's creation, any visit's start, any referral's receipt) is the
one the session kept through the demo's year of writes, and the one their rows give."""

import shutil

import pytest
from sqlalchemy import text

from dalia_site import database
from dalia_site.database import open_site

pytestmark = pytest.mark.xdist_group("demo")


def test_migration_0024_stores_each_patient_s_last_activity_as_the_session_keeps_it_on_a_copy_of_the_demo(
    demo, tmp_path
):
    shutil.copytree(demo[0] / "demo", tmp_path / "demo")
    stored = "SELECT id, last_active_at FROM patient ORDER BY id"
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            kept = connection.execute(text(stored)).all()
            latest = {
                pid: (created, "patient")
                for pid, created in connection.execute(text("SELECT id, created_at FROM patient"))
            }
            visits = connection.execute(text("SELECT patient_id, starts_at, 'visit' FROM appointment"))
            received = connection.execute(text("SELECT patient_id, received_at, 'referral' FROM referral"))
            for pid, moment, source in [*visits, *received]:
                if pid is not None and moment > latest[pid][0]:
                    latest[pid] = (moment, source)
        assert len(kept) > 500
        assert kept == sorted((pid, moment) for pid, (moment, _) in latest.items())
        # Patients last seen at a visit, and some at their record's creation (the demo makes a
        # patient when their referral is accepted, never before it).
        assert {source for _, source in latest.values()} == {"visit", "patient"}
        database.downgrade(site.engine, "0023")
        with site.engine.begin() as connection:
            assert "last_active_at" not in [
                row[1] for row in connection.execute(text("PRAGMA table_info(patient)"))
            ]
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            assert connection.execute(text(stored)).all() == kept
