"""gunicorn settings for one DALIA site (one process tree per site).

    DALIA_SITE=/srv/dalia/instances/aveyron gunicorn -c deploy/gunicorn.conf.py dalia_site.wsgi:app

DALIA_BIND overrides the address (the systemd unit passes the site's unix socket; default
127.0.0.1:8000).

A small site runs as one worker process with four threads (DALIA_WORKERS=1, DALIA_THREADS=4): a
centre's team is a few people, and memory, not CPU, limits how many sites a server holds (one
process saves the second copy of the app). Threads share one interpreter lock, so one process uses
one core: a busier site grows with DALIA_WORKERS=2 (one per core; bench/RESULTS.md measures both),
set in a drop-in of its unit (`systemctl edit dalia@<slug>`: `Environment=DALIA_WORKERS=2`).
DALIA_THREADS=1 gives plain sync workers.

DALIA_SITES (site folders separated by spaces) instead of DALIA_SITE: one process tree serves those
sites, each by its domain (dalia_site.region; deploy/README.md, « Many small sites »).
"""

import gc
import os

# A unix socket by default (the systemd unit passes /run/dalia/<slug>/gunicorn.sock, which nginx
# reads): no TCP port that anyone on the machine could reach without nginx. DALIA_BIND=127.0.0.1:8000
# for a TCP port; with proxy_hops = 1, only [security] trusted_proxies may send X-Forwarded-*.
bind = os.environ.get(
    "DALIA_BIND", "unix:" + os.path.join(os.environ.get("DALIA_SITE", "."), "gunicorn.sock")
)
workers = int(os.environ.get("DALIA_WORKERS", 1))
threads = int(os.environ.get("DALIA_THREADS", 4))
worker_class = "gthread" if threads > 1 else "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so that no slow leak can grow a worker's memory without bound.
max_requests = 20000
max_requests_jitter = 2000
# The app is loaded once in the master and workers fork from it: a recycled worker is ready at
# once (measured: p99 fell from ~450 ms to ~20 ms under load when workers recycled). create_app
# opens no database connection, so none is shared across the fork; each worker opens its own.
preload_app = True
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Access log without query strings (a search box's query may hold a patient's name) and with
# the private tokens of referral-form and calendar-feed paths masked.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
logger_class = "dalia_site.gunicorn_logging.MaskingLogger"
forwarded_allow_ips = os.environ.get("DALIA_FORWARDED_ALLOW_IPS", "127.0.0.1")
# "gunicorn: worker [dalia-aveyron]" in ps and top (setproctitle, a dependency of the kit): the
# sites of a server told apart.
proc_name = "dalia-" + (
    "region"
    if os.environ.get("DALIA_SITES")
    else os.path.basename(os.environ.get("DALIA_SITE", "site").rstrip("/"))
)
# gunicorn's control socket (gunicornc, gunicorn >= 25.1) defaults to $HOME/.gunicorn/gunicorn.ctl:
# one file for every site of the user, deleted by the first that stops. Each site has its own
# (the unit sets DALIA_CONTROL_SOCKET=/run/dalia/<slug>/gunicorn.ctl), or none at all.
if os.environ.get("DALIA_CONTROL_SOCKET"):
    control_socket = os.environ["DALIA_CONTROL_SOCKET"]
else:
    control_socket_disable = True


FREEZE = os.environ.get("DALIA_GC_FREEZE", "1") == "1"


def when_ready(_server):
    """The app is loaded (preload_app): its objects move out of the garbage collector's sight, so
    that collections in a worker do not write to — and copy — the pages it shares with the master."""
    if FREEZE:
        gc.freeze()


# In a worker, what outlives a full collection (the statements compiled, the templates, the
# figures and roster days kept) is frozen in turn, after the request it ran in: the next full
# collection reads only what came since. A full collection of a worker that had served the
# day's pages took 10–18 ms, the requests waiting on it that long (bench/run.py, wrk at 8
# connections); 1–6 ms so (measured on the 1× bench site). What a frozen object leaves, the
# collector no longer frees if it was a cycle: little, and a worker is recycled (max_requests).
_full_collection = [False]


def _note_full_collection(phase: str, info: dict) -> None:
    if phase == "stop" and info["generation"] == 2:
        _full_collection[0] = True


def post_fork(_server, _worker):
    if FREEZE:
        gc.callbacks.append(_note_full_collection)


def post_request(_worker, _req, _environ, _resp):
    if _full_collection[0]:
        _full_collection[0] = False
        gc.freeze()
