"""A receptionist's morning on the demo site, in a real browser: what `make demo` serves, on the day
its desk opens (today, or the next open day), with the demo's own visits, clinicians and patients.

The assistant of the demo logs in and, from the home page only: records two arrivals, marks one
visit seen and one no-show, undoes an arrival made on the wrong line (each one click, swapped in
place, the counts refreshed, no reload), records a walk-in in one of the day's free slots, then books
a follow-up with a chosen nurse on a chosen date through the picker and its confirmation. axe-core,
CSP and script errors are checked on every page and swap (check_page).

The site is a copy of the session's demo folder, served by its own Werkzeug server whose clock is
set to the day the desk shows, just after its fourth visit has started (the demo is built for
today, which may be a Sunday). Runs in the worker that built the demo (xdist group "demo").
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import exists, select
from werkzeug.serving import make_server

from dalia_site import clock, create_app
from dalia_site.domain import booking, centre, desk
from dalia_site.extensions import db
from dalia_site.models import Appointment, Patient, TeamMember
from dalia_site.models.vocabulary import AppointmentStatus, PatientStatus, Profession
from tests.browser.conftest import check_page, checked, field, follow, frozen

pytestmark = pytest.mark.xdist_group("demo")
WEEKDAYS = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")
NURSES = (Profession.INFIRMIER_AZALEE, Profession.IPA, Profession.INFIRMIER)


@dataclass(frozen=True)
class Morning:
    url: str
    email: str
    password: str
    day: date
    started: list[int]  # four of the day's visits, already started at the server's time
    walk_in: str  # a patient in follow-up, with no visit ahead: searched for by name
    walk_in_at: str  # the free slot the walk-in takes (HHhMM), begun at the server's moment
    booked: int  # the patient booked with the chosen nurse
    booked_name: str
    nurse: str


@pytest.fixture(scope="module")
def morning(demo, tmp_path_factory) -> Iterator[Morning]:
    instances, result = demo
    site = tmp_path_factory.mktemp("demo-morning") / "demo"
    shutil.copytree(instances / "demo", site)
    email, password = next(
        line.split()[1:] for line in result.stdout.splitlines() if line.split()[:1] == ["assistant"]
    )
    app = create_app(site)
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    with app.app_context():
        day = desk.open_day_from(clock.today(zone), centre.load(db.session).open_days)
        start = datetime.combine(day, time(), tzinfo=zone)
        visits = db.session.scalars(
            select(Appointment)
            .where(
                Appointment.starts_at >= start,
                Appointment.starts_at < start + timedelta(days=1),
                Appointment.status == AppointmentStatus.BOOKED,
            )
            .order_by(Appointment.starts_at, Appointment.id)
        ).all()
        assert len(visits) >= 6, f"the demo's {day} has {len(visits)} visits"
        # The server's moment: the start of a free slot that begins after the fourth visit (the
        # desk offers it as a walk-in: it begins now). Not before it: a walk-in is held from now,
        # and the clinician's visit may end where the slot begins (the demo's 30/11/2026 did).
        visits_lengths = centre.load(db.session).visits
        after = visits[3].starts_at + timedelta(minutes=10)
        slot = next(
            s
            for kind in ("doctor", "nurse")
            for s in booking.free_slots(db.session, kind, visits_lengths, zone, now=after, limit=40)
            if s.starts_at.astimezone(zone).date() == day
        )
        moment = slot.starts_at
        started = [v.id for v in visits if v.starts_at <= moment][:4]
        on_the_day = {v.patient_id for v in visits}
        ahead = exists().where(Appointment.patient_id == Patient.id, Appointment.starts_at >= start)
        free = db.session.scalars(
            select(Patient)
            .where(Patient.status == PatientStatus.FOLLOW_UP, ~ahead, Patient.id.not_in(on_the_day))
            .order_by(Patient.id)
        ).all()
        # Two patients whose names no other patient of the demo shares (the search finds one).
        names = [(p.last_name, p.first_names) for p in db.session.scalars(select(Patient))]
        single = [p for p in free if names.count((p.last_name, p.first_names)) == 1]
        walk_in, booked = single[0], single[1]
        nurse = db.session.scalars(
            select(TeamMember.name)
            .where(TeamMember.profession.in_(NURSES), TeamMember.active)
            .order_by(TeamMember.name)
        ).first()
        details = Morning(
            url="",
            email=email,
            password=password,
            day=day,
            started=started,
            walk_in=f"{walk_in.last_name} {walk_in.first_names}",
            walk_in_at=f"{slot.starts_at.astimezone(zone):%Hh%M}",
            booked=booked.id,
            booked_name=booked.full_name,
            nurse=nurse,
        )
    app.wsgi_app = frozen(app.wsgi_app, moment)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dalia-demo-server", daemon=True)
    thread.start()
    yield Morning(**{**details.__dict__, "url": f"http://127.0.0.1:{server.server_port}"})
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def demo_page(browser: Browser, morning: Morning) -> Iterator[Page]:
    ctx = browser.new_context(base_url=morning.url, locale="fr-FR")
    for prepared in checked(ctx, morning.url):
        yield prepared.new_page()
    ctx.close()


def count(page: Page, label: str):
    return page.locator("#desk-counts div", has_text=label).locator("dd")


def counted(page: Page, label: str) -> int:
    return int(count(page, label).inner_text())


def click_in_place(page: Page, appointment_id: int, button: str) -> None:
    """One click: the htmx POST answers the visit's block, swapped in place; then the counts."""
    block = page.locator(f"#rdv-{appointment_id}")
    with page.expect_response(lambda r: "/compteurs" in r.url):
        with page.expect_response(lambda r: f"/bureau/rdv/{appointment_id}/" in r.url) as action:
            block.get_by_role("button", name=button, exact=True).click()
    assert action.value.status == 200 and action.value.request.headers.get("hx-request") == "true"
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    check_page(page)


def test_a_receptionists_morning_on_the_demo_site(demo_page: Page, morning: Morning):
    page = demo_page
    first, second, third, fourth = morning.started
    page.goto("/connexion")
    check_page(page)
    field(page, "Adresse e-mail").fill(morning.email)
    field(page, "Mot de passe").fill(morning.password)
    follow(page, page.get_by_role("button", name="Se connecter"))
    if page.get_by_role("heading", level=1, name=re.compile("mot de passe", re.I)).count():
        pytest.fail(f"the demo's assistant is asked to change their password at {page.url}")

    # The home page is today's desk, on the day the demo's desk opens.
    expect(page.get_by_role("heading", level=2).first).to_have_text(
        re.compile(rf"^Aujourd'hui, \w+ {morning.day:%d/%m/%Y}$")
    )
    page.evaluate("() => { window.sameDocument = true; }")
    arrived, seen, missed = counted(page, "Arrivés"), counted(page, "Vus"), counted(page, "Non venus")

    click_in_place(page, first, "Arrivé")
    expect(page.locator(f"#rdv-{first}")).to_contain_text("arrivé à")
    expect(count(page, "Arrivés")).to_have_text(str(arrived + 1))
    click_in_place(page, second, "Arrivé")
    expect(count(page, "Arrivés")).to_have_text(str(arrived + 2))
    click_in_place(page, first, "Vu")
    expect(page.locator(f"#rdv-{first}")).to_contain_text("honoré")
    expect(count(page, "Vus")).to_have_text(str(seen + 1))
    click_in_place(page, third, "Non venu")
    expect(page.locator(f"#rdv-{third}")).to_contain_text("non venu")
    expect(count(page, "Non venus")).to_have_text(str(missed + 1))
    # The second arrival was clicked on the wrong line: undone; the fourth visit is untouched.
    click_in_place(page, second, "Annuler l'arrivée")
    expect(page.locator(f"#rdv-{second}").get_by_role("button", name="Arrivé", exact=True)).to_be_visible()
    expect(count(page, "Arrivés")).to_have_text(str(arrived + 1))
    expect(page.locator(f"#rdv-{fourth}").get_by_role("button", name="Arrivé", exact=True)).to_be_visible()
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"

    # A patient in follow-up walks in: one of the day's free slots, the patient found by name.
    follow(page, page.get_by_role("link", name=re.compile(rf"^{morning.walk_in_at} · ")).first)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(rf"^Consultation sans rendez-vous à {morning.walk_in_at} avec ")
    )
    field(page, "Rechercher le patient").fill(morning.walk_in)
    last_name, first_names = morning.walk_in.split(" ", 1)
    record = page.get_by_role(
        "button",
        name=re.compile(
            rf"^Enregistrer la consultation de {re.escape(last_name)} {re.escape(first_names)}$", re.I
        ),
    )
    expect(record).to_be_visible()
    check_page(page)
    follow(page, record)
    expect(page.get_by_text("Consultation sans rendez-vous enregistrée")).to_be_visible()
    expect(count(page, "Vus")).to_have_text(str(seen + 2))
    expect(page.locator("#desk").get_by_text(re.compile(re.escape(last_name), re.I)).first).to_be_visible()

    # A follow-up with the chosen nurse, from a chosen date, through the confirmation.
    chosen = morning.day + timedelta(days=1)
    page.goto(f"/patients/{morning.booked}")
    check_page(page)
    page.get_by_label("Type de rendez-vous").select_option("nurse")
    reason = page.get_by_label("Motif si autre que proposé")
    if reason.is_visible():
        reason.fill("Préférence de la patiente")
    page.get_by_label("À partir du").fill(chosen.isoformat())
    page.get_by_label("Soignant").select_option(label=morning.nurse)
    with page.expect_response(
        lambda r: "/creneaux" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.get_by_role("button", name="Voir les créneaux libres").click()
    check_page(page)
    expect(page.get_by_role("heading", level=4)).to_contain_text(f"Du {chosen:%d/%m/%Y}")
    slot = page.get_by_role("form", name="Créneaux libres").locator("fieldset button").first
    expect(slot).to_be_visible()
    legend = slot.locator("xpath=ancestor::fieldset[1]/legend").inner_text()
    picked_day = datetime.strptime(legend.split()[-1], "%d/%m/%Y").date()
    assert legend.split()[0] == WEEKDAYS[picked_day.weekday()] and picked_day >= chosen
    hour = slot.inner_text()
    follow(page, slot)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer le rendez-vous")
    facts = page.locator("dl.facts")
    for fact in ("Consultation infirmière", f"{picked_day:%d/%m/%Y}", hour, morning.nurse):
        expect(facts).to_contain_text(fact)
    expect(facts).to_contain_text(morning.booked_name.split()[0], ignore_case=True)
    follow(page, page.get_by_role("button", name="Confirmer"))
    expect(page).to_have_url(re.compile(r"/rendez-vous/\d+/convocation$"))
    expect(page.get_by_role("status")).to_have_text("Rendez-vous confirmé.")
    expect(page.locator("dl.facts")).to_contain_text(morning.nurse)
    expect(page.locator("dl.facts")).to_contain_text(hour)
