"""Durability and load of a provisioned SQLite site under gunicorn (deploy/gunicorn.conf.py),
through real HTTP, as in production.

1. kill -9 in the middle of a burst of writes: every write acknowledged before the kill is in
   the database after a restart, complete, and the database is intact (and still in WAL mode).
   1b. A full disk (a file size limit on gunicorn): writes may be refused, never acknowledged
   without being stored.
2. `dalia backup` while referrals keep arriving: each backup is a consistent, complete snapshot,
   and `dalia restore` brings it back.
3. Load: LOAD_CLIENTS clients at once, each with a fixed plan of LOAD_ROUNDS rounds (env
   DALIA_LOAD_ROUNDS) on a mixed workload (day agenda, patient search, booking, the partner's
   referral form), clients racing for the same slots: no server error, no connection error, every
   planned request answered, each contested slot confirmed to exactly one client (no double
   booking), every acknowledged write in the database; p50 / p99 latencies are printed (run with
   `pytest -s`) and written to a JSON file under the test's tmp_path.

The site under test trusts one reverse proxy (site.toml [security] proxy_hops = 1, as behind
nginx in production) so that each partner can come from its own address (X-Forwarded-For): the
public form's rate limits (per link and per address) would otherwise refuse a burst from one
loopback address. Links are used at most LINK_USES times each, below the per-link limit.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from http.cookies import SimpleCookie
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dalia_site import clock as kit_clock
from dalia_site import create_app
from dalia_site.domain import partners, referrals, roster
from dalia_site.extensions import db
from dalia_site.models import PartnerOrganisation, StaffUser
from tests.cli.test_gunicorn import free_port, wait_for
from tests.conftest import PASSWORD, csrf_from, totp_code

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
LOAD_CLIENTS = 50
REQUEST_TIMEOUT = 30  # seconds; gunicorn's own worker timeout is 30 s too
LINK_USES = 15  # referrals posted per partner link (the site refuses a 21st within an hour)
# Sessions of each clinician: every weekday, morning and afternoon (local wall-clock times).
HALF_DAYS = ((clock(8, 30), clock(12, 30)), (clock(13, 30), clock(17, 30)))
# First visits (60 minutes, the doctor and the nurse together) that fit those half-days.
FIRST_VISIT_HOURS = tuple(clock(h, 30) for h in (8, 9, 10, 11, 13, 14, 15, 16))
REFERENCE_RE = re.compile(r'<p class="reference">(DAL-\d{4}-\d+)</p>')
CONVOCATION_RE = re.compile(r"/rendez-vous/(\d+)/convocation$")
SYLLABLES = ("ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "zo", "ka", "lu")


def word(n: int, prefix: str = "") -> str:
    """A pronounceable word of its own for each n (a unique name, letters only)."""
    syllables = []
    for _ in range(4):
        n, rest = divmod(n, len(SYLLABLES))
        syllables.append(SYLLABLES[rest])
    return (prefix + "".join(reversed(syllables))).capitalize()


# --- the site and its server ------------------------------------------------------------------


def provision(template: Path, tmp_path: Path) -> Path:
    """A copy of the provisioned site, behind one trusted reverse proxy."""
    site = tmp_path / "instances" / "test"
    shutil.copytree(template, site)
    toml = site / "site.toml"
    text = toml.read_text(encoding="utf-8")
    assert "proxy_hops = 0" in text
    toml.write_text(text.replace("proxy_hops = 0", "proxy_hops = 1"), encoding="utf-8")
    return site


class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py in its own process group (master and workers), its
    output (access log included) in a file. PYTHONPATH makes it import this checkout's code."""

    def __init__(self, site: Path, log: Path):
        self.site, self.log = site, log
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.file_size_limit: int | None = None  # bytes: a "full disk" for every file written

    def start(self) -> Gunicorn:
        self.port = free_port()
        env = dict(
            os.environ, DALIA_SITE=str(self.site), DALIA_BIND=f"127.0.0.1:{self.port}", PYTHONPATH=str(ROOT)
        )
        env.pop("DALIA_WORKERS", None)  # the workers the config chooses, as deployed
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "dalia_site.wsgi:app",
                ],
                env=env,
                cwd=self.site.parent,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._limits if self.file_size_limit else None,
            )
        body = wait_for(f"http://127.0.0.1:{self.port}/healthz", deadline=30)
        assert b'"status":"ok"' in body.replace(b" ", b"")
        return self

    def _limits(self) -> None:
        """In the child before exec: writes beyond the limit fail with EFBIG, as on a full disk
        (Python ignores SIGXFSZ, so the processes live on)."""
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size_limit, self.file_size_limit))

    def kill(self) -> None:
        """SIGKILL to the whole process group: the master and every worker at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


# --- an HTTP user agent -----------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    location: str
    text: str
    seconds: float


class Browser:
    """One user agent with its cookies; a new connection per request (gunicorn's sync workers
    close each one). Connection errors and timeouts are raised, never hidden."""

    def __init__(self, port: int, address: str):
        self.port, self.address = port, address
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(
        self,
        method: str,
        path: str,
        fields: dict | None = None,
        headers: dict | None = None,
        address: str | None = None,
    ) -> Answer:
        sent = {"X-Forwarded-For": address or self.address, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        seconds = time.perf_counter() - started
        for value in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Answer(
            response.status,
            response.headers.get("Location", ""),
            html.unescape(data.decode("utf-8", "replace")),
            seconds,
        )

    def login(self, email: str) -> Browser:
        token = csrf_from(self.request("GET", "/connexion").text)
        answer = self.request(
            "POST",
            "/connexion",
            {"csrf_token": token, "email": email, "password": PASSWORD, "code": totp_code()},
        )
        assert answer.status == 302, (answer.status, answer.text[:500])
        home = self.request("GET", "/")
        assert home.status == 200, home.status
        self.csrf = csrf_from(home.text)
        return self

    def tab(self, address: str) -> Browser:
        """Another client in the same logged-in session."""
        other = Browser(self.port, address)
        other.cookies, other.csrf = dict(self.cookies), self.csrf
        return other

    def open_form(self, token: str) -> Answer:
        answer = self.request("GET", f"/adressage/{token}")
        if answer.status == 200:
            self.csrf = csrf_from(answer.text)
        return answer

    def post_referral(self, token: str, identity: dict, address: str) -> Answer:
        return self.request(
            "POST", f"/adressage/{token}", {"csrf_token": self.csrf, **identity}, address=address
        )

    def book(self, patient_id: int, slot: Slot) -> Answer:
        return self.request(
            "POST",
            f"/patients/{patient_id}/rendez-vous",
            {
                "csrf_token": self.csrf,
                "kind": "first",
                "start": slot.start.isoformat(),
                "members": f"{slot.doctor},{slot.nurse}",
                "override_reason": "",
            },
        )


def in_threads(target, count: int, name: str) -> tuple[list[threading.Thread], list[str]]:
    """`count` started threads running target(index); what any of them raised is reported in the
    list returned (an exception in a thread would otherwise only be printed)."""
    raised: list[str] = []

    def run(index: int) -> None:
        try:
            target(index)
        except Exception as error:  # reported to the test, which then fails
            raised.append(f"{name}-{index}: {error!r}")

    threads = [threading.Thread(target=run, args=(i,), name=f"{name}-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, raised


def join(threads: list[threading.Thread], timeout: float) -> None:
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, end - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a client thread hangs"


def logged_in(port: int, emails: list[str], addresses: list[str]) -> list[Browser]:
    """Browsers logged in through the form, all at once (argon2 checks take a while each)."""
    browsers = [Browser(port, address) for address in addresses]
    threads, raised = in_threads(lambda i: browsers[i].login(emails[i % len(emails)]), len(browsers), "login")
    join(threads, 120)
    assert not raised, raised
    return browsers


def referral_identity(n: int, prefix: str) -> dict:
    """What a partner types for a patient of its own (a unique name)."""
    return {
        "last_name": word(n, prefix),
        "first_names": word(n * 7 + 3, "Pre"),
        "birth_name": "",
        "birth_date": (date(1935, 1, 1) + timedelta(days=n % 20000)).strftime("%d/%m/%Y"),
        "sex": "FM"[n % 2],
        "email": "",
        "address": "",
        "phone": "06 12 34 56 78",  # accepting needs a way to reach the patient
        "postcode": "11000",
        "commune": "Carcassonne",
        "ald": "unknown",
        "ald_label": "",
        "gp_status": "none",
        "gp_name": "",
        "referrer_name": "Inès Barthe",
        "referrer_profession": "infirmière libérale",
        "referrer_phone": "04 68 72 00 00",
        "referrer_email": "",
        "reason": f"Sans médecin traitant depuis son déménagement (demande {n}).",
    }


class Addresses:
    """A distinct client address for each partner request (10.x.y.z)."""

    def __init__(self, first: int = 1):
        self._numbers = iter(range(first, 1 << 24))
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            n = next(self._numbers)
        return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"


class Links:
    """Hands out partner links, each one LINK_USES times at most."""

    def __init__(self, tokens: list[str]):
        self._tokens, self._uses, self._lock = tokens, 0, threading.Lock()

    def next(self) -> str:
        with self._lock:
            index = self._uses // LINK_USES
            self._uses += 1
        assert index < len(self._tokens), "not enough partner links seeded for this test"
        return self._tokens[index]


# --- seeding the site (the app's own domain functions, in this process) -----------------------


@dataclass(frozen=True)
class Slot:
    start: datetime
    doctor: int
    nurse: int


@dataclass
class Seed:
    pairs: list[tuple[int, int]] = field(default_factory=list)
    patients: list[int] = field(default_factory=list)
    patient_names: dict[int, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    assistants: list[str] = field(default_factory=list)


def seed_site(site: Path, password_hash: str, pairs: int, patients: int, links: int, assistants: int) -> Seed:
    """`pairs` doctor + nurse pairs on duty every weekday from today on, `patients` accepted
    patients (follow-up, never booked), partner links and assistant accounts."""
    seed = Seed()
    today = datetime.now(PARIS).date()
    app = create_app(site)
    with app.app_context():
        for i in range(pairs):
            doctor = roster.save_member(
                db.session,
                None,
                None,
                {
                    "name": f"Dr {word(i, 'Med')}",
                    "profession": "medecin",
                    "team": "flexible",
                    "doctor_status": "retraite",
                },
                None,
            )
            nurse = roster.save_member(
                db.session,
                None,
                None,
                {"name": word(i, "Inf"), "profession": "infirmier_azalee", "team": "stable"},
                None,
            )
            for member in (doctor, nurse):
                for weekday in range(5):
                    for start, end in HALF_DAYS:
                        roster.add_pattern(
                            db.session, None, member, weekday, start, end, today, None, PARIS, today=today
                        )
            seed.pairs.append((doctor.id, nurse.id))
        for n in range(patients):
            identity = {
                "last_name": word(n, "Pat"),
                "first_names": word(n * 3 + 1, "Sui"),
                "birth_name": "",
                "birth_date": date(1930, 1, 1) + timedelta(days=n * 7),
                "sex": "FM"[n % 2],
                "email": "",
                "address": "",
                "phone": "06 12 34 56 78",  # accepting needs a way to reach the patient
                "postcode": "11000",
                "commune": "Carcassonne",
                "ald": "unknown",
                "ald_label": "",
                "gp_status": "none",
                "gp_name": "",
            }
            referral = referrals.receive(
                db.session,
                None,
                "direct",
                identity,
                {},
                "",
                now=kit_clock.now(),
                today=kit_clock.today(ZoneInfo("Europe/Paris")),
            )
            patient = referrals.decide(db.session, None, referral, "accepted", now=kit_clock.now())
            assert patient.status == "follow_up"
            seed.patients.append(patient.id)
            seed.patient_names[patient.id] = identity["last_name"]
            if n % 200 == 199:
                db.session.commit()
        organisation = db.session.scalars(
            select(PartnerOrganisation)
            .where(PartnerOrganisation.active.is_(True))
            .order_by(PartnerOrganisation.id)
        ).first()
        for i in range(links):
            _, token = partners.create_referral_link(db.session, None, organisation, f"essai {i}")
            seed.links.append(token)
        for i in range(assistants):
            email = f"assistante{i}@durabilite.dalia.invalid"
            db.session.add(
                StaffUser(
                    email=email,
                    name=f"Assistante {word(i)}",
                    role="assistant",
                    active=True,
                    password_hash=password_hash,
                    must_change_password=False,
                )
            )
            seed.assistants.append(email)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return seed


def free_first_visit_slots(pairs: list[tuple[int, int]], count: int) -> list[Slot]:
    """`count` distinct first-visit slots inside the pairs' sessions, from the day after tomorrow
    on, earliest first; no two share a clinician and a time."""
    day = datetime.now(PARIS).date() + timedelta(days=2)
    slots: list[Slot] = []
    while len(slots) < count:
        if day.weekday() < 5:
            for hour in FIRST_VISIT_HOURS:
                for doctor, nurse in pairs:
                    slots.append(Slot(datetime.combine(day, hour, tzinfo=PARIS), doctor, nurse))
        day += timedelta(days=1)
    return slots[:count]


# --- reading the database directly ------------------------------------------------------------


def database(site: Path) -> sqlite3.Connection:
    return sqlite3.connect(site / "dalia.sqlite3", timeout=30)


def utc(stored: str) -> datetime:
    """A UTCDateTime column as SQLite holds it (naive UTC text)."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def integrity_problems(connection: sqlite3.Connection) -> list[str]:
    """What PRAGMA integrity_check and foreign_key_check find, and what a half-written
    transaction would leave: referrals without their reference or their audit event,
    appointments without their clinicians or their audit event, double bookings."""
    problems = []
    check = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if check != ["ok"]:
        problems.append(f"integrity_check: {check[:10]}")
    foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
    if foreign:
        problems.append(f"foreign_key_check: {foreign[:10]}")
    for referral_id, reference, received_at in connection.execute(
        "SELECT id, reference, received_at FROM referral"
    ):
        if reference != f"DAL-{utc(received_at):%Y}-{referral_id:05d}":
            problems.append(f"referral {referral_id}: reference {reference!r}")
    unaudited = connection.execute(
        "SELECT id FROM referral WHERE CAST(id AS TEXT) NOT IN (SELECT object_id FROM audit_event "
        "WHERE action = 'referral.receive')"
    ).fetchall()
    if unaudited:
        problems.append(f"referrals without their audit event: {unaudited[:10]}")
    for appointment_id, kind, clinicians in connection.execute(
        "SELECT a.id, a.kind, count(c.id) FROM appointment a LEFT JOIN appointment_clinician c "
        "ON c.appointment_id = a.id GROUP BY a.id"
    ):
        if clinicians != (2 if kind == "first" else 1):
            problems.append(f"appointment {appointment_id} ({kind}) with {clinicians} clinician(s)")
    booked = {
        int(summary.split("n° ")[1].split(" ")[0])
        for (summary,) in connection.execute(
            "SELECT summary FROM audit_event WHERE action = 'appointment.book'"
        )
    }
    unaudited = [i for (i,) in connection.execute("SELECT id FROM appointment") if i not in booked]
    if unaudited:
        problems.append(f"appointments without their audit event: {unaudited[:10]}")
    double = double_bookings(connection)
    if double:
        problems.append(f"double bookings: {double[:10]}")
    return problems


def double_bookings(connection: sqlite3.Connection) -> list[tuple]:
    """(clinician, appointment, appointment) of two active appointments of one clinician that
    overlap in time."""
    return connection.execute(
        "SELECT c1.member_id, a1.id, a2.id FROM appointment a1 "
        "JOIN appointment_clinician c1 ON c1.appointment_id = a1.id "
        "JOIN appointment_clinician c2 ON c2.member_id = c1.member_id AND c2.appointment_id > a1.id "
        "JOIN appointment a2 ON a2.id = c2.appointment_id "
        "WHERE a1.status IN ('booked', 'honoured') AND a2.status IN ('booked', 'honoured') "
        "AND a1.starts_at < a2.ends_at AND a2.starts_at < a1.ends_at"
    ).fetchall()


def missing_referrals(connection: sqlite3.Connection, acknowledged: dict[str, dict]) -> list[str]:
    """Acknowledged referrals (reference -> what was sent) absent or not as sent."""
    missing = []
    for reference, sent in acknowledged.items():
        row = connection.execute(
            "SELECT last_name, first_names, birth_date, sex, postcode, reason, channel, link_id "
            "FROM referral WHERE reference = ?",
            (reference,),
        ).fetchone()
        expected_birth = datetime.strptime(sent["birth_date"], "%d/%m/%Y").date().isoformat()
        if (
            row is None
            or row[:6]
            != (
                sent["last_name"],
                sent["first_names"],
                expected_birth,
                sent["sex"],
                sent["postcode"],
                sent["reason"],
            )
            or row[6] != "link"
            or row[7] is None
        ):
            missing.append(f"{reference}: {row}")
    return missing


def missing_appointments(
    connection: sqlite3.Connection, acknowledged: list[tuple[int, int, Slot]]
) -> list[str]:
    """Acknowledged bookings (appointment id, patient, slot) absent or not as booked. A list, not
    a mapping by id: two acknowledgements naming one id are two bookings to find."""
    missing = []
    for appointment_id, patient_id, slot in acknowledged:
        row = connection.execute(
            "SELECT patient_id, starts_at, status, kind FROM appointment WHERE id = ?", (appointment_id,)
        ).fetchone()
        members = {
            m
            for (m,) in connection.execute(
                "SELECT member_id FROM appointment_clinician WHERE appointment_id = ?", (appointment_id,)
            )
        }
        if (
            row is None
            or row[0] != patient_id
            or utc(row[1]) != slot.start
            or row[2:] != ("booked", "first")
            or members != {slot.doctor, slot.nurse}
        ):
            missing.append(
                f"appointment {appointment_id} (patient {patient_id}): {row}, clinicians {members}"
            )
    return missing


# --- 1. kill -9 in the middle of a burst ------------------------------------------------------

BURST_WRITES = 500
BURST_THREADS = 8
BURST_BOOKINGS = 250  # the rest are referrals
KILL_AFTER = BURST_WRITES // 2  # answers received before the kill


@dataclass(frozen=True)
class Write:
    kind: str  # "booking" or "referral"
    number: int
    patient_id: int = 0
    slot: Slot | None = None


def test_kill_9_mid_burst_loses_no_acknowledged_write(sqlite_site_template, password_hash, tmp_path):
    site = provision(sqlite_site_template, tmp_path)
    seed = seed_site(
        site,
        password_hash,
        pairs=4,
        patients=300,
        links=BURST_WRITES // LINK_USES + 2,
        assistants=BURST_THREADS,
    )
    slots = free_first_visit_slots(seed.pairs, BURST_BOOKINGS + 1)
    writes = [Write("booking", n, seed.patients[n], slots[n]) for n in range(BURST_BOOKINGS)]
    writes += [Write("referral", n) for n in range(BURST_WRITES - BURST_BOOKINGS)]
    random.Random(20240607).shuffle(writes)  # noqa: S311 - a reproducible order, not a secret
    queue = iter(writes)
    queue_lock = threading.Lock()
    links, addresses = Links(seed.links), Addresses()

    server = Gunicorn(site, tmp_path / "gunicorn.log").start()
    try:
        staff = logged_in(server.port, seed.assistants, [f"192.168.1.{i + 1}" for i in range(BURST_THREADS)])
        partners_ = [Browser(server.port, f"192.168.2.{i + 1}") for i in range(BURST_THREADS)]
        answered: list[tuple[Write, Answer]] = []
        in_flight_failures: list[tuple[Write, str]] = []  # cut by the kill
        failures_before_kill: list[tuple[Write, str]] = []
        sent_referrals: dict[int, dict] = {}
        lock = threading.Lock()
        half_answered, killing = threading.Event(), threading.Event()
        start_line = threading.Barrier(BURST_THREADS)

        def writer(index: int) -> None:
            browser, partner = staff[index], partners_[index]
            start_line.wait()
            while not killing.is_set():
                with queue_lock:
                    write = next(queue, None)
                if write is None:
                    return
                try:
                    if write.kind == "booking":
                        answer = browser.book(write.patient_id, write.slot)
                    else:
                        token = links.next()
                        identity = referral_identity(write.number, "Rafale")
                        with lock:
                            sent_referrals[write.number] = identity
                        form = partner.open_form(token)
                        assert form.status == 200, form.status
                        answer = partner.post_referral(token, identity, addresses.next())
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        (in_flight_failures if killing.is_set() else failures_before_kill).append(
                            (write, repr(error))
                        )
                    return
                with lock:
                    answered.append((write, answer))
                    if len(answered) >= KILL_AFTER:
                        half_answered.set()

        threads, raised = in_threads(writer, BURST_THREADS, "burst")
        limit = time.monotonic() + 120
        while not half_answered.wait(0.05):  # unless a writer stopped on its own
            assert any(t.is_alive() for t in threads) and time.monotonic() < limit, (
                f"{len(answered)} answers, then: {raised} {failures_before_kill[:3]}"
            )
        killing.set()
        server.kill()
        join(threads, REQUEST_TIMEOUT + 5)
        with lock:
            answers = list(answered)
        assert not raised, raised
        assert not failures_before_kill, failures_before_kill[:5]
        assert len(answers) < BURST_WRITES, "the burst ended before the kill: nothing was tested"
        # Distinct slots and patients: before the kill, every write was accepted.
        unexpected = [
            (w.kind, w.number, a.status, a.text[:200])
            for w, a in answers
            if a.status != {"booking": 303, "referral": 201}[w.kind]
        ]
        assert not unexpected, unexpected
        acknowledged_bookings: list[tuple[int, int, Slot]] = []
        acknowledged_referrals: dict[str, dict] = {}
        for write, answer in answers:
            if write.kind == "booking":
                match = CONVOCATION_RE.search(answer.location)
                assert match, answer.location
                acknowledged_bookings.append((int(match.group(1)), write.patient_id, write.slot))
            else:
                match = REFERENCE_RE.search(answer.text)
                assert match, answer.text[:500]
                acknowledged_referrals[match.group(1)] = sent_referrals[write.number]

        # The site starts again on the same files, as systemd would restart it.
        server.start()
        reader = Browser(server.port, "192.168.3.1").login(seed.assistants[0])
        not_shown = []
        for appointment_id, patient_id, _ in acknowledged_bookings:
            page = reader.request("GET", f"/rendez-vous/{appointment_id}/convocation")
            if page.status != 200 or seed.patient_names[patient_id].upper() not in page.text:
                not_shown.append((appointment_id, page.status))
        with database(site) as connection:
            # WAL is a property of the file: what a fresh connection reads from its header.
            journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            problems = integrity_problems(connection)
            lost_referrals = missing_referrals(connection, acknowledged_referrals)
            lost_bookings = missing_appointments(connection, acknowledged_bookings)
            stored = {
                "appointments": connection.execute("SELECT count(*) FROM appointment").fetchone()[0],
                "referrals from the form": connection.execute(
                    "SELECT count(*) FROM referral WHERE channel = 'link'"
                ).fetchone()[0],
            }
        connection.close()
        # The restarted site takes new writes.
        after = reader.book(seed.patients[BURST_BOOKINGS], slots[BURST_BOOKINGS])
    finally:
        server.stop()
    print(
        f"\nkill -9 after {len(answers)} answers of {BURST_WRITES} writes "
        f"({len(in_flight_failures)} request(s) cut in flight): "
        f"{len(acknowledged_bookings)} acknowledged bookings and "
        f"{len(acknowledged_referrals)} acknowledged referrals checked after restart; "
        f"stored: {stored}"
    )
    assert not problems, problems
    assert not lost_referrals, f"{len(lost_referrals)} acknowledged referrals lost: {lost_referrals[:5]}"
    assert not lost_bookings, f"{len(lost_bookings)} acknowledged bookings lost: {lost_bookings[:5]}"
    assert not not_shown, not_shown[:10]
    assert journal_mode == "wal", f"the database is in {journal_mode!r} journal mode, not WAL"
    assert after.status == 303, (after.status, after.text[:300])
    # Nothing more than what was sent: at most the writes cut in flight were stored unanswered.
    assert stored["appointments"] <= len(acknowledged_bookings) + len(in_flight_failures)
    assert stored["referrals from the form"] <= len(acknowledged_referrals) + len(in_flight_failures)


# --- 1b. a full disk --------------------------------------------------------------------------

FULL_DISK_WRITES = 60
FULL_DISK_SLACK = 64 * 1024  # bytes any file may grow beyond the database's size


def test_a_full_disk_acknowledges_no_write_it_did_not_store(sqlite_site_template, password_hash, tmp_path):
    """gunicorn runs with a file size limit just above the database's size: once the write-ahead
    log reaches it, commits fail as on a full disk. A write may then be refused (5xx), never
    acknowledged without being stored; once space is back, the site serves and takes writes."""
    site = provision(sqlite_site_template, tmp_path)
    bookings = FULL_DISK_WRITES // 2
    seed = seed_site(
        site,
        password_hash,
        pairs=4,
        patients=bookings + 1,
        links=FULL_DISK_WRITES // LINK_USES + 2,
        assistants=1,
    )
    slots = free_first_visit_slots(seed.pairs, bookings + 1)
    links, addresses = Links(seed.links), Addresses()
    server = Gunicorn(site, tmp_path / "gunicorn.log")
    server.file_size_limit = (site / "dalia.sqlite3").stat().st_size + FULL_DISK_SLACK
    statuses: Counter = Counter()
    acknowledged_bookings: list[tuple[int, int, Slot]] = []
    acknowledged_referrals: dict[str, dict] = {}
    server.start()
    try:
        staff = logged_in(server.port, seed.assistants, ["192.168.1.1"])[0]
        partner = Browser(server.port, "192.168.2.1")
        for n in range(bookings):
            answer = staff.book(seed.patients[n], slots[n])
            statuses[f"booking {answer.status}"] += 1
            if answer.status == 303:
                match = CONVOCATION_RE.search(answer.location)
                acknowledged_bookings.append((int(match.group(1)), seed.patients[n], slots[n]))
            token = links.next()
            identity = referral_identity(n, "Plein")
            form = partner.open_form(token)
            answer = partner.post_referral(token, identity, addresses.next())
            statuses[f"referral {form.status}/{answer.status}"] += 1
            if answer.status == 201:
                acknowledged_referrals[REFERENCE_RE.search(answer.text).group(1)] = identity
    finally:
        server.stop()
    print(f"\nfull disk: {dict(sorted(statuses.items()))}")
    refused = sum(c for k, c in statuses.items() if re.search(r"[ /]5\d\d$", k))
    assert refused, f"the limit was never reached, nothing was tested: {statuses}"
    honest = {
        k: c
        for k, c in statuses.items()
        if not re.fullmatch(r"booking (303|5\d\d)|referral 200/(201|5\d\d)", k)
    }
    assert not honest, honest
    server.file_size_limit = None  # space is back
    server.start()
    try:
        with database(site) as connection:
            problems = integrity_problems(connection)
            lost_bookings = missing_appointments(connection, acknowledged_bookings)
            lost_referrals = missing_referrals(connection, acknowledged_referrals)
        connection.close()
        staff = logged_in(server.port, seed.assistants, ["192.168.1.2"])[0]
        after = staff.book(seed.patients[bookings], slots[bookings])
    finally:
        server.stop()
    assert not problems, problems
    assert not lost_bookings, (
        f"{len(lost_bookings)} of {len(acknowledged_bookings)} acknowledged "
        f"bookings are not stored: {lost_bookings[:5]}"
    )
    assert not lost_referrals, lost_referrals[:5]
    assert after.status == 303, (after.status, after.text[:300])


# --- 2. backup while referrals arrive ---------------------------------------------------------


def dalia(*args) -> subprocess.CompletedProcess:
    """The `dalia` command line of this checkout, in its own process."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def test_backup_while_referrals_arrive_is_complete_and_restores(
    sqlite_site_template, password_hash, tmp_path
):
    site = provision(sqlite_site_template, tmp_path)
    seed = seed_site(site, password_hash, pairs=0, patients=0, links=60, assistants=0)
    links, addresses = Links(seed.links), Addresses()
    server = Gunicorn(site, tmp_path / "gunicorn.log").start()
    acknowledged: list[tuple[float, str, dict]] = []  # (when, reference, what was sent)
    failures: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        partner = Browser(server.port, "192.168.2.1")
        n = 0
        while not stop.is_set():
            token = links.next()
            identity = referral_identity(n, "Sauve")
            try:
                form = partner.open_form(token)
                answer = partner.post_referral(token, identity, addresses.next())
            except (OSError, http.client.HTTPException) as error:
                failures.append(repr(error))
                return
            match = REFERENCE_RE.search(answer.text)
            if form.status != 200 or answer.status != 201 or not match:
                failures.append(f"{form.status} {answer.status} {answer.text[:300]}")
                return
            acknowledged.append((time.monotonic(), match.group(1), identity))
            n += 1

    thread = threading.Thread(target=writer, name="referral-writer")
    backups = []
    try:
        thread.start()
        while len(acknowledged) < 20 and thread.is_alive():
            time.sleep(0.05)
        for i in range(3):
            began = time.monotonic()
            out = tmp_path / f"sauvegarde-{i}.sqlite3"
            result = dalia("backup", "test", "--out", out, "--instances-dir", site.parent)
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"Sauvegarde : {out}" in result.stdout
            before = {ref: sent for when, ref, sent in list(acknowledged) if when < began}
            backups.append((out, before, len(acknowledged)))
            time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=REQUEST_TIMEOUT + 5)
        server.stop()
    assert not failures, failures
    for out, before, acknowledged_after in backups:
        with sqlite3.connect(f"file:{out}?mode=ro", uri=True) as copy:
            problems = integrity_problems(copy)
            in_backup = copy.execute("SELECT count(*) FROM referral WHERE channel = 'link'").fetchone()[0]
            incomplete = copy.execute(
                "SELECT id FROM referral WHERE reference IS NULL OR last_name = '' OR "
                "first_names = '' OR birth_date IS NULL OR sex = '' OR reason = ''"
            ).fetchall()
            lost = missing_referrals(copy, before)
        copy.close()
        print(
            f"\nbackup {out.name}: {in_backup} referrals ({len(before)} acknowledged before it "
            f"began, {acknowledged_after} when it ended)"
        )
        assert not problems, (out.name, problems)
        assert not incomplete, (out.name, incomplete)
        assert not lost, (out.name, lost[:5])
        assert len(before) <= in_backup <= acknowledged_after + 1
        assert in_backup > 20
    # The last backup, restored into the site, is what the site then holds and serves.
    last, _, _ = backups[-1]
    with sqlite3.connect(f"file:{last}?mode=ro", uri=True) as copy:
        expected = copy.execute("SELECT reference, last_name FROM referral ORDER BY id").fetchall()
    copy.close()
    result = dalia("restore", "test", last, "--instances-dir", site.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    with database(site) as connection:
        assert integrity_problems(connection) == []
        assert (
            connection.execute("SELECT reference, last_name FROM referral ORDER BY id").fetchall() == expected
        )
    connection.close()
    server = Gunicorn(site, tmp_path / "gunicorn-restored.log").start()
    try:
        partner = Browser(server.port, "192.168.2.2")
        token = links.next()
        assert partner.open_form(token).status == 200
        answer = partner.post_referral(token, referral_identity(99999, "Apres"), addresses.next())
    finally:
        server.stop()
    assert answer.status == 201 and REFERENCE_RE.search(answer.text), answer.text[:300]


# --- 3. load ----------------------------------------------------------------------------------

# Each client runs LOAD_ROUNDS rounds; a round is a booking (every client at the same step of its
# plan: they collide), then a day agenda, a patient search and a partner's referral (form, then
# post) in an order of the client's own. A fixed plan, not a duration: the same requests and the
# same expected outcomes however slow the machine is.
LOAD_ROUNDS = int(os.environ.get("DALIA_LOAD_ROUNDS", "2"))
ROUND_KINDS = ("agenda", "search", "referral")
# Clients that go for each slot of a round: whatever the timing, exactly one gets it (303), the
# others are told it is taken (409).
CONTENDERS = 5
EXPECTED = {
    "agenda": {200},
    "search": {200},
    "booking": {303, 409},
    "referral form": {200},
    "referral post": {201},
}
LOAD_ACCOUNTS = 10


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def load_plan(index: int) -> list[str]:
    """The kinds of request client `index` sends, in order."""
    chooser = random.Random(index)  # noqa: S311 - a reproducible workload
    plan = []
    for _ in range(LOAD_ROUNDS):
        plan += ["booking", *chooser.sample(ROUND_KINDS, len(ROUND_KINDS))]
    return plan


def test_fifty_clients_mixed_workload_no_errors_and_latencies(sqlite_site_template, password_hash, tmp_path):
    assert LOAD_CLIENTS % CONTENDERS == 0
    groups = LOAD_CLIENTS // CONTENDERS
    attempts = LOAD_CLIENTS * LOAD_ROUNDS  # bookings, and referrals too
    site = provision(sqlite_site_template, tmp_path)
    seed = seed_site(
        site,
        password_hash,
        pairs=4,
        patients=attempts,  # one for each booking attempt
        links=attempts // LINK_USES + 1,
        assistants=LOAD_ACCOUNTS,
    )
    slots = free_first_visit_slots(seed.pairs, 200)
    contested = slots[: groups * LOAD_ROUNDS]  # round r, group g: contested[r * groups + g]
    links, addresses = Links(seed.links), Addresses()
    agenda_days = sorted({s.start.date() for s in slots})[:8]
    search_words = [seed.patient_names[p][:5].lower() for p in seed.patients[::7]]
    server = Gunicorn(site, tmp_path / "gunicorn.log").start()
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    errors: list[str] = []
    booked: list[tuple[int, int, Slot]] = []
    outcomes: list[tuple[int, int]] = []  # (contested slot, status) of each booking attempt
    acknowledged_referrals: dict[str, dict] = {}
    lock = threading.Lock()
    try:
        # A pool of assistant accounts, each logged in once before the start; each session is
        # shared by LOAD_CLIENTS / LOAD_ACCOUNTS clients (as tabs of one browser would).
        sessions = logged_in(
            server.port, seed.assistants, [f"172.16.0.{i + 1}" for i in range(LOAD_ACCOUNTS)]
        )
        staff = [sessions[i % LOAD_ACCOUNTS].tab(f"172.16.1.{i + 1}") for i in range(LOAD_CLIENTS)]
        partner_browsers = [Browser(server.port, b.address) for b in staff]
        start_line = threading.Barrier(LOAD_CLIENTS + 1)

        def record(kind: str, answer: Answer) -> None:
            with lock:
                latencies[kind].append(answer.seconds)
                statuses[kind][answer.status] += 1
                if kind == "booking":
                    latencies[f"booking {answer.status}"].append(answer.seconds)

        def client(index: int) -> None:
            browser, partner = staff[index], partner_browsers[index]
            chooser = random.Random(-1 - index)  # noqa: S311 - a reproducible workload
            rounds = 0
            start_line.wait()
            for n, kind in enumerate(load_plan(index)):
                try:
                    if kind == "agenda":
                        day = chooser.choice(agenda_days)
                        record(kind, browser.request("GET", f"/agenda?jour={day.isoformat()}"))
                    elif kind == "search":
                        query = urllib.parse.quote(chooser.choice(search_words))
                        record(
                            kind,
                            browser.request("GET", f"/patients?q={query}", headers={"HX-Request": "true"}),
                        )
                    elif kind == "booking":
                        slot_index = rounds * groups + index // CONTENDERS
                        slot = contested[slot_index]
                        patient_id = seed.patients[rounds * LOAD_CLIENTS + index]
                        rounds += 1
                        answer = browser.book(patient_id, slot)
                        record(kind, answer)
                        with lock:
                            outcomes.append((slot_index, answer.status))
                        if answer.status == 303:
                            match = CONVOCATION_RE.search(answer.location)
                            with lock:
                                booked.append((int(match.group(1)), patient_id, slot))
                    else:
                        token = links.next()
                        record("referral form", partner.open_form(token))
                        identity = referral_identity(index * 100000 + n, "Charge")
                        answer = partner.post_referral(token, identity, addresses.next())
                        record("referral post", answer)
                        match = REFERENCE_RE.search(answer.text)
                        if answer.status == 201 and match:
                            with lock:
                                acknowledged_referrals[match.group(1)] = identity
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        errors.append(f"{kind}: {error!r}")

        threads, raised = in_threads(client, LOAD_CLIENTS, "client")
        load_before = os.getloadavg()
        started = time.monotonic()
        start_line.wait()
        # Only a hung client can take this long: each request has its own REQUEST_TIMEOUT.
        join(threads, REQUEST_TIMEOUT * len(load_plan(0)) * 2 + 60)
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()
    finally:
        server.stop()
    log = server.output()
    assert not raised, raised[:5]

    def summary(values: list[float]) -> dict:
        return {
            "requests": len(values),
            "p50_ms": round(percentile(values, 0.50) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        }

    every = [s for kind in EXPECTED for s in latencies[kind]]
    figures = {
        "clients": LOAD_CLIENTS,
        "rounds": LOAD_ROUNDS,
        "seconds": round(elapsed, 1),
        "requests": len(every),
        "requests_per_second": round(len(every) / elapsed, 1),
        "server": "gunicorn, deploy/gunicorn.conf.py (sync workers, default count)",
        "database": "SQLite (WAL)",
        "cores": os.cpu_count(),
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "by_type": {
            kind: summary(latencies[kind] or [0.0])
            | {"statuses": {str(k): v for k, v in sorted(statuses[kind].items())}}
            for kind in EXPECTED
        },
        "booking_by_outcome": {
            "confirmed (303)": summary(latencies["booking 303"] or [0.0]),
            "slot taken (409)": summary(latencies["booking 409"] or [0.0]),
        },
        "overall": summary(every or [0.0]),
        "connection_errors_or_timeouts": len(errors),
        "server_errors_5xx": sum(
            c for counts in statuses.values() for status, c in counts.items() if status >= 500
        ),
    }
    (tmp_path / "load-figures.json").write_text(
        json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    print(
        f"\nLoad: {LOAD_CLIENTS} clients, {LOAD_ROUNDS} rounds each, {len(every)} requests in "
        f"{elapsed:.1f} s ({figures['requests_per_second']}/s), SQLite, {figures['server']}, "
        f"{os.cpu_count()} cores, load average {load_before[0]:.1f} before / "
        f"{load_after[0]:.1f} after"
    )
    print(f"{'type':<24}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    rows = [(kind, figures["by_type"][kind], figures["by_type"][kind]["statuses"]) for kind in EXPECTED]
    rows += [
        (f"  booking {outcome}", values, "") for outcome, values in figures["booking_by_outcome"].items()
    ]
    rows.append(("overall", figures["overall"], ""))
    for label, values, codes in rows:
        print(f"{label:<24}{values['requests']:>9}{values['p50_ms']:>9}{values['p99_ms']:>9}  {codes}")
    print(
        f"connection errors or timeouts: {len(errors)}, 5xx: {figures['server_errors_5xx']}; "
        f"figures written to {tmp_path / 'load-figures.json'}"
    )

    assert not errors, f"{len(errors)} connection errors or timeouts: {errors[:5]}"
    unexpected = {
        kind: {s: c for s, c in counts.items() if s not in EXPECTED[kind]}
        for kind, counts in statuses.items()
        if kind in EXPECTED
    }
    assert not any(unexpected.values()), unexpected
    # Every planned request was answered, with the only outcomes the plan allows.
    assert {kind: len(latencies[kind]) for kind in EXPECTED} == dict.fromkeys(EXPECTED, attempts)
    assert len(acknowledged_referrals) == attempts
    # Each contested slot was confirmed to exactly one of its contenders.
    confirmed = Counter(slot_index for slot_index, status in outcomes if status == 303)
    assert confirmed == Counter(range(len(contested))), f"confirmations of each slot (one each): {confirmed}"
    assert statuses["booking"] == Counter({303: len(contested), 409: attempts - len(contested)})
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
    with database(site) as connection:
        double = double_bookings(connection)
        problems = integrity_problems(connection)
        lost_bookings = missing_appointments(connection, booked)
        lost_referrals = missing_referrals(connection, acknowledged_referrals)
        appointments = connection.execute("SELECT count(*) FROM appointment").fetchone()[0]
    connection.close()
    assert not double, f"{len(double)} double bookings (clinician, appointment, appointment): {double[:10]}"
    assert not problems, problems
    assert not lost_bookings, lost_bookings[:5]
    assert not lost_referrals, lost_referrals[:5]
    assert appointments == len(contested), "a refused booking left an appointment behind"
