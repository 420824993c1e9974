"""The built wheel alone provisions and serves a site: installed into a fresh venv outside the
checkout, from the hashed lock (as deploy/README does it), run from another directory."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_gunicorn import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
# With `-n N --dist loadgroup` (make test): one worker builds and installs the wheel once.
pytestmark = pytest.mark.xdist_group("wheel")


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv manquant : il est dans requirements/dev.txt (make test l'installe)"
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, working directory): the wheel built from the checkout, installed with the runtime
    lock into a new venv, and an empty directory far from the checkout to run it from."""
    base = tmp_path_factory.mktemp("wheel")
    dist, venv, elsewhere = base / "dist", base / "venv", base / "elsewhere"
    elsewhere.mkdir()
    # sdist, then the wheel from the sdist: what is not declared for packaging is missing.
    subprocess.run([uv(), "build", "--quiet", "--out-dir", str(dist), str(ROOT)], check=True)
    (wheel,) = dist.glob("dalia_site-*.whl")
    subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    lock = ROOT / "requirements" / "deploy.txt"
    install = [uv(), "pip", "install", "--quiet", "--python", python]
    subprocess.run([*install, "--require-hashes", "-r", str(lock)], check=True)
    subprocess.run([*install, "--no-deps", str(wheel)], check=True)
    return venv, elsewhere


def dalia(installed, *args: str) -> subprocess.CompletedProcess:
    venv, elsewhere = installed
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DALIA_", "PYTHON", "VIRTUAL_ENV"))}
    env["DALIA_ADMIN_PASSWORD"] = "mot de passe du paquet"
    result = subprocess.run(
        [str(venv / "bin" / "dalia"), *args], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_wheel_ships_the_kit_and_is_imported_from_the_venv(installed):
    venv, elsewhere = installed
    shown = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import dalia_site; print(dalia_site.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.startswith(str(venv)), shown  # never the checkout
    assert dalia(installed, "--version").stdout.strip() == "dalia 0.1.0"
    listed = dalia(installed, "templates").stdout
    for slug in ("ariege", "aveyron", "carcassonne", "centre-tarn", "lozere", "tarn-et-garonne"):
        assert slug in listed


def test_the_wheel_provisions_a_site_whose_units_run_from_the_venv(installed):
    venv, elsewhere = installed
    dalia(installed, "new-site", "aveyron", "--domain", "dalia-aveyron.example.fr")
    site = elsewhere / "instances" / "aveyron"
    units = {p.name: p.read_text() for p in (site / "deploy").glob("*.service")}
    site_packages = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    conf = site_packages / "dalia_site" / "deploy_templates" / "gunicorn.conf.py"
    assert conf.is_file()
    assert f"ExecStart={venv}/bin/gunicorn -c {conf} dalia_site.wsgi:app" in units["dalia@.service"]
    for name in ("dalia-backup@.service", "dalia-mail@.service", "dalia-reminders@.service"):
        assert f"ExecStart={venv}/bin/dalia " in units[name], units[name]
    for text in units.values():
        assert str(ROOT) not in text and ".venv" not in text
    for line in (u for text in units.values() for u in text.splitlines() if u.startswith("ExecStart=")):
        assert Path(line.split()[0].removeprefix("ExecStart=")).is_file(), line

    # What the unit starts, started the same way: the wheel serves the site.
    port = free_port()
    env = dict(os.environ, DALIA_SITE=str(site), DALIA_BIND=f"127.0.0.1:{port}", DALIA_WORKERS="1")
    server = subprocess.Popen(
        [str(venv / "bin" / "gunicorn"), "-c", str(conf), "dalia_site.wsgi:app"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert "DALIA Aveyron" in wait_for(f"http://127.0.0.1:{port}/connexion").decode()
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_wheel_builds_the_demo_year(installed):
    venv, elsewhere = installed
    result = dalia(installed, "demo", "--no-serve", "--instances-dir", str(elsewhere / "demo-instances"))
    assert "Site de démonstration prêt" in result.stdout
    assert (elsewhere / "demo-instances" / "demo" / "dalia.sqlite3").is_file()
