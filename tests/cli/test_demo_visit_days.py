"""Migration 0025 on a copy of the demo year: the visits' days it stores (what the activity
figures count of each UTC day's visits, reminders sent included) are those the session and the
demo's reminders kept through the demo's year of writes (tests/unit/test_activity_visits.py
checks the figures read from them)."""

import shutil

import pytest
from sqlalchemy import text

from dalia_site import database
from dalia_site.database import open_site

pytestmark = pytest.mark.xdist_group("demo")


def test_migration_0025_stores_the_visits_days_as_the_session_keeps_them_on_a_copy_of_the_demo(
    demo, tmp_path
):
    shutil.copytree(demo[0] / "demo", tmp_path / "demo")
    rows = "SELECT * FROM visit_day ORDER BY day"
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            kept = connection.execute(text(rows)).all()
        assert len(kept) > 150  # the demo year's open days
        assert sum(row.held_reminded for row in kept) > 100  # the demo's reminders were sent
        database.downgrade(site.engine, "0024")
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            assert connection.execute(text(rows)).all() == kept
