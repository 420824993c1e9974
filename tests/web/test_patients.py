"""Patients: search, the patient page and its timeline, identity edits, status, DAC handover.

Every read of a patient page and every change leaves an audit event naming the user; the
reporting role never sees an identity. The site comes from the "carcassonne" template, whose
directory holds the territory's DAC, "DAC de l'Aude".
"""

import html
import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dalia_site import clock
from dalia_site.domain import referrals
from dalia_site.domain.phones import MESSAGE as PHONE_MESSAGE
from dalia_site.extensions import db
from dalia_site.filters import date_fr
from dalia_site.models import AuditEvent, PartnerOrganisation, Patient, Referral

DAC = "DAC de l'Aude"
IDENTITY = {
    "last_name": "Rouquette",
    "first_names": "Odile Marie",
    "birth_name": "Fabre",
    "birth_date": date(1950, 3, 15),
    "sex": "F",
    "phone": "04 68 11 22 33",
    "email": "",
    "address": "3 rue de la Liberté",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "yes",
    "ald_label": "diabète de type 2",
    "gp_status": "none",
    "gp_name": "",
}
REFERRER = {
    "referrer_name": "Inès Barthe",
    "referrer_profession": "infirmière libérale",
    "referrer_phone": "04 68 72 00 00",
    "referrer_email": "",
}
# The edit form as the page sends it back unchanged.
INFORMED = date(2025, 1, 6)
EDIT_FORM = IDENTITY | {"birth_date": "1950-03-15", "informed_on": INFORMED.isoformat()}
TODAY = clock.today(ZoneInfo("Europe/Paris"))  # the site's today, not the server's (UTC)


# --- helpers ------------------------------------------------------------------------------------


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_error(response, field: str) -> str:
    match = re.search(
        rf'<p class="error" id="{field}-erreur"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S
    )
    return html.unescape(match.group(1)) if match else ""


def listed(response) -> list[str]:
    """The patients in the results table, as their links read."""
    return re.findall(r'<a href="/patients/\d+">(.*?)</a>', page_text(response))


def timeline(response) -> list[str]:
    """The lines of the patient's « Parcours », as they read, without their date and time."""
    section = re.search(r'<ol class="timeline">(.*?)</ol>', page_text(response), re.S).group(1)
    items = re.findall(r"<li[^>]*>(.*?)</li>", section, re.S)
    lines = [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]
    return [re.sub(r"^\d\d/\d\d/\d{4}( à \d\dh\d\d)? ", "", line) for line in lines]


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def load(app, patient_id: int) -> Patient:
    with app.app_context():
        patient = db.session.get(Patient, patient_id)
        db.session.expunge(patient)
        return patient


def snapshot(app, patient_id: int) -> tuple:
    """Every column of the patient's row: what a refused change must leave untouched."""
    table = Patient.__table__
    with app.app_context():
        return tuple(db.session.execute(select(table).where(table.c.id == patient_id)).one())


def admit(app, actor=None, source: str | None = DAC, **identity) -> int:
    """A patient as triage makes one: a referral by phone from `source`, recorded and accepted
    by `actor`."""
    with app.app_context():
        org = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == source))
        referral = referrals.receive(
            db.session,
            actor,
            "phone" if org else "direct",
            IDENTITY | identity,
            REFERRER,
            "Suivi à organiser.",
            source=org,
            now=clock.now(),
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
        patient = referrals.decide(db.session, actor, referral, "accepted", now=clock.now())
        db.session.commit()
        return patient.id


def make_patient(app, **fields) -> int:
    """A patient stored directly: in follow-up, informed of the use of their data, unless told."""
    with app.app_context():
        patient = Patient(**IDENTITY | {"status": "follow_up", "informed_on": INFORMED} | fields)
        patient.search_text = referrals.patient_search_text(patient)
        db.session.add(patient)
        db.session.commit()
        return patient.id


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def patients(app) -> dict[str, int]:
    """Four patients; two share some digits of Odile ROUQUETTE's birth date (15/03/1950)."""
    return {
        "ROUQUETTE Odile Marie": make_patient(app),
        "SAINT-ÉTIENNE Jean-Pierre": make_patient(
            app,
            last_name="SAINT-ÉTIENNE",
            first_names="Jean-Pierre",
            birth_name="",
            birth_date=date(1948, 2, 1),
            sex="M",
        ),
        "BÉNÉZECH Élodie": make_patient(
            app, last_name="Bénézech", first_names="Élodie", birth_name="", birth_date=date(1915, 3, 19)
        ),
        "CAZALS Anne": make_patient(
            app, last_name="Cazals", first_names="Anne", birth_name="", birth_date=date(1950, 5, 3)
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("rouquette", ["ROUQUETTE Odile Marie"]),
        ("ODILE rouquette", ["ROUQUETTE Odile Marie"]),  # any order, any case
        ("fabre", ["ROUQUETTE Odile Marie"]),  # the birth name
        ("benezech", ["BÉNÉZECH Élodie"]),  # accents ignored
        ("Saint Étienne", ["SAINT-ÉTIENNE Jean-Pierre"]),  # hyphens and accents ignored
        ("jean-pierre", ["SAINT-ÉTIENNE Jean-Pierre"]),
        ("15/03/1950", ["ROUQUETTE Odile Marie"]),  # the birth date as typed
        ("1950", ["CAZALS Anne", "ROUQUETTE Odile Marie"]),
        ("dupont", []),
    ],
)
def test_patients_are_found_by_name_or_birth_date(client, as_role, patients, query, expected):
    as_role("clinician")
    response = client.get("/patients", query_string={"q": query})
    assert response.status_code == 200
    assert listed(response) == expected
    if not expected:
        assert f"Aucun patient ne correspond à « {query} »." in page_text(response)


def test_an_htmx_search_gets_only_the_results(client, as_role, patients):
    as_role("assistant")
    response = client.get("/patients?q=etienne", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<form" not in body and 'id="patients"' not in body
    assert listed(response) == ["SAINT-ÉTIENNE Jean-Pierre"]
    assert "HX-Request" in response.headers["Vary"]


# --- the patient page ---------------------------------------------------------------------------


def test_the_patient_page_shows_identity_referrals_dac_and_timeline(app, client, make_user, as_role):
    triage = make_user("assistant", name="Sandrine Duval")
    patient_id = admit(app, triage)
    as_role("clinician")
    response = client.get(f"/patients/{patient_id}")
    assert response.status_code == 200
    text = page_text(response)
    assert "<h1>ROUQUETTE Odile Marie <small>(En suivi)</small></h1>" in text
    for shown in (
        "15/03/1950 — née Fabre",
        "<dd>Femme</dd>",
        "3 rue de la Liberté 11000 Carcassonne",
        "04 68 11 22 33",
        "<dd>Oui — diabète de type 2</dd>",
        "<dt>Médecin traitant</dt><dd>aucun</dd>",
    ):
        assert shown in text, shown

    with app.app_context():
        referral = db.session.scalar(select(Referral).where(Referral.patient_id == patient_id))
        dac_id = db.session.scalar(select(PartnerOrganisation.id).where(PartnerOrganisation.name == DAC))
        received = date_fr(referral.received_at)  # in the site's timezone
    assert (
        f'<a href="/adressages/{referral.id}">{referral.reference}</a> — reçu le '
        f"{received} (Téléphone, {DAC}) : Accepté"
    ) in text
    assert f'DAC du territoire : <a href="/annuaire/{dac_id}">{DAC}</a>' in text

    assert timeline(response) == [
        f"Adressage reçu de {DAC} (téléphone), par Inès Barthe",
        "Adressage accepté par Sandrine Duval : patient en suivi",
    ]


def test_each_view_of_a_patient_page_is_audited_with_the_viewer(app, client, auth, make_user):
    patient_id = make_patient(app)
    viewers = [make_user("assistant"), make_user("clinician"), make_user("assistant")]
    for viewer in viewers:
        auth.login_as(viewer)
        assert client.get(f"/patients/{patient_id}").status_code == 200
        auth.logout()
    assert [(e.actor_id, e.object_id, e.summary) for e in events(app, "patient.view")] == [
        (viewer.id, str(patient_id), "Consultation : fiche") for viewer in viewers
    ]


# --- editing the identity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"birth_date": (TODAY + timedelta(days=1)).isoformat()},
            "birth_date",
            "La date de naissance ne peut pas être dans le futur.",
        ),
        ({"phone": "05 65"}, "phone", PHONE_MESSAGE),
        (
            {"informed_on": (TODAY + timedelta(days=1)).isoformat()},
            "informed_on",
            "La date d'information ne peut pas être dans le futur.",
        ),
    ],
    ids=["future birth date", "bad phone", "informed in the future"],
)
def test_a_refused_edit_says_why_and_changes_nothing(app, auth, as_role, changes, field, message):
    patient_id = make_patient(app)
    as_role("assistant")
    before = snapshot(app, patient_id)
    response = auth.post(f"/patients/{patient_id}/modifier", EDIT_FORM | changes)
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert snapshot(app, patient_id) == before
    assert events(app, "patient.update") == []


def test_an_edit_is_audited_by_field_names_without_values(app, client, auth, as_role):
    patient_id = make_patient(app)
    user = as_role("assistant")
    response = auth.post(
        f"/patients/{patient_id}/modifier",
        EDIT_FORM
        | {
            "last_name": "Rouquette-Azéma",
            "postcode": "11800",
            "commune": "Trèbes",
            "phone": "05 65 36 73 87",
        },
    )
    assert response.status_code == 303
    assert response.location == f"/patients/{patient_id}"
    patient = load(app, patient_id)
    assert (patient.last_name, patient.postcode, patient.commune, patient.phone) == (
        "Rouquette-Azéma",
        "11800",
        "Trèbes",
        "+33565367387",  # E.164 (domain/phones)
    )

    (event,) = events(app, "patient.update")
    assert (event.actor_id, event.object_id) == (user.id, str(patient_id))
    assert event.summary == "Modifié : nom, commune, code postal, téléphone"
    text = page_text(client.get(response.location))
    assert "Dossier mis à jour." in text and "05 65 36 73 87" in text
    assert listed(client.get("/patients?q=azema")) == ["ROUQUETTE-AZÉMA Odile Marie"]


# --- status, and what a clinician may do --------------------------------------------------------


def test_a_clinician_views_and_changes_the_status_but_cannot_edit(app, client, auth, as_role):
    patient_id = make_patient(app)
    user = as_role("clinician")
    page = client.get(f"/patients/{patient_id}")
    assert page.status_code == 200 and "Modifier le dossier" not in page_text(page)

    response = auth.post(f"/patients/{patient_id}/statut", {"status": "gp_found"})
    assert response.status_code == 303
    assert load(app, patient_id).status == "gp_found"
    (event,) = events(app, "patient.status")
    assert (event.actor_id, event.summary) == (user.id, "statut : En suivi → Médecin traitant trouvé")
    assert "Médecin traitant trouvé" in timeline(client.get(f"/patients/{patient_id}"))

    refused = auth.post(f"/patients/{patient_id}/statut", {"status": "declined"})
    assert refused.status_code == 422
    assert field_error(refused, "status") == "Ce statut ne se choisit pas à la main."

    before = snapshot(app, patient_id)
    assert client.get(f"/patients/{patient_id}/modifier").status_code == 403
    assert (
        auth.post(f"/patients/{patient_id}/modifier", EDIT_FORM | {"last_name": "Piraté"}).status_code == 403
    )
    assert snapshot(app, patient_id) == before


# --- handover to the DAC ------------------------------------------------------------------------

HAS_GP = {"gp_status": "has", "gp_name": "Dr Vidal"}


@pytest.mark.parametrize(
    ("patient", "data", "field", "message"),
    [
        (
            {},
            {},
            "patient_informed",
            "Le patient doit être informé de la transmission au DAC (il peut s'y opposer).",
        ),
        (
            HAS_GP,
            {"patient_informed": "y"},
            "gp_informed",
            "Le médecin traitant doit être informé de la transmission.",
        ),
        (
            {"objected": True},
            {"patient_informed": "y"},
            "patient_informed",
            "Le patient s'est opposé au partage de ses données : pas de transmission au DAC.",
        ),
        (
            {},
            {"patient_informed": "y", "handover_on": (TODAY + timedelta(days=1)).isoformat()},
            "handover_on",
            "La date de transmission ne peut pas être dans le futur.",
        ),
    ],
    ids=["patient not informed", "GP not informed", "patient objected", "future date"],
)
def test_a_dac_handover_is_refused_until_people_are_informed(
    app, auth, as_role, patient, data, field, message
):
    patient_id = make_patient(app, **patient)
    as_role("clinician")
    before = snapshot(app, patient_id)
    response = auth.post(f"/patients/{patient_id}/dac", {"handover_on": TODAY.isoformat()} | data)
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert snapshot(app, patient_id) == before
    assert events(app, "patient.dac_handover") == []


def test_a_dac_handover_is_stored_shown_and_audited(app, client, auth, as_role):
    patient_id = make_patient(app, **HAS_GP)
    user = as_role("assistant")
    response = auth.post(
        f"/patients/{patient_id}/dac",
        {"handover_on": TODAY.isoformat(), "patient_informed": "y", "gp_informed": "y"},
    )
    assert response.status_code == 303
    patient = load(app, patient_id)
    assert (patient.dac_handover_on, patient.dac_patient_informed, patient.dac_gp_informed) == (
        TODAY,
        True,
        True,
    )
    said = f"Transmission au DAC le {TODAY:%d/%m/%Y} (patient informé, médecin traitant informé)"
    (event,) = events(app, "patient.dac_handover")
    assert (event.actor_id, event.summary) == (user.id, said)
    text = page_text(client.get(f"/patients/{patient_id}"))
    assert "Transmission au DAC enregistrée." in text
    assert (
        f"Situation transmise au DAC le {TODAY:%d/%m/%Y} (patient informé, médecin traitant informé)."
    ) in text
    assert "Enregistrer la transmission" not in text


# --- the reporting role -------------------------------------------------------------------------


def test_the_reporting_role_never_sees_a_patient(app, client, auth, as_role):
    """403 on every patient and referral page, reads and writes; not a name anywhere."""
    patient_id = admit(app)
    with app.app_context():
        referral_id = db.session.scalar(select(Referral.id))
    as_role("reporting")
    before = snapshot(app, patient_id)
    reads = [
        "/patients",
        "/patients?q=rouquette",
        f"/patients/{patient_id}",
        f"/patients/{patient_id}/modifier",
        "/adressages",
        "/adressages?statut=tous",
        "/adressages/compteurs",
        f"/adressages/{referral_id}",
        "/adressages/nouveau",
    ]
    writes = {
        f"/patients/{patient_id}/modifier": EDIT_FORM,
        f"/patients/{patient_id}/statut": {"status": "gp_found"},
        f"/patients/{patient_id}/dac": {"handover_on": TODAY.isoformat(), "patient_informed": "y"},
        f"/adressages/{referral_id}/decision": {"decision": "declined"},
        f"/adressages/{referral_id}/rattacher": {"patient_id": "nouveau"},
        "/adressages/nouveau": EDIT_FORM,
    }
    responses = [(url, client.get(url)) for url in reads]
    responses += [(url, auth.post(url, data)) for url, data in writes.items()]
    responses += [(url, client.get(url, headers={"HX-Request": "true"})) for url in reads[:2]]
    for url, response in responses:
        assert response.status_code == 403, url
        text = page_text(response)
        assert "Rouquette" not in text and "ROUQUETTE" not in text and "Odile" not in text, url
    home = page_text(client.get("/"))
    assert "Rouquette" not in home and "ROUQUETTE" not in home
    assert snapshot(app, patient_id) == before
    assert events(app, "patient.view") == [] and events(app, "referral.view") == []
