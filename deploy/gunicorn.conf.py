"""gunicorn settings for one DALIA site (one process tree per site).

    DALIA_SITE=/srv/dalia/instances/aveyron gunicorn -c deploy/gunicorn.conf.py dalia_site.wsgi:app

DALIA_BIND overrides the address (the systemd unit passes the site's unix socket; default
127.0.0.1:8000) and DALIA_WORKERS the number of workers.
"""

import multiprocessing
import os

bind = os.environ.get("DALIA_BIND", "127.0.0.1:8000")
# Sync workers, one per core and at least two: the app is I/O-light and SQLite (WAL) serialises
# writes anyway; on a 2-core machine four workers measured no faster than two.
workers = int(os.environ.get("DALIA_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = "sync"
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
proc_name = "dalia-" + os.path.basename(os.environ.get("DALIA_SITE", "site").rstrip("/"))
# gunicorn's control socket (gunicornc, gunicorn >= 25.1) defaults to $HOME/.gunicorn/gunicorn.ctl:
# one file for every site of the user, deleted by the first that stops. Each site has its own
# (the unit sets DALIA_CONTROL_SOCKET=/run/dalia/<slug>/gunicorn.ctl), or none at all.
if os.environ.get("DALIA_CONTROL_SOCKET"):
    control_socket = os.environ["DALIA_CONTROL_SOCKET"]
else:
    control_socket_disable = True
