"""SMTP over implicit TLS (port 465, `tls = true` in [mail]): a real aiosmtpd server speaking TLS
from the first byte on loopback, with a certificate made for the test (openssl) that the client
verifies (SSL_CERT_FILE); the same email is refused by a client that would not verify it."""

from __future__ import annotations

import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from dalia_site.commands import cli
from tests.cli.mailtools import Inbox, outbox
from tests.cli.test_mail import referral_received


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture
def tls_server(certificate, smtp_port):
    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port, ssl_context=context)
    controller.start()
    yield inbox
    controller.stop()


def send(site_dir):
    return CliRunner().invoke(cli, ["send-mail", site_dir.name, "--instances-dir", str(site_dir.parent)])


def test_mail_leaves_over_implicit_tls(mail_site, tls_server, certificate, monkeypatch):
    toml = mail_site / "site.toml"
    toml.write_text(toml.read_text().replace("starttls = false", "starttls = false\ntls = true"))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[1]))  # the client trusts the test's certificate
    referral_received(mail_site)

    result = send(mail_site)

    assert result.exit_code == 0, result.output
    assert "1 envoyé(s), 0 en échec" in result.output
    [message] = tls_server.messages
    assert message["To"]
    assert all(email.sent_at is not None for email in outbox(mail_site))


def test_an_untrusted_certificate_is_refused_and_the_mail_waits(mail_site, tls_server):
    toml = mail_site / "site.toml"
    toml.write_text(toml.read_text().replace("starttls = false", "starttls = false\ntls = true"))
    referral_received(mail_site)

    result = send(mail_site)

    assert result.exit_code == 1
    assert tls_server.messages == []
    [email] = outbox(mail_site)
    assert (
        email.sent_at is None and "connexion SMTP" in email.last_error and "CERTIFICATE" in email.last_error
    )
