"""Fixtures of the command-line tests: a real SMTP server (aiosmtpd) on loopback, and the demo
year built once per session."""

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result

from dalia_site.commands import cli
from tests.cli.mailtools import Inbox
from tests.cli.test_gunicorn import free_port


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def mail_site(site_dir, smtp_port):
    """The site with [mail] pointing at 127.0.0.1:smtp_port (where nothing listens yet)."""
    toml = site_dir / "site.toml"
    toml.write_text(
        toml.read_text()
        .replace('host = ""', 'host = "127.0.0.1"')
        .replace("port = 25", f"port = {smtp_port}")
        .replace('from_address = ""', 'from_address = "dalia@carcassonne.example.org"')
    )
    return site_dir


@pytest.fixture
def smtp_server(smtp_port):
    """A real SMTP server on loopback: its inbox."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> tuple[Path, Result]:
    """`dalia demo --no-serve` run once per session (~20 s), next to an ordinary site made by
    `dalia new-site aveyron`: (instances folder, the demo command's result).

    Shared read-only: a test that changes the demo site works on a copy of its folder."""
    instances = tmp_path_factory.mktemp("demo") / "instances"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["demo", "--no-serve", "--instances-dir", str(instances)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    other = runner.invoke(
        cli, ["new-site", "aveyron", "--instances-dir", str(instances)], catch_exceptions=False
    )
    assert other.exit_code == 0, other.output
    return instances, result
