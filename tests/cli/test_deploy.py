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
        "dalia-open-half-days@.service",
        "dalia-open-half-days@.timer",
        "dalia-reminders@.service",
        "dalia-reminders@.timer",
        "dalia-retention@.service",
        "dalia-retention@.timer",
        "dalia@.service",
        "nginx-http.conf",
        "nginx-https.conf",
    ]
    http = (deploy / "nginx-http.conf").read_text()
    assert "server_name dalia-aveyron.example.fr;" in http and "ssl" not in http
    assert "location /.well-known/acme-challenge/ { root /var/www/letsencrypt; }" in http
    https = (deploy / "nginx-https.conf").read_text()
    assert "server_name dalia-aveyron.example.fr;" in https
    assert "unix:/run/dalia/aveyron/gunicorn.sock" in https
    assert "/etc/letsencrypt/live/dalia-aveyron.example.fr/fullchain.pem" in https
    assert "--cert-name dalia-aveyron.example.fr -d dalia-aveyron.example.fr" in https
    for name in (
        "dalia@.service",
        "dalia-backup@.service",
        "dalia-mail@.service",
        "dalia-reminders@.service",
        "dalia-retention@.service",
        "dalia-open-half-days@.service",
    ):
        unit = (deploy / name).read_text()
        for hardening in (
            "NoNewPrivileges=true",
            "ProtectSystem=strict",
            "PrivateTmp=true",
            f"ReadWritePaths={two_sites}/%i",
        ):
            assert hardening in unit, (name, hardening)
    assert (
        "Environment=DALIA_CONTROL_SOCKET=/run/dalia/%i/gunicorn.ctl"
        in (deploy / "dalia@.service").read_text()
    )
    toml = (two_sites / "aveyron" / "site.toml").read_text()
    assert "https = true" in toml and "proxy_hops = 1" in toml
    assert oct((two_sites / "aveyron").stat().st_mode & 0o777) == "0o700"


def nginx_test(tmp_path, includes: list[Path]) -> subprocess.CompletedProcess:
    """`nginx -t` of a main configuration that includes these files, as sites-enabled/ would."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx manquant : apt-get install -y nginx (make test le fait)"
    (tmp_path / "logs").mkdir(exist_ok=True)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\n"
        "events {}\nhttp {\n  access_log off;\n  "
        + "\n  ".join(f"include {path};" for path in includes)
        + "\n}\n"
    )
    return subprocess.run([nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True)


def self_signed(tmp_path, slug: str, domain: str) -> tuple[Path, Path]:
    """What certbot leaves for one site: a certificate and its key (here a self-signed stand-in)."""
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
    return cert, key


def test_the_tls_steps_work_in_the_order_of_the_readme(two_sites, tmp_path):
    """deploy/README §5: the http servers first (no certificate yet: nginx -t passes, so certbot's
    webroot challenge can be served), then one certificate per site, then the https servers."""
    http = [two_sites / slug / "deploy" / "nginx-http.conf" for slug, _ in SITES]
    https = [two_sites / slug / "deploy" / "nginx-https.conf" for slug, _ in SITES]

    before = nginx_test(tmp_path, http)
    assert before.returncode == 0, before.stderr
    # Why the order matters: the https servers name certificates that do not exist yet.
    too_early = nginx_test(tmp_path, http + https)
    assert too_early.returncode != 0 and "dalia-aveyron.example.fr/fullchain.pem" in too_early.stderr

    # certbot --cert-name <domain>: each site's certificate where its server block looks for it.
    for slug, domain in SITES:
        cert, key = self_signed(tmp_path, slug, domain)
        site = {"slug": slug, "name": slug, "domain": domain}
        render_deploy(two_sites / slug, site, two_sites, certificate=str(cert), certificate_key=str(key))
    after = nginx_test(tmp_path, http + https)
    assert after.returncode == 0, after.stderr
    assert "syntax is ok" in after.stderr and "test is successful" in after.stderr


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
        ("dalia-retention@.service", "dalia-retention@aveyron.service"),
        ("dalia-retention@.timer", "dalia-retention@aveyron.timer"),
        ("dalia-open-half-days@.service", "dalia-open-half-days@aveyron.service"),
        ("dalia-open-half-days@.timer", "dalia-open-half-days@aveyron.timer"),
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


@pytest.mark.parametrize(
    "unit", ["dalia", "dalia-backup", "dalia-mail", "dalia-reminders", "dalia-retention"]
)
def test_every_unit_is_sandboxed_exposure_at_most_4(two_sites, tmp_path, unit):
    """`systemd-analyze security` reads the unit file alone (--offline, no running systemd needed).
    The timers start these services and run nothing themselves."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze manquant : apt-get install -y systemd (make test le fait)"
    instance = tmp_path / f"{unit}@aveyron.service"
    shutil.copy(two_sites / "aveyron" / "deploy" / f"{unit}@.service", instance)
    result = subprocess.run(
        # Not --threshold: systemd 252 compares it with the score times ten (1.5 fails "4").
        [analyze, "security", "--offline=true", "--no-pager", str(instance)],
        capture_output=True,
        text=True,
        env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning", SYSTEMD_COLORS="0"),
    )
    overall = [line for line in result.stdout.splitlines() if "Overall exposure level" in line]
    assert overall, result.stdout + result.stderr
    score = float(overall[0].split(":")[1].split()[0])
    assert score <= 4.0, overall[0]
    assert result.returncode == 0, overall[0]


def test_two_sites_served_at_once_each_answer_their_own_login_page(two_sites, tmp_path):
    """Each under its own name in ps, each with its own gunicorn control socket (the unit's
    runtime directory); none in the home folder that both share."""
    home = tmp_path / "home"
    home.mkdir()
    servers = []
    try:
        for slug, _ in SITES:
            port = free_port()
            (tmp_path / slug).mkdir()
            env = dict(
                os.environ,
                HOME=str(home),
                DALIA_SITE=str(two_sites / slug),
                DALIA_BIND=f"127.0.0.1:{port}",
                DALIA_WORKERS="1",
                DALIA_CONTROL_SOCKET=str(tmp_path / slug / "gunicorn.ctl"),
            )
            env.pop("XDG_RUNTIME_DIR", None)
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
        titles = {
            slug: subprocess.run(
                ["ps", "-o", "args=", "-p", str(server.pid)], capture_output=True, text=True
            ).stdout.strip()
            for slug, _, server in servers
        }
        sockets = {slug: (tmp_path / slug / "gunicorn.ctl").is_socket() for slug, _, _ in servers}
        servers[0][2].terminate()
        servers[0][2].wait(timeout=20)
        other_kept = (tmp_path / "lozere" / "gunicorn.ctl").is_socket()
    finally:
        for _, _, server in servers:
            server.terminate()
            server.wait(timeout=20)
    assert "DALIA Aveyron" in pages["aveyron"] and "DALIA Lozère" not in pages["aveyron"]
    assert "DALIA Lozère" in pages["lozere"] and "DALIA Aveyron" not in pages["lozere"]
    assert titles == {
        "aveyron": "gunicorn: master [dalia-aveyron]",
        "lozere": "gunicorn: master [dalia-lozere]",
    }
    assert sockets == {"aveyron": True, "lozere": True} and other_kept
    assert not (home / ".gunicorn").exists()


def test_without_a_control_socket_path_gunicorn_makes_none(sqlite_site_template, tmp_path):
    """Run by hand (no unit, no DALIA_CONTROL_SOCKET): no shared socket in the home folder."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = dict(
        os.environ,
        HOME=str(home),
        DALIA_SITE=str(sqlite_site_template),
        DALIA_BIND=f"127.0.0.1:{port}",
        DALIA_WORKERS="1",
    )
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("DALIA_CONTROL_SOCKET", None)
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
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert list(home.rglob("*")) == []
