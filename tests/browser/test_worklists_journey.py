"""The worklists and the médecin traitant pathway in a real browser (issue 16):

- a recall morning: the assistant opens « À recontacter » from the navigation (its count shown),
  calls three overdue patients, books one through the slot picker and records two attempts;
- a cancellation offered to the waiting list: a first visit cancelled on the patient's file, the
  freed slot shown on « Liste d'attente » for who waited longest, confirmed for them;
- a médecin traitant found: the follow-up plan recorded, a GP of the directory who accepts, the
  liaison letter printed.

Every page goes through check_page (axe-core, CSP, script errors). The live site is shared: the
names, the clinicians and their days are this file's own.
"""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from dalia_site import clock
from dalia_site.domain import partners, referrals, roster
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, SlotOffer, TeamMember
from tests.browser.conftest import STAFF, check_page, field, follow, log_in, visit

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")
DOCTOR, NURSE = "Dr Odile Rouanet", "Agnès Cabrol"
IDENTITY = {
    "first_names": "Simone",
    "birth_name": "",
    "sex": "F",
    "phone": "06 12 34 56 78",
    "email": "",
    "address": "",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "yes",
    "ald_label": "Diabète de type 2",
    "gp_status": "none",
    "gp_name": "",
}


def weekday_after(days: int) -> date:
    day = datetime.now(PARIS).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def patient(
    live_app, last_name: str, decision: str = "accepted", days_ago: int = 0, birth_day: int = 1
) -> int:
    when = clock.now() - timedelta(days=days_ago)
    with live_app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            IDENTITY | {"last_name": last_name, "birth_date": date(1944, 5, birth_day)},
            {"referrer_name": ""},
            "Suivi.",
            now=when,
            today=when.date(),
        )
        found = referrals.decide(db.session, None, referral, decision, now=when)
        db.session.commit()
        return found.id


def honoured(live_app, patient_id: int, member_id: int, days_ago: int) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=days_ago)
    with live_app.app_context():
        visit_ = Appointment(
            patient_id=patient_id,
            kind="first",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            status="honoured",
            created_at=start - timedelta(days=7),
        )
        visit_.clinicians = [AppointmentClinician(member_id=member_id)]
        db.session.add(visit_)
        db.session.commit()


@pytest.fixture(scope="module")
def pair(live_app) -> dict:
    """This file's doctor and nurse, on duty two weekdays ahead (other journeys' clinicians work
    other days)."""
    today = datetime.now(PARIS).date()
    days = (weekday_after(15), weekday_after(16))
    ids = {}
    with live_app.app_context():
        for name, profession in ((DOCTOR, "medecin"), (NURSE, "infirmier_azalee")):
            member = TeamMember(
                name=name,
                profession=profession,
                team="stable",
                doctor_status="salarie" if profession == "medecin" else None,
            )
            db.session.add(member)
            db.session.flush()
            for day in days:
                roster.add_shift(db.session, None, member, day, time(8, 30), time(12, 30), PARIS, today=today)
            ids[profession] = member.id
        db.session.commit()
    return {"doctor": ids["medecin"], "nurse": ids["infirmier_azalee"], "days": days}


def test_a_recall_morning_three_calls_one_booking_two_attempts(page: Page, live_app, pair):
    names = ("Authié", "Bringuier", "Cathala")
    ids = {}
    for index, name in enumerate(names):
        ids[name] = patient(live_app, name, birth_day=index + 1)
        honoured(live_app, ids[name], pair["doctor"], days_ago=400 - index)  # well past due
    log_in(page, STAFF["assistant"].email)
    recall = page.get_by_role("link", name=re.compile(r"^À recontacter"))
    expect(recall.locator(".badge")).to_have_text(re.compile(r"^\d+$"))  # loaded after the page
    follow(page, recall)
    expect(page.get_by_role("heading", level=1)).to_have_text("À recontacter")
    rows = [page.locator(f"#rappel-{ids[name]}") for name in names]
    for row in rows:
        expect(row).to_contain_text("j")

    # Bringuier: a message left; Cathala: unreachable — each a click, noted with who and when.
    follow(page, rows[1].get_by_role("button", name=re.compile(r"^Message laissé")))
    expect(page.get_by_role("status").first).to_contain_text("« Message laissé » noté")
    expect(page.locator(f"#rappel-{ids['Bringuier']}")).to_contain_text(
        f"Message laissé le {datetime.now(PARIS):%d/%m/%Y} ({STAFF['assistant'].name})"
    )
    follow(
        page,
        page.locator(f"#rappel-{ids['Cathala']}").get_by_role("button", name=re.compile(r"^Injoignable")),
    )
    expect(page.locator(f"#rappel-{ids['Cathala']}")).to_contain_text("Injoignable le")

    # Authié answers: the picker opens with the kind the alternation proposes, a slot is booked.
    follow(
        page,
        page.locator(f"#rappel-{ids['Authié']}").get_by_role(
            "link", name=re.compile(r"^Prendre rendez-vous")
        ),
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("AUTHIÉ")
    day = pair["days"][0]  # this file's nurse, two weeks ahead: the week of that day
    visit(page, f"{page.url.split('?')[0]}?du={day.isoformat()}")
    slot = (
        page.get_by_role("group", name=f"{WEEKDAYS[day.weekday()]} {day:%d/%m/%Y}")
        .get_by_role("button")
        .first
    )
    follow(page, slot)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer le rendez-vous")
    follow(page, page.get_by_role("button", name="Confirmer"))
    expect(page.get_by_role("status").first).to_have_text("Rendez-vous confirmé.")

    visit(page, "/listes/a-recontacter")
    expect(page.locator(f"#rappel-{ids['Authié']}")).to_have_count(0)  # a visit to come: off the list
    expect(page.locator(f"#rappel-{ids['Bringuier']}")).to_be_visible()


@pytest.fixture
def cancellable(live_app, pair) -> dict:
    """A first visit booked with this file's pair, and a patient who waited longest on the list;
    the other journeys' freed slots are withdrawn (the offer goes to the earliest slot)."""
    day = pair["days"][1]
    start = datetime.combine(day, time(9), tzinfo=PARIS)
    booked = patient(live_app, "Dauzats", birth_day=10)
    waiting = patient(live_app, "Escaffre", "waiting_list", days_ago=500, birth_day=11)
    with live_app.app_context():
        db.session.execute(update(SlotOffer).where(SlotOffer.status == "open").values(status="dismissed"))
        appointment = Appointment(
            patient_id=booked,
            kind="first",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            status="booked",
        )
        appointment.clinicians = [
            AppointmentClinician(member_id=pair["doctor"]),
            AppointmentClinician(member_id=pair["nurse"]),
        ]
        db.session.add(appointment)
        db.session.commit()
    return {"booked": booked, "waiting": waiting, "start": start}


def test_a_cancelled_first_visit_is_offered_to_the_waiting_list(page: Page, cancellable):
    log_in(page, STAFF["assistant"].email)
    visit(page, f"/patients/{cancellable['booked']}")
    page.get_by_text("Annuler", exact=False).locator("xpath=ancestor-or-self::summary").first.click()
    field(page, "Motif de l'annulation").fill("Hospitalisée")
    follow(page, page.get_by_role("button", name="Confirmer l'annulation"))
    expect(page.get_by_role("status").first).to_have_text("Rendez-vous annulé.")

    follow(page, page.get_by_role("link", name=re.compile(r"^Liste d'attente")))
    expect(page.get_by_role("note")).to_contain_text("1 créneau libéré par une annulation")
    row = page.locator(f"#attente-{cancellable['waiting']}")
    expect(row).to_contain_text(f"Créneau libéré le {cancellable['start']:%d/%m/%Y à %Hh%M}")
    follow(page, row.get_by_role("button", name=re.compile(r"^Proposer ce créneau")))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer le rendez-vous")
    expect(page.get_by_text(DOCTOR).first).to_be_visible()
    follow(page, page.get_by_role("button", name="Confirmer"))
    expect(page.get_by_role("status").first).to_have_text("Rendez-vous confirmé.")
    expect(page.locator("article")).to_contain_text(f"{cancellable['start']:%d/%m/%Y}")

    visit(page, "/listes/liste-d-attente")
    expect(page.locator(f"#attente-{cancellable['waiting']}")).to_have_count(0)


@pytest.fixture
def gp_search(live_app, pair) -> dict:
    followed = patient(live_app, "Fournès", birth_day=20)
    honoured(live_app, followed, pair["doctor"], days_ago=30)
    with live_app.app_context():
        gp = partners.create_organisation(
            db.session,
            None,
            {"name": "Dr Germain Vieu", "category": "medecin_generaliste", "commune": "Trèbes"},
        )
        today = clock.today(PARIS)
        partners.set_accepts_new_patients(db.session, None, gp, "yes", today, today=today)
        db.session.commit()
    return {"patient": followed}


def test_a_gp_is_found_through_the_pathway_and_the_letter_printed(page: Page, gp_search):
    log_in(page, STAFF["clinician"].email)
    visit(page, f"/patients/{gp_search['patient']}")
    follow(page, page.get_by_role("link", name="Plan de suivi, appels et recherche d'un médecin traitant"))
    field(page, "Semaines entre deux visites").fill("6")
    page.get_by_label("Infirmière Azalée").check()
    page.get_by_label("Diabète de type 2").check()
    page.get_by_label("Éducation thérapeutique (ETP) proposée").check()
    follow(page, page.get_by_role("button", name="Enregistrer le plan"))
    expect(page.get_by_role("status").first).to_have_text("Plan de suivi enregistré.")

    field(page, "Médecin généraliste contacté").select_option(
        label="Dr Germain Vieu (Trèbes) — nouveaux patients : oui"
    )
    page.get_by_label("Accepte le patient").check()
    follow(page, page.get_by_role("button", name="Enregistrer la démarche"))
    expect(page.get_by_role("status").first).to_contain_text("Médecin traitant trouvé : Dr Germain Vieu")
    expect(page.get_by_role("heading", level=1)).to_contain_text("(Médecin traitant trouvé)")

    follow(page, page.get_by_role("link", name="Courrier de liaison"))
    letter = page.locator("article")
    expect(letter).to_contain_text("À l'attention de Dr Germain Vieu")
    expect(letter).to_contain_text("Une visite toutes les 6 semaines")
    expect(letter).to_contain_text("Protocoles Azalée : Diabète de type 2")
    expect(letter).to_contain_text(DOCTOR)
    page.emulate_media(media="print")
    expect(page.locator(".no-print").first).to_be_hidden()
    expect(letter).to_be_visible()
    assert page.pdf()[:4] == b"%PDF"
    check_page(page)
