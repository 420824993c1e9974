#!/usr/bin/env python3
"""The benchmark (`make bench`): what each page costs, how that grows with the data, how it holds
under load, and what a site weighs in memory. Writes bench/RESULTS.md; not part of the test suite.

1. Three shapes of data (bench/seed.py), each on a site of its own: ten years of a busy centre
   (1×), three times the patients over the same ten years (3×), thirty years of history (30 ans).
   The present — last week and the weeks ahead — is the same in all three, and the day is a busy
   weekday: the clock is frozen on it (in process, and under gunicorn through bench/frozen.py).
   Planner statistics are fresh, as the nightly `dalia optimize` leaves them.
2. In process (Flask test client, no network, no server; each shape seeded and measured in a
   process of its own, a page's requests on the three shapes taken in turns, three rounds, so
   that its growth factors compare moments close together): every page of bench/pages.py's list,
   CPU time (time.process_time) of many requests — median and p95 —, its SQL statements and
   bytes; growth 3×/1× and 30 ans/1× of the median. The activity figures are measured uncached:
   each request follows a patient view (which writes to the audit trail, as in real use) and asks
   for a period not asked before.
3. Under load (1×): the pages marked `benchmarked` under gunicorn with deploy/gunicorn.conf.py, wrk
   at 8 connections, p99 — with the region's worker model (two plain worker processes, one per
   core, as when they serve the region's sites, which meets the memory targets) and with a site's
   own default (one process of four threads). Each page's measured run follows a second of wrk on
   it, not counted: the workers' first requests of a page compile its statements and templates
   once in their life (the activity page's first: ~180 ms), and at 8 connections each holds the
   requests queued behind it; the p99 is that of a worker in its day's work, on periods (for the
   activity figures) that the warm-up did not ask for.
4. Memory: PSS (/proc/PID/smaps_rollup, master and workers) of one idle site, and of ten sites at
   once, each under wrk.
hello-world (bench/hello.py) under the same settings is context only: it swings with the load.

BENCH_DURATION (wrk, default 8s), BENCH_CPU_SECONDS (CPU per page and shape, default 0.5),
BENCH_SHAPES (e.g. `1x` for a quick look) and BENCH_ONLY (a regular expression on the page's
label or path) narrow a run; a narrowed run prints its tables and leaves RESULTS.md alone.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import platform
import re
import runpy
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pages import Page, page_ids, pages  # noqa: E402
from dalia_site import clock  # noqa: E402
from dalia_site.provisioning.site import create_site  # noqa: E402

PASSWORD = "banc d'essai du site DALIA"
ADMIN = "admin@bench.invalid"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the admin's authenticator app (second factor)
CONNECTIONS = 8
DURATION = os.environ.get("BENCH_DURATION", "8s")
WARM_DURATION = "1s"  # wrk on each page before its measured run (see 3. above)
CPU_SECONDS = float(os.environ.get("BENCH_CPU_SECONDS", "0.5"))
MIN_SAMPLES, MAX_SAMPLES, WARM_UP = 15, 150, 3
ROUNDS = 3  # each page's requests on each shape, in turns (see interleaved)
TEN_SITES = 10
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"

TARGET_MEDIAN_MS = 5.0
TARGET_ACTIVITY_MS = 10.0  # the activity figures of a year, uncached: the issue's own target for them
TARGET_GROWTH = 1.3
TARGET_SEARCH_GROWTH = 1.2  # a search, from 1× to 3× the patients
TARGET_P99_MS = 50
TARGET_QUERIES = 8
TARGET_PARTIAL_BYTES = 10 * 1024
TARGET_FIRST_LOAD_BYTES = 100 * 1024
TARGET_IDLE_PSS_MB = 60
TARGET_TEN_SITES_PSS_MB = 800


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    scale: float
    years: int


SHAPES = (
    Shape("1x", "1× : dix ans d'un centre chargé", 1, 10),
    Shape("3x", "3× : trois fois plus de patients, les mêmes dix ans", 3, 10),
    Shape("30y", "30 ans : trente ans d'histoire", 3, 30),
)


@dataclass
class Seeded:
    shape: Shape
    site: Path
    counts: dict[str, int]
    seconds: float
    ids: dict


# --- The day and the data -------------------------------------------------------------------


def busy_weekday(zone: ZoneInfo) -> datetime:
    """10h07 on the latest Tuesday, Wednesday or Thursday the centre is open (today if it is one):
    a working day whatever day the benchmark runs."""
    from dalia_site.provisioning.demo import closures

    day = datetime.now(zone).date()
    while day.weekday() not in (1, 2, 3) or day in closures(day.year):
        day -= timedelta(days=1)
    # 10h07, not on a quarter hour: the picker's first slot is the next one, not this very minute.
    return datetime.combine(day, clock_time(10, 7), tzinfo=zone)


def seeded_site(workdir: Path, shape: Shape, moment: datetime) -> Seeded:
    """A provisioned site filled with the shape's data (as of `moment`), its statistics analysed as
    the nightly timer does, and the ids bench/pages.py's list needs."""
    from sqlalchemy import select

    from bench.seed import seed
    from dalia_site import create_app, database
    from dalia_site.extensions import db
    from dalia_site.models import StaffUser

    site = create_site(
        "carcassonne", workdir / shape.key, slug="bench", admin_email=ADMIN, admin_password=PASSWORD
    ).path
    app = create_app(site)
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    started = time.perf_counter()
    with clock.clock_at(moment), app.app_context():
        counts = seed(zone, moment.date(), scale=shape.scale, years=shape.years, now=moment)
        with db.engine.begin() as connection:
            database.analyse(connection)
        admin = db.session.scalar(select(StaffUser).where(StaffUser.email == ADMIN))
        admin.totp_secret, admin.totp_confirmed_at = TOTP_SECRET, moment
        admin_id = admin.id
        db.session.commit()
    seconds = time.perf_counter() - started
    with clock.clock_at(moment):
        ids = page_ids(app, admin_id)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return Seeded(shape, site, counts, seconds, ids)


# --- In process -----------------------------------------------------------------------------


def uncached(page: Page) -> bool:
    """The activity figures: measured as real use meets them, never from a cache."""
    return page.path.startswith("/activite")


def period_shifted(path: str, days: int) -> str:
    """The same length of period, `days` earlier: a period no cache has seen."""
    base, _, query = path.partition("?")
    params = dict(urllib.parse.parse_qsl(query))
    for key in ("du", "au"):
        if key in params:
            params[key] = str(date.fromisoformat(params[key]) - timedelta(days=days))
    return f"{base}?{urllib.parse.urlencode(params)}"


class PageMeter:
    """Measures pages in process on one shape's site (Flask test client): the SQL statements of a
    page's first request, then the CPU time of requests asked for in several rounds, which the
    run interleaves with the other shapes' (see interleaved)."""

    def __init__(self, seeded: Seeded, moment: datetime) -> None:
        from dalia_site import create_app

        self.seeded, self.moment = seeded, moment
        self.app = create_app(seeded.site)
        self.app.config["WTF_CSRF_ENABLED"] = False
        self.client = self.app.test_client()
        self.pages = {page.label: page for page in pages(seeded.ids)}
        self.patient_page = f"/patients/{seeded.ids['patient']}"
        self.asked: dict[str, int] = {}  # periods asked so far, by page (the uncached ones)
        with clock.clock_at(moment):
            self.client.post("/connexion", data={"email": ADMIN, "password": PASSWORD, "code": totp(moment)})

    def _get(self, page: Page) -> tuple[float, Any]:
        """One request: its CPU seconds and the response (after a patient view, for a period not
        asked before, when the page is measured uncached)."""
        path = page.path
        if page.roster_changed:
            self._change_roster()
        if uncached(page):
            self.client.get(self.patient_page)  # a patient view writes to the audit trail
            self.asked[page.label] = self.asked.get(page.label, 0) + 1
            path = period_shifted(page.path, self.asked[page.label])
        headers = {"HX-Request": "true"} if page.partial else {}
        started = time.process_time()
        response = self.client.get(path, headers=headers)
        return time.process_time() - started, response

    def _change_roster(self) -> None:
        """What any change of a session, a weekly pattern, an absence or a member leaves: a new
        version of the roster, against which the workers keep nothing yet."""
        from dalia_site.domain import roster_version
        from dalia_site.extensions import db

        with self.app.app_context(), db.engine.begin() as connection:
            roster_version.bump(connection)

    def prepare(self, label: str) -> dict:
        """The page's SQL statements, then a few requests to warm it up; {"error": status} when it
        fails."""
        from bench.queries import page_queries

        page = self.pages[label]
        with clock.clock_at(self.moment):
            try:
                queries = page_queries(self.app, self.client, [page])[label]
            except AssertionError:
                headers = {"HX-Request": "true"} if page.partial else {}
                return {"error": self.client.get(page.path, headers=headers).status_code}
            for _ in range(WARM_UP):
                self._get(page)
        return {"queries": queries}

    def sample(self, label: str, cpu_seconds: float, at_least: int, at_most: int) -> dict:
        """CPU seconds of requests to the page until `cpu_seconds` are spent (`at_least` and
        `at_most` requests), after a few not counted, with the last response's size;
        {"error": status} when one fails."""
        page, samples, size = self.pages[label], [], 0
        with clock.clock_at(self.moment):
            # This process sat idle while the other shapes' took their turn: its caches are cold.
            for _ in range(WARM_UP):
                self._get(page)
            while len(samples) < at_most and (sum(samples) < cpu_seconds or len(samples) < at_least):
                seconds, response = self._get(page)
                if response.status_code != page.status:
                    return {"error": response.status_code}
                samples.append(seconds)
                size = len(response.data)
        return {"samples": samples, "bytes": size}


def shape_worker(workdir: Path, shape: Shape, moment: datetime, connection: Any) -> None:
    """A shape's own process (spawned, as a server holds one site's data): seeds its site, sends
    it back, then measures what the run asks until it sends None."""
    seeded = seeded_site(workdir, shape, moment)
    connection.send(seeded)
    meter = PageMeter(seeded, moment)
    while (asked := connection.recv()) is not None:
        method, *arguments = asked
        connection.send(getattr(meter, method)(*arguments))
    connection.close()


def interleaved(
    workdir: Path, shapes: list[Shape], moment: datetime, only: str | None
) -> tuple[dict[str, Seeded], dict[str, dict[str, dict]]]:
    """Every shape seeded in a process of its own, then each page measured on every shape in
    ROUNDS rounds, the shapes in turn (in a new order each round): the growth factors compare
    CPU times taken within moments of each other, not minutes apart on a machine whose load
    drifts. A page's figures are the median and p95 of all its rounds' requests."""
    spawn = multiprocessing.get_context("spawn")
    seeded: dict[str, Seeded] = {}
    links, workers = {}, []
    for shape in shapes:
        print(f"{shape.label}…", flush=True)
        ours, theirs = spawn.Pipe()
        worker = spawn.Process(target=shape_worker, args=(workdir, shape, moment, theirs))
        worker.start()
        workers.append(worker)
        seeded[shape.key] = ours.recv()  # one seeding at a time: its seconds are its own
        print(f"  {seeded[shape.key].counts} en {seeded[shape.key].seconds:.0f} s", flush=True)
        links[shape.key] = ours

    def ask(key: str, *what: object) -> dict:
        links[key].send(what)
        answer: dict = links[key].recv()
        return answer

    keys = [shape.key for shape in shapes]
    labels = [
        p.label for p in pages(seeded[keys[0]].ids) if not only or re.search(only, f"{p.label} {p.path}")
    ]
    cpu: dict[str, dict[str, dict]] = {key: {} for key in keys}
    try:
        for label in labels:
            prepared = {key: ask(key, "prepare", label) for key in keys}
            samples: dict[str, list[float]] = {key: [] for key in keys}
            size: dict[str, int] = {}
            for turn in range(ROUNDS):
                order = keys[turn % len(keys) :] + keys[: turn % len(keys)]
                for key in order:
                    if "error" in prepared[key]:
                        continue
                    answer = ask(
                        key,
                        "sample",
                        label,
                        CPU_SECONDS / ROUNDS,
                        -(-MIN_SAMPLES // ROUNDS),
                        MAX_SAMPLES // ROUNDS,
                    )
                    if "error" in answer:
                        prepared[key] = answer
                        continue
                    samples[key] += answer["samples"]
                    size[key] = answer["bytes"]
            for key in keys:
                cpu[key][label] = (
                    prepared[key]
                    if "error" in prepared[key]
                    else _figures(samples[key], size[key], prepared[key])
                )
                r = cpu[key][label]
                print(
                    f"  {key:>3} {label:<52} "
                    + (
                        f"ERREUR HTTP {r['error']}"
                        if "error" in r
                        else f"{r['median']:6.2f} ms (p95 {r['p95']:6.2f}, {r['n']} requêtes)"
                    ),
                    flush=True,
                )
    finally:
        for key in keys:
            links[key].send(None)
        for worker in workers:
            worker.join()
    return seeded, cpu


def _figures(samples: list[float], size: int, prepared: dict) -> dict:
    samples = sorted(samples)
    return {
        "median": statistics.median(samples) * 1000,
        "p95": samples[round(0.95 * (len(samples) - 1))] * 1000,
        "n": len(samples),
        "bytes": size,
        "queries": prepared["queries"],
    }


# --- Under gunicorn -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, port: int, env: dict) -> subprocess.Popen:
    """deploy/gunicorn.conf.py as deployed (access log off), on a loopback port."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(GUNICORN_CONF),
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
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)  # noqa: S310
            return server
        except urllib.error.HTTPError:
            return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"gunicorn did not start: {app} {env}")


def stop(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def site_env(site: Path, moment: datetime, model: dict[str, str] | None = None) -> dict[str, str]:
    return {"DALIA_SITE": str(site), "DALIA_BENCH_NOW": moment.isoformat(), **(model or {})}


def totp(moment: datetime | None) -> str:
    """The admin's second-factor code at `moment` (the frozen clock's), or now."""
    import pyotp

    return pyotp.TOTP(TOTP_SECRET).at(moment) if moment else pyotp.TOTP(TOTP_SECRET).now()


def new_code_step(site: Path) -> None:
    """The benchmark's servers stand still at `moment`, so its admin logs in many times within one
    30-second step while the site accepts each code once: on its own throwaway sites the benchmark
    forgets the step last used before a login (the app's rule is untouched)."""
    from sqlalchemy import create_engine, update

    from dalia_site.config import database_url, read_site_toml
    from dalia_site.models import StaffUser

    engine = create_engine(database_url(site, read_site_toml(site)))
    with engine.begin() as connection:
        connection.execute(update(StaffUser).where(StaffUser.email == ADMIN).values(totp_last_step=None))
    engine.dispose()


def login_cookie(base: str, moment: datetime | None, site: Path, host: str | None = None) -> str:
    """The session cookie of the admin of `site`, logged in (password and second factor) at `base`."""
    new_code_step(site)
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    headers = {"Host": host} if host else {}

    def open_(path: str, data: bytes | None = None):
        return opener.open(urllib.request.Request(base + path, data=data, headers=headers))

    page = open_("/connexion").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    fields = {"csrf_token": token, "email": ADMIN, "password": PASSWORD, "code": totp(moment)}
    open_("/connexion", urllib.parse.urlencode(fields).encode()).read()
    assert "/connexion" not in open_("/").geturl(), f"login refused at {base} {host or ''}"
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def lua_script(
    workdir: Path,
    name: str,
    cookie: str | None,
    paths: list[str],
    partial: bool = False,
    host: str | None = None,
) -> Path:
    """wrk's requests: the session cookie (and the htmx header for a partial, the host name of a
    site among several) on each; several paths are taken in turn, each wrk thread its own share."""
    lines = [f'wrk.headers["Host"] = "{host}"'] if host else []
    if cookie:
        lines.append(f'wrk.headers["Cookie"] = "{cookie}"')
    if partial:
        lines.append('wrk.headers["HX-Request"] = "true"')
    if len(paths) > 1:
        lines += [
            "paths = {" + ", ".join(f'"{p}"' for p in paths) + "}",
            "local threads = 0",
            'setup = function(thread) thread:set("offset", threads); threads = threads + 1 end',
            "counter = 0",
            "request = function()",
            "  counter = counter + 1",
            "  return wrk.format(nil, paths[((counter * 2 + offset) % #paths) + 1])",
            "end",
        ]
    script = workdir / f"wrk-{name}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def wrk(
    url: str, script: Path | None, connections: int = CONNECTIONS, threads: int = 2, duration: str = DURATION
) -> dict[str, float]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency", url]
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


def fetch(url: str, cookie: str | None, partial: bool = False, host: str | None = None) -> bytes:
    headers = {"Cookie": cookie} if cookie else {}
    if host:
        headers["Host"] = host
    if partial:
        headers["HX-Request"] = "true"
    response = urllib.request.urlopen(urllib.request.Request(url, headers=headers))  # noqa: S310
    assert response.status == 200, (url, response.status)
    return response.read()


def first_load_bytes(base: str, html: bytes, cookie: str) -> int:
    """The page and what it loads (the stylesheet and htmx), uncompressed."""
    assets = re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)
    return len(html) + sum(len(fetch(base + a.decode(), cookie)) for a in assets)


def wrk_paths(page: Page, warm_up: bool = False) -> list[str]:
    """The activity figures under load: a new period on every request (a cache never answers);
    the warm-up's, periods further back than the measured run's."""
    first = 3000 if warm_up else 0
    return [period_shifted(page.path, first + n) for n in range(3000)] if uncached(page) else [page.path]


def deployed_model() -> dict:
    """What deploy/gunicorn.conf.py gives a site without DALIA_WORKERS or DALIA_THREADS."""
    env = {k: v for k, v in os.environ.items() if k not in ("DALIA_WORKERS", "DALIA_THREADS")}
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(env)
    try:
        conf = runpy.run_path(str(GUNICORN_CONF))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {
        "workers": conf["workers"],
        "threads": conf.get("threads", 1),
        "worker_class": conf["worker_class"],
    }


# Ten sites: a plain worker per core (threads would wait on the interpreter lock in turn).
REGION_MODEL = {"DALIA_WORKERS": "2", "DALIA_THREADS": "1"}
# The p99 target is held by the region's model — the one that also meets the memory targets (a
# plain worker per core serving the region's sites, DALIA_SITES): one site's pages measured under it;
# a site alone on its server (deploy/gunicorn.conf.py's defaults: one process, four threads, one
# core's worth under the interpreter lock) is given next to it.
MODELS = (
    ("région", REGION_MODEL),
    ("un site seul", {}),
)


def under_load(workdir: Path, seeded: Seeded, page_list: list[Page], moment: datetime) -> dict:
    port = free_port()
    rows: dict[str, dict] = {}
    for model, env in MODELS:
        servers = [start_gunicorn("bench.frozen:app", port, site_env(seeded.site, moment, env))]
        try:
            base = f"http://127.0.0.1:{port}"
            cookie = login_cookie(base, moment, seeded.site)
            for page in page_list:
                warm_up = wrk_paths(page, warm_up=True)
                wrk(
                    base + warm_up[0],
                    lua_script(workdir, "warm", cookie, warm_up, page.partial),
                    duration=WARM_DURATION,
                )
                paths = wrk_paths(page)
                script = lua_script(workdir, "page", cookie, paths, page.partial)
                result = wrk(base + paths[0], script)
                row = rows.setdefault(page.label, {"path": page.path, "partial": page.partial})
                row[model] = result
                if model == MODELS[0][0]:
                    try:
                        body = fetch(base + page.path, cookie, page.partial)
                    except (AssertionError, urllib.error.HTTPError):
                        body = b""  # wrk counted its errors: the table says so
                    row["size"] = len(body)
                    row["first_load"] = None if page.partial else first_load_bytes(base, body, cookie)
                print(
                    f"  {model:<11} {page.label:<48} {result['rps']:6.0f} req/s  "
                    f"p50 {result['p50']:5.1f} ms  p99 {result['p99']:5.1f} ms",
                    flush=True,
                )
        finally:
            stop(servers)
    return rows


def hello_world() -> dict:
    port = free_port()
    servers = [start_gunicorn("bench.hello:app", port, {})]
    try:
        return wrk(f"http://127.0.0.1:{port}/", None)
    finally:
        stop(servers)


# --- Memory ---------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [p for child in children for p in process_tree(int(child))]


def pss_mb(pid: int) -> float:
    """Proportional set size: the process's own pages, plus its share of those it shares."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1)) / 1024


def tree_pss_mb(servers: list[subprocess.Popen]) -> float:
    total = 0.0
    for server in servers:
        for pid in process_tree(server.pid):
            try:
                total += pss_mb(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass  # a worker recycled meanwhile
    return total


def bench_host(n: int) -> str:
    return f"site{n}.bench.invalid"


def ten_copies(workdir: Path, seeded: Seeded) -> list[Path]:
    """Ten sites: copies of the 1× site, each with its own domain and secret key."""
    copies = []
    for n in range(TEN_SITES):
        copy = workdir / "ten" / f"site{n}"
        shutil.copytree(seeded.site, copy)
        toml = copy / "site.toml"
        toml.write_text(toml.read_text().replace('domain = ""', f'domain = "{bench_host(n)}"', 1))
        (copy / "secret_key").write_text(secrets.token_urlsafe(48))
        copies.append(copy)
    return copies


def warm(base: str, cookie: str, seeded: Seeded, host: str | None = None) -> None:
    """A few of the pages a team opens first thing (templates compiled, queries cached)."""
    for path in ("/", f"/patients/{seeded.ids['patient']}", "/adressages", "/agenda/semaine") * 5:
        fetch(base + path, cookie, host=host)


def loaded_peak(
    workdir: Path,
    servers: list[subprocess.Popen],
    targets: list[tuple[str, str | None, Path]],
    mix,
    moment,
):
    """Each (base URL, host) loaded by its own wrk (-c2, the pages of `mix` in turn) at once; the
    peak PSS of `servers` meanwhile, and the median p99 of the loads."""
    scripts = [
        lua_script(workdir, f"ten-{n}", login_cookie(base, moment, site, host), mix, host=host)
        for n, (base, host, site) in enumerate(targets)
    ]
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        loads = [
            pool.submit(wrk, base + mix[0], script, 2, 1)
            for (base, _, _), script in zip(targets, scripts, strict=True)
        ]
        peak = 0.0
        while not all(load.done() for load in loads):
            peak = max(peak, tree_pss_mb(servers))
            time.sleep(0.5)
        results = [load.result() for load in loads]
    peak = max(peak, tree_pss_mb(servers))
    return peak, statistics.median(r["p99"] for r in results), sum(r["rps"] for r in results)


def memory(workdir: Path, seeded: Seeded, page_list: list[Page], moment: datetime) -> dict:
    """One idle site (after a few pages: what a small centre's server holds most of the day); then
    ten sites at once, each loaded by its own wrk over the benchmarked pages: as ten processes
    (one per site, as deployed) and as one process serving the ten (DALIA_SITES)."""
    port = free_port()
    servers = [start_gunicorn("dalia_site.wsgi:app", port, {"DALIA_SITE": str(seeded.site)})]
    try:
        base = f"http://127.0.0.1:{port}"
        warm(base, login_cookie(base, None, seeded.site), seeded)
        time.sleep(2)
        idle = tree_pss_mb(servers)
        idle_processes = [round(pss_mb(pid), 1) for pid in process_tree(servers[0].pid)]
    finally:
        stop(servers)

    mix = [p.path for p in page_list if not p.partial and not uncached(p)]
    copies = ten_copies(workdir, seeded)
    servers, ports = [], []
    try:
        for copy in copies:
            ports.append(free_port())
            servers.append(start_gunicorn("bench.frozen:app", ports[-1], site_env(copy, moment)))
        targets = [(f"http://127.0.0.1:{port}", None, copy) for port, copy in zip(ports, copies, strict=True)]
        for base, _, copy in targets:
            warm(base, login_cookie(base, moment, copy), seeded)
        ten, ten_p99, ten_rps = loaded_peak(workdir, servers, targets, mix, moment)
    finally:
        stop(servers)

    port = free_port()
    env = {"DALIA_SITES": " ".join(map(str, copies)), "DALIA_BENCH_NOW": moment.isoformat(), **REGION_MODEL}
    servers = [start_gunicorn("bench.frozen:app", port, env)]
    try:
        base = f"http://127.0.0.1:{port}"
        for n in range(TEN_SITES):
            warm(base, login_cookie(base, moment, copies[n], bench_host(n)), seeded, bench_host(n))
        time.sleep(2)
        region_idle = tree_pss_mb(servers)
        targets = [(base, bench_host(n), copies[n]) for n in range(TEN_SITES)]
        region, region_p99, region_rps = loaded_peak(workdir, servers, targets, mix, moment)
    finally:
        stop(servers)
    return {
        "idle": idle,
        "idle_processes": idle_processes,
        "ten": ten,
        "ten_p99": ten_p99,
        "ten_rps": ten_rps,
        "region_idle": region_idle,
        "region": region,
        "region_p99": region_p99,
        "region_rps": region_rps,
    }


# --- The report -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "oui" if ok else "**non**"


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk est introuvable : apt-get install -y wrk (make bench le fait en root)")
    wanted = os.environ.get("BENCH_SHAPES")
    shapes = [s for s in SHAPES if not wanted or s.key in wanted.split(",")]
    only = os.environ.get("BENCH_ONLY")
    narrowed = bool(wanted or only)
    load_before = os.getloadavg()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="dalia-bench-"))
    zone = ZoneInfo("Europe/Paris")
    moment = busy_weekday(zone)
    try:
        seeded, cpu = interleaved(workdir, shapes, moment, only)
        first = seeded[shapes[0].key]
        loaded = [
            p
            for p in pages(first.ids)
            if p.benchmarked and (not only or re.search(only, f"{p.label} {p.path}"))
        ]
        print("Sous charge (wrk)…", flush=True)
        hello = hello_world()
        load = under_load(workdir, first, loaded, moment)
        print("Mémoire…", flush=True)
        mem = memory(workdir, first, [p for p in pages(first.ids) if p.benchmarked], moment)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = write_results(
        shapes,
        seeded,
        cpu,
        hello,
        load,
        mem,
        moment,
        load_before,
        os.getloadavg(),
        time.perf_counter() - started,
    )
    print(report)
    if narrowed:
        print("(BENCH_SHAPES ou BENCH_ONLY : bench/RESULTS.md n'est pas réécrit)")
    else:
        (ROOT / "bench" / "RESULTS.md").write_text(report, encoding="utf-8")


def machine() -> str:
    import sqlite3

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kb / 1_048_576:.1f} GB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def number(n: float) -> str:
    return f"{n:,.0f}".replace(",", "\u202f")


def write_results(shapes, seeded, cpu, hello, load, mem, moment, load_before, load_after, seconds) -> str:
    model = deployed_model()
    base = shapes[0].key
    unmet: list[str] = []
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {datetime.now():%d/%m/%Y %H:%M} in {seconds / 60:.0f} min.",
        "",
        f"**Machine:** {machine()}.",
        "",
        f"**Load average** (1, 5, 15 min) before the run: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in load_after)}"
        + (
            " — a busy machine: the figures are high and noisy."
            if max(load_before[0], load_after[0]) > 1
            else "."
        )
        + "",
        "",
        f"**Day:** the clock is frozen on {moment:%A %d/%m/%Y %Hh%M} (a working weekday): the desk, the "
        "day's agenda and the week are a working day's.",
        "",
        "**Data** (bench/seed.py; the present — last week and the weeks ahead — is the same in every "
        "shape, planner statistics fresh as the nightly `dalia optimize` leaves them):",
        "",
    ]
    for shape in shapes:
        s = seeded[shape.key]
        lines.append(
            f"- {shape.label}, seeded in {s.seconds:.0f} s: "
            + ", ".join(f"{number(n)} {table}" for table, n in s.counts.items())
        )
    lines += [
        "",
        "## In process: CPU per page",
        "",
        "Flask test client, no server: `time.process_time()` around each request, many requests per "
        f"page and shape (≥ {MIN_SAMPLES}, up to {CPU_SECONDS:g} s of CPU), taken in {ROUNDS} rounds in "
        "which the shapes' processes take turns: a page's growth factors compare moments close "
        "together. The activity figures are asked after "
        "a patient view (which writes to the audit trail) and for a period not asked before: never "
        f"from a cache. Targets: median ≤ {TARGET_MEDIAN_MS:g} ms on ten years (the activity figures, "
        f"a year worked out: ≤ {TARGET_ACTIVITY_MS:g} ms), growth ≤ "
        f"{TARGET_GROWTH}× with 3× the patients and with 30 years of history, ≤ {TARGET_QUERIES} SQL "
        f"statements; a search by words (« (recherche) ») ≤ {TARGET_SEARCH_GROWTH}× with 3× the patients. "
        "An export of every row of a table (the whole directory) grows with its rows by "
        "nature: its growth is its cost per row (« a row », with how many times the rows).",
        "",
    ]
    header = f"| page | median ms ({base}) | p95 ms | queries | bytes |"
    rule = "|---|---|---|---|---|"
    for shape in shapes[1:]:
        header += f" median ms ({shape.key}) | {shape.key}/{base} |"
        rule += "---|---|"
    lines += [header + " met |", rule + "---|"]
    listed = {page.label: page for page in pages(seeded[base].ids)}
    for label, r in cpu[base].items():
        if "error" in r:
            unmet.append(f"{label} (erreur HTTP {r['error']})")
            lines.append(
                f"| {label} | **erreur HTTP {r['error']}** |"
                + " — |" * (3 + 2 * len(shapes[1:]))
                + " **non** |"
            )
            continue
        limit = TARGET_ACTIVITY_MS if label in listed and uncached(listed[label]) else TARGET_MEDIAN_MS
        checks = [r["median"] <= limit, r["queries"] <= TARGET_QUERIES]
        marked = f"{label} (recherche)" if label in listed and listed[label].search else label
        row = f"| {marked} | {r['median']:.2f} | {r['p95']:.2f} | {r['queries']} | {r['bytes']} |"
        for shape in shapes[1:]:
            other = cpu[shape.key].get(label)
            if other is None or "error" in other:
                checks.append(False)
                row += f" {'—' if other is None else '**erreur HTTP ' + str(other['error']) + '**'} | — |"
                continue
            growth = other["median"] / r["median"]
            table = listed[label].every_row_of if label in listed else ""
            if table:  # an export of every row: its cost per row is what must not grow
                rows = seeded[shape.key].counts[table] / seeded[base].counts[table]
                growth /= rows
                row += f" {other['median']:.2f} | {growth:.2f}× a row ({rows:.2f}× the rows) |"
            else:
                row += f" {other['median']:.2f} | {growth:.2f}× |"
            searching = label in listed and listed[label].search and shape.scale > shapes[0].scale
            checks.append(growth <= (TARGET_SEARCH_GROWTH if searching else TARGET_GROWTH))
        if not all(checks):
            unmet.append(label)
        lines.append(row + f" {verdict(all(checks))} |")
    first_model = MODELS[0][0]
    lines += [
        "",
        "## Under load: wrk at 8 connections (1× data)",
        "",
        "gunicorn with deploy/gunicorn.conf.py (access log off) — the region's model: "
        f"{REGION_MODEL['DALIA_WORKERS']} worker processes × {REGION_MODEL['DALIA_THREADS']} thread, "
        "a plain worker per core, as when one process tree serves the region's sites (`DALIA_SITES`, the "
        "model that meets the memory targets below); the other column: a site alone with the "
        f"defaults, {model['workers']} process × {model['threads']} threads ({model['worker_class']}), "
        f"one core's worth under the interpreter lock. wrk -t2 -c{CONNECTIONS} -d{DURATION} "
        "on loopback with the session cookie (and `HX-Request: true` for htmx partials); the activity "
        "figures ask for a new period on every request. Each page's run follows "
        f"{WARM_DURATION} of wrk on it, not counted (the workers' first requests of a page compile its "
        "statements and templates; the activity figures' warm-up asks for other periods). wrk and "
        "gunicorn share the machine. "
        f"Target: p99 < {TARGET_P99_MS} ms with the region's model.",
        "",
        f"| page | req/s | p50 ms | p99 ms | p99 ms, {MODELS[1][0]} | non-2xx | response bytes "
        f"| first load bytes (≤ {TARGET_FIRST_LOAD_BYTES // 1024} KB) | partial ≤ "
        f"{TARGET_PARTIAL_BYTES // 1024} KB | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in load.items():
        r, other = row[first_model], row[MODELS[1][0]]
        size_ok = (
            row["size"] <= TARGET_PARTIAL_BYTES
            if row["partial"]
            else row["first_load"] <= TARGET_FIRST_LOAD_BYTES
        )
        ok = r["p99"] < TARGET_P99_MS and r["errors"] == 0 and size_ok and row["size"] > 0
        if not ok:
            unmet.append(f"{label} (sous charge)")
        lines.append(
            f"| {label} `{row['path']}` | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
            f"| {other['p99']:.1f} | {r['errors']} | {row['size']} "
            f"| {'—' if row['partial'] else row['first_load']} | "
            f"{verdict(size_ok) if row['partial'] else '—'} | {verdict(ok)} |"
        )
    # A site alone (one process tree), or among ten in one process (its share of that process).
    region_site = mem["region_idle"] / TEN_SITES
    idle_ok = min(mem["idle"], region_site) <= TARGET_IDLE_PSS_MB
    ten_ok = min(mem["ten"], mem["region"]) <= TARGET_TEN_SITES_PSS_MB
    if not idle_ok:
        unmet.append("mémoire d'un site au repos")
    if not ten_ok:
        unmet.append("mémoire de dix sites sous charge")
    region = (
        f"`DALIA_SITES`, {REGION_MODEL['DALIA_WORKERS']} workers × {REGION_MODEL['DALIA_THREADS']} thread(s)"
    )
    lines += [
        "",
        f"Context only (it swings with the machine's load): a hello-world Flask app under the same settings, "
        f"{hello['rps']:.0f} req/s, p50 {hello['p50']:.1f} ms, p99 {hello['p99']:.1f} ms.",
        "",
        "## Memory (PSS, master and workers, from /proc/PID/smaps_rollup)",
        "",
        f"Targets: ≤ {TARGET_IDLE_PSS_MB} MB per idle site, ≤ {TARGET_TEN_SITES_PSS_MB} MB for ten sites "
        "under load.",
        "",
        "| | one site, idle after a few pages | per site | ten sites under load, peak | their p99 ms (median "
        "of ten wrk -c2) | their req/s |",
        "|---|---|---|---|---|---|",
        f"| a process tree per site (deployed model) | {mem['idle']:.0f} MB "
        f"({' + '.join(f'{p}' for p in mem['idle_processes'])}) | {mem['idle']:.0f} MB | {mem['ten']:.0f} MB "
        f"| {mem['ten_p99']:.1f} | {mem['ten_rps']:.0f} |",
        f"| ten sites in one process ({region}) | {mem['region_idle']:.0f} MB for the ten | "
        f"{region_site:.0f} MB | {mem['region']:.0f} MB | {mem['region_p99']:.1f} "
        f"| {mem['region_rps']:.0f} |",
        "",
        f"Per idle site ≤ {TARGET_IDLE_PSS_MB} MB: {verdict(idle_ok)}; ten sites ≤ "
        f"{TARGET_TEN_SITES_PSS_MB} MB: {verdict(ten_ok)} (the better of the two ways).",
        "",
        f"Every target met: {verdict(not unmet)}." + (f" Not met: {'; '.join(unmet)}." if unmet else ""),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
