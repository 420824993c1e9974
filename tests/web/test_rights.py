"""Patients' rights on the site: objections and the rectification history on the file, the access
document (printable and JSON, audited), the erasure on request, « Données personnelles » and its
retention periods, and the public information notice. Every route × role is in test_access.py;
here, what each user sees and what is written (or not)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dalia_site.extensions import db
from dalia_site.models import AuditEvent, CentreSettings, Patient, Referral
from tests.web.test_patient_answers import _booked as booked_with_link
from tests.web.test_patients import EDIT_FORM, admit, events, field_error, page_text, snapshot
from tests.web.test_referrals import dac_link  # noqa: F401  (fixture)


@pytest.fixture
def patient_id(app):
    return admit(app)


def test_objections_and_each_rectification_show_on_the_file(app, auth, as_role, patient_id):
    as_role("assistant", name="Sandrine Duval")
    response = auth.post(
        f"/patients/{patient_id}/modifier",
        EDIT_FORM | {"phone": "04 68 99 88 77", "objects_to_reminders": "y", "objects_to_gp_search": "y"},
    )
    assert response.status_code == 303
    text = page_text(auth.client.get(f"/patients/{patient_id}"))
    assert "Rappels de rendez-vous par SMS ou e-mail" in text
    assert "Être contacté(e) pour la recherche d'un médecin traitant" in text
    history = text[text.index("Modifications du dossier") :]
    assert "Sandrine Duval" in history
    assert "téléphone" in history and "04 68 11 22 33" in history and "04 68 99 88 77" in history
    assert "opposition aux rappels (SMS, e-mail)" in history
    # The audit trail still names the fields only.
    (event,) = [e for e in events(app, "patient.update") if e.object_id == str(patient_id)]
    assert "04 68" not in event.summary


def test_the_dac_handover_is_refused_to_a_patient_who_objected(app, auth, as_role, patient_id):
    as_role("assistant")
    auth.post(f"/patients/{patient_id}/modifier", EDIT_FORM | {"objected": "y"})
    before = snapshot(app, patient_id)
    response = auth.post(
        f"/patients/{patient_id}/dac", {"handover_on": EDIT_FORM["informed_on"], "patient_informed": "y"}
    )
    assert response.status_code == 422
    assert "pas de transmission au DAC" in page_text(response)
    assert snapshot(app, patient_id) == before


def test_an_admin_produces_the_access_document_and_it_is_audited(app, auth, as_role, patient_id):
    as_role("assistant")
    auth.post(f"/patients/{patient_id}/modifier", EDIT_FORM | {"commune": "Trèbes"})
    auth.client.get(f"/patients/{patient_id}")
    auth.logout()
    as_role("admin", name="Alice Admin")
    response = auth.client.get(f"/patients/{patient_id}/droit-acces")
    assert response.status_code == 200
    text = page_text(response)
    for heading in (
        "Identité et coordonnées",
        "Information et oppositions",
        "Adressages et décisions",
        "Rendez-vous",
        "Messages envoyés (SMS, e-mails)",
        "Historique des rectifications",
        "Qui a consulté ou modifié le dossier",
    ):
        assert f">{heading}</h2>" in text
    assert "ROUQUETTE Odile Marie" in text and "3 rue de la Liberté 11000 Trèbes" in text
    assert "Inès Barthe" in text and "Suivi à organiser." in text  # the referral
    assert "Carcassonne" in text and "Trèbes" in text  # the rectification, before and after
    assert "Consultation du dossier" in text  # who read the file
    (event,) = events(app, "patient.access")
    assert event.object_id == str(patient_id) and event.summary == "Droit d'accès : document"

    download = auth.client.get(f"/patients/{patient_id}/droit-acces.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert f"droit-acces-patient-{patient_id}.json" in download.headers["Content-Disposition"]
    data = json.loads(download.get_data(as_text=True))
    assert data["patient"] == patient_id
    assert data["identite"]["lignes"][0]["Nom d'usage"] == "Rouquette"
    assert data["adressages"]["lignes"][0]["Motif"] == "Suivi à organiser."
    assert {
        "rendez_vous",
        "plan_de_suivi",
        "tentatives_de_contact",
        "recherche_medecin_traitant",
        "messages",
        "rectifications",
        "journal",
    } <= set(data)
    assert [e.summary for e in events(app, "patient.access")][-1] == "Droit d'accès : JSON"


def test_the_access_document_counts_the_readings_and_lists_each_change(app, auth, as_role, patient_id):
    """Readings of the file, one row per person and kind (how many times, from when to when): the
    document does not grow with each view; every change keeps its own row."""
    as_role("assistant", name="Sandrine Duval")
    for _ in range(3):
        auth.client.get(f"/patients/{patient_id}")
    auth.post(f"/patients/{patient_id}/modifier", EDIT_FORM | {"commune": "Trèbes"})
    auth.logout()
    as_role("admin", name="Alice Admin")
    auth.client.get(f"/patients/{patient_id}/droit-acces")
    data = json.loads(auth.client.get(f"/patients/{patient_id}/droit-acces.json").get_data(as_text=True))

    rows = data["journal"]["lignes"]
    views = [r for r in rows if r["Qui"] == "Sandrine Duval" and r["Action"] == "Consultation du dossier"]
    assert [(r["Détail"], r["Date"].startswith("du ")) for r in views] == [("3 fois", True)]
    documents = [
        r for r in rows if r["Qui"] == "Alice Admin" and r["Action"] == "Droit d'accès : document produit"
    ]
    assert [r["Détail"] for r in documents] == ["2 fois"]  # the page, then this JSON
    changes = [r for r in rows if r["Qui"] == "Sandrine Duval" and r["Action"] != "Consultation du dossier"]
    assert len(changes) == 1 and "commune" in changes[0]["Détail"]


@pytest.mark.parametrize("role", ["assistant", "clinician", "reporting"])
def test_only_an_admin_reaches_the_access_document_and_the_erasure(app, client, as_role, role, patient_id):
    as_role(role)
    for path in ("droit-acces", "droit-acces.json", "effacement"):
        assert client.get(f"/patients/{patient_id}/{path}").status_code == 403
    assert not events(app, "patient.access")


def test_erasure_on_request_needs_a_reason_then_erases_and_is_audited(app, auth, as_role, patient_id):
    as_role("admin")
    before = snapshot(app, patient_id)
    response = auth.post(f"/patients/{patient_id}/effacement", {"reason": "  "})
    assert response.status_code == 422
    assert field_error(response, "reason") == (
        "Indiquez le motif de l'effacement (demande du patient, date, canal)."
    )
    assert snapshot(app, patient_id) == before

    response = auth.post(f"/patients/{patient_id}/effacement", {"reason": "Courrier du patient du 20/11"})
    assert response.status_code == 303
    with app.app_context():
        patient = db.session.get(Patient, patient_id)
        assert (patient.last_name, patient.first_names, patient.phone) == ("EFFACÉ", "", "")
        assert patient.erased_at is not None
        summaries = db.session.scalars(
            select(AuditEvent.summary).where(
                AuditEvent.object_type == "patient", AuditEvent.object_id == str(patient_id)
            )
        ).all()
    assert "Identité effacée : à sa demande — Courrier du patient du 20/11" in summaries
    assert not any("Rouquette" in s or "ROUQUETTE" in s for s in summaries)
    text = page_text(auth.client.get(f"/patients/{patient_id}"))
    assert "Effacer l'identité" not in text and "Identité effacée le " in text


def test_personal_data_page_shows_the_register_and_the_admin_sets_the_periods(app, auth, as_role, client):
    as_role("clinician")
    text = page_text(client.get("/donnees-personnelles"))
    assert "Patient sans rendez-vous ni adressage depuis 3 ans" in text
    assert "Connexion chiffrée (TLS, HTTPS)" in text
    assert "Combien de temps</h2>" in text and "Enregistrer les durées" not in text
    assert auth.post("/donnees-personnelles/conservation", {"inactive_years": "5"}).status_code == 403
    auth.logout()

    as_role("admin")
    text = page_text(client.get("/donnees-personnelles"))
    assert "Aucun effacement prévu dans les 30 prochains jours." in text
    response = auth.post("/donnees-personnelles/conservation", {"inactive_years": "0", "declined_years": "1"})
    assert response.status_code == 422
    assert field_error(response, "inactive_years") == "Entre 1 et 20 ans."
    # A number too long to be one (the fuzzing found a 500-digit value answered by a 500).
    response = auth.post(
        "/donnees-personnelles/conservation", {"inactive_years": "5", "declined_years": "1" * 500}
    )
    assert response.status_code == 422
    assert field_error(response, "declined_years") == "Indiquez un nombre entier (ex. 3)."
    response = auth.post("/donnees-personnelles/conservation", {"inactive_years": "5", "declined_years": "2"})
    assert response.status_code == 303
    with app.app_context():
        row = db.session.get(CentreSettings, 1)
        assert (row.retention_inactive_years, row.retention_declined_years) == (5, 2)
    assert "depuis 5 ans" in page_text(client.get("/donnees-personnelles"))
    (event,) = [e for e in events(app, "centre.update") if "conservation" in e.summary]
    assert "conservation sans activité (ans) : 3 → 5" in event.summary


def test_the_admin_sees_the_files_erased_in_the_next_30_days(app, as_role, client, patient_id):
    # The file was opened (and its referral received) three years ago, the default, less ten days.
    with app.app_context():
        patient = db.session.get(Patient, patient_id)
        then = patient.created_at.replace(year=patient.created_at.year - 3) + timedelta(days=10)
        patient.created_at = then
        for referral in db.session.scalars(select(Referral).where(Referral.patient_id == patient_id)):
            referral.received_at = referral.decided_at = then
        db.session.commit()
    as_role("admin")
    text = page_text(client.get("/donnees-personnelles"))
    assert "1 dossier à effacer d'ici 30 jours :" in text
    assert f"patient n° {patient_id}</a>" in text
    assert f"aucun rendez-vous ni adressage depuis le {then:%d/%m/%Y}" in text


def test_reporting_never_reaches_the_personal_data_page(client, as_role):
    as_role("reporting")
    assert client.get("/donnees-personnelles").status_code == 403


def test_the_public_notice_tells_anyone_who_is_responsible_how_long_and_their_rights(client):
    text = page_text(client.get("/informations-patients"))
    assert "Vos données au centre" in text and "Vos droits" in text
    assert "Laure MAURY" in text  # the URPS contact of the template's directory
    assert "depuis 3 ans" in text


def test_the_patients_appointment_page_links_to_the_notice(app, client):
    """The page a reminder opens (« Votre rendez-vous ») leads the patient to the same notice."""
    _, token = booked_with_link(app, datetime.now(UTC) + timedelta(days=2), last_name="Notice")
    page = client.get(f"/rdv/{token}")
    assert page.status_code == 200
    assert '<a href="/informations-patients">Vos données et vos droits</a>' in page.get_data(as_text=True)
    assert client.get("/informations-patients").status_code == 200


def test_the_partners_referral_form_links_to_the_notice(client, dac_link):  # noqa: F811
    text = page_text(client.get(f"/adressage/{dac_link[1]}"))
    assert '<a href="/informations-patients">notice d\'information à lui remettre</a>' in text
