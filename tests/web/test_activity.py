"""The activity figures: the page and its charts, the htmx swap, the printable report, the CSV and
JSON exports, the period asked for, and what the reporting role must never see.

The centre of these tests is built through the domain functions, each step at its own moment
(`clock_at`, `now=`), over the three calendar months before the current one (M0, M1, M2):

- a doctor and a nurse on duty 08:30-12:30 on M1-04 and on M2-02: 8 staffed hours;
- ROUQUETTE Odile, referred by phone by the DAC 14 days before M1-04, accepted: first visit with
  the pair on M1-04 (honoured), nurse follow-up on M2-02 (honoured), and a walk-in with the
  doctor on M2-02 at 11:45;
- BÉNÉZECH Élodie, came directly 36 days before M2-02, accepted: no-show at her first visit on
  M1-04, first visit held on M2-02;
- CAZALS Philomène, referred by the DAC on M1-10, not decided yet (no patient made).

Over M0..M2 that is 2 patients received, 4 consultations (2 first visits, 1 doctor - the walk-in,
1 nurse), 1 no-show against 3 booked visits held (25 %), 4 / 8 = 0,5 patients per staffed hour,
1 patient of 2 came directly (50 %), 3 referrals, median delay (14 + 36) / 2 = 25 days.
Which role may open which route is the table of test_access.py; here, what the pages say.
"""

import csv
import html
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dalia_site import clock
from dalia_site.domain import booking, referrals, roster
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, PartnerOrganisation, Patient, Referral, TeamMember
from dalia_site.models.types import clock_at
from dalia_site.models.vocabulary import RefusalReason
from tests.web.test_patients import DAC, IDENTITY, REFERRER

PARIS = ZoneInfo("Europe/Paris")
ROUTES = ("/activite", "/activite/rapport", "/activite/export.csv", "/activite/export.json")
READERS = ("admin", "assistant", "reporting")
MORNING = (time(8, 30), time(12, 30))
ROUQUETTE = IDENTITY  # Rouquette Odile Marie, née Fabre, 15/03/1950
BENEZECH = IDENTITY | {
    "last_name": "Bénézech",
    "first_names": "Élodie",
    "birth_name": "Vergnes",
    "birth_date": date(1948, 2, 1),
    "phone": "04 68 44 55 66",
}
CAZALS = IDENTITY | {
    "last_name": "Cazals",
    "first_names": "Philomène",
    "birth_name": "",
    "birth_date": date(1933, 7, 9),
    "phone": "04 68 77 88 99",
}
MONTHS_FR = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)
INVALID_DATE = "Date invalide : jj/mm/aaaa attendu (ex. 22/11/2026)."
ORDER = "La date de début doit précéder la date de fin."
RANGE = "Dates entre 01/01/2000 et 31/12/2099 seulement."


# --- the centre ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Centre:
    months: tuple[date, date, date]  # the first day of M0, M1, M2
    patient_ids: tuple[int, ...]
    references: tuple[str, ...]  # the referrals' own numbers (DAL-…)

    @property
    def first(self) -> date:
        return self.months[0]

    @property
    def last(self) -> date:
        return next_month(self.months[2]) - timedelta(days=1)

    @property
    def query(self) -> dict[str, str]:
        return {"du": self.first.isoformat(), "au": self.last.isoformat()}


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def month_label(day: date) -> str:
    return f"{MONTHS_FR[day.month - 1]} {day.year}"


@pytest.fixture
def exact(app):
    """Statistical secrecy off (threshold 1, which site.toml refuses): the tests of the figures'
    layout read this small centre's exact counts (tests/web/test_small_counts.py checks « < 5 »)."""
    app.config["SMALL_COUNT_THRESHOLD"] = 1


@pytest.fixture
def centre(app) -> Centre:
    m2 = previous_month(datetime.now(PARIS).date())
    m1 = previous_month(m2)
    m0 = previous_month(m1)
    day1, day2 = m1.replace(day=4), m2.replace(day=2)
    with app.app_context():
        visits = app.config["SITE_SETTINGS"]["visits"]
        session = db.session
        doctor = TeamMember(
            name="Dr Jeanne Audouy",
            profession="medecin",
            team="flexible",
            doctor_status="retraite",
            active=True,
        )
        nurse = TeamMember(name="Sophie Bonnafous", profession="infirmier_azalee", team="stable", active=True)
        session.add_all([doctor, nurse])
        session.flush()
        for day in (day1, day2):
            with clock_at(at(day - timedelta(days=30), 9)):
                for member in (doctor, nurse):
                    roster.add_shift(
                        session, None, member, day, *MORNING, PARIS, today=day - timedelta(days=30)
                    )
                session.flush()

        dac = session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == DAC))
        assert dac is not None and dac.category == "dac"

        def referred(moment: datetime, identity: dict, decide: bool) -> tuple[Referral, Patient]:
            with clock_at(moment):
                referral = referrals.receive(
                    session,
                    None,
                    "phone",
                    identity,
                    REFERRER,
                    "Suivi à organiser.",
                    source=dac,
                    now=clock.now(),
                    today=clock.today(ZoneInfo("Europe/Paris")),
                )
                patient = (
                    referrals.decide(session, None, referral, "accepted", now=clock.now()) if decide else None
                )
                session.flush()
            return referral, patient

        def direct(moment: datetime, identity: dict) -> tuple[Referral, Patient]:
            with clock_at(moment):
                referral = referrals.receive(
                    session,
                    None,
                    "direct",
                    identity,
                    REFERRER,
                    "Vient de lui-même.",
                    now=clock.now(),
                    today=clock.today(ZoneInfo("Europe/Paris")),
                )
                patient = referrals.decide(session, None, referral, "accepted", now=clock.now())
                session.flush()
            return referral, patient

        ref_a, odile = referred(at(day1 - timedelta(days=14), 10), ROUQUETTE, decide=True)
        ref_b, elodie = direct(at(day2 - timedelta(days=36), 10), BENEZECH)
        ref_c, _ = referred(at(m1.replace(day=10), 10), CAZALS, decide=False)

        def held(
            patient: Patient, kind: str, start: datetime, members: list[int], status: str = "honoured"
        ) -> None:
            booked_at = start - timedelta(days=7)
            with clock_at(booked_at):
                appointment = booking.book(
                    session, None, patient, kind, start, members, visits, PARIS, now=booked_at
                )
                session.flush()
            with clock_at(start + timedelta(hours=2)):
                booking.mark(session, None, appointment, status, now=start + timedelta(hours=2))
                session.flush()

        pair = [doctor.id, nurse.id]
        held(odile, "first", at(day1, 9), pair)
        held(elodie, "first", at(day1, 10, 30), pair, status="no_show")
        held(odile, "nurse", at(day2, 9), [nurse.id])
        held(elodie, "first", at(day2, 10, 30), pair)
        with clock_at(at(day2, 11, 45)):
            booking.record_walk_in(session, None, odile, "doctor", doctor, visits, now=at(day2, 11, 45))
            session.flush()
        session.commit()
        return Centre(
            (m0, m1, m2), (odile.id, elodie.id), (ref_a.reference, ref_b.reference, ref_c.reference)
        )


# --- reading the pages --------------------------------------------------------------------------


def body(response) -> str:
    return response.get_data(as_text=True)


def text_of(fragment: str) -> str:
    """What a reader sees of some markup: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def figures(response) -> dict[str, str]:
    """The headline table: label -> value, as read."""
    table = re.search(r'<table class="figures"[^>]*>(.*?)</table>', body(response), re.S)
    assert table, "no figures table"
    return {
        text_of(label): text_of(value)
        for label, value in re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td></tr>', table.group(1), re.S)
    }


def data_table(response, summary: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The table under a <summary>: (header cells, body rows, footer rows), each cell as read."""
    match = re.search(
        rf"<summary>{re.escape(summary)}</summary>\s*<table>(.*?)</table>", body(response), re.S
    )
    assert match, f"no table « {summary} »"

    def rows(part: str) -> list[list[str]]:
        section = re.search(rf"<{part}>(.*?)</{part}>", match.group(1), re.S)
        return (
            [
                [text_of(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
                for row in re.findall(r"<tr>(.*?)</tr>", section.group(1), re.S)
            ]
            if section
            else []
        )

    head = rows("thead")
    return head[0] if head else [], rows("tbody"), rows("tfoot")


def charts(response) -> list[tuple[str, str]]:
    """(title, description) of each chart drawn as an image."""
    found = []
    for svg in re.findall(r'<svg\b[^>]*\brole="img"[^>]*>(.*?)</svg>', body(response), re.S):
        title = re.match(r"\s*<title[^>]*>(.*?)</title>", svg, re.S)
        desc = re.search(r"<desc[^>]*>(.*?)</desc>", svg, re.S)
        found.append((text_of(title.group(1)) if title else "", text_of(desc.group(1)) if desc else ""))
    return found


def links(markup: str) -> list[tuple[dict[str, str], str]]:
    """Each <a> of some markup: (its attributes, entities decoded; its text)."""
    return [
        (
            {name: html.unescape(value) for name, value in re.findall(r'([\w-]+)="([^"]*)"', attrs)},
            text_of(label),
        )
        for attrs, label in re.findall(r"<a\b([^>]*)>(.*?)</a>", markup, re.S)
    ]


def field_value(response, name: str) -> str:
    tag = re.search(rf'<input\b[^>]*\bname="{name}"[^>]*>', body(response))
    assert tag, f"no field {name}"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else ""


def field_error(response, name: str) -> str:
    match = re.search(rf'<p class="error" id="{name}-erreur"[^>]*>(.*?)</p>', body(response), re.S)
    return text_of(match.group(1)) if match else ""


def csv_rows(response) -> list[list[str]]:
    text = body(response)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def htmx_get(client, path: str, **query):
    return client.get(path, query_string=query, headers={"HX-Request": "true"})


def events(app, *actions: str) -> list[tuple[str, str, str]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                select(AuditEvent.action, AuditEvent.object_type, AuditEvent.object_id)
                .where(AuditEvent.action.in_(actions))
                .order_by(AuditEvent.id)
            )
        ]


def span(first: date, last: date) -> str:
    return f"du {first:%d/%m/%Y} au {last:%d/%m/%Y}"


EXPECTED_FIGURES = {
    "Patients reçus": "2",
    "Consultations": "4",
    "dont premières consultations (médecin et infirmière)": "2",
    "dont consultations médecin": "1",
    "dont consultations infirmières": "1",
    "dont sans rendez-vous": "1",
    "Heures de présence soignante": "8 h",
    "Patients par heure de présence soignante": "0,5",
    # Issue 18: the same sessions by status, and the half-days left without a doctor or nurse.
    "Heures de vacation : équipe stable": "8 h",
    "Heures de vacation : bénévoles de l'équipe flexible": "8 h",
    "Heures de vacation : internes et SASPAS": "0 h",
    "Demi-journées ouvertes prises par des bénévoles": "0",
    "Demi-journées ouvertes restées sans médecin ou sans infirmière": "128",
    "Patients venus directement (sans adressage)": "50 %",
    "Adressages reçus": "3",
    "Délai médian de l'adressage à la première consultation": "25 jours",
    "Taux de rendez-vous non honorés": "25 %",
    # Issue 17: no reminder left in this period; its one no-show was of a visit not reminded.
    "Rappels envoyés par SMS": "0",
    "Rappels envoyés par e-mail": "0",
    "Rendez-vous confirmés par le patient": "0",
    "Rendez-vous annulés par le patient": "0",
    "Non honorés après un rappel": "—",
    "Non honorés sans rappel": "25 %",
    "Patients ayant trouvé un médecin traitant": "0",
    "Délai médian de la première consultation au médecin traitant trouvé": "—",
    "Patients en liste d'attente en fin de période": "0",
    "Attente médiane en liste d'attente": "—",
    "Patients en suivi à recontacter (retard) en fin de période": "0",
}


# --- who reads the figures ----------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_admin_assistant_and_reporting_open_the_page_the_report_and_both_exports(client, as_role, role):
    as_role(role)
    page, report, csv_file, json_file = (client.get(path) for path in ROUTES)

    assert [r.status_code for r in (page, report, csv_file, json_file)] == [200] * 4
    assert "<h1>Activité du centre</h1>" in body(page)
    assert "Patients reçus" in figures(page) and "Patients reçus" in figures(report)
    assert "Rapport d'activité" in text_of(body(report))
    assert csv_file.mimetype == "text/csv" and csv_rows(csv_file)[0] == ["Indicateur", "Valeur"]
    assert json_file.mimetype == "application/json"
    assert json.loads(body(json_file))["patients_received"] == 0


def test_a_clinician_is_refused_the_figures(client, as_role):
    as_role("clinician")
    for path in ROUTES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Accès refusé" in html.unescape(body(response))
        assert "Patients reçus" not in html.unescape(body(response))


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for path in ROUTES:
        response = client.get(path, query_string={"du": "2026-01-01"})
        assert response.status_code == 302, path
        assert response.location.startswith("/connexion"), response.location
        assert "Patients" not in body(response)


# --- the figures and the charts -----------------------------------------------------------------


def test_the_page_shows_the_figures_of_the_period(client, as_role, centre):
    as_role("assistant")

    response = client.get("/activite", query_string=centre.query)

    assert response.status_code == 200
    assert f"Chiffres {span(centre.first, centre.last)}" in text_of(body(response))
    assert figures(response) == EXPECTED_FIGURES


def test_the_charts_are_images_with_a_title_and_a_description(client, as_role, centre, exact):
    as_role("reporting")

    response = client.get("/activite", query_string=centre.query)

    period = span(centre.first, centre.last)
    assert charts(response) == [
        (
            f"Consultations par mois et par type, {period}",
            "Histogramme empilé : premières consultations en binôme, suivis médecin et suivis "
            "infirmiers, mois par mois ; 4 consultations en tout. Les valeurs sont dans le tableau "
            "qui suit.",
        ),
        (
            f"Adressages reçus par origine, {period}",
            "Barres horizontales, de l'origine la plus fréquente à la moins fréquente ; 3 adressages "
            "en tout. Les valeurs sont dans le tableau qui suit.",
        ),
    ]
    svg = body(response)
    # Each chart names itself through its own title and description.
    assert 'aria-labelledby="mois-svg-titre mois-svg-desc"' in svg
    assert 'aria-labelledby="origine-svg-titre origine-svg-desc"' in svg
    # One bar per kind held in a month, one bar per source of referrals.
    assert len(re.findall(r'<rect class="bar bar-(?:first|doctor|nurse)"', svg)) == 4
    assert len(re.findall(r'<rect class="bar bar-source"', svg)) == 2
    assert "<script" not in svg.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_the_months_table_gives_the_consultations_month_by_month(client, as_role, centre):
    as_role("assistant")

    response = client.get("/activite", query_string=centre.query)

    head, rows, _ = data_table(response, "Tableau des consultations par mois")
    assert head == [
        "Mois",
        "Premières consultations",
        "Consultations médecin",
        "Consultations infirmières",
        "Total",
    ]
    m0, m1, m2 = centre.months
    assert rows == [
        [month_label(m0), "0", "0", "0", "0"],
        [month_label(m1), "1", "0", "0", "1"],  # the no-show of that morning is no consultation
        [month_label(m2), "1", "1", "1", "3"],
    ]


def test_the_referrals_table_gives_each_origin_by_decision(client, as_role, centre):
    as_role("assistant")

    response = client.get("/activite", query_string=centre.query)

    head, rows, foot = data_table(response, "Tableau des adressages par origine et par décision")
    assert head == ["Origine", "Nouveau", "Accepté", "Liste d'attente", "Refusé", "Total"]
    assert rows == [
        ["DAC", "1", "1", "0", "0", "2"],  # the largest first
        ["Accès direct", "0", "1", "0", "0", "1"],
    ]
    assert foot == [["Total", "1", "2", "0", "0", "3"]]


def test_a_period_without_activity_says_so_and_shows_zeros(client, as_role, centre):
    as_role("assistant")
    before = centre.first - timedelta(days=1)

    response = client.get(
        "/activite", query_string={"du": before.replace(day=1).isoformat(), "au": before.isoformat()}
    )

    assert response.status_code == 200
    shown = figures(response)
    assert shown["Patients reçus"] == "0" and shown["Consultations"] == "0"
    assert shown["Patients par heure de présence soignante"] == "—"
    assert shown["Taux de rendez-vous non honorés"] == "—"
    assert "Aucun adressage reçu sur la période." in html.unescape(body(response))
    assert len(charts(response)) == 1  # the months chart, empty; no referrals chart


def test_the_printable_report_shows_the_same_figures_and_charts(client, as_role, centre, app, exact):
    as_role("reporting")

    page = client.get("/activite", query_string=centre.query)
    report = client.get("/activite/rapport", query_string=centre.query)

    assert report.status_code == 200
    assert f"Rapport d'activité — {app.config['SITE']['name']}" in html.unescape(body(report))
    assert figures(report) == figures(page) == EXPECTED_FIGURES
    assert charts(report) == charts(page)
    assert data_table(report, "Tableau des consultations par mois") == data_table(
        page, "Tableau des consultations par mois"
    )


# --- the htmx swap ------------------------------------------------------------------------------


def test_changing_the_period_with_htmx_swaps_only_the_figures(client, as_role, centre):
    """The swap is the block inside #activite (the period form, the common periods and the
    figures, so that the fields always show the period of the figures): never the whole page."""
    as_role("assistant")

    full = client.get("/activite", query_string=centre.query)
    fragment = htmx_get(client, "/activite", **centre.query)

    assert fragment.status_code == 200
    part = body(fragment)
    for whole_page in ("<html", "<head", "<body", "<h1", "Navigation principale", "<footer", 'id="activite"'):
        assert whole_page not in part, whole_page
    assert "HX-Request" in fragment.headers["Vary"]
    assert "HX-Request" in full.headers["Vary"]  # the full page too: caches keep both apart
    assert figures(fragment) == figures(full) == EXPECTED_FIGURES
    assert charts(fragment) == charts(full)
    for table in ("Tableau des consultations par mois", "Tableau des adressages par origine et par décision"):
        assert data_table(fragment, table) == data_table(full, table)
    # The links of the fragment keep the period shown.
    hrefs = [attrs.get("href") for attrs, _ in links(part)]
    for path in ROUTES[1:]:
        assert f"{path}?du={centre.first.isoformat()}&au={centre.last.isoformat()}" in hrefs


def test_the_full_page_holds_the_same_fragment_in_its_swap_target(client, as_role, centre):
    as_role("reporting")

    full = body(client.get("/activite", query_string=centre.query))
    fragment = body(htmx_get(client, "/activite", **centre.query))

    target = re.search(r'<div id="activite"[^>]*>(.*)</div>\s*</main>', full, re.S)
    assert target and text_of(target.group(1)) == text_of(fragment)
    # Whatever htmx swaps in targets that same place.
    targets = {attrs["hx-target"] for attrs, _ in links(full) if "hx-get" in attrs}
    form = re.search(r'<form\b[^>]*\bhx-get="/activite"[^>]*>', full).group(0)
    assert targets == {"#activite"} and 'hx-target="#activite"' in form


# --- the period ---------------------------------------------------------------------------------


def test_the_default_period_is_the_twelve_months_to_today_and_fills_the_fields(client, as_role):
    as_role("assistant")

    with clock_at(at(date(2026, 3, 10), 10)):
        response = client.get("/activite")
        fragment = htmx_get(client, "/activite")

    assert response.status_code == 200
    assert field_value(response, "du") == "2025-03-11"
    assert field_value(response, "au") == "2026-03-10"
    assert "Chiffres du 11/03/2025 au 10/03/2026" in text_of(body(response))
    assert "Chiffres du 11/03/2025 au 10/03/2026" in text_of(body(fragment))
    head, rows, _ = data_table(response, "Tableau des consultations par mois")
    assert [row[0] for row in rows] == [
        "mars 2025",
        "avr. 2025",
        "mai 2025",
        "juin 2025",
        "juil. 2025",
        "août 2025",
        "sept. 2025",
        "oct. 2025",
        "nov. 2025",
        "déc. 2025",
        "janv. 2026",
        "févr. 2026",
        "mars 2026",
    ]


def test_the_common_periods_are_offered_as_links(client, as_role):
    as_role("reporting")

    with clock_at(at(date(2026, 3, 10), 10)):
        response = client.get("/activite")

    nav = re.search(r'<nav class="presets" aria-label="Périodes courantes">(.*?)</nav>', body(response), re.S)
    assert nav, "no presets"
    presets = links(nav.group(1))
    assert [(attrs["href"], label) for attrs, label in presets] == [
        ("/activite?du=2025-03-11&au=2026-03-10", "12 derniers mois"),
        ("/activite?du=2026-01-01&au=2026-03-10", "Année 2026 à ce jour"),
        ("/activite?du=2025-01-01&au=2025-12-31", "Année 2025"),
        ("/activite?du=2026-02-01&au=2026-02-28", "Févr. 2026"),
    ]
    for attrs, _ in presets:  # with htmx, the same link swaps the figures and keeps the URL
        assert attrs["hx-get"] == attrs["href"]
        assert attrs["hx-target"] == "#activite" and attrs["hx-push-url"] == "true"
    # The period shown (the default one) is the one marked as current.
    assert [label for attrs, label in presets if attrs.get("aria-current")] == ["12 derniers mois"]


@pytest.mark.parametrize(("du", "au"), [("2026-01-31", "2026-02-27"), ("31/01/2026", "27/02/2026")])
def test_dates_are_read_as_typed_or_as_the_date_picker_sends_them(client, as_role, du, au):
    as_role("assistant")

    response = client.get("/activite", query_string={"du": du, "au": au})

    assert response.status_code == 200
    assert "Chiffres du 31/01/2026 au 27/02/2026" in text_of(body(response))
    head, rows, _ = data_table(response, "Tableau des consultations par mois")
    assert [row[0] for row in rows] == ["janv. 2026", "févr. 2026"]


@pytest.mark.parametrize(
    ("query", "du", "au"),
    [
        pytest.param(
            {"du": "31/01/2026", "au": "27/02/2026"}, "2026-01-31", "2026-02-27", id="typed-dd/mm/yyyy"
        ),
        pytest.param({"du": "", "au": ""}, "2025-03-11", "2026-03-10", id="submitted-empty"),
    ],
)
def test_the_date_fields_show_the_period_shown_whichever_way_it_was_typed(client, as_role, query, du, au):
    """The fields are date pickers (<input type="date">): a browser keeps only a value written
    2026-01-31 and shows any other as an empty field. The page says it shows the period in the
    fields ("the fields show the period shown"): they must hold it in that form."""
    as_role("assistant")

    with clock_at(at(date(2026, 3, 10), 10)):
        response = client.get("/activite", query_string=query)

    assert response.status_code == 200
    for name in ("du", "au"):
        tag = re.search(rf'<input\b[^>]*\bname="{name}"[^>]*>', body(response)).group(0)
        assert 'type="date"' in tag
    assert (field_value(response, "du"), field_value(response, "au")) == (du, au)


def test_only_a_start_date_shows_from_then_to_today(client, as_role):
    as_role("assistant")

    with clock_at(at(date(2026, 3, 10), 10)):
        response = client.get("/activite", query_string={"du": "2026-02-15"})

    assert response.status_code == 200
    assert "Chiffres du 15/02/2026 au 10/03/2026" in text_of(body(response))


def test_only_an_end_date_shows_the_twelve_months_to_it(client, as_role):
    as_role("assistant")

    response = client.get("/activite", query_string={"au": "2025-06-30"})

    assert response.status_code == 200
    assert "Chiffres du 01/07/2024 au 30/06/2025" in text_of(body(response))


# --- a period that cannot be read ---------------------------------------------------------------


@pytest.fixture
def as_in_production(app):
    """An unexpected exception answers the 500 page, as in production, instead of reaching the
    test: "no server error" is then read on the status code."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


BAD_PERIODS = [
    pytest.param({"du": "32/13/2026", "au": "2026-02-01"}, "du", INVALID_DATE, id="impossible-date"),
    pytest.param({"du": "2026-02-01", "au": "2026-01-01"}, "du", ORDER, id="start-after-end"),
    pytest.param({"du": "1999-06-01", "au": "2000-03-01"}, "du", RANGE, id="before-2000"),
    pytest.param({"du": "01/01/1900", "au": "31/12/1900"}, "du", RANGE, id="both-before-2000"),
    pytest.param({"du": "x" * 5000}, "du", INVALID_DATE, id="5000-characters"),
    pytest.param({"au": "2026-02-30"}, "au", INVALID_DATE, id="30-february"),
    pytest.param(
        {"du": "2000-01-01", "au": "2099-12-31"},
        "du",
        "Période trop longue : vingt ans au plus.",
        id="longer-than-20-years",
    ),
]


@pytest.mark.parametrize(("query", "field", "message"), BAD_PERIODS)
def test_a_bad_period_gets_a_clear_french_message_on_the_page(
    client, as_role, as_in_production, query, field, message
):
    as_role("assistant")

    response = client.get("/activite", query_string=query)

    assert response.status_code == 400
    assert field_error(response, field) == message
    assert "Période invalide : corrigez les dates ci-dessus." in html.unescape(body(response))
    assert "Patients reçus" not in body(response)
    assert "<form" in body(response)  # the page stays, to correct the dates
    assert "Traceback" not in body(response)


@pytest.mark.parametrize(("query", "field", "message"), BAD_PERIODS)
def test_a_bad_period_in_the_report_says_why(client, as_role, as_in_production, query, field, message):
    as_role("reporting")

    response = client.get("/activite/rapport", query_string=query)

    assert response.status_code == 400
    assert f"Période invalide : {message}" in text_of(body(response))
    assert "Patients reçus" not in body(response)


@pytest.mark.parametrize("path", ["/activite/export.csv", "/activite/export.json"])
@pytest.mark.parametrize(("query", "field", "message"), BAD_PERIODS)
def test_an_export_of_a_bad_period_is_refused_in_plain_french(
    client, as_role, as_in_production, path, query, field, message
):
    as_role("reporting")

    response = client.get(path, query_string=query)

    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.mimetype_params.get("charset") == "utf-8"
    assert "Content-Disposition" not in response.headers
    assert body(response) == f"Période invalide : {message}\n"


@pytest.mark.parametrize("path", ROUTES)
def test_an_end_date_alone_before_2000_is_refused_not_a_server_error(client, as_role, as_in_production, path):
    """Only `au`: the start is then the twelve months before it, which fall before 2000 too.
    The period is as bad as any other and must be refused with the same message (400)."""
    as_role("reporting")

    for end in ("1999-01-01", "2000-06-30"):
        response = client.get(path, query_string={"au": end})

        assert response.status_code == 400, (path, end)
        assert RANGE in html.unescape(body(response)), (path, end)


def test_a_bad_period_asked_with_htmx_says_what_is_wrong(client, as_role, as_in_production):
    """The htmx swap replaces the figures only: the reason must be in what is swapped in,
    since the date fields above (and their messages) are not re-drawn."""
    as_role("assistant")

    response = htmx_get(client, "/activite", du="2026-02-01", au="2026-01-01")

    assert response.status_code == 400
    part = html.unescape(body(response))
    assert "<html" not in part
    assert "Période invalide" in part
    assert ORDER in part


# --- the exports --------------------------------------------------------------------------------


def test_the_csv_export_opens_in_french_excel(app, client, as_role, centre, exact):
    as_role("assistant")

    response = client.get("/activite/export.csv", query_string=centre.query)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.mimetype_params.get("charset") == "utf-8"
    slug = app.config["SITE"]["slug"]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="activite-{slug}-{centre.first.isoformat()}-{centre.last.isoformat()}.csv"'
    )
    text = body(response)
    assert text.startswith("\ufeffIndicateur;Valeur\r\n")
    rows = csv_rows(response)
    assert rows[1] == ["Centre", app.config["SITE"]["name"]]
    assert rows[2] == ["Période", span(centre.first, centre.last)]
    values = {row[0]: row[1] for row in rows[3 : 3 + len(EXPECTED_FIGURES)]}
    assert values == EXPECTED_FIGURES
    assert "Patients par heure de présence soignante;0,5\r\n" in text  # a decimal comma
    assert "0.5" not in text
    months = rows.index(
        [
            "Mois",
            "Première consultation (médecin et infirmière)",
            "Consultation médecin",
            "Consultation infirmière",
            "Total",
        ]
    )
    m0, m1, m2 = centre.months
    assert rows[months + 1 : months + 4] == [
        [month_label(m0), "0", "0", "0", "0"],
        [month_label(m1), "1", "0", "0", "1"],
        [month_label(m2), "1", "1", "1", "3"],
    ]
    origins = rows.index(
        ["Adressages par origine", "Nouveau", "Accepté", "Liste d'attente", "Refusé", "Total"]
    )
    assert rows[origins + 1 : origins + 3] == [
        ["DAC", "1", "1", "0", "0", "2"],
        ["Accès direct", "0", "1", "0", "0", "1"],
    ]
    refusals = rows.index(["Refus par motif", "Adressages"])
    assert rows[refusals + 1 :] == [[reason.label, "0"] for reason in RefusalReason]


def test_the_json_export_gives_the_figures_as_numbers(app, client, as_role, centre, exact):
    as_role("reporting")

    response = client.get("/activite/export.json", query_string=centre.query)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    slug = app.config["SITE"]["slug"]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="activite-{slug}-{centre.first.isoformat()}-{centre.last.isoformat()}.json"'
    )
    data = json.loads(body(response))
    assert data["site"] == app.config["SITE"]["name"]
    assert data["period"] == {"from": centre.first.isoformat(), "to": centre.last.isoformat()}
    assert data["patients_received"] == 2
    assert data["consultations"] == 4
    assert data["consultations_by_kind"] == {"first": 2, "doctor": 1, "nurse": 1}
    assert data["walk_ins"] == 1
    assert data["staffed_hours"] == 8
    assert data["patients_per_hour"] == 0.5
    assert 0 <= data["direct_access_share"] <= 1
    assert data["direct_access_share"] == 0.5
    assert data["no_show_rate"] == 0.25 and data["no_shows"] == 1
    assert data["median_days_referral_to_first_visit"] == 25
    assert data["referrals_received"] == 3
    assert data["referrals_by_decision"] == {"new": 1, "accepted": 2, "waiting_list": 0, "declined": 0}
    assert data["refusal_reasons"] == dict.fromkeys(RefusalReason, 0)
    assert data["waiting_list"] == {"count": 0, "median_wait_days": None}
    assert (data["gp_found"], data["gp_found_median_days"]) == (0, None)
    assert data["overdue_follow_ups"] == 0
    m0, m1, m2 = centre.months
    assert data["consultations_by_month"] == [
        {"month": f"{m0:%Y-%m}", "first": 0, "doctor": 0, "nurse": 0},
        {"month": f"{m1:%Y-%m}", "first": 1, "doctor": 0, "nurse": 0},
        {"month": f"{m2:%Y-%m}", "first": 1, "doctor": 1, "nurse": 1},
    ]


def test_the_exports_and_the_page_agree(client, as_role, centre, exact):
    as_role("admin")

    page = figures(client.get("/activite", query_string=centre.query))
    data = json.loads(body(client.get("/activite/export.json", query_string=centre.query)))
    rows = csv_rows(client.get("/activite/export.csv", query_string=centre.query))

    assert page == {row[0]: row[1] for row in rows[3 : 3 + len(EXPECTED_FIGURES)]}
    assert int(page["Patients reçus"]) == data["patients_received"]
    assert int(page["Consultations"]) == data["consultations"]
    assert page["Patients par heure de présence soignante"] == f"{data['patients_per_hour']:.1f}".replace(
        ".", ","
    )
    assert page["Patients venus directement (sans adressage)"] == (
        f"{round(data['direct_access_share'] * 100)} %"
    )


# --- what the reporting role never sees ---------------------------------------------------------


def identity_traces(identity: dict) -> list[str]:
    birth = identity["birth_date"]
    return [
        identity["last_name"],
        *identity["first_names"].split(),
        identity["birth_name"],
        f"{birth:%d/%m/%Y}",
        birth.isoformat(),
        identity["phone"],
    ]


def test_the_reporting_role_never_sees_who_the_patients_are(client, as_role, centre):
    as_role("reporting")
    traces = [t for identity in (ROUQUETTE, BENEZECH, CAZALS) for t in identity_traces(identity) if t]
    responses = {}
    for path in ROUTES:
        responses[path] = client.get(path, query_string=centre.query)
        responses[f"{path} (12 mois)"] = client.get(path)
    responses["htmx"] = htmx_get(client, "/activite", **centre.query)

    for name, response in responses.items():
        assert response.status_code == 200, name
        seen = html.unescape(body(response)).casefold()
        assert "patients reçus" in seen or "patients_received" in seen, name  # the figures are there
        for trace in traces:
            assert trace.casefold() not in seen, f"{trace} in {name}"
        for reference in centre.references:
            assert reference.casefold() not in seen, f"{reference} in {name}"


# --- aggregates only ----------------------------------------------------------------------------


def test_reading_the_figures_leaves_no_trace_of_a_patient_read(app, client, as_role, centre):
    as_role("assistant")
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    for path in ROUTES:
        assert client.get(path, query_string=centre.query).status_code == 200
    assert htmx_get(client, "/activite", **centre.query).status_code == 200

    assert events(app, "patient.view", "referral.view") == []
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert after == before  # aggregates: nobody's record was opened


def test_the_page_never_links_to_a_patient_or_a_referral(client, as_role, centre):
    as_role("admin")

    for response in (
        client.get("/activite", query_string=centre.query),
        client.get("/activite/rapport", query_string=centre.query),
        htmx_get(client, "/activite", **centre.query),
    ):
        page = body(response)
        assert re.findall(r'href="/patients/[^"]*"', page) == []
        assert re.findall(r'href="/adressages/[^"]*"', page) == []
        assert re.findall(r'href="/rendez-vous/[^"]*"', page) == []
        for patient_id in centre.patient_ids:
            assert f"/patients/{patient_id}" not in page
