"""The site of DALIA_SITE (dalia_site.wsgi) with its clock at DALIA_BENCH_NOW: the benchmark serves
its busy weekday under gunicorn whatever day it runs (a Sunday's desk and agenda are empty)."""

import os
from datetime import datetime

from dalia_site import clock
from dalia_site.wsgi import app as site

MOMENT = datetime.fromisoformat(os.environ["DALIA_BENCH_NOW"])


def app(environ, start_response):
    with clock.clock_at(MOMENT):
        return site(environ, start_response)
