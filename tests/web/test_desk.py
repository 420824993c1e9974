"""Today's desk, the home page of assistants, clinicians and admins: the day's grid per clinician
on duty, the one-click actions (arrival, seen, no-show, cancel) and their undo, with htmx and
without JavaScript, the counts, today's free slots, referrals waiting, the printable day list.

The day of these tests is a Tuesday at least a week ahead (an open day of the default centre);
the clock is frozen on it with clock_at. The rules themselves (same day, DST, midnight) are tested
without HTTP in tests/unit/test_desk_rules.py; who may call which route in tests/web/test_access.py.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from dalia_site import clock
from dalia_site.domain import booking, centre
from dalia_site.extensions import db
from dalia_site.models import Appointment, AuditEvent, Patient, TeamMember
from tests.web.test_booking import accepted
from tests.web.test_roster import PARIS, make_member, make_session

DOCTOR, NURSE = "Dr Jeanne Audouy", "Sophie Bonnafous"
MORNING = (time(8, 30), time(12, 30))
AFTERNOON = (time(13, 30), time(17, 30))
HX = {"HX-Request": "true"}


def desk_day() -> date:
    """A Tuesday at least a week ahead: sessions and bookings on it are in the future today."""
    day = datetime.now(PARIS).date() + timedelta(days=7)
    return day + timedelta(days=(1 - day.weekday()) % 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def book(app, patient_id: int, kind: str, start: datetime, members: list[int]) -> int:
    with app.app_context():
        patient = db.session.get_one(Patient, patient_id)
        appointment = booking.book(
            db.session,
            None,
            patient,
            kind,
            start,
            members,
            centre.load(db.session).visits,
            PARIS,
            override_reason="" if kind == "first" else "suivi déjà engagé ailleurs",
            now=clock.now(),
        )
        db.session.commit()
        return appointment.id


@dataclass(frozen=True)
class Day:
    day: date
    doctor: int
    nurse: int
    early: int  # doctor, 09:00, Rouquette
    nurse_visit: int  # nurse, 09:00, Fabre
    later: int  # doctor, 11:00, Cros (not started at 10:00)

    def now(self, hour: int = 10, minute: int = 0):
        return clock.clock_at(at(self.day, hour, minute))


@pytest.fixture
def today(app) -> Day:
    day = desk_day()
    doctor = make_member(app, DOCTOR)
    nurse = make_member(app, NURSE, profession="infirmier_azalee")
    make_session(app, doctor, day, MORNING)
    make_session(app, nurse, day, MORNING)
    early = book(app, accepted(app, "Rouquette"), "doctor", at(day, 9), [doctor])
    nurse_visit = book(app, accepted(app, "Fabre"), "nurse", at(day, 9), [nurse])
    later = book(app, accepted(app, "Cros"), "doctor", at(day, 11), [doctor])
    return Day(day, doctor, nurse, early, nurse_visit, later)


def appointment(app, appointment_id: int) -> Appointment:
    with app.app_context():
        return db.session.get_one(Appointment, appointment_id)


def audit_count(app, action: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(AuditEvent.action == action))


def counts_of(page: str) -> dict[str, int]:
    return {label: int(n) for label, n in re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page)}


# --- The page -----------------------------------------------------------------------------------


def test_the_desk_shows_the_day_per_clinician_with_counts_actions_and_free_slots(app, client, as_role, today):
    with today.now():
        as_role("assistant")
        response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Aujourd&#39;hui, mardi" in page
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)<br>', page)
    assert headers == [DOCTOR, NURSE]  # doctors, then nurses
    for name in ("Rouquette", "Fabre", "Cros"):
        assert name.upper() in page.upper()
    assert counts_of(page) == {"Attendus": 3, "Arrivés": 0, "Vus": 0, "Non venus": 0, "Annulés": 0}
    # Started visits offer « Vu » / « Non venu »; the 11:00 one only « Arrivé » and « Annuler ».
    assert page.count(">Arrivé</button>") == 3
    assert page.count(">Vu</button>") == 2
    assert page.count(">Non venu</button>") == 2
    assert page.count(">Annuler</a>") == 1  # once started: « Vu » or « Non venu »
    # Today's free slots: the doctor is free from 10:00 (but 11:00-11:30), the nurse from 10:00.
    free = page[page.index("Créneaux libres aujourd'hui") :]
    assert f"10h00 · {DOCTOR}" in free and f"10h00 · {NURSE}" in free
    assert f"11h00 · {DOCTOR}" not in free
    assert "Aucun adressage en attente de tri." in page or "en attente de tri" in page
    # Reading the desk is traced: the three patients' numbers.
    assert audit_count(app, "patient.list_view") >= 1


def test_a_clinician_sees_their_own_column_first(app, client, make_user, auth, today):
    user = make_user("clinician")
    with app.app_context():
        db.session.get_one(TeamMember, today.nurse).staff_user_id = user.id
        db.session.commit()
    with today.now():
        auth.login_as(user)
        page = client.get("/").get_data(as_text=True)
    headers = re.findall(r'<th scope="col"([^>]*)>([^<]+)<br>', page)
    assert headers[0] == (' class="own"', NURSE)
    assert headers[1][1] == DOCTOR
    assert "votre colonne en premier" in page
    assert ">Annuler</a>" not in page  # cancelling is the assistants' (as on the patient page)


def test_reporting_keeps_its_home_and_anonymous_is_sent_to_login(app, client, as_role, today):
    assert client.get("/").location.startswith("/connexion")
    assert client.get("/bureau/feuille").location.startswith("/connexion")
    with today.now():
        as_role("reporting")
        page = client.get("/").get_data(as_text=True)
    assert "Rouquette".upper() not in page.upper()
    assert "chiffres d&#39;activité" in page
    assert client.get("/bureau/compteurs").status_code == 403
    assert client.get("/bureau/feuille").status_code == 403


def test_an_admin_sees_the_desk_and_their_admin_links(app, client, as_role, today):
    with today.now():
        as_role("admin")
        page = client.get("/").get_data(as_text=True)
    assert "Rouquette".upper() in page.upper()
    assert "<h2>Administration</h2>" in page and "/admin/comptes" in page


# --- Actions with htmx --------------------------------------------------------------------------


def test_arrival_swaps_its_block_refreshes_the_counts_and_is_undone_the_same_day(
    app, client, as_role, auth, today
):
    with today.now(10, 5):
        as_role("assistant")
        response = auth.post(f"/bureau/rdv/{today.early}/arrivee", headers=HX)
        body = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<html" not in body and body.lstrip().startswith(f'<div id="rdv-{today.early}"')
        assert response.headers["HX-Retarget"] == f"#rdv-{today.early}"
        assert response.headers["HX-Trigger"] == "desk-changed"
        assert "arrivé à 10h05" in body and ">Annuler l'arrivée</button>" in body
        assert appointment(app, today.early).arrived_at == at(today.day, 10, 5)
        counts = client.get(f"/bureau/compteurs?jour={today.day}", headers=HX).get_data(as_text=True)
        assert counts_of(counts)["Arrivés"] == 1 and "<html" not in counts
        # Twice: refused, nothing changes.
        again = auth.post(f"/bureau/rdv/{today.early}/arrivee", headers=HX)
        assert again.status_code == 422
        assert "Arrivée déjà enregistrée à 10h05." in again.get_data(as_text=True)
        undone = auth.post(f"/bureau/rdv/{today.early}/annuler-arrivee", headers=HX)
        assert undone.status_code == 200 and "Arrivée annulée." in undone.get_data(as_text=True)
    assert appointment(app, today.early).arrived_at is None
    assert audit_count(app, "appointment.arrive") == 1
    assert audit_count(app, "appointment.undo_arrival") == 1


def test_seen_and_no_show_are_one_click_and_go_back_to_booked(app, client, as_role, auth, today):
    with today.now():
        as_role("clinician")
        seen = auth.post(f"/bureau/rdv/{today.early}/vu", headers=HX)
        assert seen.status_code == 200 and "honoré" in seen.get_data(as_text=True)
        missed = auth.post(f"/bureau/rdv/{today.nurse_visit}/non-venu", headers=HX)
        assert missed.status_code == 200 and "non venu" in missed.get_data(as_text=True)
        counts = counts_of(client.get(f"/bureau/compteurs?jour={today.day}").get_data(as_text=True))
        assert counts == {"Attendus": 3, "Arrivés": 0, "Vus": 1, "Non venus": 1, "Annulés": 0}
        back = auth.post(f"/bureau/rdv/{today.nurse_visit}/prevu", headers=HX)
        assert back.status_code == 200 and ">Non venu</button>" in back.get_data(as_text=True)
    assert appointment(app, today.early).status == "honoured"
    assert appointment(app, today.nurse_visit).status == "booked"
    assert audit_count(app, "appointment.reopen") == 1


def test_marking_a_visit_not_yet_started_is_refused_in_french_and_writes_nothing(
    app, client, as_role, auth, today
):
    with today.now():
        as_role("assistant")
        response = auth.post(f"/bureau/rdv/{today.later}/vu", headers=HX)
    assert response.status_code == 422
    assert "Ce rendez-vous n&#39;a pas encore eu lieu." in response.get_data(as_text=True)
    assert appointment(app, today.later).status == "booked"
    assert audit_count(app, "appointment.mark") == 0


def test_actions_on_another_day_are_refused(app, client, as_role, auth, today):
    with clock.clock_at(at(today.day + timedelta(days=1), 9)):
        as_role("assistant")
        arrival = auth.post(f"/bureau/rdv/{today.early}/arrivee", headers=HX)
        seen = auth.post(f"/bureau/rdv/{today.early}/vu", headers=HX)
    for response in (arrival, seen):
        assert response.status_code == 422
        assert f"seulement le jour du rendez-vous (le {today.day:%d/%m/%Y})" in response.get_data(
            as_text=True
        )
    assert appointment(app, today.early).arrived_at is None
    assert appointment(app, today.early).status == "booked"


@pytest.mark.parametrize("action", ["arrivee", "annuler-arrivee", "vu", "non-venu", "prevu", "annuler"])
def test_an_unknown_appointment_is_a_404(client, as_role, auth, action):
    as_role("assistant")
    assert auth.post(f"/bureau/rdv/987654/{action}", headers=HX).status_code == 404


# --- Without JavaScript -------------------------------------------------------------------------


def test_without_javascript_each_action_posts_and_redirects_to_the_desk(app, client, as_role, auth, today):
    desk = f"/?jour={today.day.isoformat()}"
    with today.now():
        as_role("assistant")
        page = client.get("/").get_data(as_text=True)
        assert '<form id="bureau" method="post"' in page
        assert f'formaction="/bureau/rdv/{today.early}/arrivee"' in page
        response = auth.post(f"/bureau/rdv/{today.early}/arrivee")
        assert response.status_code == 303 and response.location == desk
        assert "Arrivée enregistrée." in client.get(response.location).get_data(as_text=True)
        refused = auth.post(f"/bureau/rdv/{today.later}/non-venu")
        assert refused.status_code == 422  # the desk, saying why; nothing written
        assert "Ce rendez-vous n&#39;a pas encore eu lieu." in refused.get_data(as_text=True)
        assert '<form id="bureau" method="post"' in refused.get_data(as_text=True)
        assert appointment(app, today.later).status == "booked"
        # Cancelling asks for a reason on a page of its own, then goes back to the desk.
        form = client.get(f"/bureau/rdv/{today.later}/annuler").get_data(as_text=True)
        assert "Motif de l'annulation" in form and '<form id="bureau"' in form
        no_reason = auth.post(f"/bureau/rdv/{today.later}/annuler", data={"motif": " "})
        assert no_reason.status_code == 422
        assert "Indiquez le motif de l&#39;annulation." in no_reason.get_data(as_text=True)
        assert appointment(app, today.later).status == "booked"
        done = auth.post(f"/bureau/rdv/{today.later}/annuler", data={"motif": "Hospitalisé"})
        assert done.status_code == 303 and done.location == desk
    assert appointment(app, today.later).status == "cancelled"
    assert appointment(app, today.later).cancel_reason == "Hospitalisé"


def test_cancel_with_htmx_asks_the_reason_in_place(app, client, as_role, auth, today):
    with today.now():
        as_role("assistant")
        form = client.get(f"/bureau/rdv/{today.later}/annuler", headers=HX)
        assert form.status_code == 200 and "<html" not in form.get_data(as_text=True)
        assert 'name="motif" form="bureau"' in form.get_data(as_text=True)
        refused = auth.post(f"/bureau/rdv/{today.later}/annuler", data={"motif": ""}, headers=HX)
        assert refused.status_code == 422
        assert "Indiquez le motif de l&#39;annulation." in refused.get_data(as_text=True)
        done = auth.post(f"/bureau/rdv/{today.later}/annuler", data={"motif": "Décès"}, headers=HX)
        assert done.status_code == 200 and "annulé" in done.get_data(as_text=True)


# --- Days ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-13-45", "hier", "1999-12-31", "2100-01-01", "20261201"])
@pytest.mark.parametrize("path", ["/", "/bureau/feuille", "/bureau/compteurs"])
def test_a_bad_or_out_of_range_day_is_a_clear_400(client, as_role, path, value):
    as_role("assistant")
    response = client.get(f"{path}?jour={value}")
    assert response.status_code == 400
    assert "Date invalide : jour au format AAAA-MM-JJ attendu" in response.get_data(as_text=True)


def test_a_closed_day_shows_the_next_open_day_and_navigation_skips_closed_days(app, client, as_role, today):
    with app.app_context():
        open_days = centre.load(db.session).open_days
    assert "dimanche" not in open_days and "lundi" in open_days
    sunday = today.day + timedelta(days=5)
    with today.now():
        as_role("assistant")
        page = client.get(f"/?jour={sunday}").get_data(as_text=True)
        assert f"Le centre est fermé le dimanche {sunday:%d/%m/%Y}" in page
        monday = sunday + timedelta(days=1)
        assert f"prochain jour d'ouverture, le lundi {monday:%d/%m/%Y}" in page
        friday = client.get(f"/?jour={today.day + timedelta(days=3)}").get_data(as_text=True)
        assert f'href="/?jour={monday.isoformat()}"' in friday  # « Jour suivant » skips the weekend
        fragment = client.get(f"/?jour={today.day + timedelta(days=1)}", headers=HX).get_data(as_text=True)
        assert "<html" not in fragment and "Jour précédent" in fragment


def test_the_day_sheet_lists_the_visits_by_time_to_print(app, client, as_role, auth, today):
    with today.now():
        as_role("assistant")
        auth.post(f"/bureau/rdv/{today.early}/arrivee")
        page = client.get(f"/bureau/feuille?jour={today.day}").get_data(as_text=True)
    rows = re.findall(
        r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>",
        page,
    )
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("09h00–09h30", DOCTOR, "10h00"),
        ("09h00–09h30", NURSE, ""),
        ("11h00–11h30", DOCTOR, ""),
    ]
    assert "Feuille du jour — mardi" in page
    assert "@media print" in client.get("/static/dalia.css").get_data(as_text=True)


def test_the_pair_visit_spans_the_doctor_and_nurse_columns(app, client, as_role, today):
    first = book(app, accepted(app, "Pujol"), "first", at(today.day, 10), [today.doctor, today.nurse])
    with today.now():
        as_role("assistant")
        page = client.get("/").get_data(as_text=True)
    cell = re.search(rf'<td rowspan="(\d+)" colspan="2" data-who="([^"]+)"><div id="rdv-{first}"', page)
    assert cell is not None, page
    assert cell.groups() == ("2", f"{DOCTOR} et {NURSE}")  # 60 minutes: two half-hour rows


# --- Size on a busy day -------------------------------------------------------------------------


def test_the_desk_fragment_stays_under_10_kb_on_a_busy_day(app, client, as_role, today):
    """The benchmark's ten-year busy centre averages 10 visits per open day; a busy day here is
    16: two doctors and two nurses, a pair first visit, every afternoon hour booked."""
    other_doctor = make_member(app, "Dr Paul Vidal")
    other_nurse = make_member(app, "Claire Maury", profession="infirmier")
    for member in (other_doctor, other_nurse):
        make_session(app, member, today.day, MORNING)
    for member in (today.doctor, today.nurse, other_doctor, other_nurse):
        make_session(app, member, today.day, AFTERNOON)
    patients = [accepted(app, f"Patient{n}") for n in range(12)]
    booked = 3
    for index, member in enumerate((other_doctor, other_nurse, today.doctor, today.nurse)):
        kind = "doctor" if index % 2 == 0 else "nurse"
        for hour in (14, 15, 16):
            start = at(today.day, hour, 0 if index < 2 else 30)
            book(app, patients[booked % len(patients)], kind, start, [member])
            booked += 1
    book(app, accepted(app, "Pujol"), "first", at(today.day, 10), [today.doctor, today.nurse])
    booked += 1
    with today.now():
        as_role("assistant")
        fragment = client.get(f"/?jour={today.day}", headers=HX).get_data()
    assert booked == 16 and fragment.count(b'<div id="rdv-') == 16
    assert b"<html" not in fragment
    assert len(fragment) <= 10 * 1024, len(fragment)


# --- A walk-in in a free slot ---------------------------------------------------------------------


def slot_link(page: str, time_text: str, name: str) -> str:
    """The href of the desk's free slot « 10h00 · Dr X »."""
    found = re.search(rf'<a href="([^"]+)">{time_text} · {re.escape(name)}</a>', page)
    assert found, f"no free slot {time_text} · {name} on the desk"
    return found.group(1).replace("&amp;", "&")


def walk_ins(app) -> list[Appointment]:
    with app.app_context():
        return list(db.session.scalars(select(Appointment).where(Appointment.walk_in.is_(True))))


def test_a_walk_in_is_recorded_in_a_free_slot_from_the_desk(app, client, as_role, auth, today):
    patient = accepted(app, "Vidal")
    with today.now(10, 2):
        as_role("assistant")
        link = slot_link(client.get("/").get_data(as_text=True), "10h15", DOCTOR)
        page = client.get(link).get_data(as_text=True)
        assert f"Consultation sans rendez-vous à 10h15 avec {DOCTOR}" in page
        assert "Rechercher le patient" in page
        # The search, as htmx sends it: the results alone, one button per patient.
        found = client.get(f"{link}?q=vidal", headers=HX)
        body = found.get_data(as_text=True)
        assert found.status_code == 200 and "<html" not in body
        assert "Enregistrer la consultation de" in body and "VIDAL" in body.upper()
        assert f'<form method="post" action="{link}">' in body
        response = auth.post(link, {"patient_id": str(patient)})
        assert response.status_code == 303 and response.headers["Location"].endswith("/")
        assert "Consultation sans rendez-vous enregistrée" in client.get("/").get_data(as_text=True)
    [walk_in] = walk_ins(app)
    assert walk_in.patient_id == patient and walk_in.kind == "doctor" and walk_in.status == "honoured"
    assert walk_in.starts_at == at(today.day, 10, 15)  # the time the desk showed
    assert audit_count(app, "appointment.walk_in") == 1


def test_a_walk_in_in_the_slot_after_the_clinicians_visit_is_recorded(app, client, as_role, auth, today):
    # At 10h07 the doctor is in a visit until 10h15; the desk offers 10h15 as a walk-in: the
    # patient is seen then (it used to be refused as « en rendez-vous en ce moment »).
    book(app, accepted(app, "Marty"), "doctor", at(today.day, 9, 45), [today.doctor])
    patient = accepted(app, "Vidal")
    with today.now(10, 7):
        as_role("assistant")
        link = slot_link(client.get("/").get_data(as_text=True), "10h15", DOCTOR)
        assert "Consultation sans rendez-vous à 10h15" in client.get(link).get_data(as_text=True)
        response = auth.post(link, {"patient_id": str(patient)})
        assert response.status_code == 303
    [walk_in] = walk_ins(app)
    assert walk_in.patient_id == patient and walk_in.starts_at == at(today.day, 10, 15)


def test_a_later_free_slot_is_booked_through_the_confirmation(app, client, as_role, today):
    patient = accepted(app, "Vidal")
    with today.now(10, 2):
        as_role("assistant")
        link = slot_link(client.get("/").get_data(as_text=True), "10h45", NURSE)
        page = client.get(f"{link}?q=vidal").get_data(as_text=True)
        assert f"Créneau libre à 10h45 avec {NURSE}" in page
        assert "Enregistrer la consultation" not in page
        booking_link = re.search(r'<a class="button" href="([^"]+)">Réserver pour', page).group(1)
        assert booking_link.startswith(f"/patients/{patient}/rendez-vous/confirmer?")
        # A new patient is proposed the pair visit first: the confirmation asks why a nurse visit.
        confirm = client.get(booking_link.replace("&amp;", "&"))
        assert confirm.status_code == 422
        assert "L&#39;alternance propose : première consultation" in confirm.get_data(as_text=True)
    assert walk_ins(app) == []


def test_a_patient_not_in_follow_up_is_neither_found_nor_recorded(app, client, as_role, auth, today):
    from tests.web.test_booking import patient_with_status

    discharged = patient_with_status(app, "discharged")
    with today.now(10, 2):
        as_role("assistant")
        link = slot_link(client.get("/").get_data(as_text=True), "10h15", DOCTOR)
        page = client.get(f"{link}?q=statut").get_data(as_text=True)
        assert "Aucun patient suivi ne correspond à « statut »." in page
        response = auth.post(link, {"patient_id": str(discharged)})
        assert response.status_code == 422
        assert "Ce patient n&#39;est pas suivi par le centre." in response.get_data(as_text=True)
    assert walk_ins(app) == [] and audit_count(app, "appointment.walk_in") == 0


def test_a_slot_taken_meanwhile_is_refused_and_writes_nothing(app, client, as_role, auth, today):
    patient = accepted(app, "Vidal")
    with today.now(10, 2):
        as_role("assistant")
        link = slot_link(client.get("/").get_data(as_text=True), "10h15", DOCTOR)
        # Someone books the doctor at 10:15 from the patient file meanwhile.
        book(app, accepted(app, "Marty"), "doctor", at(today.day, 10, 15), [today.doctor])
        response = auth.post(link, {"patient_id": str(patient)})
        assert response.status_code == 409
        page = response.get_data(as_text=True)
        assert "Ce créneau vient d&#39;être pris" in page and "Rechercher le patient" in page
    assert walk_ins(app) == [] and audit_count(app, "appointment.walk_in") == 0


def test_a_second_walk_in_in_the_same_slot_is_refused(app, client, as_role, auth, today):
    patient = accepted(app, "Vidal")
    with today.now(10, 2):
        as_role("assistant")
        link = slot_link(client.get("/").get_data(as_text=True), "10h15", DOCTOR)
        first = auth.post(link, {"patient_id": str(accepted(app, "Marty"))})
        assert first.status_code == 303
        response = auth.post(link, {"patient_id": str(patient)})
        assert response.status_code == 409
        assert "Ce créneau vient d&#39;être pris" in response.get_data(as_text=True)
    assert len(walk_ins(app)) == 1 and audit_count(app, "appointment.walk_in") == 1


def test_a_walk_in_while_the_patient_is_in_a_visit_is_refused(app, client, as_role, auth, today):
    patient = accepted(app, "Vidal")
    book(app, patient, "nurse", at(today.day, 10), [today.nurse])  # with the nurse until 10h30
    with today.now(10, 2):
        as_role("assistant")
        link = slot_link(client.get("/").get_data(as_text=True), "10h15", DOCTOR)
        response = auth.post(link, {"patient_id": str(patient)})
        assert response.status_code == 422
        assert "est en rendez-vous en ce moment" in response.get_data(as_text=True)
    assert walk_ins(app) == [] and audit_count(app, "appointment.walk_in") == 0


def slot_of(start: datetime, member: int) -> str:
    return f"/bureau/creneau/{start.astimezone(UTC):%Y%m%dT%H%MZ}_{member}"


def test_a_later_slot_cannot_be_recorded_as_a_walk_in(app, client, as_role, auth, today):
    patient = accepted(app, "Vidal")
    with today.now(10, 2):
        as_role("assistant")
        response = auth.post(slot_of(at(today.day, 11, 30), today.doctor), {"patient_id": str(patient)})
        assert response.status_code == 422
        assert "Ce créneau n&#39;a pas encore commencé : réservez-le." in response.get_data(as_text=True)
        unknown = auth.post(slot_of(at(today.day, 10), today.doctor), {"patient_id": "999999"})
        assert unknown.status_code == 404
    assert walk_ins(app) == []


@pytest.mark.parametrize(
    "when, member, status, message",
    [
        ("garbage", "doctor", 400, "Créneau illisible"),
        ((9, 30), "doctor", 422, "Ce créneau est passé."),
        ((10, 30), "unknown", 422, "Ce créneau n&#39;est pas celui d&#39;un soignant de l&#39;équipe."),
        ("tomorrow", "nurse", 422, "Ce créneau n&#39;est pas aujourd&#39;hui"),
        ("2150", "doctor", 400, "Créneau illisible"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_free_slot_is_a_clear_4xx_and_writes_nothing(
    app, client, as_role, auth, today, when, member, status, message, method
):
    ids = {"doctor": today.doctor, "nurse": today.nurse, "unknown": 999999}
    patient = accepted(app, "Vidal")
    if when == "garbage":
        path = "/bureau/creneau/demain_matin"
    elif when == "2150":
        path = f"/bureau/creneau/21500101T0900Z_{today.doctor}"
    else:
        start = at(today.day + timedelta(days=1), 10, 30) if when == "tomorrow" else at(today.day, *when)
        path = slot_of(start, ids[member])
    with today.now(10, 2):
        as_role("assistant")
        if method == "GET":
            response = client.get(path)
        else:
            response = auth.post(path, {"patient_id": str(patient)})
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert walk_ins(app) == []
