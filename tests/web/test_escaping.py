"""Markup typed into any free-text field comes back escaped, on every page that shows it; and the
CSV files (partner directory, activity figures) neutralise cells a spreadsheet would run.

Each field gets its own payload, <script>alert("marker")</script><img src=x onerror=alert(1)>"'&
with a marker naming the field, typed through the real forms. Each page that shows the field must
hold its escaped form (&lt;script&gt;alert(&#34;marker&#34;)…) and no live markup at all (no
"<script>alert", no "<img src=x", whatever the case: some pages show names in capitals).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from sqlalchemy import select

from dalia_site import create_app
from dalia_site.domain.partner_csv import COLUMNS
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    PartnerContact,
    PartnerOrganisation,
    Patient,
    Referral,
    StaffUser,
    WeeklyPattern,
)
from tests.conftest import totp_code

PARIS = ZoneInfo("Europe/Paris")
LIVE = re.compile(r"<script>alert|<img src=x", re.I)
BOM = "\ufeff"


def payload(marker: str) -> str:
    return f'<script>alert("{marker}")</script><img src=x onerror=alert(1)>"\'&'


def escaped(marker: str) -> str:
    return str(escape(payload(marker)))


def today() -> date:
    return datetime.now(PARIS).date()


def next_weekday(after: date, weekday: int | None = None) -> date:
    """The first day after `after` that is `weekday` (0 = lundi), or any day Monday-Friday."""
    day = after + timedelta(days=1)
    while (day.weekday() != weekday) if weekday is not None else day.weekday() > 4:
        day += timedelta(days=1)
    return day


def check_page(client, url: str, *markers: str, headers: dict | None = None, status: int = 200) -> str:
    """GET `url`: every marker's payload is there escaped, and no payload is live anywhere."""
    response = client.get(url, headers=headers or {})
    assert response.status_code == status, f"GET {url} answered {response.status_code}"
    return check_body(response.get_data(as_text=True), url, *markers)


def check_body(body: str, where: str, *markers: str) -> str:
    live = LIVE.search(body)
    assert live is None, (
        f"{where}: unescaped markup in the page: …{body[max(0, live.start() - 200) : live.end() + 200]}…"
    )
    lowered = body.lower()
    missing = [m for m in markers if escaped(m).lower() not in lowered]
    assert not missing, f"{where}: the escaped text of {missing} is not in the page"
    return body


def created_id(response, pattern: str) -> int:
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:3000]
    match = re.search(pattern, response.location)
    assert match, response.location
    return int(match.group(1))


def only(app, model, *conditions):
    with app.app_context():
        return db.session.scalars(select(model.id).where(*conditions)).one()


def csv_rows(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[len(BOM) :]), delimiter=";"))


# --- what the forms store -----------------------------------------------------------------------

IDENTITY_MARKERS = ("nom-usage", "prenoms", "nom-naissance", "adresse", "commune", "ald", "medecin")
REFERRER_MARKERS = ("adresseur", "profession", "motif")


def identity_form(prefix: str = "") -> dict:
    return {
        "last_name": payload(f"{prefix}nom-usage"),
        "first_names": payload(f"{prefix}prenoms"),
        "birth_name": payload(f"{prefix}nom-naissance"),
        "birth_date": "1950-03-15",
        "sex": "F",
        "phone": "04 68 11 22 33",
        "email": "",
        "address": payload(f"{prefix}adresse"),
        "postcode": "11000",
        "commune": payload(f"{prefix}commune"),
        "ald": "yes",
        "ald_label": payload(f"{prefix}ald"),
        "gp_status": "has",
        "gp_name": payload(f"{prefix}medecin"),
    }


def referrer_form(prefix: str = "") -> dict:
    return {
        "referrer_name": payload(f"{prefix}adresseur"),
        "referrer_profession": payload(f"{prefix}profession"),
        "referrer_phone": "04 68 72 00 00",
        "referrer_email": "ines@exemple.fr",
        "reason": payload(f"{prefix}motif"),
    }


def markers(prefix: str, names) -> list[str]:
    return [f"{prefix}{name}" for name in names]


def partner_form(name: str, **changes) -> dict:
    return {
        "name": name,
        "category": "pharmacie",
        "address": payload("partenaire-adresse"),
        "postcode": "11000",
        "commune": payload("partenaire-commune"),
        "phone": "",
        "email": "",
        "website": "",
        "opening_hours": payload("partenaire-horaires"),
        "finess": "",
        "notes": payload("partenaire-notes"),
    } | changes


def create_partner(app, auth, name: str, **changes) -> int:
    response = auth.post("/annuaire/nouveau", partner_form(name, **changes))
    return created_id(response, r"/annuaire/(\d+)$")


def new_link(auth, org_id: int, label: str = "") -> str:
    response = auth.post(f"/annuaire/{org_id}/liens", {"lien-label": label})
    assert response.status_code == 201
    return re.search(r"/adressage/([\w-]+)", response.get_data(as_text=True)).group(1)


# --- staff accounts -----------------------------------------------------------------------------


def test_staff_names_are_escaped_wherever_they_show(app, client, auth, as_role):
    admin = as_role("admin")
    response = auth.post(
        "/admin/comptes/nouveau",
        {
            "name": payload("compte"),
            "email": "compte@test.dalia.invalid",
            "role": "clinician",
            "password": "une phrase de passe longue",
        },
    )
    assert response.status_code == 303  # a clinician's account goes on to their team member
    check_page(client, response.location, "compte")  # the member form, prefilled, and the flash
    user_id = only(app, StaffUser, StaffUser.email == "compte@test.dalia.invalid")
    check_page(client, f"/admin/comptes/{user_id}", "compte")
    # Renamed through the edit form: one's own name is in every page's header and on the home page.
    response = auth.post(f"/admin/comptes/{admin.id}", {"name": payload("moi"), "role": "admin"})
    assert response.status_code == 302
    check_page(client, "/", "moi")
    check_page(client, "/admin/comptes", "compte", "moi")
    check_page(client, "/admin/journal?action=staff.create", "compte")
    check_page(client, "/admin/journal", "moi")
    check_page(client, "/equipe/nouveau", "compte", "moi")  # the account a member is linked to
    check_page(client, "/admin/journal?action=staff.create", "compte", headers={"HX-Request": "true"})


def test_a_refused_account_form_shows_what_was_typed_escaped(client, auth, as_role):
    as_role("admin")
    response = auth.post(
        "/admin/comptes/nouveau",
        {
            "name": payload("compte-refuse"),
            "email": "pas-une-adresse",
            "role": "clinician",
            "password": "une phrase de passe longue",
        },
    )
    assert response.status_code == 422
    check_body(response.get_data(as_text=True), "staff form (422)", "compte-refuse")


# --- partners -----------------------------------------------------------------------------------

PARTNER_MARKERS = ("partenaire-adresse", "partenaire-commune", "partenaire-horaires", "partenaire-notes")


def test_partner_fields_are_escaped_wherever_they_show(app, client, auth, as_role):
    as_role("admin")
    response = auth.post("/annuaire/nouveau", partner_form(payload("partenaire")))
    org = created_id(response, r"/annuaire/(\d+)$")
    check_page(client, response.location, "partenaire", *PARTNER_MARKERS)  # with its flash
    response = auth.post(
        f"/annuaire/{org}/personnes",
        {"contact-name": payload("personne"), "contact-role": payload("fonction")},
    )
    assert response.status_code == 303
    contact = only(app, PartnerContact, PartnerContact.organisation_id == org)
    token = new_link(auth, org, payload("lien"))

    check_page(client, f"/annuaire/{org}", "partenaire", "personne", "fonction", "lien", *PARTNER_MARKERS)
    check_page(client, f"/annuaire/{org}/modifier", "partenaire", *PARTNER_MARKERS)
    check_page(client, f"/annuaire/{org}/personnes/{contact}", "personne", "fonction")
    check_page(client, "/annuaire?q=alert", "partenaire", "personne", "partenaire-commune")
    check_page(client, "/annuaire?q=alert", "partenaire", headers={"HX-Request": "true"})
    check_page(client, "/annuaire/suggestions?orientation_partner=alert", "partenaire")
    check_page(client, "/admin/journal?action=partner.create", "partenaire", *PARTNER_MARKERS)
    check_page(client, "/admin/journal?action=partner.contact_create", "personne", "fonction")
    check_page(client, "/admin/journal?action=partner.link_create", "partenaire", "lien")
    # The partner who refers: among the new referral's matches, and once chosen; the search typed
    # comes back escaped too.
    picker = "/adressages/nouveau?source_search=alert"
    check_page(client, picker, "partenaire", "partenaire-commune", headers={"HX-Request": "true"})
    check_page(client, f"/adressages/nouveau?source_id={org}", "partenaire", "partenaire-commune")
    check_page(
        client, "/adressages/nouveau?" + urlencode({"source_search": payload("recherche")}), "recherche"
    )
    # The partner's private form names the partner to the person who opens it.
    anonymous = app.test_client()
    check_page(anonymous, f"/adressage/{token}", "partenaire")

    # A deleted person is named in the message htmx swaps in.
    response = client.post(
        f"/annuaire/{org}/personnes/{contact}/supprimer",
        headers={"HX-Request": "true", "X-CSRFToken": auth.csrf()},
    )
    assert response.status_code == 200
    check_body(response.get_data(as_text=True), "contact deleted (htmx)", "personne")
    # Archived: the flash names it.
    response = auth.post(f"/annuaire/{org}/archiver", {"archived": "1"})
    check_page(client, response.location, "partenaire")


def test_a_refused_partner_form_shows_what_was_typed_escaped(client, auth, as_role):
    as_role("assistant")
    response = auth.post("/annuaire/nouveau", partner_form(payload("partenaire"), phone="12"))
    assert response.status_code == 422
    check_body(response.get_data(as_text=True), "partner form (422)", "partenaire", *PARTNER_MARKERS)
    response = auth.post(
        "/annuaire/1/personnes", {"contact-name": payload("personne"), "contact-phone": "12"}
    )
    assert response.status_code == 422
    check_body(response.get_data(as_text=True), "contact form (422)", "personne")


def test_the_import_preview_escapes_what_the_file_holds(client, auth, as_role):
    as_role("admin")
    header = ";".join(COLUMNS)
    good = f";{payload('import-nom')};Pharmacie;;11000;{payload('import-commune')};;;;;;;non"
    response = client.post(
        "/annuaire/import",
        data={
            "csrf_token": auth.csrf(),
            "file": (io.BytesIO(f"{header}\r\n{good}\r\n".encode()), "annuaire.csv"),
        },
    )
    assert response.status_code == 200
    check_body(response.get_data(as_text=True), "import preview", "import-nom")
    bad = f";Pharmacie du Pont;{payload('import-categorie')};;11000;;;;;;;;non"
    response = client.post(
        "/annuaire/import",
        data={
            "csrf_token": auth.csrf(),
            "file": (io.BytesIO(f"{header}\r\n{bad}\r\n".encode()), payload("fichier") + ".csv"),
        },
    )
    assert response.status_code == 422
    body = check_body(response.get_data(as_text=True), "import errors")
    assert "&lt;script&gt;alert(" in body  # the unknown category is quoted back, escaped


# --- referrals and patients ---------------------------------------------------------------------


def test_referral_and_patient_fields_are_escaped_wherever_they_show(app, client, auth, as_role):
    as_role("admin")
    org = create_partner(app, auth, payload("source"))
    token = new_link(auth, org)
    anonymous = app.test_client()
    form_page = anonymous.get(f"/adressage/{token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form_page).group(1)
    # Refused first (a postcode of letters): the form comes back with what was typed, escaped.
    response = anonymous.post(
        f"/adressage/{token}",
        data={"csrf_token": csrf, **identity_form(), **referrer_form(), "postcode": "ABCDE"},
    )
    assert response.status_code == 422
    check_body(
        response.get_data(as_text=True), "public form (422)", "source", *IDENTITY_MARKERS, *REFERRER_MARKERS
    )
    response = anonymous.post(
        f"/adressage/{token}", data={"csrf_token": csrf, **identity_form(), **referrer_form()}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    check_body(response.get_data(as_text=True), "public form done")
    referral = only(app, Referral, Referral.source_id == org)
    every = (*IDENTITY_MARKERS, *REFERRER_MARKERS)

    check_page(client, "/adressages", "nom-usage", "prenoms", "source")  # its filter names the source
    check_page(client, "/adressages", "nom-usage", headers={"HX-Request": "true"})
    check_page(client, f"/adressages/{referral}", "source", *every)

    # Accepted inline from the queue (htmx): the row comes back with the identity.
    response = client.post(
        f"/adressages/{referral}/decision",
        data={"decision": "accepted"},
        headers={"HX-Request": "true", "X-CSRFToken": auth.csrf()},
    )
    assert response.status_code == 200
    check_body(response.get_data(as_text=True), "decision row (htmx)", "nom-usage", "prenoms")
    patient = patient_of(app, referral)
    check_page(client, f"/adressages/{referral}", "source", *every)
    check_page(client, f"/patients/{patient}", "source", *IDENTITY_MARKERS)
    check_page(client, f"/patients/{patient}/modifier", *IDENTITY_MARKERS)
    check_page(client, "/patients?q=alert", "nom-usage", "prenoms")
    check_page(client, "/patients?q=alert", "nom-usage", headers={"HX-Request": "true"})

    # The patient's identity edited through its form.
    response = auth.post(
        f"/patients/{patient}/modifier", identity_form("edite-") | {"informed_on": "2025-01-06"}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    check_page(client, response.location, *markers("edite-", IDENTITY_MARKERS))
    check_page(client, "/patients", "edite-nom-usage", "edite-prenoms")


def patient_of(app, referral_id: int) -> int:
    with app.app_context():
        return db.session.get(Referral, referral_id).patient_id


def test_a_staff_referral_and_a_refusal_are_escaped(app, client, auth, as_role):
    as_role("assistant")
    response = auth.post(
        "/adressages/nouveau",
        identity_form("tel-")
        | referrer_form("tel-")
        | {
            "channel": "phone",
            "source_id": str(only(app, PartnerOrganisation, PartnerOrganisation.name == "DAC de l'Aude")),
        },
    )
    referral = created_id(response, r"/adressages/(\d+)$")
    check_page(client, response.location, *markers("tel-", IDENTITY_MARKERS + REFERRER_MARKERS))
    response = auth.post(
        f"/adressages/{referral}/decision",
        {
            "decision": "declined",
            "decline_reason": payload("refus"),
            "orientation": "other",
            "orientation_detail": payload("orientation"),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    check_page(client, f"/adressages/{referral}", "refus", "orientation", "tel-nom-usage")
    check_page(client, "/adressages?statut=declined", "tel-nom-usage")


def test_a_refused_referral_form_shows_what_was_typed_escaped(app, client, auth, as_role):
    as_role("assistant")
    form = identity_form() | referrer_form() | {"channel": "phone", "source_id": "", "postcode": "ABCDE"}
    response = auth.post("/adressages/nouveau", form)
    assert response.status_code == 422
    check_body(response.get_data(as_text=True), "referral form (422)", *IDENTITY_MARKERS, *REFERRER_MARKERS)
    # A refusal without its orientation is refused: the page and the htmx row give back what was
    # typed, escaped.
    dac = only(app, PartnerOrganisation, PartnerOrganisation.name == "DAC de l'Aude")
    referral = created_id(
        auth.post("/adressages/nouveau", form | {"postcode": "11000", "source_id": str(dac)}),
        r"/adressages/(\d+)$",
    )
    decision = {
        "decision": "declined",
        "decline_reason": payload("refus"),
        "orientation_detail": payload("detail"),
    }
    response = auth.post(f"/adressages/{referral}/decision", decision)
    assert response.status_code == 422
    check_body(response.get_data(as_text=True), "decision (422)", "refus", "detail", "nom-usage")
    response = client.post(
        f"/adressages/{referral}/decision",
        data=decision,
        headers={"HX-Request": "true", "X-CSRFToken": auth.csrf()},
    )
    assert response.status_code == 422
    check_body(response.get_data(as_text=True), "decision row (htmx, 422)", "refus", "detail")


# --- the team, its planning, appointments -------------------------------------------------------


def test_team_and_appointment_texts_are_escaped_wherever_they_show(app, client, auth, as_role):
    as_role("admin")
    doctor = created_id(
        auth.post(
            "/equipe/nouveau",
            {
                "name": payload("docteur"),
                "profession": "medecin",
                "team": "flexible",
                "doctor_status": "retraite",
                "rpps": "",
                "phone": "",
                "email": "",
                "staff_user_id": "",
            },
        ),
        r"/equipe/(\d+)$",
    )
    nurse = created_id(
        auth.post(
            "/equipe/nouveau",
            {
                "name": payload("infirmiere"),
                "profession": "infirmier_azalee",
                "team": "stable",
                "doctor_status": "",
                "rpps": "",
                "phone": "",
                "email": "",
                "staff_user_id": "",
            },
        ),
        r"/equipe/(\d+)$",
    )
    day = next_weekday(today())
    for member in (doctor, nurse):
        response = auth.post(
            f"/equipe/{member}/vacations",
            {"vacation-day": day.isoformat(), "vacation-half_day": "matin", "vacation-note": payload("note")},
        )
        assert response.status_code == 303, response.get_data(as_text=True)
    response = auth.post(
        f"/equipe/{doctor}/modeles",
        {"modele-weekday": "0", "modele-half_day": "apres-midi", "modele-valid_from": today().isoformat()},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    pattern = only(app, WeeklyPattern, WeeklyPattern.member_id == doctor)
    response = auth.post(
        f"/equipe/{doctor}/modeles/{pattern}/absence",
        {
            f"absence-{pattern}-day": next_weekday(today(), 0).isoformat(),
            f"absence-{pattern}-reason": payload("absence"),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)

    check_page(client, "/equipe", "docteur", "infirmiere")
    check_page(client, f"/equipe/{doctor}", "docteur", "absence")
    check_page(client, f"/equipe/{doctor}/modifier", "docteur")
    check_page(client, f"/planning?semaine={day.isoformat()}", "docteur", "infirmiere")
    check_page(client, f"/planning/mois?mois={day.isoformat()}")  # counts, no names
    check_page(client, "/admin/journal?action=roster.member_create", "docteur", "infirmiere")
    check_page(client, "/admin/journal?action=roster.pattern_exception", "docteur", "absence")

    # A patient accepted, then booked with a doctor outside the alternation (the reason is kept).
    with app.app_context():
        patient = Patient(
            **{k: v for k, v in identity_form("rdv-").items() if k not in ("birth_date",)},
            birth_date=date(1950, 3, 15),
            status="follow_up",
            search_text="rdv",
        )
        db.session.add(patient)
        db.session.commit()
        patient = patient.id
    # From `day` on: the agenda below is that day's (today may still have a slot of the doctor).
    slots = check_page(
        client, f"/patients/{patient}/creneaux?kind=doctor&du={day.isoformat()}", "docteur", "rdv-nom-usage"
    )
    choice = re.search(r'name="creneau" value="([0-9T]+Z_[0-9,]+)"', slots).group(1)
    # The confirmation shows the patient's name and the slot before anything is booked.
    query = urlencode({"kind": "doctor", "creneau": choice, "override_reason": payload("hors")})
    confirmation = check_page(
        client, f"/patients/{patient}/rendez-vous/confirmer?{query}", "rdv-nom-usage", "hors"
    )
    start, members = re.search(
        r'name="start" value="([^"]+)">\s*<input type="hidden" name="members" value="([^"]+)"', confirmation
    ).groups()
    response = auth.post(
        f"/patients/{patient}/rendez-vous",
        {"kind": "doctor", "start": start, "members": members, "override_reason": payload("hors")},
    )
    booked = created_id(response, r"/rendez-vous/(\d+)/convocation")
    check_page(client, f"/rendez-vous/{booked}/convocation", "docteur", "rdv-nom-usage")
    check_page(client, f"/agenda?jour={day.isoformat()}", "docteur", "infirmiere", "rdv-nom-usage")
    check_page(client, f"/agenda/semaine?jour={day.isoformat()}", "rdv-nom-usage")
    check_page(client, f"/patients/{patient}", "docteur", "infirmiere", "rdv-nom-usage")
    response = auth.post(f"/rendez-vous/{booked}/annuler", {"reason": payload("annulation")})
    assert response.status_code == 303
    check_page(client, f"/patients/{patient}", "annulation", "hors", "docteur")
    check_page(client, "/admin/journal?action=appointment.cancel", "annulation")
    check_page(client, "/admin/journal?action=appointment.book", "docteur", "hors")
    with app.app_context():
        assert db.session.get(Appointment, booked).status == "cancelled"


def test_a_refused_member_form_shows_what_was_typed_escaped(client, auth, as_role):
    as_role("assistant")
    response = auth.post(
        "/equipe/nouveau",
        {
            "name": payload("membre"),
            "profession": "medecin",
            "team": "flexible",
            "doctor_status": "",
            "rpps": "123",
        },
    )
    assert response.status_code == 422
    check_body(response.get_data(as_text=True), "member form (422)", "membre")


# --- CSV files ----------------------------------------------------------------------------------

FORMULAS = ('=HYPERLINK("http://x")', "@SUM(1)", "+33 1 23", "-2+3", "=1+1")


def test_the_partner_csv_neutralises_cells_a_spreadsheet_would_run(app, client, auth, as_role):
    as_role("admin")
    for formula in FORMULAS:
        create_partner(
            app, auth, formula, notes=formula, commune="@commune", opening_hours="-9h", address="+1 rue"
        )
    response = client.get("/annuaire/export.csv")
    assert response.status_code == 200
    rows = {row[1]: row for row in csv_rows(response)[1:]}
    for formula in FORMULAS:
        row = rows.get("'" + formula)
        assert row is not None, f"{formula!r} is not exported as '{formula} ({sorted(rows)})"
        assert row[11] == "'" + formula  # notes
        assert (row[3], row[5], row[9]) == ("'+1 rue", "'@commune", "'-9h")
    for row in rows.values():
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), row


@pytest.fixture
def formula_site(site_dir):
    """The site as its admin named it in site.toml, before the app reads it."""
    toml = site_dir / "site.toml"
    named = """name = '=HYPERLINK("http://x") <script>alert("site")</script>'"""
    toml.write_text(toml.read_text().replace('name = "DALIA Bassin Carcassonnais"', named))
    app = create_app(site_dir, {"TESTING": True})
    assert app.config["SITE"]["name"].startswith("=HYPERLINK")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_activity_csv_neutralises_a_site_name_starting_with_equals(formula_site, make_user):
    client = formula_site.test_client()
    user = make_user("reporting")
    page = client.get("/connexion").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert (
        client.post(
            "/connexion",
            data={
                "csrf_token": csrf,
                "email": user.email,
                "password": "correct horse battery staple",
                "code": totp_code(),
            },
        ).status_code
        == 302
    )
    response = client.get("/activite/export.csv")
    assert response.status_code == 200
    rows = csv_rows(response)
    centre = next(row for row in rows if row and row[0] == "Centre")
    assert centre[1] == """'=HYPERLINK("http://x") <script>alert("site")</script>"""
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    # The same name in the pages: escaped.
    for url in ("/", "/activite", "/activite/rapport"):
        body = client.get(url).get_data(as_text=True)
        assert LIVE.search(body) is None, url
        assert "&lt;script&gt;alert(&#34;site&#34;)&lt;/script&gt;" in body, url
    anonymous = formula_site.test_client()
    body = anonymous.get("/connexion").get_data(as_text=True)
    assert LIVE.search(body) is None
    assert "&lt;script&gt;alert(&#34;site&#34;)" in body
