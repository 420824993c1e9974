"""Several sites in one process (DALIA_SITES, dalia_site.region): each request reaches the site of
its host name, with that site's own database, accounts and keys; an unknown host reaches none."""

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.test import Client

from dalia_site.config import SiteConfigError
from dalia_site.provisioning.site import create_site
from dalia_site.region import create_region_app
from tests.cli.test_gunicorn import free_port, run_gunicorn
from tests.conftest import PASSWORD, csrf_from

DOMAINS = {"aveyron": "dalia-aveyron.fr", "lozere": "dalia-lozere.fr"}


@pytest.fixture
def two_sites(tmp_path) -> dict[str, Path]:
    return {
        slug: create_site(
            slug, tmp_path, domain=domain, admin_email=f"admin@{slug}.invalid", admin_password=PASSWORD
        ).path
        for slug, domain in DOMAINS.items()
    }


def log_in(client: Client, domain: str, email: str):
    base = f"https://{domain}"
    token = csrf_from(client.get("/connexion", base_url=base).text)
    return client.post(
        "/connexion",
        base_url=base,
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        headers={"Referer": f"{base}/connexion"},  # Flask-WTF's check over https
    )


def test_each_host_reaches_its_own_site_and_an_unknown_host_none(two_sites):
    region = create_region_app(two_sites.values())
    client = Client(region)
    for domain in DOMAINS.values():
        page = client.get("/connexion", base_url=f"https://{domain}")
        assert page.status_code == 200
        assert region.sites[domain].config["SITE"]["name"] in page.text
    assert "Aveyron" in client.get("/connexion", base_url=f"https://{DOMAINS['aveyron']}").text
    assert "Lozère" in client.get("/connexion", base_url=f"https://{DOMAINS['lozere']}").text
    unknown = client.get("/connexion", base_url="https://ailleurs.example")
    assert unknown.status_code == 404 and "Site inconnu" in unknown.text


def test_an_account_of_one_site_opens_nothing_on_the_other(two_sites):
    client = Client(create_region_app(two_sites.values()))
    accepted = log_in(client, DOMAINS["aveyron"], "admin@aveyron.invalid")
    assert accepted.status_code == 302  # on to the second factor
    refused = log_in(client, DOMAINS["lozere"], "admin@aveyron.invalid")
    assert refused.status_code == 401  # no such account there
    assert "Adresse e-mail ou mot de passe incorrect." in refused.text


def test_two_sites_with_one_domain_or_none_are_refused(two_sites, tmp_path):
    copy = tmp_path / "copie"
    subprocess.run(["cp", "-r", str(two_sites["aveyron"]), str(copy)], check=True)
    with pytest.raises(SiteConfigError, match="déjà celui d'un autre site"):
        create_region_app([two_sites["aveyron"], copy])
    toml = copy / "site.toml"
    toml.write_text(toml.read_text().replace(f'domain = "{DOMAINS["aveyron"]}"', 'domain = ""'))
    with pytest.raises(SiteConfigError, match="domain est vide"):
        create_region_app([copy])


def test_gunicorn_serves_both_sites_from_one_worker(two_sites, tmp_path):
    port = free_port()
    env = dict(os.environ, DALIA_SITES=" ".join(map(str, two_sites.values())), DALIA_BIND=f"127.0.0.1:{port}")
    env = {k: v for k, v in env.items() if k not in ("DALIA_SITE", "DALIA_WORKERS", "DALIA_THREADS")}
    server = run_gunicorn(env, tmp_path)
    try:
        assert "Aveyron" in get(port, DOMAINS["aveyron"])
        assert "Lozère" in get(port, DOMAINS["lozere"])
        with pytest.raises(urllib.error.HTTPError) as unknown:
            get(port, "ailleurs.example")
        assert unknown.value.code == 404
        workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(workers) == 1
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert "Booting worker" in output


def get(port: int, host: str, deadline: float = 30.0) -> str:
    """The login page as `host` sees it, once the server listens."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/connexion", headers={"Host": host})
    start = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                return response.read().decode()
        except urllib.error.HTTPError:
            raise
        except OSError:
            if time.monotonic() - start > deadline:
                raise
            time.sleep(0.2)
