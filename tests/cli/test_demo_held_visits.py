"""Migrations 0023 and 0029 on a copy of the demo year: the consultations held they store, with
each patient's visit before, earliest referral and delay from it, and the months' counts, are
those the session kept through the demo's year of writes (tests/unit/test_activity.py checks the
figures read from them)."""

import shutil

import pytest
from sqlalchemy import text

from dalia_site import database
from dalia_site.database import open_site

pytestmark = pytest.mark.xdist_group("demo")


def test_migration_0023_stores_the_visits_held_as_the_session_keeps_them_on_a_copy_of_the_demo(
    demo, tmp_path
):
    shutil.copytree(demo[0] / "demo", tmp_path / "demo")
    rows = "SELECT * FROM held_visit ORDER BY appointment_id"
    months = "SELECT * FROM held_month ORDER BY month, previous_month"
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            kept = connection.execute(text(rows)).all()
            kept_months = connection.execute(text(months)).all()
            held = connection.execute(
                text("SELECT count(*) FROM appointment WHERE status = 'honoured'")
            ).scalar()
        assert len(kept) == held > 500
        assert sum(1 for row in kept if row.previous_at is None) > 300  # first visits
        database.downgrade(site.engine, "0022")
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            assert connection.execute(text(rows)).all() == kept
            assert connection.execute(text(months)).all() == kept_months
        assert sum(row.visits for row in kept_months) == held
