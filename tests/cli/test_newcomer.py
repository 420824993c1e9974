"""Issue 15, the newcomer path: the README's commands work as written, outside an activated
virtual environment; a port already in use is refused in French before any long work."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DALIA = Path(sys.executable).parent / "dalia"  # the script the kit installs in .venv/bin
BUSY = "est déjà utilisé"


def outside_the_venv() -> dict[str, str]:
    """A shell where the virtual environment was never activated."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return env


def run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DALIA), *args], cwd=cwd, env=outside_the_venv(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def readme_commands() -> list[str]:
    """The command lines of the README's shell examples that call the CLI."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    return [line for block in blocks for line in block.splitlines() if "dalia " in line or "cli.py" in line]


def test_the_readme_calls_the_cli_through_the_venv():
    commands = readme_commands()
    assert commands, "no CLI example in the README"
    for line in commands:
        assert line.startswith(".venv/bin/dalia "), line


def test_the_installed_script_runs_outside_an_activated_venv(tmp_path):
    """What a newcomer types from the README, in a shell that never ran `activate`."""
    listed = run("templates", cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    assert "aveyron" in listed.stdout
    created = run("new-site", "aveyron", "--instances-dir", str(tmp_path / "instances"), cwd=ROOT)
    assert created.returncode == 0, created.stderr
    checked = run("check", "aveyron", "--instances-dir", str(tmp_path / "instances"), cwd=ROOT)
    # It ran: the new site's details still to fill in (and, with no mail server, an error).
    assert "à compléter" in checked.stdout and "Traceback" not in checked.stderr


def test_the_demo_refuses_a_busy_port_before_building_the_year(tmp_path, busy_port):
    started = time.monotonic()
    result = run(
        "demo", "--port", str(busy_port), "--instances-dir", str(tmp_path / "instances"), cwd=tmp_path
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Erreur : le port {busy_port} de 127.0.0.1 est déjà utilisé (un autre serveur, ou une démo "
        f"déjà lancée ?) : arrêtez-le ou choisissez un autre port (--port {busy_port + 1}, ou make demo "
        f"PORT={busy_port + 1})"
    )
    assert "Address already in use" not in result.stderr + result.stdout
    assert "Comptes" not in result.stdout  # no account printed for a demo that will not run
    assert not (tmp_path / "instances" / "demo").exists()
    assert elapsed < 10, f"{elapsed:.1f} s: the year was built before the port was checked"


def test_serve_refuses_a_busy_port_in_french(tmp_path, busy_port):
    instances = tmp_path / "instances"
    assert run("new-site", "aveyron", "--instances-dir", str(instances), cwd=ROOT).returncode == 0
    result = run("serve", "aveyron", "--port", str(busy_port), "--instances-dir", str(instances), cwd=ROOT)
    assert result.returncode == 1
    assert BUSY in result.stderr and "Traceback" not in result.stderr


def test_make_demo_passes_its_port(busy_port):
    """`make demo PORT=…` reaches the command (dry run: make prints what it would run)."""
    dry = subprocess.run(
        ["make", "-n", "demo", f"PORT={busy_port}"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert dry.returncode == 0, dry.stderr
    assert re.search(rf"cli\.py demo --port {busy_port}$", dry.stdout, re.M), dry.stdout
