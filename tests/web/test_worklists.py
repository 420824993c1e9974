"""The worklists and the médecin traitant pathway through the pages: « À recontacter », « Liste
d'attente » (with the slot freed by a desk cancellation), « Non venus », the navigation's counts,
the follow-up page (plan, calls, GP search), the liaison letter, the directory's GPs. Bad input is
a French message and a 4xx with nothing written. The rules themselves are tested without HTTP in
tests/unit/test_worklist_rules.py; who may call which route in tests/web/test_access.py."""

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dalia_site import clock
from dalia_site.domain import partners, recall, referrals
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    AppointmentClinician,
    AuditEvent,
    ContactAttempt,
    FollowUpPlan,
    GpSearchStep,
    PartnerOrganisation,
    Patient,
    SlotOffer,
)
from tests.web.test_booking import MORNING, accepted, tomorrow
from tests.web.test_patients import IDENTITY, REFERRER
from tests.web.test_roster import PARIS, make_member, make_session

HX = {"HX-Request": "true"}
STAFF = ("admin", "assistant", "clinician")


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def past_visit(app, patient_id: int, member_id: int, days_ago: int, status: str = "honoured") -> int:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    with app.app_context():
        appointment = Appointment(
            patient_id=patient_id,
            kind="doctor",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            status=status,
            created_at=start - timedelta(days=7),
        )
        appointment.clinicians = [AppointmentClinician(member_id=member_id)]
        db.session.add(appointment)
        db.session.commit()
        return appointment.id


def waiting(app, last_name: str, days_ago: int) -> int:
    when = clock.now() - timedelta(days=days_ago)
    with app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            IDENTITY | {"last_name": last_name, "birth_name": ""},
            REFERRER,
            "Suivi à organiser.",
            now=when,
            today=when.date(),
        )
        patient = referrals.decide(db.session, None, referral, "waiting_list", now=when)
        db.session.commit()
        return patient.id


def general_practitioner(app, name: str, accepts: str = "yes") -> int:
    with app.app_context():
        gp = partners.create_organisation(
            db.session, None, {"name": name, "category": "medecin_generaliste", "postcode": "11000"}
        )
        today = clock.today(PARIS)
        partners.set_accepts_new_patients(db.session, None, gp, accepts, today, today=today)
        db.session.commit()
        return gp.id


@pytest.fixture
def doctor(app) -> int:
    return make_member(app, "Dr Jeanne Audouy")


# --- « À recontacter » --------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_the_recall_list_shows_the_most_overdue_first_with_a_link_to_book(app, client, as_role, doctor, role):
    late = accepted(app, "Enretard")
    past_visit(app, late, doctor, days_ago=80)
    recent = accepted(app, "Recent")
    past_visit(app, recent, doctor, days_ago=10)
    as_role(role)
    response = client.get("/listes/a-recontacter")
    assert response.status_code == 200
    page = text(response)
    assert page.index("ENRETARD") < page.index("RECENT")
    assert "24 j" in page  # 80 days after the visit, due after 8 weeks (no plan yet)
    booking_link = f'href="/patients/{late}/creneaux"'
    assert (booking_link in page) == (role != "clinician")  # only who books gets the picker
    fragment = client.get("/listes/a-recontacter?vue=retard", headers=HX)
    assert "<html" not in text(fragment) and "ENRETARD" in text(fragment) and "RECENT" not in text(fragment)
    assert fragment.vary.find("HX-Request") >= 0
    with app.app_context():
        traced = db.session.scalars(
            select(AuditEvent.summary).where(AuditEvent.action == "patient.list_view")
        ).all()
    assert any("À recontacter" in s and str(late) in s for s in traced)


def test_the_recall_list_goes_page_by_page_keeping_its_filter(app, client, as_role, doctor):
    """Twenty-five patients a page, the most overdue first; the next page continues where the
    first stopped (with « en retard » kept), and a page past the end is a 404."""
    for n in range(28):
        patient = accepted(app, f"Rappel{n:02d}")
        past_visit(app, patient, doctor, days_ago=60 + 10 * n)  # Rappel27 is the most overdue
    as_role("assistant")
    first = text(client.get("/listes/a-recontacter?vue=retard"))
    assert "28 patients" in first and "Page 1 sur 2" in first
    shown = re.findall(r"RAPPEL(\d\d)", first)
    assert shown[0] == "27" and len(set(shown)) == 25
    assert 'href="/listes/a-recontacter?vue=retard&amp;page=2"' in client.get(
        "/listes/a-recontacter?vue=retard"
    ).get_data(as_text=True)
    second = text(client.get("/listes/a-recontacter?vue=retard&page=2", headers=HX))
    assert "<html" not in second and "Page 2 sur 2" in second
    assert sorted(set(re.findall(r"RAPPEL(\d\d)", second))) == ["00", "01", "02"]
    assert client.get("/listes/a-recontacter?vue=retard&page=3").status_code == 404


def test_a_call_is_recorded_from_the_list_with_who_and_when(app, client, as_role, doctor):
    patient = accepted(app, "Appelee")
    past_visit(app, patient, doctor, days_ago=70)
    user = as_role("assistant", name="Claire Accueil")
    response = client.post(
        f"/listes/appels/{patient}",
        data={"csrf_token": _csrf(client, "/listes/a-recontacter"), "outcome": "message", "retour": "recall"},
    )
    assert response.status_code == 303 and response.location == "/listes/a-recontacter"
    page = text(client.get(response.location))
    assert "Message laissé le" in page and "(Claire Accueil)" in page
    with app.app_context():
        attempt = db.session.scalar(select(ContactAttempt))
        assert (attempt.patient_id, attempt.by_id, attempt.outcome) == (patient, user.id, "message")


@pytest.mark.parametrize("outcome", ["", "rappel", "x" * 200])
def test_a_call_with_an_unknown_outcome_is_refused_in_french_and_nothing_written(
    app, client, as_role, outcome
):
    patient = accepted(app, "Appelee")
    as_role("clinician")
    response = client.post(
        f"/listes/appels/{patient}",
        data={"csrf_token": _csrf(client, "/listes/a-recontacter"), "outcome": outcome},
    )
    assert response.status_code == 422
    assert "Choisissez le résultat de l'appel." in text(response)
    assert count(app, ContactAttempt) == 0


def test_a_call_for_a_patient_that_does_not_exist_is_404(app, client, as_role):
    as_role("assistant")
    response = client.post(
        "/listes/appels/999999",
        data={"csrf_token": _csrf(client, "/listes/a-recontacter"), "outcome": "reached"},
    )
    assert response.status_code == 404


# --- « Liste d'attente » and the freed slot -----------------------------------------------------


@pytest.fixture
def pair(app):
    day = tomorrow()
    doctor = make_member(app, "Dr Jeanne Audouy")
    nurse = make_member(app, "Sophie Bonnafous", profession="infirmier_azalee")
    make_session(app, doctor, day, MORNING)
    make_session(app, nurse, day, MORNING)
    return doctor, nurse


def test_the_waiting_list_is_oldest_first_each_with_a_free_first_visit_slot(app, client, as_role, pair):
    recent, old = waiting(app, "Recente", 2), waiting(app, "Ancienne", 30)
    as_role("assistant")
    page = text(client.get("/listes/liste-d-attente"))
    assert page.index("ANCIENNE") < page.index("RECENTE")
    assert "(30 jours)" in page and "(2 jours)" in page
    assert "avec Dr Jeanne Audouy et Sophie Bonnafous" in page
    assert page.count("Proposer ce créneau") == 2
    assert (
        f"/listes/liste-d-attente/{old}/accepter" in page
        and f"/listes/liste-d-attente/{recent}/accepter" in page
    )
    longer = text(client.get("/listes/liste-d-attente?depuis=30", headers=HX))
    assert "<html" not in longer and "ANCIENNE" in longer and "RECENTE" not in longer


def test_a_slot_freed_by_a_desk_cancellation_is_offered_to_the_waiting_list_first(
    app, client, as_role, auth, pair
):
    doctor, nurse = pair
    waiting_patient = waiting(app, "Attente", 20)
    booked_patient = accepted(app, "Annulera")
    start = datetime.combine(tomorrow(), MORNING[0], tzinfo=PARIS) + timedelta(hours=1)
    with app.app_context():
        from dalia_site.domain import booking, centre

        appointment = booking.book(
            db.session,
            None,
            db.session.get(Patient, booked_patient),
            "first",
            start,
            [doctor, nurse],
            centre.load(db.session).visits,
            PARIS,
            now=clock.now(),
        )
        db.session.commit()
        appointment_id = appointment.id
    as_role("assistant")
    response = auth.post(f"/bureau/rdv/{appointment_id}/annuler", {"motif": "Hospitalisé"})
    assert response.status_code in (200, 303)
    page = text(client.get("/listes/liste-d-attente"))
    assert "1 créneau libéré par une annulation" in page
    offered = re.search(rf'<tr id="attente-{waiting_patient}">.*?</tr>', page, re.S).group(0)
    assert "Créneau libéré</strong> le" in offered and "Ne plus proposer le créneau libéré" in offered
    slot = re.search(r'name="creneau" value="([^"]+)"', offered).group(1)
    assert slot.endswith(f"_{doctor},{nurse}")
    response = auth.post(f"/listes/liste-d-attente/{waiting_patient}/accepter", {"creneau": slot})
    assert response.status_code == 303 and "/rendez-vous/confirmer" in response.location
    with app.app_context():
        assert db.session.get(Patient, waiting_patient).status == "follow_up"
    confirmation = client.get(response.location)
    assert confirmation.status_code == 200
    confirmed = auth.post(
        f"/patients/{waiting_patient}/rendez-vous",
        {"kind": "first", "start": slot.split("_")[0], "members": f"{doctor},{nurse}"},
    )
    assert confirmed.status_code == 303
    assert "1 créneau libéré par une annulation" not in text(client.get("/listes/liste-d-attente"))


def test_a_freed_slot_can_be_withdrawn_and_a_second_withdrawal_is_refused(app, client, as_role, auth, pair):
    doctor, nurse = pair
    patient = accepted(app, "Annulera")
    start = datetime.combine(tomorrow(), MORNING[0], tzinfo=PARIS)
    with app.app_context():
        appointment = Appointment(
            patient_id=patient,
            kind="doctor",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            status="cancelled",
        )
        db.session.add(appointment)
        db.session.flush()
        offer = SlotOffer(
            cancelled_id=appointment.id,
            kind="first",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            lead_member_id=doctor,
            member_ids=f"{doctor},{nurse}",
        )
        db.session.add(offer)
        db.session.commit()
        offer_id = offer.id
    as_role("assistant")
    assert auth.post(f"/listes/creneaux-liberes/{offer_id}/retirer").status_code == 303
    again = auth.post(f"/listes/creneaux-liberes/{offer_id}/retirer")
    assert again.status_code == 422 and "Ce créneau n'est plus proposé." in text(again)


def test_accepting_a_patient_not_on_the_waiting_list_is_refused(app, client, as_role, auth):
    patient = accepted(app, "Suivi")
    as_role("assistant")
    response = auth.post(f"/listes/liste-d-attente/{patient}/accepter", {})
    assert response.status_code == 422 and "n'est plus sur la liste d'attente" in text(response)


# --- « Non venus » and the counts ---------------------------------------------------------------


def test_no_shows_not_called_back_are_listed_and_flagged_after_the_centre_s_setting(
    app, client, as_role, auth, doctor
):
    patient = accepted(app, "Absent")
    for days in (40, 20, 5):
        past_visit(app, patient, doctor, days_ago=days, status="no_show")
    as_role("admin")
    page = text(client.get("/listes/non-venus"))
    assert "ABSENT" in page and "Signalé : 3 rendez-vous manqués" in page
    assert "2 rendez-vous manqués à rappeler" in page  # 20 and 5 days ago, within 4 weeks
    eight = text(client.get("/listes/non-venus?semaines=8", headers=HX))
    assert "<html" not in eight and "3 rendez-vous manqués à rappeler" in eight
    assert "Signalé : 3 rendez-vous manqués" in text(client.get(f"/patients/{patient}"))
    counts = text(client.get("/listes/compteurs", headers=HX))
    assert re.search(r'id="nav-non-venus"[^>]*hx-swap-oob="true">\s*<span class="badge">2</span>', counts)
    auth.post(f"/listes/appels/{patient}", {"outcome": "unreachable", "retour": "no_shows"})
    assert "Aucun rendez-vous manqué à rappeler." in text(client.get("/listes/non-venus"))


def test_the_navigation_loads_the_counts_without_a_query_on_every_page(app, client, as_role):
    as_role("assistant")
    page = text(client.get("/patients"))
    for label, anchor in (
        ("À recontacter", "nav-a-recontacter"),
        ("Liste d'attente", "nav-liste-d-attente"),
        ("Non venus", "nav-non-venus"),
    ):
        assert re.search(rf'>{label}<span id="{anchor}" class="nav-count"></span></a>', page)
    assert 'hx-get="/listes/compteurs" hx-trigger="load, worklists-changed from:body" hx-swap="none"' in page


def test_reporting_sees_neither_the_lists_nor_their_counts(app, client, as_role):
    as_role("reporting")
    page = text(client.get("/activite"))
    assert "/listes/" not in page
    assert client.get("/listes/compteurs").status_code == 403


# --- The follow-up page: plan, calls, médecin traitant, letter -----------------------------------


def _csrf(client, path: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True))
    if match is None:
        match = re.search(r'"X-CSRFToken": "([^"]+)"', client.get(path).get_data(as_text=True))
    return match.group(1)


def test_the_plan_is_recorded_audited_and_shown_on_the_file(app, client, as_role, auth):
    patient = accepted(app, "Plan")
    as_role("clinician")
    response = auth.post(
        f"/patients/{patient}/plan",
        {
            "cadence_weeks": "6",
            "preferred_nurse": "azalee",
            "azalee_protocols": ["diabetes", "copd"],
            "etp": "y",
        },
    )
    assert response.status_code == 303
    file = text(client.get(f"/patients/{patient}"))
    assert (
        "Une visite toutes les 6 semaines, infirmière azalée (protocoles Azalée : diabète de type 2, bpco)"
        in file
    )
    with app.app_context():
        summary = db.session.scalar(select(AuditEvent.summary).where(AuditEvent.action == "patient.plan"))
    assert "semaines entre deux visites : — → 6" in summary


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cadence_weeks": "0", "preferred_nurse": "ipa"}, "Entre 1 et 52 semaines entre deux visites."),
        ({"cadence_weeks": "six", "preferred_nurse": "ipa"}, "Indiquez un nombre de semaines (ex. 6)."),
        ({"cadence_weeks": "6"}, "Choisissez l'infirmière du suivi."),
        (
            {"cadence_weeks": "6", "preferred_nurse": "ipa", "azalee_protocols": ["copd"]},
            "Les protocoles Azalée vont avec un suivi par l'infirmière Azalée.",
        ),
    ],
)
def test_a_bad_plan_is_refused_in_french_and_nothing_written(app, client, as_role, auth, data, message):
    patient = accepted(app, "Plan")
    as_role("assistant")
    response = auth.post(f"/patients/{patient}/plan", data)
    assert response.status_code == 422 and message in text(response)
    assert count(app, FollowUpPlan) == 0


def test_the_gp_search_until_found_then_the_letter(app, client, as_role, auth, doctor):
    patient = accepted(app, "Parcours")
    past_visit(app, patient, doctor, days_ago=30)
    refuses, welcomes = general_practitioner(app, "Dr Refus", "no"), general_practitioner(app, "Dr Accueil")
    as_role("assistant")
    page = text(client.get(f"/patients/{patient}/suivi"))
    assert page.index("Dr Accueil") < page.index("Dr Refus")  # who takes new patients first
    today = clock.today(PARIS).isoformat()
    assert (
        auth.post(
            f"/patients/{patient}/medecin-traitant",
            {"partner_id": refuses, "contacted_on": today, "answer": "pending"},
        ).status_code
        == 303
    )
    with app.app_context():
        step = db.session.scalar(select(GpSearchStep.id))
    assert (
        auth.post(f"/patients/{patient}/medecin-traitant/{step}", {"answer": "declines"}).status_code == 303
    )
    response = auth.post(
        f"/patients/{patient}/medecin-traitant",
        {"partner_id": welcomes, "contacted_on": today, "answer": "accepts"},
    )
    assert response.status_code == 303
    page = text(client.get(response.location))
    assert "Médecin traitant trouvé : Dr Accueil" in page
    with app.app_context():
        found = db.session.get(Patient, patient)
        assert (found.status, found.gp_partner_id, found.gp_name) == ("gp_found", welcomes, "Dr Accueil")
    letter = text(client.get(f"/patients/{patient}/courrier-medecin-traitant"))
    assert "Courrier de liaison" in letter and "À l'attention de Dr Accueil" in letter
    assert "Dr Jeanne Audouy (médecin)" in letter and "PARCOURS" in letter


def test_the_letter_needs_a_gp_found(app, client, as_role):
    patient = accepted(app, "Sansmedecin")
    as_role("clinician")
    response = client.get(f"/patients/{patient}/courrier-medecin-traitant")
    assert response.status_code == 409 and "médecin traitant trouvé" in text(response)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"partner_id": "", "contacted_on": "", "answer": "pending"},
            "Choisissez un médecin généraliste de l'annuaire.",
        ),
        (
            {"contacted_on": "2999-01-01", "answer": "pending"},
            "La date de la démarche ne peut pas être dans le futur.",
        ),
        ({"contacted_on": "32/13/2026", "answer": "pending"}, "Date invalide"),
        ({"answer": "oui"}, "Choisissez la réponse du médecin."),
    ],
)
def test_a_bad_gp_step_is_refused_in_french_and_nothing_written(app, client, as_role, auth, data, message):
    patient = accepted(app, "Parcours")
    gp = general_practitioner(app, "Dr Accueil")
    as_role("assistant")
    response = auth.post(
        f"/patients/{patient}/medecin-traitant", {"partner_id": gp, "contacted_on": "2026-01-05"} | data
    )
    assert response.status_code == 422 and message in text(response)
    assert count(app, GpSearchStep) == 0


def test_a_pharmacy_is_no_gp_for_the_search(app, client, as_role, auth):
    patient = accepted(app, "Parcours")
    with app.app_context():
        pharmacy = partners.create_organisation(
            db.session, None, {"name": "Pharmacie", "category": "pharmacie"}
        )
        db.session.commit()
        pharmacy_id = pharmacy.id
    as_role("assistant")
    response = auth.post(
        f"/patients/{patient}/medecin-traitant",
        {"partner_id": pharmacy_id, "contacted_on": "2026-01-05", "answer": "accepts"},
    )
    assert response.status_code == 422 and count(app, GpSearchStep) == 0


def test_the_directory_records_whether_a_gp_takes_new_patients(app, client, as_role, auth):
    gp = general_practitioner(app, "Dr Vérifie", "to_check")
    as_role("assistant")
    page = text(client.get(f"/annuaire/{gp}"))
    assert "Nouveaux patients</dt><dd>À vérifier" in page
    today = clock.today(PARIS)
    response = auth.post(
        f"/annuaire/{gp}/nouveaux-patients",
        {"mg-accepts_new_patients": "yes", "mg-accepts_checked_on": today.isoformat()},
    )
    assert response.status_code == 303
    assert f"Nouveaux patients</dt><dd>Oui (vérifié le {today:%d/%m/%Y})" in text(
        client.get(f"/annuaire/{gp}")
    )
    refused = auth.post(
        f"/annuaire/{gp}/nouveaux-patients",
        {"mg-accepts_new_patients": "peut-être", "mg-accepts_checked_on": today.isoformat()},
    )
    assert refused.status_code == 422 and "Choisissez oui, non ou à vérifier." in text(refused)
    with app.app_context():
        assert db.session.get(PartnerOrganisation, gp).accepts_new_patients == "yes"


def test_the_report_counts_refusals_the_waiting_list_and_gps_found(app, client, as_role, auth, doctor):
    """The activity page, its JSON and CSV exports carry the pathway's figures (on SQLite and
    PostgreSQL: the query is one UNION of four kinds of rows)."""
    patient = accepted(app, "Trouve")
    past_visit(app, patient, doctor, days_ago=20)
    waiting(app, "Attente", 12)
    with app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            IDENTITY | {"last_name": "Refuse", "birth_name": ""},
            REFERRER,
            "Motif.",
            now=clock.now(),
            today=clock.today(PARIS),
        )
        referrals.decide(
            db.session, None, referral, "declined", "", "sas", decline_code="no_ald", now=clock.now()
        )
        db.session.commit()
    gp = general_practitioner(app, "Dr Accueil")
    as_role("assistant")
    auth.post(
        f"/patients/{patient}/medecin-traitant",
        {"partner_id": gp, "contacted_on": clock.today(PARIS).isoformat(), "answer": "accepts"},
    )
    data = client.get("/activite/export.json").get_json()
    # Counts of 1 to 4 people are « < 5 » in every export (statistical secrecy); delays are not.
    assert data["refusal_reasons"]["no_ald"] == "< 5" and data["refusal_reasons"]["out_of_area"] == 0
    assert data["waiting_list"] == {"count": "< 5", "median_wait_days": 12}
    assert (data["gp_found"], data["gp_found_median_days"]) == ("< 5", 20)
    page = text(client.get("/activite"))  # the assistant sees the counts themselves
    assert '<th scope="row">Pas d\'ALD</th><td>1</td>' in page
    assert "Délai médian de la première consultation au médecin traitant trouvé</th><td>20 jours" in page
    csv_text = client.get("/activite/export.csv").get_data(as_text=True)
    assert "Refus par motif;Adressages" in csv_text and "Pas d'ALD;< 5" in csv_text
    auth.logout()
    as_role("reporting")  # the reporting role sees small counts as « < 5 » on the page too
    reported = client.get("/activite").get_data(as_text=True)
    assert "Pas d&#39;ALD</th><td>&lt; 5</td>" in reported


@pytest.mark.parametrize(("value", "status"), [("2", 303), ("0", 422), ("deux", 422)])
def test_the_admin_sets_after_how_many_no_shows_a_patient_is_flagged(
    app, client, as_role, auth, doctor, value, status
):
    from tests.web.test_centre_settings import VALID

    patient = accepted(app, "Absent")
    for days in (20, 5):
        past_visit(app, patient, doctor, days_ago=days, status="no_show")
    as_role("admin")
    assert "Signalé" not in text(client.get("/listes/non-venus"))  # 3 by default
    response = auth.post("/admin/centre", VALID | {"no_show_flag_after": value})
    assert response.status_code == status
    flagged = "Signalé : 2 rendez-vous manqués" in text(client.get("/listes/non-venus"))
    assert flagged == (status == 303)
    if status == 422:
        assert "rendez-vous manqués" in text(response)  # the French message under the field


def many_patients(app, n: int, status: str) -> None:
    """`n` patients of `status` at once (written as the bench's seed does, never seen)."""
    from sqlalchemy import insert

    from dalia_site.domain.referrals import patient_search_text

    with app.app_context():
        rows = []
        for i in range(n):
            person = Patient(
                last_name=f"Nombre{i}", first_names="Marie", birth_name="", birth_date=date(1950, 1, 1)
            )
            rows.append(
                {
                    "last_name": person.last_name,
                    "first_names": "Marie",
                    "birth_name": "",
                    "birth_date": person.birth_date,
                    "sex": "F",
                    "postcode": "11000",
                    "commune": "Carcassonne",
                    "ald": "yes",
                    "gp_status": "none",
                    "status": status,
                    "search_text": patient_search_text(person),
                    "created_at": clock.now() - timedelta(days=30),
                }
            )
        db.session.execute(insert(Patient), rows)
        recall.refresh(db.session.connection())  # the insert went past the ORM, as the bench's seed
        db.session.commit()


def test_the_navigation_counts_at_most_999_then_says_999_plus(app, client, as_role):
    def badge() -> str:
        counts = text(client.get("/listes/compteurs", headers=HX))
        found = re.search(r'id="nav-liste-d-attente"[^>]*>\s*<span class="badge">([^<]+)</span>', counts)
        assert found, counts
        return found.group(1)

    as_role("assistant")
    many_patients(app, 999, "waiting_list")
    assert badge() == "999"
    many_patients(app, 1, "waiting_list")
    assert badge() == "999+"
    assert "1000 patients en attente" in text(client.get("/listes/liste-d-attente"))  # the list: all


def test_a_long_recall_list_is_counted_up_to_a_thousand_then_page_by_page(app, client, as_role):
    as_role("assistant")
    many_patients(app, 1000, "follow_up")
    page = text(client.get("/listes/a-recontacter"))
    assert "1000 patients" in page and "Page 1 sur 40" in page
    many_patients(app, 30, "follow_up")
    page = text(client.get("/listes/a-recontacter"))
    assert "Plus de 1000 patients" in page and "Page 1 sur plus de 40" in page
    # Further on, the count reaches the page shown: the last page is still found.
    last = text(client.get("/listes/a-recontacter?page=42", headers=HX))
    assert "1030 patients" in last and "Page 42 sur 42" in last and "Suivante" not in last
    assert client.get("/listes/a-recontacter?page=43").status_code == 404
