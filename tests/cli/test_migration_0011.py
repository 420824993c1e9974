"""Migration 0011 (issue 18) on a copy of the demo year: back to 0010 and up again through
`dalia upgrade`, the sessions, patterns and opening hours are kept, the closures table starts
empty, no session is marked exceptional or taken from the board, and `upgrade` copies the
département of site.toml (the Aude's holidays then apply)."""

import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from dalia_site import database
from dalia_site.commands import cli
from dalia_site.database import open_site

pytestmark = pytest.mark.xdist_group("demo")


def test_migration_0011_on_a_copy_of_the_demo_keeps_the_roster(demo, tmp_path):
    shutil.copytree(demo[0] / "demo", tmp_path / "demo")
    with open_site(tmp_path / "demo") as site:
        with site.engine.begin() as connection:
            sessions = connection.execute(text("SELECT count(*) FROM roster_session")).scalar()
            patterns = connection.execute(text("SELECT count(*) FROM weekly_pattern")).scalar()
            open_days = connection.execute(text("SELECT open_days FROM centre_settings")).scalar()
        assert sessions > 500 and patterns > 5
        database.downgrade(site.engine, "0010")
        with site.engine.begin() as connection:
            columns = [row[1] for row in connection.execute(text("PRAGMA table_info(centre_settings)"))]
            assert "departement" not in columns and "open_half_days" not in columns
    result = CliRunner().invoke(cli, ["upgrade", "demo", "--instances-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with open_site(tmp_path / "demo") as site, site.engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM roster_session")).scalar() == sessions
        assert connection.execute(text("SELECT count(*) FROM weekly_pattern")).scalar() == patterns
        assert connection.execute(text("SELECT count(*) FROM closure")).scalar() == 0
        flags = connection.execute(
            text("SELECT count(*) FROM roster_session WHERE exceptional OR from_board")
        )
        assert flags.scalar() == 0
        row = connection.execute(
            text("SELECT open_days, open_half_days, give_back_days, departement FROM centre_settings")
        ).one()
        assert tuple(row) == (open_days, "", 7, "11")
