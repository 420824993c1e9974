"""`new-site`, `create-user` and `demo --no-serve` as URPS staff run them."""

import stat
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from dalia_site import clock, create_app
from dalia_site.commands import cli
from dalia_site.domain import accounts
from dalia_site.extensions import db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def instances(tmp_path, monkeypatch):
    monkeypatch.delenv("DALIA_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("DALIA_USER_PASSWORD", raising=False)
    return tmp_path / "instances"


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def can_log_in(folder: Path, email: str, password: str) -> bool:
    app = create_app(folder)
    with app.app_context():
        ok = accounts.authenticate(db.session, email, password, now=clock.now(), zone=UTC).ok
        db.session.rollback()
        db.engine.dispose()
    return ok


def test_new_site_creates_a_served_site_whose_admin_can_log_in(instances):
    result = run(
        "new-site", "carcassonne", "--instances-dir", instances, "--admin-email", "Admin@Carcassonne.fr"
    )
    assert result.exit_code == 0, result.output
    folder = instances / "carcassonne"
    assert stat.S_IMODE((folder / "secret_key").stat().st_mode) == 0o600
    assert 'departement = "11"' in (folder / "site.toml").read_text()
    password = result.stdout.split("affiché une seule fois) : ")[1].strip()
    assert can_log_in(folder, "admin@carcassonne.fr", password)
    assert password not in (folder / "site.toml").read_text()


def test_admin_password_from_the_environment_is_not_printed(instances):
    result = run(
        "new-site",
        "carcassonne",
        "--slug",
        "carca2",
        "--instances-dir",
        instances,
        env={"DALIA_ADMIN_PASSWORD": "choisi par l'URPS"},
    )
    assert result.exit_code == 0
    assert "choisi par l'URPS" not in result.output
    assert can_log_in(instances / "carca2", "admin@carca2.invalid", "choisi par l'URPS")


def test_existing_slug_is_refused_and_left_untouched(instances):
    assert run("new-site", "carcassonne", "--instances-dir", instances).exit_code == 0
    before = (instances / "carcassonne" / "site.toml").read_text()
    result = run("new-site", "carcassonne", "--instances-dir", instances)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Erreur : le site 'carcassonne' existe déjà : {instances / 'carcassonne'} (rien n'a été modifié)"
    ]
    assert (instances / "carcassonne" / "site.toml").read_text() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (("new-site", "atlantide"), "modèle de territoire inconnu : 'atlantide'"),
        (("new-site", "carcassonne", "--slug", "Mauvais Nom"), "nom de site invalide"),
    ],
)
def test_bad_arguments_give_one_line_and_no_folder(instances, args, message):
    result = run(*args, "--instances-dir", instances)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not instances.exists() or list(instances.iterdir()) == []


def test_failure_after_the_database_was_created_leaves_nothing(instances):
    """An admin password that the policy refuses fails at the last step: all is removed."""
    result = run(
        "new-site", "carcassonne", "--instances-dir", instances, env={"DALIA_ADMIN_PASSWORD": "court"}
    )
    assert result.exit_code == 1
    assert "premier administrateur refusé" in result.stderr
    assert list(instances.iterdir()) == []


@pytest.mark.parametrize("weak", ["password1234", "azertyuiop123", "Motdepasse2026"])
def test_a_guessable_first_admin_password_is_refused(instances, weak):
    """DALIA_ADMIN_PASSWORD follows the same rules as any password: one French line, no folder."""
    result = run("new-site", "carcassonne", "--instances-dir", instances, env={"DALIA_ADMIN_PASSWORD": weak})
    assert result.exit_code == 1
    assert "premier administrateur refusé : " in result.stderr
    assert "mot de passe" in result.stderr.lower()
    assert list(instances.iterdir()) == []


def test_failure_while_rendering_deploy_files_leaves_nothing(instances, monkeypatch):
    """A failure injected at the last step (after database, partners and admin) removes all."""

    def broken_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("dalia_site.provisioning.site.render_deploy", broken_disk)
    result = run("new-site", "aveyron", "--instances-dir", instances)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert list(instances.iterdir()) == []


@pytest.mark.parametrize(
    "content, message",
    [
        ('[site]\nname = "X"\nterritory = "X"\n', "[site] departement est obligatoire et absent"),
        (
            '[site]\nname = "X"\nterritory = "X"\ndepartement = 12\n',
            "[site] departement doit être de type texte",
        ),
        ('[site\nname = "X"\n', "TOML invalide"),
        ('[territory]\nde_departement = "du Tarn"\n', "la section [site] est obligatoire"),
        ('name = "X"\n[site]\n', "name est inconnu (attendu : [site], [territory], [[partners]])"),
        (
            '[site]\nname = "X"\nterritory = "X"\ndepartement = "12"\n[[partners]]\nname = "SAMU"\n'
            'category = "samu"\n',
            "partners[1].category : Catégorie inconnue : 'samu'",
        ),
        (
            '[site]\nname = "X"\nterritory = "X"\ndepartement = "12"\n[[partners]]\nname = "CPAM"\n'
            'category = "cpam"\nphone = "05 65"\n',
            "partners[1].phone : Numéro de téléphone invalide",
        ),
    ],
)
def test_broken_template_names_its_file_and_key(instances, tmp_path, monkeypatch, content, message):
    templates = tmp_path / "templates"
    (templates / "cassé").mkdir(parents=True)
    (templates / "cassé" / "territory.toml").write_text(content)
    monkeypatch.setenv("DALIA_TEMPLATES_DIR", str(templates))
    result = run("new-site", "cassé", "--slug", "casse", "--instances-dir", instances)
    assert result.exit_code == 1
    assert str(templates / "cassé" / "territory.toml") in result.stderr
    assert message in result.stderr
    assert not (instances / "casse").exists()


@pytest.mark.postgres
def test_new_site_on_postgresql_creates_the_schema_and_refuses_a_used_database(instances, pg_server):
    pg_server.sql("CREATE DATABASE dalia_cli_pg")
    url = pg_server.url("dalia_cli_pg")
    result = run(
        "new-site",
        "carcassonne",
        "--instances-dir",
        instances,
        "--database-url",
        url,
        env={"DALIA_ADMIN_PASSWORD": "mot de passe postgres"},
    )
    assert result.exit_code == 0, result.output
    assert not (instances / "carcassonne" / "dalia.sqlite3").exists()
    assert can_log_in(instances / "carcassonne", "admin@carcassonne.invalid", "mot de passe postgres")

    again = run(
        "new-site", "carcassonne", "--slug", "autre", "--instances-dir", instances, "--database-url", url
    )
    assert again.exit_code == 1 and "n'est pas vide" in again.stderr
    assert not (instances / "autre").exists()


@pytest.mark.postgres
def test_failed_new_site_on_postgresql_drops_what_it_created(instances, pg_server):
    pg_server.sql("CREATE DATABASE dalia_cli_fail")
    url = pg_server.url("dalia_cli_fail")
    result = run(
        "new-site",
        "carcassonne",
        "--instances-dir",
        instances,
        "--database-url",
        url,
        env={"DALIA_ADMIN_PASSWORD": "court"},
    )
    assert result.exit_code == 1
    from sqlalchemy import create_engine

    engine = create_engine(url)
    assert inspect(engine).get_table_names() == []
    engine.dispose()
    assert list(instances.iterdir()) == []


def test_create_user_adds_an_account_with_a_one_time_password(instances):
    run("new-site", "carcassonne", "--instances-dir", instances)
    result = run(
        "create-user",
        "carcassonne",
        "IPA@centre.fr",
        "--role",
        "clinician",
        "--name",
        "Nina IPA",
        "--instances-dir",
        instances,
    )
    assert result.exit_code == 0, result.output
    password = result.stdout.split("affiché une seule fois) : ")[1].strip()
    assert can_log_in(instances / "carcassonne", "ipa@centre.fr", password)
    duplicate = run(
        "create-user", "carcassonne", "ipa@centre.fr", "--role", "admin", "--instances-dir", instances
    )
    assert duplicate.exit_code == 1 and "existe déjà" in duplicate.stderr


def test_create_user_on_an_unknown_site_fails_in_one_line(instances):
    result = run("create-user", "nulle-part", "a@b.fr", "--role", "admin", "--instances-dir", instances)
    assert result.exit_code == 1 and "site inconnu : 'nulle-part'" in result.stderr


def test_cli_py_and_the_dalia_script_are_the_same_command():
    via_file = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "--help"], capture_output=True, text=True, check=True
    )
    via_script = subprocess.run(
        [str(Path(sys.executable).parent / "dalia"), "--help"], capture_output=True, text=True, check=True
    )
    assert "new-site" in via_file.stdout
    assert via_file.stdout.replace("cli.py", "dalia") == via_script.stdout


def test_serve_runs_the_site_and_its_admin_logs_in(instances):
    """`new-site` then `serve`, as URPS staff would: the admin logs in over HTTP."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    from tests.cli.test_gunicorn import free_port, wait_for

    assert (
        run(
            "new-site",
            "aveyron",
            "--instances-dir",
            instances,
            env={"DALIA_ADMIN_PASSWORD": "mot de passe du serveur local"},
        ).exit_code
        == 0
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "serve",
            "aveyron",
            "--port",
            str(port),
            "--instances-dir",
            str(instances),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/healthz")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = opener.open(base + "/connexion").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
        form = urllib.parse.urlencode(
            {
                "csrf_token": token,
                "email": "admin@aveyron.invalid",
                "password": "mot de passe du serveur local",
            }
        ).encode()
        # The first admin activates the second factor at first login (an authenticator app, here
        # pyotp reading the key the page shows), then notes the recovery codes and goes on.
        enrol = opener.open(base + "/connexion", data=form).read().decode()
        secret = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', enrol).group(1).replace(" ", "")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', enrol).group(1)
        code = urllib.parse.urlencode({"csrf_token": token, "code": pyotp.TOTP(secret).now()}).encode()
        codes = opener.open(base + "/connexion/activation", data=code).read().decode()
        home = opener.open(base + "/").read().decode()
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "Vos codes de secours" in codes
    assert "Bonjour Administrateur du site" in home
    assert "DALIA Aveyron" in home


def test_the_cli_and_provisioning_work_without_the_web_app():
    """Provisioning, maintenance, the demo builder and every command but `serve` need a database,
    not the blueprints, the login manager or CSRF: none of them is even imported."""
    code = (
        "import sys; import dalia_site.commands, dalia_site.provisioning.demo; "
        "web = [m for m in sys.modules if m.startswith(('flask_login', 'flask_wtf', 'flask_migrate'))"
        " or m.endswith('.routes')]; print(web)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
