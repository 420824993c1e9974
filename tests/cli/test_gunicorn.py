"""A provisioned site runs under gunicorn with deploy/gunicorn.conf.py, as in production."""

import concurrent.futures
import gc
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, deadline: float = 20.0) -> bytes:
    start = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                return response.read()
        except OSError:
            if time.monotonic() - start > deadline:
                raise
            time.sleep(0.2)


def start_gunicorn(template, tmp_path, workers: int | None):
    """A copy of the provisioned site under gunicorn with deploy/gunicorn.conf.py, as deployed
    (with its own worker model when `workers` is None); its output (access log included) is read
    when it is stopped."""
    site = tmp_path / "site"
    shutil.copytree(template, site)
    port = free_port()
    env = dict(os.environ, DALIA_SITE=str(site), DALIA_BIND=f"127.0.0.1:{port}", DALIA_WORKERS=str(workers))
    if workers is None:
        env = {k: v for k, v in env.items() if k not in ("DALIA_WORKERS", "DALIA_THREADS")}
    return run_gunicorn(env, tmp_path), port


def run_gunicorn(env: dict, cwd: Path) -> subprocess.Popen:
    """dalia_site.wsgi:app under gunicorn with deploy/gunicorn.conf.py and `env`; its output is
    read when it is stopped."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "dalia_site.wsgi:app",
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_site_under_gunicorn_answers_health_and_login(sqlite_site_template, tmp_path):
    server, port = start_gunicorn(sqlite_site_template, tmp_path, workers=2)
    try:
        assert b'"status":"ok"' in wait_for(f"http://127.0.0.1:{port}/healthz").replace(b" ", b"")
        login = wait_for(f"http://127.0.0.1:{port}/connexion").decode()
        assert "<h1>Connexion</h1>" in login and "DALIA Bassin Carcassonnais" in login
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert "Booting worker" in output
    assert '"GET /connexion" 200' in output  # the access log, without query strings


def test_wsgi_without_dalia_site_explains_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DALIA_SITE"}
    result = subprocess.run(
        [sys.executable, "-c", "import dalia_site.wsgi"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "DALIA_SITE n'est pas défini" in result.stderr


def test_the_access_log_masks_private_link_tokens(sqlite_site_template, tmp_path):
    """A referral-form or calendar-feed token never lands in gunicorn's access log."""
    server, port = start_gunicorn(sqlite_site_template, tmp_path, workers=1)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        for path in ("/adressage/secret-token-123", "/agenda/secret-feed-456.ics"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)  # noqa: S310
            except urllib.error.HTTPError as error:
                assert error.code == 404
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert '"GET /adressage/…" 404' in output and '"GET /agenda/….ics" 404' in output
    assert "secret-token-123" not in output and "secret-feed-456" not in output


def test_as_deployed_a_site_is_one_worker_process_whose_threads_serve_together(
    sqlite_site_template, tmp_path
):
    """The least memory for a small site: one worker process; its four threads answer requests
    that arrive together."""
    server, port = start_gunicorn(sqlite_site_template, tmp_path, workers=None)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(lambda _: wait_for(f"http://127.0.0.1:{port}/connexion"), range(16)))
        assert all(b"<h1>Connexion</h1>" in page for page in pages)
        workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(workers) == 1
        threads = int(
            re.search(r"^Threads:\s+(\d+)", Path(f"/proc/{workers[0]}/status").read_text(), re.M)[1]
        )
        assert threads >= 4
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert "Using worker: gthread" in output


def test_serving_pages_loads_neither_alembic_nor_the_password_dictionaries(sqlite_site_template):
    """12 MB each in every process that serves pages: loaded by the commands that need them only."""
    script = (
        "import sys\n"
        "from dalia_site import create_app\n"
        f"app = create_app({str(sqlite_site_template)!r})\n"
        "assert b'Connexion' in app.test_client().get('/connexion').data\n"
        "print(sorted(m for m in ('alembic', 'flask_migrate', 'zxcvbn') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_worker_freezes_what_outlives_a_full_collection(monkeypatch):
    """In a worker, after the request a full collection ran in, what survived it (statements
    compiled, templates, the figures and roster days kept) leaves the collector's sight: the next
    full collection reads only what came since — on a worker that had served a day's pages, it
    held the requests waiting behind it 10–18 ms. DALIA_GC_FREEZE=0 turns it off."""
    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    gc.disable()  # no collection but those the test runs
    before = gc.get_freeze_count()  # what the test's process froze, if it did
    try:
        conf["post_fork"](None, None)
        kept = [[n] for n in range(1000)]  # what a worker keeps
        conf["post_request"](None, None, None, None)
        assert gc.get_freeze_count() == before  # no full collection yet
        gc.collect(1)
        conf["post_request"](None, None, None, None)
        assert gc.get_freeze_count() == before  # nor after a younger one
        gc.collect()
        conf["post_request"](None, None, None, None)
        assert gc.get_freeze_count() >= before + len(kept)
        frozen = gc.get_freeze_count()
        conf["post_request"](None, None, None, None)
        assert gc.get_freeze_count() == frozen  # once per full collection
    finally:
        gc.callbacks.remove(conf["_note_full_collection"])
        gc.unfreeze()  # the test's objects back in the collector's sight
        gc.enable()

    monkeypatch.setenv("DALIA_GC_FREEZE", "0")
    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    callbacks = list(gc.callbacks)
    conf["post_fork"](None, None)
    assert gc.callbacks == callbacks
    gc.collect()
    conf["post_request"](None, None, None, None)
    assert gc.get_freeze_count() == 0  # unfrozen above, and not frozen again
