"""Issue 15, « also seen, to fix on the way »: defaults of the public form, the booking shortcut of
an accepted referral, wording (« aux », « 0 jour », « née »), the favicon, the copy buttons."""

import re

from sqlalchemy import select

from dalia_site.extensions import db
from dalia_site.models import Patient, Referral
from tests.web.test_referrals import (
    FORM,
    csrf,
    dac_link,  # noqa: F401  (fixture)
    field_error,
    make_referral,
    page_text,
    stored,
)


def checked_radios(response, name: str) -> list[str]:
    """The values of the radio buttons `name` that the page sends pre-ticked."""
    inputs = re.findall(rf'<input[^>]*name="{name}"[^>]*>', response.get_data(as_text=True))
    return [re.search(r'value="([^"]*)"', i).group(1) for i in inputs if re.search(r"\bchecked\b", i)]


# --- the public referral form ---------------------------------------------------------------------


def test_the_public_form_answers_nothing_for_the_partner(client, dac_link):  # noqa: F811
    page = client.get(f"/adressage/{dac_link[1]}")
    assert page.status_code == 200
    for name in ("ald", "gp_status", "sex"):
        assert 'name="' + name + '"' in page.get_data(as_text=True)
        assert checked_radios(page, name) == [], f"{name} is pre-ticked"


def test_the_staff_form_answers_nothing_either(client, as_role):
    as_role("assistant")
    page = client.get("/adressages/nouveau")
    assert page.status_code == 200
    assert checked_radios(page, "ald") == [] and checked_radios(page, "gp_status") == []


def test_unanswered_criteria_are_refused_with_a_french_message(app, client, dac_link):  # noqa: F811
    before = stored(app)
    data = {"csrf_token": csrf(client)} | {k: v for k, v in FORM.items() if k not in ("ald", "gp_status")}
    response = client.post(f"/adressage/{dac_link[1]}", data=data)
    assert response.status_code == 422
    assert field_error(response, "ald") == "Indiquez si le patient a une ALD."
    assert field_error(response, "gp_status") == "Indiquez s'il a un médecin traitant."
    assert checked_radios(response, "ald") == [] and checked_radios(response, "gp_status") == []
    assert stored(app) == before


# --- an accepted referral leads to the booking ----------------------------------------------------


def test_an_accepted_referral_offers_to_book(app, client, as_role):
    referral_id = make_referral(app)
    as_role("assistant")
    page = client.get(f"/adressages/{referral_id}")
    assert "Prendre rendez-vous" not in page_text(page)  # not decided yet
    token = csrf(client)
    accepted = client.post(
        f"/adressages/{referral_id}/decision",
        data={"csrf_token": token, "decision": "accepted"},
        follow_redirects=True,
    )
    with app.app_context():
        patient_id = db.session.scalar(select(Referral.patient_id).where(Referral.id == referral_id))
    assert patient_id
    assert f'<a class="button" href="/patients/{patient_id}/creneaux">Prendre rendez-vous</a>' in page_text(
        accepted
    )
    queue = page_text(client.get("/adressages?statut=accepted"))
    assert f'href="/patients/{patient_id}/creneaux">Prendre rendez-vous' in queue


def test_a_clinician_sees_no_booking_shortcut(app, client, as_role):
    referral_id = make_referral(app, decision="accepted")
    as_role("clinician")
    page = client.get(f"/adressages/{referral_id}")
    assert page.status_code == 200
    assert "Prendre rendez-vous" not in page_text(page)


# --- wording --------------------------------------------------------------------------------------


def test_the_home_page_never_says_a_les(client, as_role):
    for role in ("admin", "assistant", "clinician", "reporting"):
        as_role(role)
        text = page_text(client.get("/"))
        assert "Votre rôle donne accès " in text
        assert not re.search(r"\b(à|de) les\b", text), role
        client.post("/deconnexion", data={"csrf_token": csrf(client)})


def test_birth_agrees_with_the_sex(app, client, as_role):
    her = make_referral(app, sex="F", birth_name="Fabre")
    him = make_referral(app, sex="M", last_name="Rouzaud", first_names="Paul", birth_name="Bosc")
    as_role("assistant")
    assert "(née Fabre)" in page_text(client.get(f"/adressages/{her}"))
    assert "(né Bosc)" in page_text(client.get(f"/adressages/{him}"))
    queue = page_text(client.get("/adressages"))
    assert "née le 15/03/1950" in queue and "né le 15/03/1950" in queue
    assert "né(e)" not in queue
    with app.app_context():
        assert db.session.scalar(select(Patient.id)) is None
