"""Provisioning input and the site's own settings (issue 19): --domain is a host name (IDNA), slugs
are matched whole, site.toml is written by a TOML writer, SQLite syncs every commit, gunicorn
listens on a unix socket unless told otherwise."""

import os
import runpy
import sqlite3
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dalia_site import create_app
from dalia_site.commands import cli
from dalia_site.config import host_name_problem
from dalia_site.extensions import db
from dalia_site.provisioning import site as provisioning

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def instances(tmp_path, monkeypatch):
    monkeypatch.delenv("DALIA_ADMIN_PASSWORD", raising=False)
    return tmp_path / "instances"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize(
    "domain",
    [
        "dalia-aveyron.fr;\n    server_name evil.invalid",  # would be copied into nginx's config
        "dalia aveyron.fr",
        "localhost",
        "-dalia.fr",
        "dalia_aveyron.fr",
        "http://dalia-aveyron.fr",
        "dalia-aveyron.fr/",
        "dalia-aveyron.fr\n",
    ],
)
def test_a_domain_that_is_not_a_host_name_is_refused_and_leaves_nothing(instances, domain):
    result = run("new-site", "aveyron", "--domain", domain, "--instances-dir", instances)
    assert result.exit_code == 1
    assert "--domain" in result.stderr and "refusé" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not instances.exists() or list(instances.iterdir()) == []


@pytest.mark.parametrize("domain", ["dalia-aveyron.fr", "santé-rodez.fr", "dalia.cpts-aude.org"])
def test_host_names_and_their_idna_forms_are_accepted(domain):
    assert host_name_problem(domain) is None


@pytest.mark.parametrize("slug", ["aveyron\n", "aveyron\nx", "Aveyron", "-aveyron", "ave/yron"])
def test_a_slug_is_matched_whole(instances, slug):
    """A trailing newline was refused only by accident (the admin email's check)."""
    result = run("new-site", "aveyron", "--slug", slug, "--instances-dir", instances)
    assert result.exit_code == 1
    assert "nom de site invalide" in result.stderr
    assert not instances.exists() or list(instances.iterdir()) == []


@pytest.mark.parametrize("value", ["a\x7fb", 'guillemet " et \\ barre', "é\u2028x", "tab\tok"])
def test_site_toml_values_are_written_by_a_toml_writer(value):
    """JSON's quoting is not TOML's: a DEL character, for one, made site.toml unreadable."""
    written = "v = " + provisioning._toml_value(value)
    assert tomllib.loads(written) == {"v": value}


def test_sqlite_syncs_every_commit(site_dir):
    """synchronous=FULL: a power cut loses no acknowledged commit (NORMAL may, in WAL mode)."""
    app = create_app(site_dir)
    with app.app_context():
        with db.engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert isinstance(raw, sqlite3.Connection)
            assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.engine.dispose()


def test_gunicorn_listens_on_a_unix_socket_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("DALIA_BIND", raising=False)
    monkeypatch.setenv("DALIA_SITE", str(tmp_path / "aveyron"))
    settings = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert settings["bind"] == "unix:" + os.path.join(str(tmp_path / "aveyron"), "gunicorn.sock")


def test_a_site_created_with_a_domain_asks_every_role_for_the_second_factor(instances):
    result = run("new-site", "aveyron", "--domain", "dalia-aveyron.fr", "--instances-dir", instances)
    assert result.exit_code == 0, result.stderr
    security = tomllib.loads((instances / "aveyron" / "site.toml").read_text())["security"]
    assert security["second_factor_for_all"] is True
    assert security["session_max_hours"] == 12
    assert security["small_count_threshold"] == 5
