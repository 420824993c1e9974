"""Backup and restore (issue 19): --out writes through no planted file or symlink; restore checks
that the file is a SQLite database of this kit's schema at a known revision, whole, with no foreign
trigger or view, and reads the very file it copies; a refused restore leaves the site as it was."""

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from dalia_site.commands import cli
from tests.cli.test_maintenance import change_data, snapshot
from tests.conftest import PASSWORD


@pytest.fixture
def site(tmp_path) -> tuple[Path, Path]:
    instances = tmp_path / "instances"
    result = run("new-site", "aveyron", "--instances-dir", instances)
    assert result.exit_code == 0, result.output
    return instances, instances / "aveyron"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"DALIA_ADMIN_PASSWORD": PASSWORD})


def backup(instances: Path, out: Path) -> Path:
    result = run("backup", "aveyron", "--out", out, "--instances-dir", instances)
    assert result.exit_code == 0, result.output
    return out


def refused(instances: Path, folder: Path, path: Path, message: str) -> None:
    before = snapshot(folder)
    safety_copies = sorted((folder / "backups").glob("*avant-restauration*"))
    result = run("restore", "aveyron", path, "--instances-dir", instances)
    assert result.exit_code == 1
    assert message in result.stderr and "restauration refusée" in result.stderr
    assert snapshot(folder) == before  # the site as it was
    assert sorted((folder / "backups").glob("*avant-restauration*")) == safety_copies


def test_a_planted_partial_file_or_symlink_is_never_written_through(site, tmp_path):
    instances, _ = site
    shared = tmp_path / "partage"
    shared.mkdir()
    victim = tmp_path / "victime.txt"
    victim.write_text("ne pas écraser")
    out = shared / "aveyron.sqlite3"
    # An attacker with write access to the shared folder plants the names the backup used to use.
    os.symlink(victim, shared / ".aveyron.sqlite3.partial")
    os.symlink(victim, out)
    backup(instances, out)
    assert victim.read_text() == "ne pas écraser"
    assert not out.is_symlink() and out.read_bytes().startswith(b"SQLite format 3")
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in shared.iterdir() if p.name.startswith(".dalia")] == []


def test_a_file_with_a_hash_in_its_name_is_the_one_restored(site, tmp_path):
    """`file:…#x` once read one file (the identity) and copied another."""
    instances, folder = site
    good = backup(instances, tmp_path / "a#b.sqlite3")
    before = snapshot(folder)
    change_data(folder)
    assert run("restore", "aveyron", good, "--instances-dir", instances).exit_code == 0
    assert snapshot(folder) == before


def test_an_unknown_schema_revision_is_refused(site, tmp_path):
    instances, folder = site
    path = backup(instances, tmp_path / "autre-version.sqlite3")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")
    refused(instances, folder, path, "schéma inconnu de ce kit")


@pytest.mark.parametrize(
    ("planted", "named"),
    [
        (
            "CREATE TRIGGER exfiltre AFTER INSERT ON audit_event BEGIN DELETE FROM audit_event; END",
            "exfiltre",
        ),
        ("CREATE VIEW staff_user_v AS SELECT * FROM staff_user", "staff_user_v"),
    ],
)
def test_a_foreign_trigger_or_view_is_refused(site, tmp_path, planted, named):
    instances, folder = site
    path = backup(instances, tmp_path / "piege.sqlite3")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(planted)
    refused(instances, folder, path, f"déclencheur ou vue étrangers au schéma ({named})")


def test_a_damaged_file_is_refused_and_the_safety_copy_stays_usable(site, tmp_path):
    instances, folder = site
    path = backup(instances, tmp_path / "abime.sqlite3")
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[16:18], "big")  # SQLite's page size, from the header
    for page in range(2, len(data) // size):  # every page but the first: headers and cells garbled
        data[page * size + 8 : page * size + 40] = b"\xff" * 32
    path.write_bytes(bytes(data))
    refused(instances, folder, path, "abime.sqlite3")
    # A later good restore still saves the current data first, and that copy restores.
    good = backup(instances, tmp_path / "bonne.sqlite3")
    assert run("restore", "aveyron", good, "--instances-dir", instances).exit_code == 0
    (safety,) = sorted((folder / "backups").glob("*avant-restauration*"))
    copy = tmp_path / "copie-de-securite.sqlite3"
    shutil.copyfile(safety, copy)
    assert run("restore", "aveyron", copy, "--instances-dir", instances).exit_code == 0
