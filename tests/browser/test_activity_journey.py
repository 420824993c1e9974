"""The activity figures in a real browser: a reporting user (URPS) reads last year's figures and
charts, narrows the period by htmx, exports the CSV for Excel and prints the one-page report; no
patient's identity ever reaches the page, the report or the export.

Every page these tests land on, and every htmx swap, is checked by `check_page` (axe-core, no CSP
violation, no script error); see conftest.py.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select, update

from dalia_site import clock
from dalia_site.domain import booking, referrals, roster
from dalia_site.extensions import db
from dalia_site.models import PartnerOrganisation, Referral, TeamMember
from tests.browser.conftest import STAFF, check_page, field, follow, log_in

PARIS = ZoneInfo("Europe/Paris")
# Last year: no other browser test puts anything there (but on 1 January, when the booking
# journey's "yesterday" falls in it).
YEAR = datetime.now(PARIS).year - 1
MORNING = (time(8, 30), time(12, 30))
DOCTOR, NURSE = "Dr Lucien Azaïs", "Gisèle Roucayrol"
DAC = "DAC de l'Aude"  # in the directory every site starts with
UTF8_BOM = b"\xef\xbb\xbf"
PDF_PAGE = re.compile(rb"/Type\s*/Page[^s]")


@dataclass(frozen=True)
class Person:
    last_name: str
    first_names: str
    birth_date: date

    def traces(self) -> list[str]:
        """What would betray this person on a page or in a file (compared in lower case)."""
        birth = self.birth_date
        return [self.last_name, self.first_names, f"{birth:%d/%m/%Y}", birth.isoformat(), f"{birth:%d%m%Y}"]


# Three patients seen last year (two came directly, one was referred by the DAC), and a fourth
# put on the waiting list and never seen.
ODILE = Person("Escarguel", "Odile", date(1946, 2, 3))
GASTON = Person("Pélissier", "Gaston", date(1951, 9, 27))
BERTHE = Person("Vidalou", "Berthe", date(1939, 12, 8))
AMBROISE = Person("Castelnaudary-Fabre", "Ambroise", date(1944, 7, 19))
PATIENTS = (ODILE, GASTON, BERTHE, AMBROISE)

# The three mornings both clinicians were on duty: 12 staffed hours.
MARCH, APRIL, MAY = date(YEAR, 3, 11), date(YEAR, 4, 15), date(YEAR, 5, 13)

# What the figures must read, for the year and for March alone.
YEAR_FIGURES = {
    "Patients reçus": "3",
    "Consultations": "5",
    "dont premières consultations (médecin et infirmière)": "3",
    "dont consultations médecin": "1",
    "dont consultations infirmières": "1",
    "dont sans rendez-vous": "0",
    "Heures de présence soignante": "12 h",
    "Patients par heure de présence soignante": "0,4",  # 5 / 12
    "Patients venus directement (sans adressage)": "67 %",  # Odile and Gaston, not Berthe
    "Adressages reçus": "4",
    "Délai médian de l'adressage à la première consultation": "22 jours",  # 22, 15, 22
    "Taux de rendez-vous non honorés": "17 %",  # Gaston's April visit: 1 / (1 + 5)
    "Patients ayant trouvé un médecin traitant": "0",
}
MARCH_FIGURES = {
    "Patients reçus": "2",
    "Consultations": "2",
    "dont premières consultations (médecin et infirmière)": "2",
    "Heures de présence soignante": "4 h",
    "Adressages reçus": "1",  # Berthe's, on 24 March; Odile's and Gaston's came in February
    "Taux de rendez-vous non honorés": "0 %",
}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def identity(person: Person) -> dict:
    return {
        "last_name": person.last_name,
        "first_names": person.first_names,
        "birth_name": "",
        "birth_date": person.birth_date,
        "sex": "F",
        "phone": "04 68 11 22 33",
        "email": "",
        "address": "5 rue de Verdun",
        "postcode": "11000",
        "commune": "Carcassonne",
        "ald": "yes",
        "ald_label": "diabète",
        "gp_status": "none",
        "gp_name": "",
    }


@pytest.fixture(scope="module", autouse=True)
def exact_counts(live_app):
    """Statistical secrecy off for this journey (threshold 1, which site.toml refuses): it reads
    this tiny centre's exact figures; tests/web/test_small_counts.py checks « < 5 » for the
    reporting role."""
    threshold = live_app.config["SMALL_COUNT_THRESHOLD"]
    live_app.config["SMALL_COUNT_THRESHOLD"] = 1
    yield
    live_app.config["SMALL_COUNT_THRESHOLD"] = threshold


@pytest.fixture(scope="module")
def last_year(live_app) -> int:
    """Last year's activity, recorded through the domain as it happened (referrals are dated
    directly: they are always received "now")."""
    visits = live_app.config["SITE_SETTINGS"]["visits"]
    with live_app.app_context():
        session = db.session
        doctor = TeamMember(name=DOCTOR, profession="medecin", team="stable", doctor_status="salarie")
        nurse = TeamMember(name=NURSE, profession="infirmier_azalee", team="stable")
        session.add_all([doctor, nurse])
        session.flush()
        for day in (MARCH, APRIL, MAY):
            for member in (doctor, nurse):
                roster.add_shift(session, None, member, day, *MORNING, PARIS, today=day)
        pair, doctor_only, nurse_only = [doctor.id, nurse.id], [doctor.id], [nurse.id]

        dac = session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == DAC))
        received = {}
        for person, when, source in (
            (ODILE, at(date(YEAR, 2, 17), 10), None),
            (GASTON, at(date(YEAR, 2, 24), 11), None),
            (BERTHE, at(date(YEAR, 3, 24), 14), dac),
            (AMBROISE, at(date(YEAR, 5, 5), 9), None),
        ):
            if source is None:
                referral = referrals.receive(
                    session,
                    None,
                    "direct",
                    identity(person),
                    {"referrer_name": ""},
                    "Venue à l'accueil.",
                    now=clock.now(),
                    today=clock.today(ZoneInfo("Europe/Paris")),
                )
            else:
                referral = referrals.receive(
                    session,
                    None,
                    "phone",
                    identity(person),
                    {"referrer_name": "Inès Barthe", "referrer_phone": "04 68 00 00 01"},
                    "Sortie d'hospitalisation.",
                    source=source,
                    now=clock.now(),
                    today=clock.today(ZoneInfo("Europe/Paris")),
                )
            session.execute(update(Referral).where(Referral.id == referral.id).values(received_at=when))
            session.refresh(referral)
            decision = "waiting_list" if person is AMBROISE else "accepted"
            received[person] = referrals.decide(session, None, referral, decision, now=clock.now())

        def held(person, kind, start, members, status="honoured"):
            appointment = booking.book(
                session,
                None,
                received[person],
                kind,
                start,
                members,
                visits,
                PARIS,
                now=start - timedelta(days=1),
            )
            booking.mark(session, None, appointment, status, now=start + timedelta(hours=1))

        held(ODILE, "first", at(MARCH, 8, 30), pair)
        held(GASTON, "first", at(MARCH, 9, 30), pair)
        held(ODILE, "nurse", at(APRIL, 8, 30), nurse_only)
        held(GASTON, "nurse", at(APRIL, 9), nurse_only, status="no_show")
        held(BERTHE, "first", at(APRIL, 9, 30), pair)
        held(ODILE, "doctor", at(MAY, 8, 30), doctor_only)
        session.commit()
    return YEAR


# --- What the pages show ----------------------------------------------------------------------


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Navigation principale")


def mark_document(page: Page) -> None:
    page.evaluate("() => { window.sameDocument = true; }")


def same_document(page: Page) -> bool:
    return page.evaluate("() => window.sameDocument === true")


def period_label(first: date, last: date) -> str:
    return f"du {first:%d/%m/%Y} au {last:%d/%m/%Y}"


def figure(page: Page, label: str) -> Locator:
    """The value of a headline figure, by its row header."""
    table = page.get_by_role("table", name=re.compile(r"^Chiffres "))
    row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=label, exact=True))
    return row.get_by_role("cell")


def expect_figures(page: Page, first: date, last: date, figures: dict[str, str]) -> None:
    expect(page.get_by_role("heading", level=2, name=f"Chiffres {period_label(first, last)}")).to_be_visible()
    for label, value in figures.items():
        expect(figure(page, label), label).to_have_text(value)


def assert_no_patient_identity(text: str, where: str) -> None:
    folded = text.lower()
    leaks = [trace for person in PATIENTS for trace in person.traces() if trace.lower() in folded]
    assert not leaks, f"{where} shows a patient's identity: {leaks}"


def assert_page_anonymous(page: Page) -> None:
    assert_no_patient_identity(page.content(), f"the HTML of {page.url}")
    assert_no_patient_identity(page.locator("body").inner_text(), f"the text of {page.url}")


def swap_period(page: Page, control: Locator, query: str) -> None:
    """A period asked for by htmx: only #activite is swapped, the address is pushed."""
    mark_document(page)
    with page.expect_response(
        lambda r: f"/activite?{query}" in r.url and r.request.headers.get("hx-request") == "true"
    ) as swap:
        control.click()
    assert swap.value.status == 200
    assert "<html" not in swap.value.text().lower(), "htmx got the whole page, not the figures"
    expect(page).to_have_url(re.compile(rf"/activite\?{re.escape(query)}$"))
    assert same_document(page), "the page was reloaded"
    check_page(page)


def chart(page: Page, title: str) -> Locator:
    """An SVG chart by its accessible name: its <title>, then its <desc>."""
    return page.get_by_role("img", name=title)  # (a regex with "/" trips Playwright's selector)


def printed_pages(page: Page) -> int:
    """The number of A4 pages the report prints on (print styles, as Ctrl+P does)."""
    expect(page.get_by_text("elle tient sur une feuille", exact=False)).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    return len(PDF_PAGE.findall(pdf))


# --- The journeys -----------------------------------------------------------------------------


def test_a_reporting_user_reads_last_years_figures_and_exports_them(page: Page, last_year):
    year = last_year
    january, december = date(year, 1, 1), date(year, 12, 31)
    log_in(page, STAFF["reporting"].email)
    follow(page, main_nav(page).get_by_role("link", name="Activité"))
    expect(page).to_have_url(re.compile(r"/activite$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Activité du centre")
    assert_page_anonymous(page)

    # March only, through the period form: the figures change in place.
    field(page, "Du").fill(f"{year}-03-01")
    field(page, "Au").fill(f"{year}-03-31")
    swap_period(page, page.get_by_role("button", name="Afficher"), f"du={year}-03-01&au={year}-03-31")
    expect_figures(page, date(year, 3, 1), date(year, 3, 31), MARCH_FIGURES)
    months = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Mois"))
    expect(months.get_by_role("row")).to_have_count(2)  # the header and March
    expect(months.get_by_role("row").nth(1)).to_have_text(f"mars {year}2002")
    assert_page_anonymous(page)

    # The whole year, through its preset link.
    swap_period(
        page,
        page.get_by_role("navigation", name="Périodes courantes").get_by_role(
            "link", name=f"Année {year}", exact=True
        ),
        f"du={january.isoformat()}&au={december.isoformat()}",
    )
    expect_figures(page, january, december, YEAR_FIGURES)
    # What the period form reads now; checked at the end, so that the rest of the journey runs.
    form_period = (field(page, "Du").input_value(), field(page, "Au").input_value())

    # Both charts, drawn and described, and the values behind them.
    label = period_label(january, december)
    months_chart = chart(page, f"Consultations par mois et par type, {label}")
    expect(months_chart).to_be_visible()
    expect(months_chart.locator(":scope > title")).to_have_text(
        f"Consultations par mois et par type, {label}"
    )
    expect(months_chart.locator(":scope > desc")).to_contain_text("5 consultations en tout")
    expect(months_chart.locator("rect")).to_have_count(4)  # March 1, April 2, May 1 stacks
    expect(months_chart.locator("rect > title")).to_have_text(
        [
            f"mars {year} : 2 premières consultations",
            f"avr. {year} : 1 premières consultations",
            f"avr. {year} : 1 consultations infirmières",
            f"mai {year} : 1 consultations médecin",
        ]
    )
    sources_chart = chart(page, f"Adressages reçus par origine, {label}")
    expect(sources_chart).to_be_visible()
    expect(sources_chart.locator(":scope > title")).to_have_text(f"Adressages reçus par origine, {label}")
    expect(sources_chart.locator(":scope > desc")).to_contain_text("4 adressages en tout")
    expect(sources_chart.locator("rect > title")).to_have_text(["Accès direct : 3", "DAC : 1"])
    by_month = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Mois"))
    expect(by_month.get_by_role("row")).to_have_count(13)  # the header and twelve months
    for month, cells in (("mars", "2002"), ("avr.", "1012"), ("mai", "0101"), ("juin", "0000")):
        expect(
            by_month.get_by_role("row").filter(
                has=page.get_by_role("rowheader", name=f"{month} {year}", exact=True)
            )
        ).to_have_text(f"{month} {year}{cells}")
    by_source = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Origine"))
    expect(by_source.get_by_role("row")).to_have_count(4)  # header, two origins, total
    # New, accepted, waiting list, declined, total.
    expect(by_source.get_by_role("row").nth(1)).to_have_text("Accès direct02103")
    expect(by_source.get_by_role("row").nth(2)).to_have_text("DAC01001")
    expect(by_source.get_by_role("row").nth(3)).to_have_text("Total03104")
    assert_page_anonymous(page)

    # The CSV for Excel: UTF-8 with a BOM, cells separated by semicolons, no identity.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter en CSV (Excel)").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"activite-test-{january}-{december}.csv"
    content = Path(download.path()).read_bytes()
    assert content.startswith(UTF8_BOM), content[:20]
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Indicateur;Valeur"
    assert f"Période;{label}" in lines
    assert "Patients reçus;3" in lines
    assert "Consultations;5" in lines
    assert f"mars {year};2;0;0;2" in lines
    assert "Adressages par origine;Nouveau;Accepté;Liste d'attente;Refusé;Total" in lines
    assert "Accès direct;0;2;1;0;3" in lines
    assert "DAC;0;1;0;0;1" in lines
    assert_no_patient_identity(content.decode("utf-8-sig"), "the CSV export")
    assert same_document(page), "downloading the CSV left the page"

    # The printable report of the same period, with the same figures and nothing more.
    follow(page, page.get_by_role("link", name="Rapport imprimable"))
    expect(page).to_have_url(
        re.compile(rf"/activite/rapport\?du={january.isoformat()}&au={december.isoformat()}$")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Rapport d'activité — "))
    expect_figures(page, january, december, YEAR_FIGURES)
    expect(chart(page, f"Consultations par mois et par type, {label}")).to_be_visible()
    expect(chart(page, f"Adressages reçus par origine, {label}")).to_be_visible()
    assert_page_anonymous(page)

    # After the preset link, the period form must show the period shown (as a full page load of
    # the same address does: the route sets the fields to the period), or "Du"/"Au" contradict
    # the figures and the next "Afficher" mixes the two periods.
    assert form_period == (january.isoformat(), december.isoformat()), (
        f"after « Année {year} » the figures are {label} but the period form still reads "
        f"Du {form_period[0]} / Au {form_period[1]}"
    )


def test_the_printable_report_fits_on_one_a4_page(page: Page, last_year):
    """ "Imprimez cette page… elle tient sur une feuille": the report of the period the activity
    page opens with (the twelve months to today), then last year's."""
    year = last_year
    log_in(page, STAFF["reporting"].email)
    follow(page, main_nav(page).get_by_role("link", name="Activité"))
    pages = {}
    follow(page, page.get_by_role("link", name="Rapport imprimable"))
    pages["12 derniers mois"] = printed_pages(page)

    follow(page, page.get_by_role("link", name="Retour à la page d'activité"))
    swap_period(
        page,
        page.get_by_role("navigation", name="Périodes courantes").get_by_role(
            "link", name=f"Année {year}", exact=True
        ),
        f"du={year}-01-01&au={year}-12-31",
    )
    follow(page, page.get_by_role("link", name="Rapport imprimable"))
    expect(
        page.get_by_role("heading", level=2, name=f"Chiffres du 01/01/{year} au 31/12/{year}")
    ).to_be_visible()
    pages[f"Année {year}"] = printed_pages(page)
    assert pages == dict.fromkeys(pages, 1), f"A4 pages printed per report: {pages}"
