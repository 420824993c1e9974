"""Fixtures of the command-line tests: a real SMTP server (aiosmtpd) on loopback (the demo year
built once per session is in tests/conftest.py: the browser tests use it too)."""

import pytest
from aiosmtpd.controller import Controller

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
