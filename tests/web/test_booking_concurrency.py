"""No double booking under load: 20 people book the same first-visit slot at the same moment.

The app is served by a real threaded Werkzeug server (one thread per request, one database
connection each), on SQLite and on PostgreSQL (db_backend of tests/web/conftest.py). One staff
session is logged in once; its cookie and CSRF token are shared by the 20 threads, which a
barrier releases together. The database must let exactly one booking through; the others are
told the slot was just taken and get a fresh list, never a server error.
"""

import html
import http.client
import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
from contextlib import contextmanager

from sqlalchemy import select
from werkzeug.serving import make_server

from dalia_site.domain import booking
from dalia_site.extensions import db
from dalia_site.models import Appointment
from tests.conftest import PASSWORD, csrf_from, totp_code
from tests.web.test_booking import DOCTOR, MORNING, NURSE, accepted, at, tomorrow
from tests.web.test_roster import make_member, make_session

THREADS = 20
TAKEN = "Ce créneau vient d'être pris"


@contextmanager
def served(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="booking-server", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)


def logged_in(port: int, email: str) -> tuple[str, str]:
    """Log in through the form with the standard library: (Cookie header, CSRF token)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    with opener.open(f"{base}/connexion", timeout=10) as page:
        token = csrf_from(page.read().decode())
    form = urllib.parse.urlencode(
        {"csrf_token": token, "email": email, "password": PASSWORD, "code": totp_code()}
    )
    with opener.open(f"{base}/connexion", data=form.encode(), timeout=10) as home:
        assert home.url == f"{base}/", home.url
        token = csrf_from(home.read().decode())
    return "; ".join(f"{c.name}={c.value}" for c in jar), token


def post(port: int, path: str, cookie: str, values: dict) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            path,
            body=urllib.parse.urlencode(values),
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        return response.status, html.unescape(response.read().decode())
    finally:
        connection.close()


def test_twenty_simultaneous_bookings_of_one_slot_store_exactly_one(app, make_user):
    day = tomorrow()
    doctor = make_member(app, DOCTOR)
    nurse = make_member(app, NURSE, profession="infirmier_azalee")
    make_session(app, doctor, day, MORNING)
    make_session(app, nurse, day, MORNING)
    patients = [
        accepted(app, f"Patient{chr(65 + i)}", first_names=f"Prénom{chr(65 + i)}") for i in range(THREADS)
    ]
    start = at(day, 8, 30)
    assistant = make_user("assistant")

    with served(app) as port:
        cookie, token = logged_in(port, assistant.email)
        barrier = threading.Barrier(THREADS)
        results: dict[int, tuple[int, str]] = {}

        def book(patient_id: int) -> None:
            barrier.wait(timeout=30)
            try:
                results[patient_id] = post(
                    port,
                    f"/patients/{patient_id}/rendez-vous",
                    cookie,
                    {
                        "csrf_token": token,
                        "kind": "first",
                        "start": start.isoformat(),
                        "members": f"{doctor},{nurse}",
                        "override_reason": "",
                    },
                )
            except Exception as error:  # reported below, with the others
                results[patient_id] = (0, repr(error))

        threads = [threading.Thread(target=book, args=(p,)) for p in patients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    statuses = sorted(status for status, _ in results.values())
    assert len(results) == THREADS
    assert statuses == [303] + [409] * (THREADS - 1), statuses
    winners = [p for p, (status, _) in results.items() if status == 303]
    for patient_id, (status, body) in results.items():
        if status == 409:
            assert TAKEN in body, f"patient {patient_id}: 409 without the message"
            # A fresh list: the next free pair slot, once the winner's hour is over.
            fresh = [booking.slot_start(s) for s in re.findall(r'name="creneau" value="([0-9T]+Z)_', body)]
            assert fresh and fresh[0] == at(day, 9, 30), (patient_id, fresh[:2])
    with app.app_context():
        stored = db.session.scalars(select(Appointment)).all()
        assert [(a.patient_id, a.starts_at, a.status) for a in stored] == [(winners[0], start, "booked")]
