"""`dalia move-to-postgresql`: the demo year moves to the real PostgreSQL server of the session,
every row verified; a move that fails leaves the site on SQLite as it was."""

import itertools
import json
import shutil
import sqlite3

import psycopg
import pytest
from click.testing import CliRunner

from dalia_site.commands import cli
from dalia_site.provisioning import move

# The demo year is built once per session (tests/cli/conftest.py): share its worker.
pytestmark = pytest.mark.xdist_group("demo")
_numbers = itertools.count(1)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def demo_copy(demo, tmp_path):
    """A copy of the session's demo site (the original is shared read-only)."""
    instances = tmp_path / "instances"
    shutil.copytree(demo[0] / "demo", instances / "demo")
    return instances


@pytest.fixture
def empty_database(pg_server):
    name = f"dalia_move_{next(_numbers)}"
    pg_server.sql(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    pg_server.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def sqlite_counts(path) -> dict[str, int]:
    connection = sqlite3.connect(path)
    try:
        names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: connection.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}  # noqa: S608
    finally:
        connection.close()


def pg_counts(url) -> dict[str, int]:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection:
        names = [
            r[0] for r in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        return {n: connection.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}  # noqa: S608


def report(instances) -> dict:
    result = run("report", "demo", "--format", "json", "--instances-dir", instances)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_demo_year_moves_to_postgresql_with_every_table_verified(demo_copy, empty_database):
    site = demo_copy / "demo"
    before = sqlite_counts(site / "dalia.sqlite3")
    figures = report(demo_copy)
    result = run("move-to-postgresql", "demo", empty_database, "--instances-dir", demo_copy)
    assert result.exit_code == 0, result.output
    assert "lignes vérifiées" in result.stdout

    # Every table, the same number of rows; the site reads PostgreSQL and finds the same year.
    # (SQLite's own tables and its search index tables stay behind: PostgreSQL has its own.)
    assert pg_counts(empty_database) == {
        n: c for n, c in before.items() if not n.startswith(("sqlite_", *move.SEARCH_INDEX_TABLES))
    }
    assert before["audit_event"] > 10_000 and before["appointment"] > 2000
    assert f'url = "{empty_database}"' in (site / "site.toml").read_text()
    assert report(demo_copy) == figures
    # The SQLite database is kept, whole, in backups/; no live SQLite file is left to confuse anyone.
    (kept,) = (site / "backups").glob("demo-avant-postgresql-*.sqlite3")
    assert sqlite_counts(kept) == before
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert not (site / "dalia.sqlite3").exists()
    # Sequences were set: a new row gets an id after the copied ones.
    added = run(
        "create-user",
        "demo",
        "nouvelle@demo.dalia.invalid",
        "--role",
        "assistant",
        "--instances-dir",
        demo_copy,
    )
    assert added.exit_code == 0, added.output


def test_a_move_whose_checksums_differ_changes_nothing(demo_copy, empty_database, monkeypatch):
    """One row lost on the way (here: the last audit event): the comparison refuses the copy,
    PostgreSQL is left empty and the site on SQLite, as it was."""
    site = demo_copy / "demo"
    toml = (site / "site.toml").read_bytes()
    before = sqlite_counts(site / "dalia.sqlite3")
    copy = move._copy

    def lossy(source, target, table):
        copy(source, target, table)
        if table.name == "audit_event":
            target.exec_driver_sql("DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")

    monkeypatch.setattr(move, "_copy", lossy)
    result = run("move-to-postgresql", "demo", empty_database, "--instances-dir", demo_copy)
    assert result.exit_code == 1
    assert "table audit_event" in result.stderr and "rien n'a été changé" in result.stderr
    assert (site / "site.toml").read_bytes() == toml
    assert sqlite_counts(site / "dalia.sqlite3") == before
    assert pg_counts(empty_database) == {}
    assert not list((site / "backups").glob("*avant-postgresql*"))
    assert report(demo_copy)["patients_received"] > 0  # still served from SQLite


def test_a_database_that_is_not_empty_is_refused(site_dir, empty_database, pg_server):
    with psycopg.connect(empty_database.replace("postgresql+psycopg", "postgresql")) as connection:
        connection.execute("CREATE TABLE someone_elses (id int)")
    result = run("move-to-postgresql", "test", empty_database, "--instances-dir", site_dir.parent)
    assert result.exit_code == 1
    assert "n'est pas vide (1 tables)" in result.stderr
    assert 'url = ""' in (site_dir / "site.toml").read_text()
    assert pg_counts(empty_database) == {"someone_elses": 0}


def test_the_move_waits_for_no_writer_it_refuses_while_one_holds_the_database(site_dir, empty_database):
    """The maintenance window is SQLite's write lock: a site still writing is not copied half-way."""
    writer = sqlite3.connect(site_dir / "dalia.sqlite3")
    writer.execute("BEGIN IMMEDIATE")
    try:
        result = run("move-to-postgresql", "test", empty_database, "--instances-dir", site_dir.parent)
    finally:
        writer.rollback()
        writer.close()
    assert result.exit_code == 1
    assert "arrêtez le site" in result.stderr
    assert pg_counts(empty_database) == {}
