"""Issue 15, « also seen, to fix on the way »: defaults of the public form, the booking shortcut of
an accepted referral, wording (« aux », « 0 jour », « née »), the favicon, the copy buttons."""

import re

from sqlalchemy import func, select

from dalia_site.extensions import db
from dalia_site.models import Patient, Referral, StaffUser, TeamMember
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
        text = page_text(client.get("/", follow_redirects=True))
        assert not re.search(r"\b(à|de) les\b", text), role
        if role == "reporting":
            assert "Votre rôle donne accès aux chiffres d'activité du centre" in text
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


# --- a clinician's account and team member: one flow ----------------------------------------------

CLINICIAN_ACCOUNT = {
    "name": "Anne Sabatier",
    "email": "anne.sabatier@exemple.fr",
    "role": "clinician",
    "password": "Provisoire-2026-ok",
}


def selected_option(response, name: str) -> list[str]:
    select_html = re.search(
        rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', response.get_data(as_text=True), re.S
    )
    options = re.findall(r"<option([^>]*)>", select_html.group(1))
    return [re.search(r'value="([^"]*)"', o).group(1) for o in options if "selected" in o]


def test_a_new_account_starts_on_no_role(app, client, as_role, auth):
    as_role("admin")
    page = client.get("/admin/comptes/nouveau")
    assert selected_option(page, "role") in ([], [""])
    first = re.search(r'<select[^>]*name="role"[^>]*>\s*<option([^>]*)>([^<]*)<', page.get_data(as_text=True))
    assert 'value=""' in first.group(1) and "Administrateur" not in first.group(2)
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(StaffUser))
    refused = auth.post("/admin/comptes/nouveau", CLINICIAN_ACCOUNT | {"role": ""})
    assert refused.status_code == 422
    assert field_error(refused, "role") == "Ce champ est obligatoire."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffUser)) == before


def test_a_clinicians_account_leads_to_their_team_member(app, client, as_role, auth):
    as_role("admin")
    created = auth.post("/admin/comptes/nouveau", CLINICIAN_ACCOUNT)
    with app.app_context():
        user_id = db.session.scalar(select(StaffUser.id).where(StaffUser.email == CLINICIAN_ACCOUNT["email"]))
    assert created.status_code == 303
    assert created.location == f"/equipe/nouveau?compte={user_id}"
    listing = page_text(client.get("/admin/comptes"))
    assert "Compte de Anne Sabatier créé." in listing  # the flash, shown on the next page
    assert f'href="/equipe/nouveau?compte={user_id}">Créer sa fiche d\'équipe' in listing

    step = client.get(created.location)
    text = page_text(step)
    assert "Sans fiche, aucun créneau." in text
    assert 'value="Anne Sabatier"' in text and 'value="anne.sabatier@exemple.fr"' in text
    assert selected_option(step, "staff_user_id") == [str(user_id)]

    saved = auth.post(
        "/equipe/nouveau",
        {
            "name": "Anne Sabatier",
            "profession": "medecin",
            "team": "flexible",
            "doctor_status": "retraite",
            "rpps": "",
            "phone": "",
            "email": "anne.sabatier@exemple.fr",
            "staff_user_id": str(user_id),
        },
    )
    assert saved.status_code == 303, page_text(saved)
    with app.app_context():
        member = db.session.scalar(select(TeamMember).where(TeamMember.staff_user_id == user_id))
        assert (member.name, member.profession) == ("Anne Sabatier", "medecin")
    assert "Créer sa fiche d'équipe" not in page_text(client.get("/admin/comptes"))
    # Once linked, the account is no longer offered as a new member's starting point.
    again = client.get(f"/equipe/nouveau?compte={user_id}")
    assert selected_option(again, "staff_user_id") in ([], [""])


def test_an_assistants_account_goes_back_to_the_list(app, client, as_role, auth):
    as_role("admin")
    created = auth.post("/admin/comptes/nouveau", CLINICIAN_ACCOUNT | {"role": "assistant"})
    assert created.status_code == 302 and created.location == "/admin/comptes"


def test_the_team_member_form_says_that_without_it_there_are_no_slots(client, as_role):
    as_role("assistant")
    assert "Sans fiche, aucun créneau." in page_text(client.get("/equipe/nouveau"))


# --- editing an identity runs the duplicate check again -------------------------------------------

EDIT_FORM = FORM | {"informed_on": ""}


def test_an_edit_that_makes_a_duplicate_shows_it_and_waits_for_a_confirmation(app, client, as_role, auth):
    from tests.web.test_referrals import make_patient

    odile = make_patient(app)
    paul = make_patient(app, last_name="Rouzaud", first_names="Paul", birth_name="", sex="M")
    as_role("assistant")
    edit = f"/patients/{paul}/modifier"
    # Paul's record is corrected to an identity the centre already has: Odile's.
    refused = auth.post(edit, EDIT_FORM | {"birth_name": "", "first_names": "Odile"})
    assert refused.status_code == 422
    text = page_text(refused)
    assert "1 patient existant correspond à la nouvelle identité." in text
    assert f'<a href="/patients/{odile}">ROUQUETTE Odile Marie</a>, née le 15/03/1950' in text
    assert field_error(refused, "not_duplicate").startswith("Un autre patient correspond à cette identité")
    assert 'name="not_duplicate"' in text
    with app.app_context():
        assert db.session.get(Patient, paul).last_name == "Rouzaud"

    confirmed = auth.post(edit, EDIT_FORM | {"birth_name": "", "first_names": "Odile", "not_duplicate": "y"})
    assert confirmed.status_code == 303
    with app.app_context():
        assert db.session.get(Patient, paul).last_name == "Rouquette"
    # A plain edit of a patient with no look-alike shows no confirmation; labels agree with the sex.
    form = page_text(client.get(f"/patients/{odile}/modifier"))
    assert 'name="not_duplicate"' not in form
    assert "Informée de l'usage de ses données le" in form and "S'est opposée au partage" in form
    henri = make_patient(app, last_name="Bosc", first_names="Henri", birth_name="", sex="M")
    assert "Informé de l'usage de ses données le" in page_text(client.get(f"/patients/{henri}/modifier"))
