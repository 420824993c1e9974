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
from datetime import datetime
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pages import pages  # noqa: E402
from dalia_site.provisioning.site import create_site  # noqa: E402

PASSWORD = "banc d'essai du site DALIA"
CONNECTIONS = 8
DURATION = os.environ.get("BENCH_DURATION", "10s")
TARGET_P99_MS = 50
TARGET_RATIO = 0.25
TARGET_PARTIAL_BYTES = 10 * 1024
TARGET_FIRST_LOAD_BYTES = 100 * 1024
TARGET_QUERIES = 8
TARGET_RSS_MB = 80


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, port: int, env: dict) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--access-logfile",
        "/dev/null",
        app,
    ]
    server = subprocess.Popen(
        command,
        env=dict(os.environ, DALIA_BIND=f"127.0.0.1:{port}", **env),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
    data = urllib.parse.urlencode(
        {"csrf_token": token, "email": "admin@bench.invalid", "password": PASSWORD}
    ).encode()
    opener.open(base + "/connexion", data=data).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def lua_script(workdir: Path, cookie: str | None, partial: bool) -> Path:
    """wrk sends the session cookie (and the htmx header for a partial) with every request."""
    script = workdir / f"wrk-{bool(cookie)}-{partial}.lua"
    lines = []
    if cookie:
        lines.append(f'wrk.headers["Cookie"] = "{cookie}"')
    if partial:
        lines.append('wrk.headers["HX-Request"] = "true"')
    script.write_text("\n".join(lines) + "\n")
    return script


def wrk(url: str, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50"),
        "p99": ms("99"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def fetch(url: str, cookie: str | None, partial: bool = False) -> bytes:
    headers = {"Cookie": cookie} if cookie else {}
    if partial:
        headers["HX-Request"] = "true"
    response = urllib.request.urlopen(urllib.request.Request(url, headers=headers))  # noqa: S310
    assert response.status == 200, (url, response.status)
    return response.read()


def first_load_bytes(base: str, html: bytes, cookie: str) -> int:
    """The page and what it loads (the stylesheet and htmx), uncompressed."""
    assets = re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)
    return len(html) + sum(len(fetch(base + a.decode(), cookie)) for a in assets)


def query_counts(site: Path, cookie_pages: list) -> dict[str, int]:
    """SQL statements of each page's first request, counted in-process on the seeded site."""
    from bench.queries import page_queries
    from dalia_site import create_app

    app = create_app(site)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    client.post("/connexion", data={"email": "admin@bench.invalid", "password": PASSWORD})
    return page_queries(app, client, cookie_pages)


def page_size(url: str, cookie: str | None) -> int:
    return len(fetch(url, cookie))


def worker_rss_mb(master: subprocess.Popen) -> float:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024)
    return max(sizes)


def seeded_site(workdir: Path) -> tuple[Path, dict[str, int], dict, float]:
    """Ten years of data, then the ids bench/pages.py's list needs (the same as the tests')."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from bench.pages import page_ids
    from bench.seed import seed
    from dalia_site import create_app
    from dalia_site.extensions import db
    from dalia_site.models import StaffUser

    site = create_site(
        "carcassonne", workdir, slug="bench", admin_email="admin@bench.invalid", admin_password=PASSWORD
    ).path
    app = create_app(site)
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    started = time.perf_counter()
    with app.app_context():
        counts = seed(zone, datetime.now(zone).date())
        admin_id = db.session.scalar(select(StaffUser.id).where(StaffUser.email == "admin@bench.invalid"))
    seconds = time.perf_counter() - started
    ids = page_ids(app, admin_id)
    with app.app_context():
        db.engine.dispose()
    return site, counts, ids, seconds


def verdict(ok: bool) -> str:
    return "oui" if ok else "**non**"


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk est introuvable : apt-get install -y wrk (make bench le fait en root)")
    workdir = Path(tempfile.mkdtemp(prefix="dalia-bench-"))
    print("Dix ans d'activité d'un centre chargé…", flush=True)
    site, counts, ids, seed_seconds = seeded_site(workdir)
    print(f"  {counts} en {seed_seconds:.0f} s", flush=True)
    page_list = [page for page in pages(ids) if page.benchmarked]
    site_port, hello_port = free_port(), free_port()
    servers = [
        start_gunicorn("dalia_site.wsgi:app", site_port, {"DALIA_SITE": str(site)}),
        start_gunicorn("bench.hello:app", hello_port, {}),
    ]
    try:
        base = f"http://127.0.0.1:{site_port}"
        cookie = login_cookie(base)
        hello = wrk(f"http://127.0.0.1:{hello_port}/", None)
        print(
            f"hello-world {hello['rps']:8.0f} req/s  p50 {hello['p50']:.1f} ms  p99 {hello['p99']:.1f} ms",
            flush=True,
        )
        rows = []
        for page in page_list:
            label, path, partial = page.label, page.path, page.partial
            result = wrk(base + path, lua_script(workdir, cookie, partial))
            body = fetch(base + path, cookie, partial)
            result["size"] = len(body)
            result["first_load"] = None if partial else first_load_bytes(base, body, cookie)
            rows.append((label, path, partial, result))
            print(
                f"{label:<44} {result['rps']:7.0f} req/s  p50 {result['p50']:.1f} ms  "
                f"p99 {result['p99']:.1f} ms  {result['size']} o",
                flush=True,
            )
        rss = worker_rss_mb(servers[0])
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)
    queries = query_counts(site, page_list)
    shutil.rmtree(workdir, ignore_errors=True)
    write_results(counts, seed_seconds, hello, rows, queries, rss)


def write_results(counts, seed_seconds, hello, rows, queries, rss) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    met = []
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {datetime.now():%d/%m/%Y %H:%M}.",
        "",
        f"**Machine:** {cpu}, {os.cpu_count()} cores, {memory / 1_048_576:.1f} GB RAM, "
        f"{platform.platform()}, Python {platform.python_version()}, SQLite {sqlite_version()}.",
        "",
        f"**Data:** ten years of a busy centre, seeded in {seed_seconds:.0f} s: "
        + ", ".join(f"{n:,} {table}".replace(",", "\u202f") for table, n in counts.items())
        + ".",
        "",
        f"**Load:** wrk -t2 -c{CONNECTIONS} -d{DURATION} on loopback with a Lua script that "
        "carries the session cookie (and `HX-Request: true` for htmx partials); gunicorn with "
        "deploy/gunicorn.conf.py (access log off); wrk and gunicorn share the machine. The same "
        f"wrk against a hello-world Flask app under the same settings: {hello['rps']:.0f} req/s, "
        f"p50 {hello['p50']:.1f} ms, p99 {hello['p99']:.1f} ms.",
        "",
        f"| page | req/s | vs hello (≥ {TARGET_RATIO:.0%}) | p50 ms | p99 ms (< {TARGET_P99_MS}) "
        f"| non-2xx | queries (≤ {TARGET_QUERIES}) | response bytes | first load bytes "
        f"(≤ {TARGET_FIRST_LOAD_BYTES // 1024} KB) | partial ≤ {TARGET_PARTIAL_BYTES // 1024} KB "
        "| all met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, path, partial, r in rows:
        ratio = r["rps"] / hello["rps"]
        checks = [
            ratio >= TARGET_RATIO,
            r["p99"] < TARGET_P99_MS,
            r["errors"] == 0,
            queries[label] <= TARGET_QUERIES,
            (r["size"] <= TARGET_PARTIAL_BYTES) if partial else (r["first_load"] <= TARGET_FIRST_LOAD_BYTES),
        ]
        met.append(all(checks))
        lines.append(
            f"| {label} `{path}` | {r['rps']:.0f} | {ratio:.0%} | {r['p50']:.1f} | {r['p99']:.1f} "
            f"| {r['errors']} | {queries[label]} | {r['size']} | "
            f"{'—' if partial else r['first_load']} | "
            f"{verdict(r['size'] <= TARGET_PARTIAL_BYTES) if partial else '—'} | "
            f"{verdict(all(checks))} |"
        )
    lines += [
        "",
        f"Largest worker RSS after the run: {rss:.0f} MB (target ≤ {TARGET_RSS_MB} MB): "
        f"{verdict(rss <= TARGET_RSS_MB)}.",
        "",
        f"Every target met: {verdict(all(met) and rss <= TARGET_RSS_MB)}.",
        "",
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


def sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


if __name__ == "__main__":
    main()
