"""Reading a site folder: every problem is one error naming the file and the key."""

import os

import pytest

from dalia_site import create_app
from dalia_site.config import SiteConfigError, flask_config

VALID = """
[site]
slug = "aveyron"
name = "DALIA Aveyron"
territory = "Aveyron"
departement = "12"

[security]
idle_timeout_minutes = 20
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "site.toml").write_text(VALID)
    secret = tmp_path / "secret_key"
    secret.write_text("s" * 64)
    secret.chmod(0o600)
    return tmp_path


def test_valid_folder_gives_defaults_and_sqlite_in_the_folder(folder):
    config = flask_config(folder)
    assert config["SITE"]["timezone"] == "Europe/Paris"
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{folder / 'dalia.sqlite3'}"
    assert config["IDLE_TIMEOUT"].total_seconds() == 20 * 60
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_SECURE"] is False


def test_database_url_from_site_toml_is_used(folder):
    text = VALID + '\n[database]\nurl = "postgresql+psycopg://u@127.0.0.1/dalia_aveyron"\n'
    (folder / "site.toml").write_text(text)
    assert flask_config(folder)["SQLALCHEMY_DATABASE_URI"].endswith("/dalia_aveyron")


@pytest.mark.parametrize(
    "change, message",
    [
        (('departement = "12"', ""), "[site] departement est obligatoire et absent"),
        (('departement = "12"', "departement = 12"), "[site] departement doit être de type texte"),
        (('departement = "12"', 'departement = "123"'), "[site] departement doit être un numéro"),
        (('slug = "aveyron"', 'slug = "Aveyron Sud"'), "[site] slug doit être en minuscules"),
        (
            ("idle_timeout_minutes = 20", "idle_timeout_minutes = true"),
            "[security] idle_timeout_minutes doit être de type entier",
        ),
        (
            ("idle_timeout_minutes = 20", "idle_timeout_minutes = 0"),
            "[security] idle_timeout_minutes doit être compris entre 1 et 1440",
        ),
        (("idle_timeout_minutes = 20", "idle_timeout = 20"), "[security] idle_timeout est une clé inconnue"),
        (('name = "DALIA Aveyron"', 'name = "DALIA'), "TOML invalide"),
    ],
)
def test_malformed_site_toml_names_file_and_key(folder, change, message):
    old, new = change
    (folder / "site.toml").write_text(VALID.replace(old, new))
    with pytest.raises(SiteConfigError) as error:
        flask_config(folder)
    assert str(folder / "site.toml") in str(error.value)
    assert message in str(error.value)


def test_unknown_timezone_is_refused(folder):
    (folder / "site.toml").write_text(VALID.replace("[security]", 'timezone = "Europe/Albi"\n[security]'))
    with pytest.raises(SiteConfigError, match=r"\[site\] timezone n'est pas un fuseau horaire connu"):
        flask_config(folder)


def test_missing_secret_key_is_named(folder):
    os.remove(folder / "secret_key")
    with pytest.raises(SiteConfigError, match="secret_key : fichier introuvable"):
        flask_config(folder)


def test_short_secret_key_is_refused(folder):
    (folder / "secret_key").write_text("trop-court")
    with pytest.raises(SiteConfigError, match="clé secrète trop courte"):
        flask_config(folder)


def test_secret_key_readable_by_others_is_refused(folder):
    (folder / "secret_key").chmod(0o644)
    with pytest.raises(SiteConfigError, match="permissions trop larges"):
        flask_config(folder)


def test_missing_folder_and_missing_site_toml(tmp_path):
    with pytest.raises(SiteConfigError, match="dossier de site introuvable"):
        create_app(tmp_path / "absent")
    with pytest.raises(SiteConfigError, match="site.toml : fichier introuvable"):
        create_app(tmp_path)
