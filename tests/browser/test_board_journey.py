"""Issue 18 in a real browser: a volunteer doctor, on a 390 px phone, finds an open half-day on
the board, takes it in one click, and the planning's alert « demi-journée sans médecin » for it
is gone. The board and the week planning read on the phone (no horizontal scroll, no overlap)."""

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from dalia_site import clock
from dalia_site.domain import accounts, opening, roster
from dalia_site.extensions import db
from tests.browser.conftest import follow, log_in, visit
from tests.browser.test_phone_planning import PHONE_WIDTH, on_a_phone
from tests.conftest import PASSWORD

PARIS = ZoneInfo("Europe/Paris")
VOLUNTEER_EMAIL = "odette.benevole@test.dalia.invalid"
VOLUNTEER = "Dr Odette Vialarels-Bénévole"
NURSE = "Séverine Azalée-Montredon"
ASSISTANT = "Maëlle Secrétariat-Cuxac"


def thursday_ahead() -> date:
    """A Thursday about eleven weeks ahead (within the board's three months, beyond the dates
    the other journeys of the shared live site use), no public holiday."""
    day = clock.today(PARIS) + timedelta(weeks=11)
    day += timedelta(days=(3 - day.weekday()) % 7)
    while opening.public_holidays("11", day, day):
        day -= timedelta(days=7)
    return day


@pytest.fixture(scope="module")
def open_thursday(live_app, password_hash):
    """A Thursday afternoon with a nurse and an assistant but no doctor; a volunteer's account."""
    thursday = thursday_ahead()
    with live_app.app_context():
        session = db.session
        user = accounts.create_staff(session, None, VOLUNTEER_EMAIL, VOLUNTEER, "clinician", PASSWORD)
        user.must_change_password = False
        user.password_hash = password_hash
        session.flush()
        roster.save_member(
            session,
            None,
            None,
            {"name": VOLUNTEER, "profession": "medecin", "team": "flexible", "doctor_status": "retraite"},
            user.id,
        )
        for name, profession in ((NURSE, "infirmier_azalee"), (ASSISTANT, "assistant_medical")):
            member = roster.save_member(
                session, None, None, {"name": name, "profession": profession, "team": "stable"}, None
            )
            roster.add_shift(
                session, None, member, thursday, time(13, 30), time(17, 30), PARIS, today=clock.today(PARIS)
            )
        session.commit()
    return thursday


def test_a_volunteer_takes_an_open_half_day_on_a_phone_and_the_alert_goes(page: Page, open_thursday):
    thursday = open_thursday
    alert = f"Jeu. {thursday:%d/%m} après-midi : demi-journée sans médecin"
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    log_in(page, VOLUNTEER_EMAIL)
    week = f"/planning?semaine={thursday.isoformat()}"
    visit(page, week)
    expect(page.locator("#alertes")).to_contain_text(alert)

    on_a_phone(page, "/planning/demi-journees-ouvertes", [".board-list li > *", ".actions > *", "h1", "h2"])
    entry = page.locator(".board-list li", has_text=f"Jeudi {thursday:%d/%m/%Y} après-midi")
    expect(entry).to_contain_text("sans médecin")
    follow(page, entry.get_by_role("button", name="Prendre"))
    expect(page.locator(".flashes")).to_contain_text(f"Demi-journée du {thursday:%d/%m/%Y} à 13h30 prise")
    expect(page.locator("section", has_text="Vos demi-journées prises")).to_contain_text(
        f"Jeudi {thursday:%d/%m/%Y}"
    )

    on_a_phone(page, week, [".planning-nav > *", "table.planning td", ".on-duty li", ".gap-list li"])
    expect(page.locator("#alertes")).not_to_contain_text(alert)
    cell = page.locator("table.planning td", has_text=VOLUNTEER)
    expect(cell).to_contain_text(NURSE)
