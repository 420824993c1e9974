"""Booking through the pages: the slots proposed on the patient page, the pair first visit, the
alternation, cancel / reschedule / honoured, walk-ins, the convocation and its .ics, the agenda.

The team of these tests: a doctor and a nurse on duty tomorrow morning (08:30-12:30, Europe/Paris).
Site defaults: a first visit lasts 60 minutes, a follow-up 30; slots start on quarter hours. The
slot rules themselves (pairing, DST, lengths, alternation) are tested without HTTP in
tests/unit/test_booking_rules.py; who may call which route, in tests/web/test_access.py.
"""

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dalia_site import clock
from dalia_site.domain import booking, referrals
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, AuditEvent, Patient, Shift
from tests.web.test_patients import IDENTITY, INFORMED, REFERRER
from tests.web.test_roster import PARIS, make_member, make_session

DOCTOR, NURSE = "Dr Jeanne Audouy", "Sophie Bonnafous"
TAKEN = "Ce créneau vient d'être pris : choisissez-en un autre dans la liste à jour."
ALTERNATION = (
    "L'alternance propose : consultation infirmière. Indiquez pourquoi vous choisissez un autre type."
)
WHAT_TO_BRING = (
    "Carte Vitale, ordonnances en cours, derniers résultats d'analyses et comptes rendus, carnet de santé."
)
MORNING = (time(8, 30), time(12, 30))


# --- the team, the patients, the clock ----------------------------------------------------------


def tomorrow() -> date:
    return datetime.now(PARIS).date() + timedelta(days=1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


@dataclass(frozen=True)
class Team:
    day: date
    doctor: int
    nurse: int
    doctor_session: int

    @property
    def pair(self) -> str:
        return f"{self.doctor},{self.nurse}"


@pytest.fixture
def team(app) -> Team:
    """A doctor and a nurse, both on duty tomorrow morning."""
    day = tomorrow()
    doctor = make_member(app, DOCTOR)
    nurse = make_member(app, NURSE, profession="infirmier_azalee")
    doctor_session = make_session(app, doctor, day, MORNING)
    make_session(app, nurse, day, MORNING)
    return Team(day, doctor, nurse, doctor_session)


def accepted(app, last_name: str = "Rouquette", **identity) -> int:
    """A patient whose referral was accepted: "follow_up", the only status that can be booked."""
    with app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "direct",
            IDENTITY | {"last_name": last_name, "birth_name": ""} | identity,
            REFERRER,
            "Suivi à organiser.",
            now=clock.now(),
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
        patient = referrals.decide(db.session, None, referral, "accepted", now=clock.now())
        db.session.commit()
        assert patient.status == "follow_up"
        return patient.id


def patient_with_status(app, status: str) -> int:
    with app.app_context():
        patient = Patient(
            **IDENTITY | {"status": status, "informed_on": INFORMED, "last_name": f"Statut-{status}"}
        )
        patient.search_text = referrals.patient_search_text(patient)
        db.session.add(patient)
        db.session.commit()
        return patient.id


def past_appointment(
    app, patient_id: int, member_ids: list[int], kind: str = "first", hours_ago: int = 2
) -> int:
    """An appointment that has started already, stored directly (booking refuses the past)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
    with app.app_context():
        appointment = Appointment(
            patient_id=patient_id,
            kind=kind,
            starts_at=start,
            ends_at=start + timedelta(minutes=60 if kind == "first" else 30),
            status="booked",
        )
        appointment.clinicians = [AppointmentClinician(member_id=m) for m in member_ids]
        db.session.add(appointment)
        db.session.commit()
        return appointment.id


# --- reading the database and the pages ---------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    id: int
    patient_id: int
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    members: tuple[int, ...]
    walk_in: bool
    override_reason: str
    cancel_reason: str


def stored(app) -> list[Booked]:
    with app.app_context():
        rows = db.session.scalars(
            select(Appointment).options(selectinload(Appointment.clinicians)).order_by(Appointment.id)
        ).all()
        return [
            Booked(
                a.id,
                a.patient_id,
                a.kind,
                a.status,
                a.starts_at,
                a.ends_at,
                tuple(c.member_id for c in sorted(a.clinicians, key=lambda c: c.id)),
                a.walk_in,
                a.override_reason,
                a.cancel_reason,
            )
            for a in rows
        ]


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return rows


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def text_of(fragment: str) -> str:
    """What a reader sees of some markup: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def seen(response) -> str:
    return text_of(response.get_data(as_text=True))


def offered(response) -> list[tuple[datetime, str]]:
    """The slot buttons of the picker's week: (start, "doctorId,nurseId" or "memberId")."""
    return [
        (booking.slot_start(start), members)
        for start, members in re.findall(
            r'<button name="creneau" value="([^"_]+)_([^"]+)"', response.get_data(as_text=True)
        )
    ]


def slot_labels(response) -> list[str]:
    """What each slot button of the week reads, after its day: "Lundi 30/11/2026 08h30 — …"."""
    return [
        f"{text_of(day)} {text_of(button)}"
        for day, buttons in re.findall(
            r"<legend>(.*?)</legend>(.*?)</fieldset>", response.get_data(as_text=True), re.S
        )
        for button in re.findall(r'<button name="creneau"[^>]*>(.*?)</button>', buttons, re.S)
    ]


def flashes(client, response) -> str:
    """The messages shown on the page a redirect leads to."""
    assert response.status_code == 303, response.status_code
    page = client.get(response.location)
    match = re.search(r'<div class="flashes" role="status">(.*?)</div>', page.get_data(as_text=True), re.S)
    return text_of(match.group(1)) if match else ""


def book(
    auth,
    patient_id: int,
    start: datetime | str,
    members: str,
    kind: str = "first",
    reason: str = "",
    **kwargs,
):
    return auth.post(
        f"/patients/{patient_id}/rendez-vous",
        {
            "kind": kind,
            "start": start if isinstance(start, str) else start.isoformat(),
            "members": members,
            "override_reason": reason,
        },
        **kwargs,
    )


def slots(client, patient_id: int, kind: str | None = None, htmx: bool = False):
    response = client.get(
        f"/patients/{patient_id}/creneaux",
        query_string={"kind": kind} if kind else {},
        headers={"HX-Request": "true"} if htmx else {},
    )
    assert response.status_code == 200
    return response


def appointment_id(response) -> int:
    assert response.status_code == 303, page_text(response)
    match = re.fullmatch(r"/rendez-vous/(\d+)/convocation", response.location)
    assert match, response.location
    return int(match.group(1))


# --- the slots proposed on the patient page -----------------------------------------------------


def test_a_first_visit_is_proposed_with_the_doctor_and_the_nurse_together(app, client, as_role, team):
    as_role("assistant")
    patient = accepted(app)

    page = client.get(f"/patients/{patient}")
    assert "L'alternance propose : première consultation (médecin et infirmière) ." in seen(page)
    assert "Voir les créneaux libres" in page_text(page)

    response = slots(client, patient)
    proposed = offered(response)
    # Hourly visits in a 08:30-12:30 morning, one per quarter hour: 08:30 ... 11:30 (the week).
    assert [start for start, _ in proposed] == [
        at(team.day, 8, 30) + timedelta(minutes=15 * i) for i in range(13)
    ]
    assert {members for _, members in proposed} == {team.pair}
    assert slot_labels(response)[0].endswith(f"{team.day:%d/%m/%Y} 08h30")
    # Who sees the patient is shown on the confirmation, before anything is booked.
    confirmation = client.get(
        f"/patients/{patient}/rendez-vous/confirmer",
        query_string={"kind": "first", "creneau": f"{proposed[0][0].isoformat()}_{team.pair}"},
    )
    assert f"{DOCTOR} (Médecin) et {NURSE}" in seen(confirmation)
    assert "<html" in response.get_data(as_text=True)  # a plain GET gets the whole page


def test_the_slot_list_for_htmx_is_only_the_slots_block(app, client, as_role, team):
    as_role("assistant")
    patient = accepted(app)

    response = slots(client, patient, kind="first", htmx=True)

    body = response.get_data(as_text=True)
    assert "<html" not in body and "<h1" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert "Prendre un rendez-vous" not in page_text(response)  # the week alone, not the choices
    assert "13 créneaux libres" in page_text(response)
    assert len(offered(response)) == 13


def test_no_first_visit_is_proposed_when_only_a_doctor_works(app, client, as_role):
    as_role("assistant")
    doctor = make_member(app, DOCTOR)
    make_session(app, doctor, tomorrow(), MORNING)
    patient = accepted(app)

    first = slots(client, patient, kind="first", htmx=True)
    assert offered(first) == []
    assert "Aucun créneau libre cette semaine avec ces choix" in page_text(first)
    # The doctor alone can still see a patient for a follow-up.
    follow_up = slots(client, patient, kind="doctor", htmx=True)
    assert offered(follow_up)[0] == (at(tomorrow(), 8, 30), str(doctor))


@pytest.mark.parametrize("status", ["referred", "waiting_list"])
def test_only_accepted_patients_can_be_booked(app, auth, as_role, team, status):
    as_role("assistant")
    patient = patient_with_status(app, status)

    response = book(auth, patient, at(team.day, 8, 30), team.pair)

    assert response.status_code == 422
    assert stored(app) == []
    assert events(app, "appointment.book") == []
    # The page sent back says why (the patient's page without its booking block, which only
    # accepted patients have, must still carry the message).
    assert "Seuls les patients acceptés (en suivi) peuvent avoir un rendez-vous." in seen(response), (
        "the 422 page does not say why the booking was refused"
    )


# --- booking ------------------------------------------------------------------------------------


def test_booking_a_first_visit_leads_to_its_convocation(app, client, auth, as_role, team):
    user = as_role("assistant")
    patient = accepted(app)
    start, members = offered(slots(client, patient))[0]

    response = book(auth, patient, start, members)

    new_id = appointment_id(response)
    [appointment] = stored(app)
    assert appointment.id == new_id
    assert (appointment.patient_id, appointment.kind, appointment.status) == (patient, "first", "booked")
    assert appointment.members == (team.doctor, team.nurse)
    assert (appointment.starts_at, appointment.ends_at) == (at(team.day, 8, 30), at(team.day, 9, 30))
    assert appointment.override_reason == ""
    [event] = events(app, "appointment.book")
    assert (event.actor_id, event.object_type, event.object_id) == (user.id, "patient", str(patient))
    assert event.summary == (
        f"Rendez-vous n° {new_id} (première consultation (médecin et "
        f"infirmière)) le {team.day:%d/%m/%Y} à 08h30 avec {DOCTOR}, {NURSE}"
    )
    convocation = client.get(response.location)
    assert "Rendez-vous confirmé." in page_text(convocation)

    # The patient page lists it among the upcoming appointments.
    upcoming = page_text(client.get(f"/patients/{patient}"))
    assert re.search(rf"{team.day:%d/%m/%Y} à 08h30\s*</td>\s*<td>Première consultation", upcoming)


def test_after_the_first_visit_a_nurse_is_proposed_and_leaving_the_alternation_needs_a_reason(
    app, client, auth, as_role, team
):
    as_role("assistant")
    patient = accepted(app)
    appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))

    response = slots(client, patient)
    assert "L'alternance propose : consultation infirmière ." in seen(response)
    assert re.search(
        r'<option value="nurse" selected>Consultation infirmière \(proposé\)</option>', page_text(response)
    )
    # The nurse alone, after the first visit that holds her and the patient until 09:30.
    assert offered(response)[0] == (at(team.day, 9, 30), str(team.nurse))
    assert {members for _, members in offered(response)} == {str(team.nurse)}

    # A doctor follow-up instead: refused without a reason, nothing stored.
    refused = book(auth, patient, at(team.day, 10), str(team.doctor), kind="doctor")
    assert refused.status_code == 422
    assert ALTERNATION in page_text(refused)
    assert len(stored(app)) == 1

    # With a reason, booked and the reason kept.
    allowed = book(
        auth,
        patient,
        at(team.day, 10),
        str(team.doctor),
        kind="doctor",
        reason="  Résultats   d'analyses à revoir ",
    )
    new_id = appointment_id(allowed)
    [_, doctor_visit] = stored(app)
    assert (doctor_visit.id, doctor_visit.kind, doctor_visit.members) == (new_id, "doctor", (team.doctor,))
    assert doctor_visit.override_reason == "Résultats d'analyses à revoir"
    assert events(app, "appointment.book")[-1].summary.endswith(
        "— hors alternance : Résultats d'analyses à revoir"
    )


def test_a_slot_taken_meanwhile_is_refused_with_a_fresh_list(app, client, auth, as_role, team):
    as_role("assistant")
    first, second = accepted(app, "Rouquette"), accepted(app, "Cazals")
    start, members = offered(slots(client, second))[0]  # the page the second booking comes from
    appointment_id(book(auth, first, start, members))

    response = book(auth, second, start, members)

    assert response.status_code == 409
    assert TAKEN in page_text(response)
    fresh = offered(response)
    assert fresh and fresh[0] == (at(team.day, 9, 30), team.pair)
    assert [a.patient_id for a in stored(app)] == [first]


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1)])
def test_at_ten_oclock_the_picker_offers_what_its_confirmation_accepts(app, client, as_role, team, after):
    """With the clock at 10:00:00 (or a second later) the 10:00 slot has begun: the picker does not
    offer it (it used to, and its confirmation then answered 422), its first slot is 10:15."""
    with clock.clock_at(at(team.day, 10) + after):
        as_role("assistant")
        patient = accepted(app)
        proposed = offered(slots(client, patient, kind="first"))
        confirm = f"/patients/{patient}/rendez-vous/confirmer"
        first = client.get(
            confirm, query_string={"kind": "first", "creneau": f"{proposed[0][0].isoformat()}_{team.pair}"}
        )
        begun = client.get(
            confirm, query_string={"kind": "first", "creneau": f"{at(team.day, 10).isoformat()}_{team.pair}"}
        )

    assert proposed[0] == (at(team.day, 10, 15), team.pair)
    assert first.status_code == 200
    assert f"{DOCTOR} (Médecin) et {NURSE}" in seen(first)
    assert begun.status_code == 422
    assert "Ce créneau est passé." in page_text(begun)


def test_a_patient_cannot_be_booked_twice_at_the_same_time(app, client, auth, as_role, team):
    """Even with another clinician who is free then."""
    as_role("assistant")
    other_doctor = make_member(app, "Dr Paul Vidal")
    make_session(app, other_doctor, team.day, MORNING)
    patient = accepted(app)
    appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))

    # The list does not offer Dr Vidal while the patient is in the first visit...
    offers = offered(slots(client, patient, kind="doctor"))
    assert offers[0] == (at(team.day, 9, 30), str(team.doctor))
    # ...and a forged request for it is refused.
    response = book(auth, patient, at(team.day, 9), str(other_doctor), kind="doctor", reason="urgence")

    assert response.status_code == 422
    assert "Le patient a déjà un rendez-vous sur ce créneau." in page_text(response)
    assert len(stored(app)) == 1


# --- cancel, reschedule, honoured ---------------------------------------------------------------


def test_a_cancellation_needs_a_reason_and_frees_the_slot(app, client, auth, as_role, team):
    user = as_role("assistant")
    patient, other = accepted(app, "Rouquette"), accepted(app, "Cazals")
    new_id = appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))
    assert offered(slots(client, other))[0][0] == at(team.day, 9, 30)

    refused = auth.post(f"/rendez-vous/{new_id}/annuler", {"reason": "   "})
    assert flashes(client, refused) == "Indiquez le motif de l'annulation."
    assert stored(app)[0].status == "booked"

    response = auth.post(f"/rendez-vous/{new_id}/annuler", {"reason": "Hospitalisée"})
    assert response.location == f"/patients/{patient}"
    assert flashes(client, response) == "Rendez-vous annulé."
    [appointment] = stored(app)
    assert (appointment.status, appointment.cancel_reason) == ("cancelled", "Hospitalisée")
    [event] = events(app, "appointment.cancel")
    assert (event.actor_id, event.summary) == (user.id, f"Rendez-vous n° {new_id} annulé : Hospitalisée")
    assert offered(slots(client, other))[0] == (at(team.day, 8, 30), team.pair)
    # Cancelled, it does not count: the patient's next proposal is a first visit again.
    assert "L'alternance propose : première consultation" in seen(slots(client, patient))


def test_a_rescheduled_appointment_moves_to_the_new_slot(app, client, auth, as_role, team):
    as_role("assistant")
    patient = accepted(app)
    old = appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))

    page = client.get(f"/rendez-vous/{old}/reporter")
    assert f"Reporter le rendez-vous du {team.day:%d/%m/%Y} à 08h30" in page_text(page)
    # Its own time is not offered, but a quarter of an hour later is (the visit may overlap itself)
    assert offered(page)[0] == (at(team.day, 8, 45), team.pair)
    assert f'action="/rendez-vous/{old}/reporter"' in page.get_data(as_text=True)

    response = auth.post(
        f"/rendez-vous/{old}/reporter", {"start": at(team.day, 10, 30).isoformat(), "members": team.pair}
    )

    new = appointment_id(response)
    before, after = stored(app)
    assert (before.id, before.status, before.cancel_reason) == (old, "cancelled", "Reporté")
    assert (after.id, after.status, after.kind, after.starts_at, after.members) == (
        new,
        "booked",
        "first",
        at(team.day, 10, 30),
        (team.doctor, team.nurse),
    )


def test_rescheduling_to_a_taken_slot_keeps_the_old_appointment(app, client, auth, as_role, team):
    as_role("assistant")
    patient, other = accepted(app, "Rouquette"), accepted(app, "Cazals")
    old = appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))
    appointment_id(book(auth, other, at(team.day, 10, 30), team.pair))

    response = auth.post(
        f"/rendez-vous/{old}/reporter", {"start": at(team.day, 10, 30).isoformat(), "members": team.pair}
    )

    assert response.status_code == 409
    assert TAKEN in page_text(response)
    assert f"Reporter le rendez-vous du {team.day:%d/%m/%Y} à 08h30" in page_text(response)
    assert at(team.day, 10, 30) not in [start for start, _ in offered(response)]
    assert [(a.id, a.status) for a in stored(app) if a.patient_id == patient] == [(old, "booked")]
    assert len(stored(app)) == 2


def test_honoured_or_no_show_only_once_the_appointment_has_started(app, client, auth, as_role, team):
    as_role("clinician")
    patient = accepted(app)
    with app.app_context():
        future = Appointment(
            patient_id=patient,
            kind="first",
            starts_at=at(team.day, 8, 30),
            ends_at=at(team.day, 9, 30),
            status="booked",
        )
        future.clinicians = [
            AppointmentClinician(member_id=team.doctor),
            AppointmentClinician(member_id=team.nurse),
        ]
        db.session.add(future)
        db.session.commit()
        future_id = future.id
    past_id = past_appointment(app, patient, [team.doctor, team.nurse], hours_ago=30)

    refused = auth.post(f"/rendez-vous/{future_id}/statut", {"status": "honoured"})
    assert flashes(client, refused) == "Ce rendez-vous n'a pas encore eu lieu."

    honoured = auth.post(f"/rendez-vous/{past_id}/statut", {"status": "honoured"})
    assert honoured.location == f"/patients/{patient}"
    assert flashes(client, honoured) == "Rendez-vous : honoré."
    no_show = auth.post(f"/rendez-vous/{past_id}/statut", {"status": "no_show", "retour": "agenda"})
    assert no_show.location.startswith("/agenda?jour=")
    statuses = {a.id: a.status for a in stored(app)}
    assert statuses == {future_id: "booked", past_id: "no_show"}
    assert [e.summary for e in events(app, "appointment.mark")] == [
        f"Rendez-vous n° {past_id} : honoré",
        f"Rendez-vous n° {past_id} : non venu",
    ]


def test_a_walk_in_is_recorded_as_an_honoured_consultation(app, client, auth, as_role, team):
    user = as_role("clinician")
    patient = accepted(app)

    response = auth.post(
        f"/patients/{patient}/sans-rendez-vous", {"kind": "doctor", "member_id": str(team.doctor)}
    )

    assert flashes(client, response) == "Consultation sans rendez-vous enregistrée."
    [walk_in] = stored(app)
    assert (walk_in.kind, walk_in.status, walk_in.walk_in, walk_in.members) == (
        "doctor",
        "honoured",
        True,
        (team.doctor,),
    )
    assert walk_in.starts_at <= datetime.now(UTC) < walk_in.ends_at
    [event] = events(app, "appointment.walk_in")
    assert event.actor_id == user.id and DOCTOR in event.summary
    history = page_text(client.get(f"/patients/{patient}"))
    assert "Consultation médecin (sans rendez-vous) avec " + DOCTOR + " : honoré" in history


def test_a_walk_in_doctor_consultation_with_a_nurse_is_refused(app, client, auth, as_role, team):
    as_role("assistant")
    patient = accepted(app)

    response = auth.post(
        f"/patients/{patient}/sans-rendez-vous", {"kind": "doctor", "member_id": str(team.nurse)}
    )

    assert flashes(client, response) == (
        "Choisissez un médecin pour une consultation médecin, "
        "une infirmière pour une consultation infirmière."
    )
    assert stored(app) == []
    assert events(app, "appointment.walk_in") == []


# --- convocation, .ics, audit -------------------------------------------------------------------


@pytest.fixture
def first_visit(app, auth, as_role, team):
    """An assistant logged in who has booked an accepted patient's first visit at 08:30:
    (user, patient id, appointment id)."""
    user = as_role("assistant")
    patient = accepted(app)
    return user, patient, appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))


def test_the_convocation_says_when_where_with_whom_and_what_to_bring(client, team, first_visit):
    _, _, new_id = first_visit

    response = client.get(f"/rendez-vous/{new_id}/convocation")

    assert response.status_code == 200
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page_text(response), re.S))
    weekday = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")[team.day.weekday()]
    assert facts["Date"] == f"{weekday} {team.day:%d/%m/%Y}"
    assert facts["Heure"] == "08h30 (durée prévue : 60 minutes)"
    assert text_of(facts["Avec"]) == f"{DOCTOR} (médecin), {NURSE} (infirmière Azalée)"
    assert facts["À apporter"] == WHAT_TO_BRING
    assert facts["Lieu"] == "DALIA Bassin Carcassonnais"
    assert "ROUQUETTE Odile Marie" in page_text(response)
    # The links to the file and to the .ics are not printed; the stylesheet says so.
    assert re.search(r'<p class="no-print">.*convocation\.ics', response.get_data(as_text=True))
    css = client.get("/static/dalia.css").get_data(as_text=True)
    print_rules = re.search(r"@media print \{(.*?)\n\}", css, re.S)
    assert print_rules and re.search(r"\.no-print[^{]*\{ display: none; \}", print_rules.group(1))


def test_the_ics_opens_in_a_calendar_at_paris_local_time(client, team, first_visit):
    _, _, new_id = first_visit

    response = client.get(f"/rendez-vous/{new_id}/convocation.ics")

    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"] == (f'attachment; filename="rendez-vous-{new_id}.ics"')
    calendar = icalendar.Calendar.from_ical(response.data)
    [event] = calendar.walk("VEVENT")
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert event["DTSTART"].dt == at(team.day, 8, 30)
    assert event["DTSTART"].dt.utcoffset() == at(team.day, 8, 30).utcoffset()
    assert event["DTEND"].dt == at(team.day, 9, 30)
    assert f"DTSTART;TZID=Europe/Paris:{team.day:%Y%m%d}T083000" in response.get_data(as_text=True)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert str(event["SUMMARY"]) == "Rendez-vous DALIA Bassin Carcassonnais"
    assert DOCTOR in str(event["DESCRIPTION"]) and NURSE in str(event["DESCRIPTION"])
    assert str(event["UID"]) == f"rdv-{new_id}@dalia.invalid"


def test_every_convocation_and_agenda_view_is_audited(app, client, auth, team, first_visit):
    """A convocation names one patient: a patient.view event. The agenda lists several: one
    patient.list_view event per page, naming the patients' numbers only."""
    user, patient, new_id = first_visit
    other = accepted(app, "Cazals", first_names="Anne")
    appointment_id(book(auth, other, at(team.day, 10, 30), team.pair))
    monday = team.day - timedelta(days=team.day.weekday())

    for path in (f"/rendez-vous/{new_id}/convocation", f"/rendez-vous/{new_id}/convocation.ics"):
        assert client.get(path).status_code == 200
    views = [(e.actor_id, e.object_id, e.summary) for e in events(app, "patient.view")]
    assert views == [
        (user.id, str(patient), "Consultation : convocation"),
        (user.id, str(patient), "Consultation : convocation (.ics)"),
    ]

    numbers = ", ".join(map(str, sorted([patient, other])))
    client.get(f"/agenda?jour={team.day}")
    client.get(f"/agenda/semaine?jour={team.day}")
    client.get(f"/agenda?jour={team.day}", headers={"HX-Request": "true"})
    client.get(f"/agenda?jour={team.day + timedelta(days=1)}")  # nobody's name: nothing to trace
    # (The home page is today's desk, traced as « accueil du … » whenever a form fetches its token.)
    lists = [
        (e.actor_id, e.object_type, e.summary)
        for e in events(app, "patient.list_view")
        if e.summary.startswith("agenda")
    ]
    assert lists == [
        (user.id, "patient", f"{what} : patients n° {numbers}")
        for what in (
            f"agenda du {team.day:%d/%m/%Y}",
            f"agenda de la semaine du {monday:%d/%m/%Y}",
            f"agenda du {team.day:%d/%m/%Y}",
        )
    ]
    assert "ROUQUETTE" not in " ".join(summary for _, _, summary in lists)
    assert len(events(app, "patient.view")) == 2


# --- the agenda ---------------------------------------------------------------------------------


def agenda_columns(response) -> dict[str, str]:
    """{column heading: what the column reads} of the day agenda."""
    return {
        text_of(heading): text_of(body)
        for heading, body in re.findall(
            r'<section class="agenda-column"[^>]*>\s*<h3[^>]*>(.*?)</h3>(.*?)</section>',
            response.get_data(as_text=True),
            re.S,
        )
    }


def test_the_day_agenda_has_a_column_per_clinician_on_duty(app, client, team, first_visit):
    _, patient, _ = first_visit
    second_nurse = make_member(app, "Inès Barthe", profession="ipa")
    make_session(app, second_nurse, team.day, (time(13, 30), time(17, 30)))
    assistant = make_member(app, "Lucie Fabre", profession="assistant_medical")
    make_session(app, assistant, team.day, MORNING)
    make_member(app, "Dr Paul Vidal")  # not on duty that day

    response = client.get("/agenda", query_string={"jour": team.day.isoformat()})

    assert response.status_code == 200
    columns = agenda_columns(response)
    # Doctors first, then nurses by name; the medical assistant and the doctor off duty: none.
    assert list(columns) == [
        f"{DOCTOR} Médecin",
        "Inès Barthe Infirmière en pratique avancée (IPA)",
        f"{NURSE} Infirmière Azalée",
    ]
    visit = "08h30–09h30 ROUQUETTE Odile Marie Première consultation (médecin et infirmière) — prévu"
    assert columns[f"{DOCTOR} Médecin"] == f"Vacation : 08h30–12h30 {visit}"
    assert columns[f"{NURSE} Infirmière Azalée"] == f"Vacation : 08h30–12h30 {visit}"
    assert columns["Inès Barthe Infirmière en pratique avancée (IPA)"] == (
        "Vacation : 13h30–17h30 Aucun rendez-vous."
    )
    assert f'href="/patients/{patient}"' in response.get_data(as_text=True)


def test_the_next_day_of_the_agenda_comes_as_a_fragment_for_htmx(client, team, first_visit):
    page = client.get("/agenda", query_string={"jour": team.day.isoformat()})
    following = team.day + timedelta(days=1)
    link = re.search(
        r'<a href="([^"]+)" hx-get="([^"]+)" hx-target="#agenda" hx-push-url="true" '
        r'rel="next">Jour suivant →</a>',
        page.get_data(as_text=True),
    )
    assert link and link.group(1) == link.group(2) == f"/agenda?jour={following}"

    response = client.get(link.group(2), headers={"HX-Request": "true"})

    body = page_text(response)
    assert response.status_code == 200
    assert "<html" not in body and "<h1>" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert f"{following:%d/%m/%Y}</h2>" in body
    assert "Aucun soignant n'est de vacation ce jour-là." in body
    assert f'hx-get="/agenda?jour={team.day}"' in body  # and back


def test_the_week_agenda_lists_appointments_day_by_day(app, client, auth, team, first_visit):
    _, _, new_id = first_visit
    monday = team.day - timedelta(days=team.day.weekday())
    other = accepted(app, "Cazals", first_names="Anne")
    cancelled = appointment_id(book(auth, other, at(team.day, 10, 30), team.pair))
    auth.post(f"/rendez-vous/{cancelled}/annuler", {"reason": "Empêchée"})

    response = client.get("/agenda/semaine", query_string={"jour": team.day.isoformat()})

    assert response.status_code == 200
    days = {
        text_of(h): text_of(body)
        for h, body in re.findall(
            r'<section aria-labelledby="jour-[^"]+">\s*<h3[^>]*>(.*?)</h3>(.*?)</section>',
            response.get_data(as_text=True),
            re.S,
        )
    }
    assert len(days) == 7
    names = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")
    for offset, name in enumerate(names):
        day = monday + timedelta(days=offset)
        heading = f"{name} {day:%d/%m/%Y} ({1 if day == team.day else 0} rendez-vous)"
        assert heading in days, (heading, list(days))
        if day == team.day:
            assert days[heading] == (
                f"08h30 ROUQUETTE Odile Marie — première consultation "
                f"(médecin et infirmière) avec {DOCTOR} et {NURSE} (prévu)"
            )
        else:
            assert days[heading] == ""
    assert "CAZALS" not in page_text(response)  # cancelled: not on the agenda


def test_a_session_with_a_booked_appointment_cannot_be_withdrawn(app, client, auth, team, first_visit):
    _, _, new_id = first_visit
    path = f"/equipe/{team.doctor}/vacations/{team.doctor_session}/retirer"

    refused = auth.post(path)

    assert refused.location == f"/equipe/{team.doctor}"
    assert flashes(client, refused) == (
        f"Des rendez-vous sont pris sur cette vacation ; déplacez-les d'abord : n° {new_id} à 08h30"
    )
    with app.app_context():
        assert db.session.get(Shift, team.doctor_session) is not None

    auth.post(f"/rendez-vous/{new_id}/annuler", {"reason": "Vacation annulée"})
    assert flashes(client, auth.post(path)) == "Vacation retirée."
    with app.app_context():
        assert db.session.get(Shift, team.doctor_session) is None


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "members", "kind", "status", "message"),
    [
        ("not-a-date", "PAIR", "first", 400, None),
        ("NAIVE", "PAIR", "first", 400, None),
        ("START", "x", "first", 400, None),
        ("START", "", "first", 400, None),
        ("START", "PAIR,NURSE", "first", 400, None),
        ("START", "PAIR", "surprise", 400, None),
        ("PAST", "PAIR", "first", 422, "Ce créneau est passé."),
        ("START", "DOCTOR", "first", 422, "Ce créneau ne correspond pas au type de rendez-vous."),
        ("START", "DOCTOR,DOCTOR", "first", 422, "Ce créneau ne correspond pas au type de rendez-vous."),
        ("START", "NURSE", "doctor", 422, "Ce créneau ne correspond pas au type de rendez-vous."),
    ],
    ids=[
        "not-a-date",
        "naive-datetime",
        "members-x",
        "no-members",
        "three-members",
        "unknown-kind",
        "past",
        "first-without-nurse",
        "same-doctor-twice",
        "doctor-kind-nurse",
    ],
)
def test_bad_booking_input_is_refused_and_stores_nothing(
    app, client, auth, as_role, team, start, members, kind, status, message
):
    as_role("assistant")
    patient = accepted(app)
    values = {
        "START": at(team.day, 8, 30).isoformat(),
        "NAIVE": at(team.day, 8, 30).replace(tzinfo=None).isoformat(),
        "PAST": at(team.day - timedelta(days=2), 8, 30).isoformat(),
    }
    members = (
        members.replace("PAIR", team.pair)
        .replace("DOCTOR", str(team.doctor))
        .replace("NURSE", str(team.nurse))
    )
    reason = "hors alternance" if kind == "doctor" else ""

    response = book(auth, patient, values.get(start, start), members, kind=kind, reason=reason)

    assert response.status_code == status
    if message:
        assert message in page_text(response)
    assert stored(app) == []
    assert events(app, "appointment.book") == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AppointmentClinician)) == 0
