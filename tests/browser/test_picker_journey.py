"""The slot picker in a real browser: an assistant books a follow-up with a chosen nurse on a
chosen date and half-day, moves week by week (htmx swaps), confirms on the confirmation page and
lands on the convocation; the picker reads on a 390 px phone. Every page and swap goes through
check_page (axe-core, CSP, script errors)."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from dalia_site import clock
from dalia_site.domain import referrals, roster
from dalia_site.extensions import db
from dalia_site.models import TeamMember
from tests.browser.conftest import STAFF, check_page, follow, log_in, visit

PARIS = ZoneInfo("Europe/Paris")
PHONE_WIDTH = 390
CHOSEN = "Marie-Hélène Castelnau-Vidal"
PATIENT = "SALVAING Germaine"
WEEKDAYS = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")
# Boxes that must neither overlap one another nor leave the viewport (an element and its own
# descendants excepted).
OVERLAPS = """(selectors) => {
  const boxes = [];
  for (const selector of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      const r = element.getBoundingClientRect();
      const name = selector + ' « ' + element.textContent.trim().slice(0, 30) + ' »';
      if (r.width && r.height) boxes.push({element, r, name});
    }
  }
  const problems = [];
  for (const a of boxes) {
    if (a.r.left < -0.5 || a.r.right > window.innerWidth + 0.5) problems.push('outside: ' + a.name);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.element.contains(b.element) || b.element.contains(a.element)) continue;
      const apart = a.r.right <= b.r.left + 0.5 || b.r.right <= a.r.left + 0.5
        || a.r.bottom <= b.r.top + 0.5 || b.r.bottom <= a.r.top + 0.5;
      if (!apart) problems.push('overlap: ' + a.name + ' / ' + b.name);
    }
  }
  return problems;
}"""


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


@pytest.fixture(scope="module")
def picker_clinic(live_app) -> dict:
    """The chosen nurse, on duty one morning and afternoon ten days ahead (other tests' clinicians
    work other days: the first visits they book are not affected); an accepted patient."""
    today = datetime.now(PARIS).date()
    chosen_day = today + timedelta(days=10)
    with live_app.app_context():
        ids = {}
        for name, profession, shifts in (
            (
                CHOSEN,
                "ipa",
                [(chosen_day, time(8, 30), time(10)), (chosen_day, time(13, 30), time(17, 30))],
            ),
        ):
            member = TeamMember(
                name=name,
                profession=profession,
                team="stable",
                doctor_status="salarie" if profession == "medecin" else None,
            )
            db.session.add(member)
            db.session.flush()
            for day, start, end in shifts:
                roster.add_shift(db.session, None, member, day, start, end, PARIS, today=today)
            ids[name] = member.id
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            {
                "last_name": "Salvaing",
                "first_names": "Germaine",
                "birth_name": "",
                "birth_date": date(1947, 3, 2),
                "sex": "F",
                "email": "",
                "address": "",
                "phone": "06 12 34 56 78",  # accepting needs a way to reach the patient
                "postcode": "11000",
                "commune": "Carcassonne",
                "ald": "yes",
                "ald_label": "",
                "gp_status": "none",
                "gp_name": "",
            },
            {"referrer_name": ""},
            "Suivi diabète.",
            now=clock.now(),
            today=today,
        )
        patient = referrals.decide(db.session, None, referral, "accepted", now=clock.now())
        db.session.commit()
        return {"patient": patient.id, "day": chosen_day, "chosen": ids[CHOSEN]}


def swap(page: Page, action) -> None:
    """An htmx swap of the picker block: the page is not reloaded; then check_page."""
    page.evaluate("() => { window.sameDocument = true; }")
    with page.expect_response(
        lambda r: "/creneaux" in r.url and r.request.headers.get("hx-request") == "true"
    ) as response:
        action()
    assert response.value.status == 200
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    check_page(page)


def day_group(page: Page, day: date):
    return page.get_by_role("group", name=f"{WEEKDAYS[day.weekday()]} {day:%d/%m/%Y}")


def test_an_assistant_books_the_chosen_nurse_on_a_chosen_date_through_the_confirmation(
    page: Page, picker_clinic
):
    day = picker_clinic["day"]
    log_in(page, STAFF["assistant"].email)
    visit(page, f"/patients/{picker_clinic['patient']}")
    expect(page.get_by_text("L'alternance propose : première consultation")).to_be_visible()

    # A nurse follow-up instead of the first visit (the reason is asked), with her, that
    # afternoon; the week starts on the chosen date.
    page.get_by_label("Type de rendez-vous").select_option("nurse")
    page.get_by_label("Motif si autre que proposé").fill("Éducation thérapeutique avant le binôme")
    page.get_by_label("À partir du").fill(day.isoformat())
    page.get_by_label("Soignant").select_option(label=CHOSEN)
    page.get_by_label("Moment").select_option("apres-midi")
    swap(page, lambda: page.get_by_role("button", name="Voir les créneaux libres").click())

    week = page.get_by_role("form", name="Créneaux libres")
    expect(week).to_be_visible()
    expect(page.get_by_role("heading", level=4)).to_contain_text(
        f"Du {day:%d/%m/%Y} au {day + timedelta(days=6):%d/%m/%Y}"
    )
    slots = day_group(page, day).get_by_role("button")
    expect(slots.first).to_have_text("13h30")
    expect(slots.last).to_have_text("17h00")  # 30-minute visits, the afternoon only
    expect(week.get_by_role("button", name="08h30")).to_have_count(0)

    # Week by week, and back.
    swap(page, lambda: page.get_by_role("link", name="Semaine suivante →").click())
    expect(page.get_by_role("heading", level=4)).to_contain_text(f"Du {day + timedelta(days=7):%d/%m/%Y}")
    expect(page.get_by_text("Aucun créneau libre cette semaine avec ces choix")).to_be_visible()
    swap(page, lambda: page.get_by_role("link", name="← Semaine précédente").click())
    expect(page.get_by_role("heading", level=4)).to_contain_text(f"Du {day:%d/%m/%Y}")

    # The slot picked shows a confirmation; nothing is booked before « Confirmer ».
    follow(page, day_group(page, day).get_by_role("button", name="14h30"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer le rendez-vous")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(PATIENT)
    expect(facts).to_contain_text("Consultation infirmière")
    expect(facts).to_contain_text(f"{day:%d/%m/%Y}")
    expect(facts).to_contain_text("14h30")
    expect(facts).to_contain_text(CHOSEN)
    expect(facts).to_contain_text("30 minutes")
    expect(facts).to_contain_text("Éducation thérapeutique avant le binôme")
    follow(page, page.get_by_role("button", name="Confirmer"))

    expect(page).to_have_url(re.compile(r"/rendez-vous/\d+/convocation$"))
    expect(page.get_by_role("status")).to_have_text("Rendez-vous confirmé.")
    expect(page.locator("dl.facts")).to_contain_text(CHOSEN)
    expect(page.locator("dl.facts")).to_contain_text("14h30")


def test_the_picker_reads_on_a_phone(page: Page, picker_clinic):
    day = picker_clinic["day"]
    log_in(page, STAFF["assistant"].email)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    path = f"/patients/{picker_clinic['patient']}/creneaux?kind=nurse&du={day - timedelta(days=1)}"
    visit(page, path)
    expect(day_group(page, day).get_by_role("button").first).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE_WIDTH
    problems = page.evaluate(
        OVERLAPS,
        [
            ".picker-nav > *",
            ".slot-day legend",
            ".slot-day button",
            ".picker-choices .field",
            ".picker-choices button",
        ],
    )
    assert not problems, f"{path} at {PHONE_WIDTH} px:\n" + "\n".join(problems)
