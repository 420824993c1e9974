"""deploy/README « Growing past one machine »: two gunicorn hosts on one PostgreSQL database, each
with the same site.toml and secret_key, serve one site; a session opened on one is valid on the other."""

import http.cookiejar
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.cli.test_gunicorn import free_port, wait_for
from tests.conftest import ADMIN_EMAIL, PASSWORD, csrf_from, totp_code

ROOT = Path(__file__).resolve().parents[2]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def host(site: Path, tmp_path: Path, name: str):
    """One "host": its own copy of the site folder, its own gunicorn process."""
    folder = tmp_path / name / "instances" / site.name
    shutil.copytree(site, folder)
    port = free_port()
    env = dict(os.environ, DALIA_SITE=str(folder), DALIA_BIND=f"127.0.0.1:{port}", DALIA_WORKERS="1")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "dalia_site.wsgi:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return f"http://127.0.0.1:{port}", server


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_session_opened_on_one_host_is_valid_on_the_other(site_dir, tmp_path, db_backend):
    a, server_a = host(site_dir, tmp_path, "hote-a")
    b, server_b = host(site_dir, tmp_path, "hote-b")
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    try:
        wait_for(f"{a}/healthz")
        wait_for(f"{b}/healthz")
        token = csrf_from(browser.open(f"{a}/connexion").read().decode())
        form = urllib.parse.urlencode(
            {"csrf_token": token, "email": ADMIN_EMAIL, "password": PASSWORD, "code": totp_code()}
        )
        try:
            browser.open(f"{a}/connexion", data=form.encode())
            raise AssertionError("la connexion aurait dû rediriger")
        except urllib.error.HTTPError as answer:
            assert answer.code == 302 and "/connexion" not in answer.headers["Location"]
        # The same browser, now on the other host: logged in there too.
        page = browser.open(f"{b}/")
        assert page.status == 200 and "Se déconnecter" in page.read().decode()
        # Without the cookie, host b sends to the login page: the session is what was shared.
        try:
            urllib.request.build_opener(NoRedirect).open(f"{b}/")
            raise AssertionError("une page sans session aurait dû rediriger")
        except urllib.error.HTTPError as answer:
            assert answer.code == 302 and "/connexion" in answer.headers["Location"]
    finally:
        for server in (server_a, server_b):
            server.terminate()
            server.wait(timeout=20)
