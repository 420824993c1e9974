"""nginx (issue 19): the rendered https server, run for real in front of a site that is down
(a restart): no version in its answers, its own error pages carry the security headers, and
neither log keeps a query string or a private token. The port-80 server logs nothing."""

import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cli.test_deploy import SITES, nginx_test, self_signed, two_sites  # noqa: F401

SECRET_QUERY = "q=Dupont-Marie-1957"
TOKEN = "Xy9-secret-token-of-a-partner"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runnable(conf: str, tmp_path: Path, port: int, cert: Path, key: Path) -> str:
    """The rendered server block, on a free port, with this test's certificate and log folder."""
    slug, domain = SITES[0]
    conf = conf.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    conf = conf.replace("listen [::]:443 ssl http2;", "")
    conf = conf.replace(f"/etc/letsencrypt/live/{domain}/fullchain.pem", str(cert))
    conf = conf.replace(f"/etc/letsencrypt/live/{domain}/privkey.pem", str(key))
    conf = conf.replace("/var/log/nginx/", f"{tmp_path}/logs/")
    # The site is restarting: nothing listens on its socket.
    return conf.replace(f"unix:/run/dalia/{slug}/gunicorn.sock", f"unix:{tmp_path}/absent.sock")


def get(url: str, **kwargs):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        return urllib.request.urlopen(urllib.request.Request(url, **kwargs), context=context, timeout=5)
    except urllib.error.HTTPError as error:
        return error


def test_nginx_error_pages_carry_the_headers_and_the_logs_keep_no_query_or_token(two_sites, tmp_path):  # noqa: F811
    slug, domain = SITES[0]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    cert, key = self_signed(tmp_path, slug, domain)
    port = free_port()
    site_conf = tmp_path / "site.conf"
    site_conf.write_text(
        runnable((two_sites / slug / "deploy" / "nginx-https.conf").read_text(), tmp_path, port, cert, key)
    )
    checked = nginx_test(tmp_path, [site_conf])
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen(
        [nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path), "-g", "daemon off;"]
    )
    try:
        base = f"https://127.0.0.1:{port}"
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        down = get(f"{base}/patients?{SECRET_QUERY}", headers={"Host": domain})
        too_big = get(
            f"{base}/adressage/{TOKEN}?{SECRET_QUERY}",
            data=b"x" * (9 * 1024 * 1024),
            headers={"Host": domain},
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    for response, status in ((down, 502), (too_big, 413)):
        assert response.status == status
        headers = response.headers
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert headers["Server"] == "nginx"  # server_tokens off: no version
        assert "momentanément indisponible" in response.read().decode()
    # The site's own logs (the test's main configuration has its global error log beside them).
    logs = "".join(path.read_text() for path in (tmp_path / "logs").glob(f"dalia-{slug}.*.log"))
    assert "/patients" in logs  # the 502 is in the access log…
    assert "Dupont" not in logs and SECRET_QUERY not in logs and TOKEN not in logs  # …masked


def test_the_port_80_server_keeps_no_access_log_and_no_error_details(two_sites):  # noqa: F811
    http = (two_sites / SITES[0][0] / "deploy" / "nginx-http.conf").read_text()
    assert "access_log off;" in http and "server_tokens off;" in http
    assert "error.log alert;" in http


@pytest.mark.parametrize("name", ["nginx-http.conf", "nginx-https.conf"])
def test_every_error_log_keeps_alerts_only(two_sites, name):  # noqa: F811
    conf = (two_sites / SITES[0][0] / "deploy" / name).read_text()
    lines = [line.strip() for line in conf.splitlines() if line.strip().startswith("error_log")]
    assert lines and all(line.endswith("alert;") for line in lines)
