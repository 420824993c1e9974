"""Issue 15 in a real browser: the week planning and the agenda on a 390 px phone (no horizontal
scroll, nothing overlapping), the « Copier » button of a private link, the activity tables' numbers
aligned with their headers, the favicon. Every page goes through check_page (axe-core, CSP)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from dalia_site.domain import roster
from dalia_site.domain.referrals import patient_search_text
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, PartnerOrganisation, Patient
from tests.browser.conftest import STAFF, check_page, field, follow, log_in, type_code, visit
from tests.conftest import PASSWORD

PARIS = ZoneInfo("Europe/Paris")
PHONE_WIDTH = 390
DOCTOR = "Marie-Christine Delacroix-Fontanilles"
NURSE = "Anne-Sophie Bonnafous-Castelnau"

# What overlaps on a phone when a layout is too wide: every box of these selectors, pairwise
# (an element and its own descendants excepted), and each box inside the viewport.
OVERLAPS = """(selectors) => {
  const boxes = [];
  for (const selector of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      const r = element.getBoundingClientRect();
      const name = selector + ' « ' + element.textContent.trim().slice(0, 40) + ' »';
      if (r.width && r.height) boxes.push({element, r, name});
    }
  }
  const problems = [];
  for (const a of boxes) {
    if (a.r.left < -0.5 || a.r.right > window.innerWidth + 0.5) problems.push('outside: ' + a.name);
    const visible = getComputedStyle(a.element).overflowX === 'visible';
    const overflows = a.element.scrollWidth > a.element.clientWidth + 1;
    if (visible && overflows) problems.push('text overflows: ' + a.name);
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


def next_tuesday() -> datetime:
    """A Tuesday two weeks ahead (the centre opens on Tuesdays), as a local midnight."""
    today = datetime.now(PARIS).date() + timedelta(days=14)
    tuesday = today + timedelta(days=(1 - today.weekday()) % 7)
    return datetime.combine(tuesday, time(), tzinfo=PARIS)


@pytest.fixture(scope="module")
def busy_tuesday(live_app):
    """A doctor and a nurse with long names on duty on a Tuesday, with three appointments."""
    tuesday = next_tuesday()
    with live_app.app_context():
        session = db.session
        members = []
        for name, profession in ((DOCTOR, "medecin"), (NURSE, "infirmier_azalee")):
            member = roster.save_member(
                session,
                None,
                None,
                {
                    "name": name,
                    "profession": profession,
                    "team": "stable",
                    "doctor_status": "retraite" if profession == "medecin" else None,
                },
                None,
            )
            for start, end in ((time(8, 30), time(12, 30)), (time(13, 30), time(17, 30))):
                roster.add_shift(
                    session, None, member, tuesday.date(), start, end, PARIS, today=tuesday.date()
                )
            members.append(member)
        for n, (hour, who) in enumerate(((9, members), (11, [members[1]]), (14, [members[0]]))):
            patient = Patient(
                last_name=f"Castelnaudary-Montferrand{n}",
                first_names="Marie-Bernadette Josépha",
                birth_date=datetime(1948, 5, 12).date(),
                sex="F",
                postcode="11000",
                commune="Carcassonne",
                ald="yes",
                gp_status="none",
            )
            patient.search_text = patient_search_text(patient)
            session.add(patient)
            session.flush()
            starts = tuesday.replace(hour=hour)
            appointment = Appointment(
                patient_id=patient.id,
                kind="first" if len(who) == 2 else ("doctor" if who[0] is members[0] else "nurse"),
                starts_at=starts,
                ends_at=starts + timedelta(minutes=45),
            )
            session.add(appointment)
            session.flush()
            for member in who:
                session.add(AppointmentClinician(appointment_id=appointment.id, member_id=member.id))
        session.commit()
    return tuesday.date()


def on_a_phone(page: Page, path: str, selectors: list[str]) -> None:
    """The page at 390 px: no horizontal scroll and none of `selectors`' boxes overlapping."""
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    visit(page, path)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE_WIDTH, path
    problems = page.evaluate(OVERLAPS, selectors)
    assert not problems, f"{path} at {PHONE_WIDTH} px:\n" + "\n".join(problems)


def test_the_week_planning_reads_on_a_phone(page: Page, busy_tuesday):
    log_in(page, STAFF["assistant"].email)
    monday = busy_tuesday - timedelta(days=1)
    on_a_phone(
        page,
        f"/planning?semaine={monday.isoformat()}",
        [".planning-nav > *", "table.planning th", "table.planning td", ".on-duty li", ".gap-label"],
    )
    expect(page.locator("table.planning")).to_contain_text(DOCTOR)
    # Each half-day says which day it is, since the days' header row is not beside it any more.
    said = page.evaluate(
        "() => getComputedStyle(document.querySelectorAll('table.planning td')[1], '::before').content"
    )
    assert said == f'"Mar. {busy_tuesday:%d/%m}"'
    assert (
        page.evaluate("() => getComputedStyle(document.querySelector('table.planning thead')).display")
        == "none"
    )
    on_a_phone(
        page,
        f"/planning/mois?mois={busy_tuesday.isoformat()}",
        [".planning-nav > *", "table.month th", "table.month td"],
    )


def test_the_day_and_week_agenda_read_on_a_phone(page: Page, busy_tuesday):
    log_in(page, STAFF["assistant"].email)
    day = busy_tuesday.isoformat()
    on_a_phone(
        page,
        f"/agenda?jour={day}",
        [".planning-nav > *", ".agenda-column", ".agenda-column h3", ".agenda-column .help", ".appointment"],
    )
    expect(page.locator(".agenda-column")).to_have_count(2)
    expect(page.locator(".agenda-columns")).to_contain_text("CASTELNAUDARY-MONTFERRAND0")
    on_a_phone(page, f"/agenda/semaine?jour={day}", [".planning-nav > *", "#agenda section", "#agenda li"])
    expect(page.locator("#agenda")).to_contain_text(NURSE)


def test_a_private_link_is_copied_with_one_click(page: Page, live_app):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    with live_app.app_context():
        org_id = db.session.scalar(
            select(PartnerOrganisation.id).where(PartnerOrganisation.name == "DAC de l'Aude")
        )
    log_in(page, STAFF["admin"].email)
    visit(page, f"/annuaire/{org_id}")
    field(page, "Libellé (facultatif)").fill("Coordinatrices (copie)")
    follow(page, page.get_by_role("button", name="Créer un lien d'adressage"))
    link = page.get_by_role("textbox", name="Lien d'adressage")
    address = link.input_value()
    assert "/adressage/" in address
    page.get_by_role("button", name="Copier le lien d'adressage").click()
    expect(page.locator("#lien-adressage-copie")).to_have_text("Lien copié.")
    assert page.evaluate("() => navigator.clipboard.readText()") == address
    check_page(page)


def test_without_javascript_the_link_stays_selectable_and_no_dead_button_shows(browser, base_url, live_app):
    with live_app.app_context():
        org_id = db.session.scalar(
            select(PartnerOrganisation.id).where(PartnerOrganisation.name == "DAC de l'Aude")
        )
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    page = context.new_page()
    try:
        page.goto("/connexion")
        field(page, "Adresse e-mail").fill(STAFF["admin"].email)
        field(page, "Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state("load")
        if page.url.endswith("/connexion/code"):  # the admin's second factor, without script too
            type_code(page, STAFF["admin"].email)
            page.get_by_role("button", name="Valider").click()
            page.wait_for_load_state("load")
        page.goto(f"/annuaire/{org_id}")
        field(page, "Libellé (facultatif)").fill("Sans script")
        page.get_by_role("button", name="Créer un lien d'adressage").click()
        link = page.get_by_role("textbox", name="Lien d'adressage")
        expect(link).to_be_visible()
        assert "/adressage/" in link.input_value()
        expect(page.get_by_role("button", name="Copier le lien d'adressage")).to_be_hidden()
    finally:
        context.close()


def test_the_favicon_is_served(page: Page):
    visit(page, "/connexion")
    href = page.locator('link[rel="icon"]').get_attribute("href")
    response = page.request.get(href)
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")


def test_activity_tables_align_their_headers_with_their_numbers(page: Page):
    log_in(page, STAFF["reporting"].email)
    visit(page, "/activite")
    alignments = page.evaluate(
        """() => [...document.querySelectorAll('.chart-data table')].map(table => ({
            headers: [...table.querySelectorAll('thead th')].slice(1)
                .map(th => getComputedStyle(th).textAlign),
            numbers: [...table.querySelectorAll('tbody td')].map(td => getComputedStyle(td).textAlign),
        }))"""
    )
    assert alignments and all(table["headers"] and table["numbers"] for table in alignments[:1])
    for table in alignments:
        assert set(table["headers"]) <= {"right"} and set(table["numbers"]) <= {"right"}, table
