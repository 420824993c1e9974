"""The team roster in a real browser: a volunteer doctor offers half-days, an assistant sees the
gaps filled.

Every page these tests land on, and every htmx swap, is checked by `check_page` (axe-core, no CSP
violation, no script error); see conftest.py.
"""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from dalia_site import clock
from dalia_site.domain import accounts, roster
from dalia_site.extensions import db
from dalia_site.models import TeamMember
from tests.browser.conftest import STAFF, check_page, field, follow, log_in, log_out
from tests.conftest import PASSWORD

PARIS = ZoneInfo("Europe/Paris")
MORNING = (time(8, 30), time(12, 30))
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
DOCTOR_EMAIL = "marie.roques@test.dalia.invalid"
DOCTOR = "Marie Roques"
NURSE = "Sophie Bonnafous"
ASSISTANT = "Lucie Fabre"


def next_month_week() -> date:
    """The first Monday of the month after next (in the site's timezone): two months ahead, no
    other journey of the shared live site puts anyone on duty then, so its counts are its own."""
    first = (datetime.now(PARIS).date().replace(day=1) + timedelta(days=32)).replace(day=1)
    first = (first + timedelta(days=32)).replace(day=1)
    return first + timedelta(days=-first.weekday() % 7)


def months_ahead_by_htmx(page: Page, month: date) -> None:
    """From this month's planning to `month` (two ahead), one htmx swap at a time."""
    next_month = (datetime.now(PARIS).date().replace(day=1) + timedelta(days=32)).replace(day=1)
    next_month_by_htmx(page, next_month)
    next_month_by_htmx(page, month)


@pytest.fixture
def stable_team(live_app) -> date:
    """A volunteer doctor's account linked to her team member (flexible team), and a nurse and a
    medical assistant on duty every Tuesday, Wednesday and Thursday morning two months ahead, so
    that the only thing those half-days lack is a doctor. Returns that month's first Monday."""
    monday = next_month_week()
    last = (monday.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    with live_app.app_context():
        user = accounts.create_staff(db.session, None, DOCTOR_EMAIL, DOCTOR, "clinician", PASSWORD)
        user.must_change_password = False
        db.session.add(
            TeamMember(
                name=DOCTOR,
                profession="medecin",
                team="flexible",
                doctor_status="retraite",
                rpps="10000000009",
                staff_user_id=user.id,
            )
        )
        for name, profession in ((NURSE, "infirmier_azalee"), (ASSISTANT, "assistant_medical")):
            member = TeamMember(name=name, profession=profession, team="stable")
            db.session.add(member)
            db.session.flush()
            for weekday in (1, 2, 3):
                roster.add_pattern(
                    db.session,
                    None,
                    member,
                    weekday,
                    *MORNING,
                    monday,
                    last,
                    PARIS,
                    today=clock.today(ZoneInfo("Europe/Paris")),
                )
        db.session.commit()
    return monday


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Navigation principale")


def mark_document(page: Page) -> None:
    page.evaluate("() => { window.sameDocument = true; }")


def same_document(page: Page) -> bool:
    return page.evaluate("() => window.sameDocument === true")


def next_month_by_htmx(page: Page, month: date) -> None:
    """On the month planning, "Suivant →" swaps next month in without reloading the page."""
    mark_document(page)
    with page.expect_response(
        lambda r: "/planning/mois?mois=" in r.url and r.request.headers.get("hx-request") == "true"
    ) as swap:
        page.get_by_role("link", name="Suivant →").click()
    assert swap.value.status == 200
    expect(page.get_by_role("heading", level=2)).to_have_text(
        f"{MONTHS[month.month - 1].capitalize()} {month.year}"
    )
    expect(page).to_have_url(re.compile(rf"/planning/mois\?mois={month:%Y-%m}-01$"))
    assert same_document(page), "the page was reloaded"
    check_page(page)


def day_cell(page: Page, day: date):
    """A day's cell of the month planning, found by its day number ("2 décembre")."""
    link = page.get_by_role("link", name=f"{day.day} {MONTHS[day.month - 1]}", exact=True)
    return page.locator("td").filter(has=link)


def month_morning(page: Page, day: date):
    """The morning line of a day in the month planning."""
    return day_cell(page, day).get_by_role("paragraph").filter(has_text="(matin)")


def half_day_cell(page: Page, half: str, day: date):
    """The cell of the week planning for `half` ("Matin", "Après-midi") on `day`."""
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=half, exact=True))
    return row.get_by_role("cell").nth(day.weekday())


def test_a_volunteer_doctor_offers_two_half_days_that_fill_the_gaps(page: Page, stable_team):
    monday = stable_team
    tuesday, wednesday, thursday = (monday + timedelta(days=i) for i in (1, 2, 3))
    month = monday.replace(day=1)

    # The doctor finds her own sessions from the planning.
    log_in(page, DOCTOR_EMAIL)
    follow(page, main_nav(page).get_by_role("link", name="Planning"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Planning de l'équipe")
    follow(page, page.get_by_role("link", name="Mes vacations"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Vacations de {DOCTOR}")
    expect(page.get_by_text("Aucune vacation prévue.")).to_be_visible()

    # She offers two mornings two months ahead.
    for day in (tuesday, thursday):
        form = page.locator("form").filter(has=page.get_by_role("button", name="Proposer"))
        field(form, "Date").fill(day.isoformat())
        field(form, "Créneau").select_option(label="Matin")
        follow(page, form.get_by_role("button", name="Proposer"))
        expect(page.get_by_role("status")).to_have_text(f"Vacation du {day:%d/%m/%Y} enregistrée.")
    upcoming = page.get_by_role("region", name="Prochaines vacations (90 jours)")
    rows = upcoming.get_by_role("row")
    expect(rows).to_have_count(3)  # the header and her two mornings
    for index, day in enumerate((tuesday, thursday), start=1):
        expect(rows.nth(index)).to_contain_text(f"{day:%d/%m/%Y}")
        expect(rows.nth(index)).to_contain_text("08h30 – 12h30")
        expect(rows.nth(index)).to_contain_text("Ponctuelle")

    # The month planning shows them, two months ahead through htmx.
    follow(page, main_nav(page).get_by_role("link", name="Planning"))
    follow(page, page.get_by_role("link", name="Mois", exact=True))
    months_ahead_by_htmx(page, month)
    for day in (tuesday, thursday):
        expect(month_morning(page, day)).to_have_text("M (matin) : 3 pers.")
    expect(month_morning(page, wednesday)).to_have_text("M (matin) : 2 pers. — sans médecin")
    log_out(page)

    # An assistant sees those two mornings covered, and Wednesday still short of a doctor.
    log_in(page, STAFF["assistant"].email)
    follow(page, main_nav(page).get_by_role("link", name="Planning"))
    follow(page, page.get_by_role("link", name="Mois", exact=True))
    months_ahead_by_htmx(page, month)
    follow(
        page, day_cell(page, tuesday).get_by_role("link", name=f"{tuesday.day} {MONTHS[tuesday.month - 1]}")
    )
    expect(page.get_by_role("heading", level=2)).to_have_text(
        f"Semaine du {monday:%d/%m/%Y} au {monday + timedelta(days=6):%d/%m/%Y}"
    )
    for day in (tuesday, thursday):
        cell = half_day_cell(page, "Matin", day)
        expect(cell).to_contain_text(DOCTOR)
        expect(cell).to_contain_text(NURSE)
        expect(cell).to_contain_text(ASSISTANT)
        expect(cell).not_to_contain_text("Sans ")
    expect(half_day_cell(page, "Matin", wednesday)).to_contain_text("Sans médecin")
    expect(page.locator("#alertes")).to_contain_text(
        f"Mer. {wednesday:%d/%m} matin : demi-journée sans médecin"
    )
    expect(half_day_cell(page, "Matin", wednesday)).not_to_contain_text(DOCTOR)
