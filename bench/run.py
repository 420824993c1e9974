#!/usr/bin/env python3
"""Load benchmark: a provisioned site under gunicorn (deploy/gunicorn.conf.py) against a
hello-world Flask app under the same settings, both loaded with wrk on loopback.

Writes bench/RESULTS.md. Run by `make bench`; not part of the test suite.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dalia_site.provisioning.site import create_site  # noqa: E402

PASSWORD = "banc d'essai du site DALIA"
CONNECTIONS = 8
DURATION = os.environ.get("BENCH_DURATION", "10s")
PAGES = (  # (label, path, logged in)
    ("connexion (anonyme)", "/connexion", False),
    ("healthz", "/healthz", False),
    ("accueil", "/", True),
    ("comptes", "/admin/comptes", True),
    ("journal d'audit", "/admin/journal", True),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, port: int, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
               "--access-logfile", "/dev/null", app]
    server = subprocess.Popen(command, env=dict(os.environ, DALIA_BIND=f"127.0.0.1:{port}", **env),
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)  # noqa: S310
            return server
        except urllib.error.HTTPError:
            return server
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start: {app}")


def login_cookie(base: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/connexion").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": "admin@bench.invalid",
                                   "password": PASSWORD}).encode()
    opener.open(base + "/connexion", data=data).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def wrk(url: str, cookie: str | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms("50"), "p99": ms("99"), "errors": int(non_2xx.group(1)) if non_2xx else 0}


def page_size(url: str, cookie: str | None) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    return len(urllib.request.urlopen(request).read())  # noqa: S310


def worker_rss_mb(master: subprocess.Popen) -> float:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024)
    return max(sizes)


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk est introuvable : apt-get install -y wrk (make bench le fait en root)")
    workdir = Path(tempfile.mkdtemp(prefix="dalia-bench-"))
    site = create_site("carcassonne", workdir, slug="bench", admin_email="admin@bench.invalid",
                       admin_password=PASSWORD).path
    site_port, hello_port = free_port(), free_port()
    servers = [
        start_gunicorn("dalia_site.wsgi:app", site_port, {"DALIA_SITE": str(site)}),
        start_gunicorn("bench.hello:app", hello_port, {}),
    ]
    try:
        base = f"http://127.0.0.1:{site_port}"
        cookie = login_cookie(base)
        hello = wrk(f"http://127.0.0.1:{hello_port}/", None)
        rows = []
        for label, path, logged_in in PAGES:
            used = cookie if logged_in else None
            result = wrk(base + path, used)
            result["size"] = page_size(base + path, used)
            rows.append((label, path, result))
            print(f"{label:<22} {result['rps']:8.0f} req/s  p50 {result['p50']:.1f} ms  "
                  f"p99 {result['p99']:.1f} ms  {result['size']} o")
        rss = worker_rss_mb(servers[0])
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)

    lines = [
        "# Benchmark results",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        f"wrk -t2 -c{CONNECTIONS} -d{DURATION}, gunicorn with deploy/gunicorn.conf.py "
        "(access log off), wrk and gunicorn sharing the machine: compare ratios, not absolutes.",
        "",
        f"Hello-world Flask: {hello['rps']:.0f} req/s, p50 {hello['p50']:.1f} ms, "
        f"p99 {hello['p99']:.1f} ms.",
        "",
        "| page | path | req/s | ratio to hello | p50 ms | p99 ms (target < 50) | non-2xx | size (bytes) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, path, r in rows:
        lines.append(f"| {label} | `{path}` | {r['rps']:.0f} | {r['rps'] / hello['rps']:.0%} | "
                     f"{r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['size']} |")
    lines += ["", f"Largest worker RSS after the run: {rss:.0f} MB (target ≤ 80 MB).", ""]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
