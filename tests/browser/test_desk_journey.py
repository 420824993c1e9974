"""Today's desk in a real browser: a receptionist's morning. Three patients of today's visits
(already started); the assistant records two arrivals, marks one seen and one no-show, then undoes
an arrival made on the wrong line — each with one click, the visit's block swapped in place and
the counts refreshed, without a page reload; axe-core clean after every swap. Then the same page
on a 390 px wide phone: no horizontal scroll, no overlapping visits or buttons.

The live site is shared by every browser test: the centre opens every day for this test, what it
adds is removed afterwards, and it answers as if it were MOMENT — a working morning, whatever the
hour the suite runs (late in the evening, « an hour from now » is tomorrow, which the desk does not
offer).
"""

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from dalia_site import clock
from dalia_site.domain import referrals
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, CentreSettings, Shift, TeamMember
from tests.browser.conftest import STAFF, check_page, field, follow, frozen, log_in

PARIS = ZoneInfo("Europe/Paris")
DOCTOR, NURSE = "Dr Marc Bousquet", "Anaïs Py"
# Three new patients per test (the live site keeps the others: same names would be duplicates).
SURNAMES = iter(
    [("Delmas", "Ferrand", "Garrigues"), ("Bastoul", "Cazals", "Escande"), ("Rivals", "Sicard", "Teisseire")]
)
PATIENTS = ("Delmas", "Ferrand", "Garrigues")  # the keys of the fixture: first, second, third
# Names no other journey of the shared live site gives a patient (the search must find one).
WALK_INS = iter(["Labatut", "Roumagnac", "Bouisset"])
ALL_DAYS = "lundi,mardi,mercredi,jeudi,vendredi,samedi,dimanche"
MOMENT = datetime(2026, 12, 2, 10, 7, tzinfo=PARIS)  # a Wednesday, no holiday, no closure
IDENTITY = {
    "first_names": "Jeanne",
    "birth_name": "",
    "sex": "F",
    "phone": "04 68 47 00 00",
    "email": "",
    "address": "2 rue Victor Hugo",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "yes",
    "ald_label": "",
    "gp_status": "none",
    "gp_name": "",
}


@pytest.fixture
def at_moment(live_app) -> Iterator[None]:
    """The live site, and this test's own clock, at MOMENT."""
    original = live_app.wsgi_app
    live_app.wsgi_app = frozen(original, MOMENT)
    try:
        with clock.clock_at(MOMENT):
            yield
    finally:
        live_app.wsgi_app = original


@pytest.fixture
def morning(live_app, at_moment) -> Iterator[dict[str, int]]:
    """Today's visits, all started: Delmas and Ferrand with the doctor, Garrigues with the nurse."""
    now = MOMENT
    midnight = datetime.combine(now.date(), time(), tzinfo=PARIS)
    base = max(midnight, now - timedelta(minutes=45))
    base -= timedelta(minutes=base.minute % 5)
    with live_app.app_context():
        settings = db.session.get_one(CentreSettings, 1)
        open_days, settings.open_days = settings.open_days, ALL_DAYS
        members = []
        for name, profession in ((DOCTOR, "medecin"), (NURSE, "infirmier")):
            member = TeamMember(
                name=name,
                profession=profession,
                team="stable",
                doctor_status="salarie" if profession == "medecin" else None,
            )
            db.session.add(member)
            db.session.flush()
            db.session.add(Shift(member_id=member.id, starts_at=base, ends_at=now + timedelta(hours=1)))
            members.append(member)
        ids = {}
        for index, (key, last_name) in enumerate(zip(PATIENTS, next(SURNAMES), strict=True)):
            referral = referrals.receive(
                db.session,
                None,
                "direct",
                IDENTITY | {"last_name": last_name, "birth_date": datetime(1950, 1, index + 1).date()},
                {"referrer_name": ""},
                "Suivi.",
                now=clock.now(),
                today=clock.today(PARIS),
            )
            patient = referrals.decide(db.session, None, referral, "accepted", now=clock.now())
            start = base + timedelta(minutes=5 * index)
            appointment = Appointment(
                patient_id=patient.id,
                kind="nurse" if index == 2 else "doctor",
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                status="booked",
            )
            appointment.clinicians = [AppointmentClinician(member_id=members[index == 2].id)]
            db.session.add(appointment)
            db.session.flush()
            ids[key] = appointment.id
        db.session.commit()
    yield ids
    with live_app.app_context():
        db.session.execute(
            delete(AppointmentClinician).where(AppointmentClinician.appointment_id.in_(ids.values()))
        )
        db.session.execute(delete(Appointment).where(Appointment.id.in_(ids.values())))
        for member in db.session.scalars(select(TeamMember).where(TeamMember.name.in_([DOCTOR, NURSE]))):
            db.session.execute(delete(Shift).where(Shift.member_id == member.id))
            member.active = False
        db.session.get_one(CentreSettings, 1).open_days = open_days
        db.session.commit()


def count(page: Page, label: str):
    return page.locator("#desk-counts div", has_text=label).locator("dd")


def click_in_place(page: Page, appointment_id: int, button: str) -> None:
    """One click: the htmx POST answers the visit's block, swapped in place; then the counts."""
    block = page.locator(f"#rdv-{appointment_id}")
    with page.expect_response(lambda r: "/compteurs" in r.url):
        with page.expect_response(lambda r: f"/bureau/rdv/{appointment_id}/" in r.url) as action:
            block.get_by_role("button", name=button, exact=True).click()
    assert action.value.status == 200 and action.value.request.headers.get("hx-request") == "true"
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    check_page(page)


@pytest.fixture
def walk_in_patient(live_app, at_moment) -> Iterator[str]:
    """A patient in follow-up who comes in without an appointment (their walk-in is removed after)."""
    last_name = next(WALK_INS)
    with live_app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            IDENTITY | {"last_name": last_name, "birth_date": datetime(1951, 2, 3).date()},
            {"referrer_name": ""},
            "Suivi.",
            now=clock.now(),
            today=clock.today(PARIS),
        )
        patient = referrals.decide(db.session, None, referral, "accepted", now=clock.now())
        db.session.commit()
        patient_id = patient.id
    yield last_name
    with live_app.app_context():
        held = select(Appointment.id).where(Appointment.patient_id == patient_id)
        db.session.execute(delete(AppointmentClinician).where(AppointmentClinician.appointment_id.in_(held)))
        db.session.execute(delete(Appointment).where(Appointment.patient_id == patient_id))
        db.session.commit()


def test_a_receptionists_morning_on_todays_desk(page: Page, morning, walk_in_patient):
    log_in(page, STAFF["assistant"].email)
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^Aujourd'hui, "))).to_be_visible()
    page.evaluate("() => { window.sameDocument = true; }")
    expect(count(page, "Attendus")).to_have_text("3")

    click_in_place(page, morning["Delmas"], "Arrivé")
    expect(page.locator(f"#rdv-{morning['Delmas']}")).to_contain_text("arrivé à")
    expect(count(page, "Arrivés")).to_have_text("1")
    click_in_place(page, morning["Ferrand"], "Arrivé")
    expect(count(page, "Arrivés")).to_have_text("2")

    click_in_place(page, morning["Delmas"], "Vu")
    expect(page.locator(f"#rdv-{morning['Delmas']}")).to_contain_text("honoré")
    expect(count(page, "Vus")).to_have_text("1")
    click_in_place(page, morning["Garrigues"], "Non venu")
    expect(page.locator(f"#rdv-{morning['Garrigues']}")).to_contain_text("non venu")
    expect(count(page, "Non venus")).to_have_text("1")

    # Ferrand's arrival was clicked on the wrong line: undone the same day.
    click_in_place(page, morning["Ferrand"], "Annuler l'arrivée")
    expect(
        page.locator(f"#rdv-{morning['Ferrand']}").get_by_role("button", name="Arrivé", exact=True)
    ).to_be_visible()
    expect(count(page, "Arrivés")).to_have_text("1")
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"

    # A patient walks in: the doctor's next free slot, the patient found, the consultation recorded.
    follow(page, page.get_by_role("link", name=re.compile(rf"^\d\dh\d\d · {DOCTOR}$")).first)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(rf"^Consultation sans rendez-vous à \d\dh\d\d avec {DOCTOR}$")
    )
    field(page, "Rechercher le patient").fill(walk_in_patient)
    record = page.get_by_role(
        "button", name=re.compile(rf"^Enregistrer la consultation de .*{walk_in_patient}", re.I)
    )
    expect(record).to_be_visible()
    check_page(page)
    follow(page, record)
    expect(page.get_by_text("Consultation sans rendez-vous enregistrée")).to_be_visible()
    expect(count(page, "Vus")).to_have_text("2")
    expect(page.locator("#desk").get_by_text(re.compile(walk_in_patient, re.I)).first).to_be_visible()


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_the_desk_on_a_390_px_phone(page: Page, morning, walk_in_patient):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, STAFF["assistant"].email)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    visits = [page.locator(f"#rdv-{i}") for i in morning.values()]
    boxes = [v.bounding_box() for v in visits]
    assert all(box is not None and box["width"] > 0 for box in boxes)
    for index, box in enumerate(boxes):
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        for other in boxes[index + 1 :]:
            assert not boxes_overlap(box, other), (box, other)
    buttons = [b.bounding_box() for b in visits[0].get_by_role("button").all()]
    assert len(buttons) >= 2
    for index, box in enumerate(buttons):
        for other in buttons[index + 1 :]:
            assert not boxes_overlap(box, other), (box, other)
    # Each visit says who sees the patient (the column headers are not shown on a phone).
    cell = f"document.querySelector('#rdv-{morning['Delmas']}').parentElement"
    assert page.evaluate(f"() => getComputedStyle({cell}, '::before').content") == f'"{DOCTOR}"'
    check_page(page)
    # A free slot's page, with a patient found, fits too.
    follow(page, page.get_by_role("link", name=re.compile(rf"^\d\dh\d\d · {DOCTOR}$")).first)
    field(page, "Rechercher le patient").fill(walk_in_patient)
    record = page.get_by_role("button", name=re.compile(walk_in_patient, re.I))
    expect(record).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    controls = [
        field(page, "Rechercher le patient").bounding_box(),
        page.get_by_role("button", name="Rechercher", exact=True).bounding_box(),
        page.locator(".slot-patients li span").first.bounding_box(),
        record.bounding_box(),
    ]
    for index, box in enumerate(controls):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        for other in controls[index + 1 :]:
            assert not boxes_overlap(box, other), (box, other)
    check_page(page)
