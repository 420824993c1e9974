"""Deploy files rendered for two sites, checked with the real tools, and two sites served at once."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dalia_site.commands import cli
from dalia_site.provisioning.deploy import render_deploy
from tests.cli.test_gunicorn import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SITES = (("aveyron", "dalia-aveyron.example.fr"), ("lozere", "dalia-lozere.example.fr"))


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory):
    instances = tmp_path_factory.mktemp("deploy") / "instances"
    for slug, domain in SITES:
        result = CliRunner().invoke(
            cli,
            ["new-site", slug, "--domain", domain, "--instances-dir", str(instances)],
            env={"DALIA_ADMIN_PASSWORD": "mot de passe du déploiement"},
        )
        assert result.exit_code == 0, result.output
    return instances


def test_new_site_renders_the_deploy_files_of_the_site(two_sites):
    deploy = two_sites / "aveyron" / "deploy"
    assert sorted(p.name for p in deploy.iterdir()) == [
        "dalia-backup@.service",
        "dalia-backup@.timer",
        "dalia-mail@.service",
        "dalia-mail@.timer",
        "dalia-reminders@.service",
        "dalia-reminders@.timer",
        "dalia@.service",
        "nginx.conf",
    ]
    nginx = (deploy / "nginx.conf").read_text()
    assert "server_name dalia-aveyron.example.fr;" in nginx
    assert "unix:/run/dalia/aveyron/gunicorn.sock" in nginx
    assert "/etc/letsencrypt/live/dalia-aveyron.example.fr/fullchain.pem" in nginx
    unit = (deploy / "dalia@.service").read_text()
    for hardening in (
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "PrivateTmp=true",
        f"ReadWritePaths={two_sites}/%i",
    ):
        assert hardening in unit
    toml = (two_sites / "aveyron" / "site.toml").read_text()
    assert "https = true" in toml and "proxy_hops = 1" in toml
    assert oct((two_sites / "aveyron").stat().st_mode & 0o777) == "0o700"


def test_nginx_accepts_both_rendered_server_blocks(two_sites, tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx manquant : apt-get install -y nginx (make test le fait)"
    includes = []
    for slug, domain in SITES:
        cert, key = tmp_path / f"{slug}.crt", tmp_path / f"{slug}.key"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={domain}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        site = {"slug": slug, "name": slug, "domain": domain}
        render_deploy(two_sites / slug, site, two_sites, certificate=str(cert), certificate_key=str(key))
        includes.append(f"include {two_sites / slug / 'deploy' / 'nginx.conf'};")
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\n"
        "events {}\nhttp {\n  access_log off;\n  " + "\n  ".join(includes) + "\n}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_systemd_accepts_the_rendered_units(two_sites, tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze manquant : apt-get install -y systemd (make test le fait)"
    deploy = two_sites / "aveyron" / "deploy"
    units = []
    for rendered, instance in (
        ("dalia@.service", "dalia@aveyron.service"),
        ("dalia-backup@.service", "dalia-backup@aveyron.service"),
        ("dalia-backup@.timer", "dalia-backup@aveyron.timer"),
        ("dalia-mail@.service", "dalia-mail@aveyron.service"),
        ("dalia-mail@.timer", "dalia-mail@aveyron.timer"),
        ("dalia-reminders@.service", "dalia-reminders@aveyron.service"),
        ("dalia-reminders@.timer", "dalia-reminders@aveyron.timer"),
    ):
        shutil.copy(deploy / rendered, tmp_path / instance)
        units.append(str(tmp_path / instance))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"),
    )
    assert result.returncode == 0, result.stderr
    assert "aveyron" not in result.stderr, result.stderr  # no warning about our units


def test_two_sites_served_at_once_each_answer_their_own_login_page(two_sites):
    servers = []
    try:
        for slug, _ in SITES:
            port = free_port()
            env = dict(
                os.environ,
                DALIA_SITE=str(two_sites / slug),
                DALIA_BIND=f"127.0.0.1:{port}",
                DALIA_WORKERS="1",
            )
            servers.append(
                (
                    slug,
                    port,
                    subprocess.Popen(
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
                    ),
                )
            )
        pages = {slug: wait_for(f"http://127.0.0.1:{port}/connexion").decode() for slug, port, _ in servers}
    finally:
        for _, _, server in servers:
            server.terminate()
            server.wait(timeout=20)
    assert "DALIA Aveyron" in pages["aveyron"] and "DALIA Lozère" not in pages["aveyron"]
    assert "DALIA Lozère" in pages["lozere"] and "DALIA Aveyron" not in pages["lozere"]
