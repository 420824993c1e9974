"""Migration 0023 on a copy of the demo year: the consultations held it stores, with each
patient's visit before and earliest referral, are those the session kept through the demo's year
of writes (tests/unit/test_activity.py checks the figures read from them)."""

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
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            kept = connection.execute(text(rows)).all()
            held = connection.execute(
                text("SELECT count(*) FROM appointment WHERE status = 'honoured'")
            ).scalar()
        assert len(kept) == held > 500
        assert sum(1 for row in kept if row.previous_at is None) > 300  # first visits
        database.downgrade(site.engine, "0022")
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            assert connection.execute(text(rows)).all() == kept
