"""« Réglages du centre »: the admin edits the centre's name as shown, address, phone, access notes,
what to bring, opening hours and visit lengths, stored in the database (audited); every other role
is refused; bad input gets a French message, a 422, and nothing written. The convocation prints them.
"""

import html
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dalia_site import clock
from dalia_site.domain.text import PHONE_MESSAGE
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    AppointmentClinician,
    AuditEvent,
    CentreSettings,
    Patient,
    TeamMember,
)
from tests.web.test_patients import IDENTITY, INFORMED, field_error

PARIS = ZoneInfo("Europe/Paris")
VALID = {
    "display_name": "Centre DALIA du Bassin Carcassonnais",
    "address": "12 rue Aimé Ramond, 11000 Carcassonne",
    "phone": "0468112233",
    "access_notes": "Bus ligne 2, arrêt Gambetta.\nRez-de-chaussée, accès fauteuil.",
    "what_to_bring": "Carte Vitale et ordonnances en cours.",
    "open_half_days_grid": "1",
    "open_half_days": [
        f"{day}-{half}" for day in ("lundi", "mardi", "jeudi", "vendredi") for half in ("matin", "apres-midi")
    ],
    "morning": "08:30-12:30",
    "afternoon": "14:00-18:00",
    "first_minutes": "45",
    "doctor_minutes": "20",
    "nurse_minutes": "40",
}


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def stored(app) -> tuple:
    table = CentreSettings.__table__
    with app.app_context():
        return tuple(db.session.execute(select(table)).one())


def centre_events(app) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "centre.update")).all()


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("assistant", 403), ("clinician", 403), ("reporting", 403)]
)
def test_only_the_admin_reaches_the_settings_page(app, client, auth, as_role, role, status):
    as_role(role)
    page = client.get("/admin/centre")
    assert page.status_code == status
    assert ('href="/admin/centre"' in text_of(client.get("/"))) == (role == "admin")
    before = stored(app)
    assert auth.post("/admin/centre", VALID).status_code == (303 if role == "admin" else 403)
    assert (stored(app) != before) == (role == "admin")


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/admin/centre")
    assert response.status_code == 302 and "/connexion" in response.location


def test_the_admin_saves_the_settings_and_the_change_is_audited(app, client, auth, as_role):
    admin = as_role("admin")
    page = text_of(client.get("/admin/centre"))
    assert "À compléter : adresse, téléphone, accès (transports, stationnement, étage)." in page
    assert 'name="open_half_days" value="vendredi-apres-midi" checked' in page
    assert 'name="open_half_days" value="samedi-matin">' in page

    response = auth.post("/admin/centre", VALID)
    assert response.status_code == 303 and response.location.endswith("/admin/centre")
    with app.app_context():
        row = db.session.get(CentreSettings, 1)
        assert (row.address, row.phone, row.open_days) == (
            VALID["address"],
            "0468112233",
            "lundi,mardi,jeudi,vendredi",
        )
        assert (row.afternoon, row.first_minutes, row.doctor_minutes, row.nurse_minutes) == (
            "14:00-18:00",
            45,
            20,
            40,
        )
        assert row.access_notes == VALID["access_notes"]
    (event,) = centre_events(app)
    assert event.actor_id == admin.id and event.summary.startswith("Réglages du centre : ")
    assert "12 rue Aimé Ramond" in event.summary

    page = text_of(client.get("/admin/centre"))
    assert "Réglages du centre enregistrés." in page and "À compléter" not in page
    assert f'value="{VALID["address"]}"' in page
    assert 'name="open_half_days" value="mercredi-matin">' in page

    # The same values again: nothing changes, nothing is audited.
    assert auth.post("/admin/centre", VALID).status_code == 303
    assert "Aucune modification." in text_of(client.get("/admin/centre"))
    assert len(centre_events(app)) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "12 34", PHONE_MESSAGE),
        ("morning", "12:30-08:30", "Horaires invalides : début et fin au format 08:30-12:30, dans l'ordre."),
        ("morning", "le matin", "Horaires invalides : début et fin au format 08:30-12:30, dans l'ordre."),
        ("afternoon", "11:00-17:00", "L'après-midi commence après la fin de la matinée."),
        ("first_minutes", "5", "Durée entre 10 et 240 minutes, par pas de 5 minutes."),
        ("doctor_minutes", "33", "Durée entre 10 et 240 minutes, par pas de 5 minutes."),
        ("nurse_minutes", "trente", "Durée en minutes attendue (ex. 30)."),
        ("display_name", "C" * 151, "150 caractères au plus."),
    ],
)
def test_bad_input_is_refused_in_french_with_nothing_written(
    app, client, auth, as_role, field, value, message
):
    as_role("admin")
    before = stored(app)
    response = auth.post("/admin/centre", VALID | {field: value})
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert stored(app) == before and centre_events(app) == []
    # What was typed is shown again, to be corrected.
    assert 'name="open_half_days" value="jeudi-matin" checked' in text_of(response)


@pytest.mark.parametrize(
    ("halves", "message"),
    [([], "Cochez au moins une demi-journée d"), (["jamais-matin"], "Demi-journée inconnue.")],
)
def test_a_centre_open_no_half_day_is_refused(app, client, auth, as_role, halves, message):
    as_role("admin")
    before = stored(app)
    response = auth.post("/admin/centre", VALID | {"open_half_days": halves})
    assert response.status_code == 422
    assert re.search(rf'class="form-errors" role="alert">\s*<p>{message}', text_of(response))
    assert stored(app) == before and centre_events(app) == []


def test_a_half_day_closed_on_the_settings_page_has_no_alert_and_refuses_sessions(app, client, auth, as_role):
    """Monday afternoon closed: the planning shows it « fermé » without alert; a session then is
    refused with the opening hours, unless it is an « ouverture exceptionnelle »."""
    as_role("admin")
    halves = [h for h in VALID["open_half_days"] if h != "lundi-apres-midi"]
    assert auth.post("/admin/centre", VALID | {"open_half_days": halves}).status_code == 303
    with app.app_context():
        row = db.session.get(CentreSettings, 1)
        assert row.open_days == "lundi,mardi,jeudi,vendredi"
        assert "lundi-matin" in row.open_half_days and "lundi-apres-midi" not in row.open_half_days
        member = TeamMember(name="Dr Paule Sabatier", profession="medecin", team="flexible", active=True)
        member.doctor_status = "retraite"
        db.session.add(member)
        db.session.commit()
        member_id = member.id
    today = clock.today(PARIS)
    monday = today + timedelta(days=7 - today.weekday() + 14)
    page = text_of(client.get("/planning", query_string={"semaine": monday.isoformat()}))
    assert f"Lun. {monday:%d/%m} après-midi" not in page.split('id="alertes"')[1].split("</div>")[0]
    form = {"vacation-day": monday.isoformat(), "vacation-half_day": "apres-midi"}
    response = auth.post(f"/equipe/{member_id}/vacations", form)
    assert response.status_code == 422
    assert (
        "Hors des heures d'ouverture : le lundi, le centre est ouvert le matin (8h30–12h30). "
        "Cochez « ouverture exceptionnelle » pour ouvrir quand même."
    ) in text_of(response)
    response = auth.post(f"/equipe/{member_id}/vacations", form | {"vacation-exceptional": "y"})
    assert response.status_code == 303


def booked_visit(app, sex: str = "F") -> int:
    """A nurse visit next week with the IPA, stored directly."""
    with app.app_context():
        patient = Patient(**IDENTITY | {"status": "follow_up", "informed_on": INFORMED, "sex": sex})
        nurse = TeamMember(name="Laure Carrière", profession="ipa", team="stable", active=True)
        start = datetime.combine(clock.today(PARIS) + timedelta(days=7), time(9, 0), tzinfo=PARIS)
        visit = Appointment(
            patient=patient,
            kind="nurse",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            status="booked",
        )
        visit.clinicians = [AppointmentClinician(member=nurse)]
        db.session.add_all([patient, nurse, visit])
        db.session.commit()
        return visit.id


def test_the_convocation_prints_the_centre_s_address_phone_access_and_hours(app, client, auth, as_role):
    as_role("admin")
    assert auth.post("/admin/centre", VALID).status_code == 303
    visit_id = booked_visit(app)
    as_role("assistant")
    page = text_of(client.get(f"/rendez-vous/{visit_id}/convocation"))
    assert "<h1>Convocation — Centre DALIA du Bassin Carcassonnais</h1>" in page
    for shown in (
        "<dt>Lieu</dt><dd>Centre DALIA du Bassin Carcassonnais<br>12 rue Aimé Ramond, 11000 Carcassonne</dd>",
        "Bus ligne 2, arrêt Gambetta.\nRez-de-chaussée, accès fauteuil.",
        '<a href="tel:0468112233">04 68 11 22 33</a>',
        "<dt>Horaires du centre</dt><dd>les lundi, mardi, jeudi et vendredi, 8h30–12h30 et 14h00–18h00, "
        "uniquement sur rendez-vous</dd>",
        "<dt>Avec</dt><dd>Laure Carrière (infirmière en pratique avancée (IPA))</dd>",
        "<dt>À apporter</dt><dd>Carte Vitale et ordonnances en cours.</dd>",
        "merci de prévenir le centre au plus tôt au 04 68 11 22 33 pour libérer le créneau.",
        "<strong>ROUQUETTE Odile Marie</strong>, née le 15/03/1950",
    ):
        assert shown in page, shown
    assert "né(e)" not in page and "infirmier·e" not in page

    ics = client.get(f"/rendez-vous/{visit_id}/convocation.ics").get_data(as_text=True)
    assert "Centre DALIA du Bassin Carcassonnais" in ics and "12 rue Aimé Ramond" in ics
