"""Worklists and the médecin traitant pathway on a real database, without HTTP: who is overdue
across cadences, the freed slot offered to the waiting list, the no-show flag, contact attempts,
the pathway's states, refusal reasons."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dalia_site.domain import booking, follow_up, partners, referrals, worklists
from dalia_site.domain.text import FieldError, FieldErrors
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, Patient, SlotOffer
from dalia_site.models.vocabulary import PatientStatus

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
IDENTITY = {
    "first_names": "Martine",
    "birth_date": date(1950, 1, 1),
    "sex": "F",
    "postcode": "11000",
    "ald": "yes",
    "gp_status": "none",
    "phone": "0611223344",
}


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def referred(session, last_name: str, decision: str = "accepted", when: datetime = NOW - timedelta(days=400)):
    referral = referrals.receive(
        session,
        None,
        "direct",
        IDENTITY | {"last_name": last_name},
        {},
        "Suivi à organiser.",
        now=when,
        today=when.date(),
    )
    patient = referrals.decide(session, None, referral, decision, now=when)
    patient.created_at = when
    session.flush()
    return patient


def member(session, name: str, profession: str = "medecin"):
    from dalia_site.domain import roster

    return roster.save_member(
        session,
        None,
        None,
        {
            "name": name,
            "profession": profession,
            "team": "flexible",
            "doctor_status": "retraite" if profession == "medecin" else None,
        },
        None,
    )


def visit(session, patient, doctor, start: datetime, status: str = "honoured", kind: str = "doctor"):
    appointment = Appointment(
        patient_id=patient.id,
        kind=kind,
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        status=status,
        created_at=start - timedelta(days=10),
    )
    appointment.clinicians = [AppointmentClinician(member_id=doctor.id)]
    session.add(appointment)
    session.flush()
    return appointment


def plan(session, patient, weeks: int):
    follow_up.save_plan(session, None, patient, {"cadence_weeks": str(weeks), "preferred_nurse": "ipa"})


def test_overdue_is_counted_from_the_last_visit_and_the_plan_s_cadence(session):
    """Four weeks' cadence seen 5 weeks ago is more overdue than 12 weeks seen 12½ weeks ago;
    without a plan, 8 weeks; a patient never seen is due from their acceptance; a patient with
    a visit to come is on no list."""
    doctor = member(session, "Dr Audouy")
    monthly, quarterly, no_plan, never, booked = (
        referred(session, name) for name in ("Mensuel", "Trimestriel", "Sansplan", "Jamaisvu", "Reserve")
    )
    plan(session, monthly, 4)
    plan(session, quarterly, 12)
    visit(session, monthly, doctor, NOW - timedelta(weeks=5))
    visit(session, quarterly, doctor, NOW - timedelta(weeks=12, days=3))
    visit(session, no_plan, doctor, NOW - timedelta(weeks=7))
    never.created_at = NOW - timedelta(days=20)
    visit(session, booked, doctor, NOW - timedelta(weeks=30))
    visit(session, booked, doctor, NOW + timedelta(days=3), status="booked")

    listed = worklists.recall(session, now=NOW)
    order = [(row.patient.last_name, row.overdue_days) for row in listed.rows]
    assert order == [("Jamaisvu", 20), ("Mensuel", 7), ("Trimestriel", 3), ("Sansplan", -7)]
    assert listed.total == 4
    overdue = worklists.recall(session, now=NOW, overdue_only=True)
    assert [row.patient.last_name for row in overdue.rows] == ["Jamaisvu", "Mensuel", "Trimestriel"]
    assert worklists.overdue_count(session, at=NOW) == 3
    # Four weeks earlier (a period's end): only the patient booked since (10 days ago) was
    # overdue then; the others were not due yet, and the one never seen not yet accepted.
    assert worklists.overdue_count(session, at=NOW - timedelta(weeks=4)) == 1


def test_the_count_in_the_navigation_is_the_list_s_overdue_rows_at_every_boundary(session):
    """The count (navigation, report) reads only the last year's visits: it still says exactly
    how many rows « en retard » shows — due this very minute or a minute later, the longest
    cadence (52 weeks) seen a year ago, a visit of two years ago that a later one replaced, a
    patient seen since a cancelled or missed visit, one who missed their last visit."""
    doctor = member(session, "Dr Boundary")
    names = ("Pile", "Minute", "Annuel", "Anneeplus", "Remplace", "Manque", "Annule")
    due_now, minute, yearly, year_plus, replaced, missed, cancelled = (referred(session, n) for n in names)
    for patient, weeks in ((due_now, 6), (minute, 6), (yearly, 52), (year_plus, 52), (replaced, 2)):
        plan(session, patient, weeks)
    visit(session, due_now, doctor, NOW - timedelta(weeks=6))  # due at NOW exactly: overdue
    visit(session, minute, doctor, NOW - timedelta(weeks=6) + timedelta(minutes=1))  # due in a minute
    visit(session, yearly, doctor, NOW - timedelta(weeks=52) + timedelta(hours=1))  # due in an hour
    visit(session, year_plus, doctor, NOW - timedelta(weeks=52, hours=1))  # overdue by an hour
    visit(session, replaced, doctor, NOW - timedelta(weeks=104))
    visit(session, replaced, doctor, NOW - timedelta(days=3))  # not due: seen 3 days ago
    visit(session, missed, doctor, NOW - timedelta(weeks=9))
    visit(session, missed, doctor, NOW - timedelta(weeks=1), status="no_show")  # still due from 9 weeks ago
    visit(session, cancelled, doctor, NOW - timedelta(weeks=2))
    visit(session, cancelled, doctor, NOW + timedelta(days=2), status="cancelled")  # nothing to come

    overdue = [row.patient.last_name for row in worklists.recall(session, now=NOW, overdue_only=True).rows]
    assert sorted(overdue) == sorted(["Pile", "Anneeplus", "Manque"])
    assert worklists.overdue_count(session, at=NOW) == 3
    assert worklists.counts(session, now=NOW).recall == 3
    # The list and the navigation read the stored next step; the report's count works it out
    # from the visits: the three agree at every moment from now on.
    for moment in (NOW, NOW + timedelta(minutes=1), NOW + timedelta(weeks=3), NOW + timedelta(weeks=60)):
        shown = worklists.recall(session, now=moment, overdue_only=True).total
        assert worklists.overdue_count(session, at=moment) == shown
        assert worklists.counts(session, now=moment).recall == shown


def test_a_contact_attempt_shows_on_the_list_and_ne_souhaite_plus_venir_ends_the_follow_up(app, make_user):
    assistant = make_user("assistant", name="Claire Assistante")
    with app.app_context():
        session = db.session
        _contact_attempts(session, assistant)


def _contact_attempts(session, assistant):
    doctor = member(session, "Dr Audouy")
    patient = referred(session, "Appelee")
    visit(session, patient, doctor, NOW - timedelta(weeks=10))
    follow_up.record_contact(session, session.merge(assistant), patient, "message", now=NOW)
    row = worklists.recall(session, now=NOW).rows[0]
    assert (row.outcome_label, row.attempted_at, row.attempted_by) == (
        "Message laissé",
        NOW,
        "Claire Assistante",
    )
    with pytest.raises(FieldError, match="résultat de l'appel"):
        follow_up.record_contact(session, None, patient, "sms", now=NOW)
    follow_up.record_contact(session, None, patient, "stops", now=NOW + timedelta(hours=1))
    assert patient.status == PatientStatus.DISCHARGED
    assert worklists.recall(session, now=NOW).total == 0
    with pytest.raises(FieldError, match="plus suivi"):
        follow_up.record_contact(session, None, patient, "reached", now=NOW)


def test_the_plan_is_validated_and_azalee_protocols_go_with_the_azalee_nurse(session):
    patient = referred(session, "Plan")
    with pytest.raises(FieldErrors) as error:
        follow_up.save_plan(
            session, None, patient, {"cadence_weeks": "0", "preferred_nurse": "x", "azalee_protocols": ["?"]}
        )
    assert set(error.value.errors) == {"cadence_weeks", "preferred_nurse", "azalee_protocols"}
    with pytest.raises(FieldErrors, match="infirmière Azalée"):
        follow_up.save_plan(
            session,
            None,
            patient,
            {"cadence_weeks": "6", "preferred_nurse": "ipa", "azalee_protocols": ["copd"]},
        )
    assert follow_up.save_plan(
        session,
        None,
        patient,
        {
            "cadence_weeks": "6",
            "preferred_nurse": "azalee",
            "azalee_protocols": ["smoking", "diabetes"],
            "etp": True,
        },
    )
    saved = follow_up.plan_of(session, patient.id)
    assert (saved.cadence_weeks, saved.azalee_protocols, saved.etp) == (6, "diabetes,smoking", True)
    assert not follow_up.save_plan(
        session,
        None,
        patient,
        {
            "cadence_weeks": "6",
            "preferred_nurse": "azalee",
            "azalee_protocols": ["diabetes", "smoking"],
            "etp": True,
        },
    )


def test_a_cancelled_visit_s_slot_is_offered_to_the_waiting_list_until_booked_again(session):
    doctor = member(session, "Dr Audouy")
    nurse = member(session, "Inès IDE", "infirmier_azalee")
    first_waiting = referred(session, "Attend", "waiting_list", NOW - timedelta(days=30))
    referred(session, "Attendaussi", "waiting_list", NOW - timedelta(days=3))
    patient = referred(session, "Annule")
    start = NOW + timedelta(days=2)
    first = Appointment(
        patient_id=patient.id,
        kind="first",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        status="booked",
    )
    first.clinicians = [AppointmentClinician(member_id=nurse.id), AppointmentClinician(member_id=doctor.id)]
    session.add(first)
    session.flush()
    booking.cancel(session, None, first, "Empêchement")
    offer = session.scalar(select(SlotOffer))
    assert (offer.kind, offer.starts_at, offer.lead_member_id) == ("first", start, doctor.id)
    assert offer.member_ids == f"{doctor.id},{nurse.id}"  # the doctor first, as the picker sends it
    free = [
        booking.Slot(start + timedelta(days=1), start + timedelta(days=1, hours=1), (doctor.id, nurse.id))
    ]

    def offered(now):
        return [
            (row.patient.id, row.offer, row.slot)
            for row in worklists.waiting(session, now=now, zone=PARIS, free=free).rows
        ]

    # The freed slot goes to who waited longest; the free slot of the planning to the next.
    assert offered(NOW)[0] == (first_waiting.id, offer, None)
    assert offered(NOW)[1][1:] == (None, free[0])
    assert offered(start)[0] == (first_waiting.id, None, free[0])  # past: no longer offered
    assert worklists.offer_choice(offer).endswith(f"_{doctor.id},{nurse.id}")
    other = referred(session, "Autre")
    visit(session, other, doctor, start + timedelta(minutes=15), status="booked")
    assert offered(NOW)[0][1] is None  # the doctor is booked over it again
    worklists.dismiss_offer(session, None, offer.id)
    with pytest.raises(FieldError, match="plus proposé"):
        worklists.dismiss_offer(session, None, offer.id)


def test_the_waiting_list_is_oldest_first_and_the_earliest_slot_goes_to_who_waited_longest(session):
    late = referred(session, "Recente", "waiting_list", NOW - timedelta(days=3))
    early = referred(session, "Ancienne", "waiting_list", NOW - timedelta(days=40))
    slots = [
        booking.Slot(NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1), (1, 2)),
        booking.Slot(NOW + timedelta(days=2), NOW + timedelta(days=2, hours=1), (1, 2)),
    ]
    listed = worklists.waiting(session, now=NOW, zone=PARIS, free=slots)
    assert [(r.patient.id, r.days, r.offer, r.slot) for r in listed.rows] == [
        (early.id, 40, None, slots[0]),
        (late.id, 3, None, slots[1]),
    ]
    worklists.accept_from_waiting_list(session, None, early, now=NOW)
    assert early.status == PatientStatus.FOLLOW_UP
    assert worklists.waiting(session, now=NOW, zone=PARIS).total == 1
    with pytest.raises(FieldError, match="plus sur la liste"):
        worklists.accept_from_waiting_list(session, None, early, now=NOW)


def test_no_shows_not_called_back_and_the_flag_after_n(session):
    doctor = member(session, "Dr Audouy")
    patient = referred(session, "Absent")
    for weeks in (10, 6, 1):
        visit(session, patient, doctor, NOW - timedelta(weeks=weeks), status="no_show")
    listed = worklists.no_shows(session, now=NOW, weeks=4, flag_after=3)
    assert [(r.patient.id, r.missed, r.flagged) for r in listed.rows] == [(patient.id, 3, True)]
    assert worklists.no_shows(session, now=NOW, weeks=4, flag_after=4).rows[0].flagged is False
    assert worklists.counts(session, now=NOW).no_shows == 1
    follow_up.record_contact(session, None, patient, "unreachable", now=NOW)
    assert worklists.no_shows(session, now=NOW, weeks=8, flag_after=3).total == 0
    assert follow_up.summary(session, patient.id).flagged  # the file keeps the flag


def gp(session, name: str, accepts: str = "yes"):
    organisation = partners.create_organisation(
        session, None, {"name": name, "category": "medecin_generaliste", "postcode": "11000"}
    )
    partners.set_accepts_new_patients(session, None, organisation, accepts, TODAY, today=TODAY)
    return organisation


def test_the_pathway_steps_until_a_gp_accepts_and_the_letter_holds_visits_and_plan(session):
    doctor = member(session, "Dr Audouy")
    patient = referred(session, "Parcours")
    plan(session, patient, 6)
    visit(session, patient, doctor, NOW - timedelta(weeks=6))
    visit(session, patient, doctor, NOW - timedelta(weeks=2), status="no_show")
    refuses, accepts = gp(session, "Dr Refus", "no"), gp(session, "Dr Accueil")
    assert [g.name for g in follow_up.general_practitioners(session)] == ["Dr Accueil", "Dr Refus"]
    with pytest.raises(FieldErrors) as error:
        follow_up.record_gp_step(
            session, None, patient, "999999", TODAY + timedelta(days=1), "?", today=TODAY, now=NOW
        )
    assert set(error.value.errors) == {"partner_id", "contacted_on", "answer"}
    step = follow_up.record_gp_step(
        session, None, patient, str(refuses.id), TODAY, "pending", today=TODAY, now=NOW
    )
    follow_up.answer_gp_step(session, None, patient, step.id, "declines", now=NOW)
    assert patient.status == PatientStatus.FOLLOW_UP
    with pytest.raises(FieldError, match="déjà notée"):
        follow_up.answer_gp_step(session, None, patient, step.id, "accepts", now=NOW)
    follow_up.record_gp_step(session, None, patient, str(accepts.id), TODAY, "accepts", today=TODAY, now=NOW)
    assert (patient.status, patient.gp_partner_id, patient.gp_name, patient.gp_found_at) == (
        PatientStatus.GP_FOUND,
        accepts.id,
        "Dr Accueil",
        NOW,
    )
    assert follow_up.plan_of(session, patient.id).gp_search_started
    with pytest.raises(FieldError, match="en suivi"):
        follow_up.record_gp_step(
            session, None, patient, str(accepts.id), TODAY, "accepts", today=TODAY, now=NOW
        )
    letter = follow_up.letter(session, patient, booking.appointments_of(session, patient.id))
    assert letter.gp == accepts and letter.plan.cadence_weeks == 6
    assert [(v.at, v.seen_by) for v in letter.visits] == [(NOW - timedelta(weeks=6), "Dr Audouy (médecin)")]
    assert follow_up.days_to_gp([(NOW - timedelta(days=30), NOW), (NOW - timedelta(days=10), NOW)]) == 20


def test_only_a_general_practitioner_says_whether_they_take_new_patients(session):
    pharmacy = partners.create_organisation(session, None, {"name": "Pharmacie", "category": "pharmacie"})
    with pytest.raises(FieldError, match="médecins généralistes"):
        partners.set_accepts_new_patients(session, None, pharmacy, "yes", TODAY, today=TODAY)
    doctor = gp(session, "Dr Vérifié", "to_check")
    with pytest.raises(FieldError, match="futur"):
        partners.set_accepts_new_patients(
            session, None, doctor, "yes", TODAY + timedelta(days=1), today=TODAY
        )
    assert doctor.accepts_label == "À vérifier"


@pytest.mark.parametrize(
    ("code", "text", "stored"),
    [("no_ald", "", ("no_ald", "")), ("", "Déménage à Lyon", ("other", "Déménage à Lyon"))],
)
def test_a_refusal_takes_its_reason_from_the_closed_list_a_text_alone_is_autre(session, code, text, stored):
    referral = referrals.receive(
        session, None, "direct", IDENTITY | {"last_name": "Refus"}, {}, "Motif.", now=NOW, today=TODAY
    )
    referrals.decide(session, None, referral, "declined", text, "sas", decline_code=code or None, now=NOW)
    assert (referral.decline_code, referral.decline_reason) == stored


def test_a_refusal_without_reason_or_autre_without_text_is_refused(session):
    referral = referrals.receive(
        session, None, "direct", IDENTITY | {"last_name": "Refus"}, {}, "Motif.", now=NOW, today=TODAY
    )
    with pytest.raises(FieldErrors) as error:
        referrals.decide(session, None, referral, "declined", "", "sas", now=NOW)
    assert error.value.errors == {"decline_code": "Choisissez le motif du refus."}
    with pytest.raises(FieldErrors) as error:
        referrals.decide(session, None, referral, "declined", "", "sas", decline_code="other", now=NOW)
    assert error.value.errors == {"decline_reason": "Précisez le motif du refus."}
    assert session.scalar(select(Patient).where(Patient.last_name == "Refus")) is None


def test_the_report_counts_refusals_by_reason_the_waiting_list_overdue_and_gps_found(session):
    """One query gives the funders' figures of a period: declined referrals by reason (received
    in the period), who waits at its end and since when, who is overdue then, and the médecins
    traitants found with the median delay from the first visit."""
    start, end = NOW - timedelta(days=90), NOW
    doctor = member(session, "Dr Audouy")
    for name, code, text in (
        ("Loin", "out_of_area", ""),
        ("Loin2", "out_of_area", ""),
        ("Libre", "", "Déménage"),
    ):
        referral = referrals.receive(
            session,
            None,
            "direct",
            IDENTITY | {"last_name": name},
            {},
            "Motif.",
            now=NOW - timedelta(days=10),
            today=TODAY,
        )
        referrals.decide(session, None, referral, "declined", text, "sas", decline_code=code or None, now=NOW)
    referred(session, "Attente", "waiting_list", NOW - timedelta(days=20))
    referred(session, "Attente2", "waiting_list", NOW - timedelta(days=40))
    overdue = referred(session, "Retard")
    visit(session, overdue, doctor, NOW - timedelta(weeks=12))
    for name, days in (("Trouve", 30), ("Trouve2", 50)):
        patient = referred(session, name)
        visit(session, patient, doctor, NOW - timedelta(days=days))
        patient.status, patient.gp_found_at = PatientStatus.GP_FOUND, NOW - timedelta(days=1)
    session.flush()
    figures = worklists.pathway_figures(session, start, end, PARIS)
    assert figures.refusal_reasons == dict.fromkeys(figures.refusal_reasons, 0) | {
        "out_of_area": 2,
        "other": 1,
    }
    assert (figures.waiting, figures.median_wait_days) == (2, 30)
    assert figures.overdue_follow_ups == 1
    assert sorted(figures.gp_found_days) == [29, 49] and figures.gp_found_median_days == 39
    earlier = worklists.pathway_figures(session, start - timedelta(days=400), start, PARIS)
    assert (earlier.gp_found_days, earlier.waiting, sum(earlier.refusal_reasons.values())) == ([], 0, 0)
    assert earlier.median_wait_days is None


def test_no_gp_search_for_a_patient_who_objected_to_it(session):
    patient = referred(session, "Oppose")
    patient.objects_to_gp_search = True
    doctor = gp(session, "Dr Accueil")
    with pytest.raises(FieldError, match="opposé à la recherche"):
        follow_up.record_gp_step(
            session, None, patient, str(doctor.id), TODAY, "accepts", today=TODAY, now=NOW
        )
    assert patient.status == PatientStatus.FOLLOW_UP


def test_the_stored_next_step_follows_every_change_of_visits_and_plans(session):
    """Whatever writes them — a visit booked, moved, cancelled, marked, given to another patient, a
    plan made or changed or dropped — the list and the navigation's count (read from each
    patient's stored next step) say what the report's count works out from the visits themselves,
    right after each change."""
    import random

    rng = random.Random(25)  # noqa: S311 (a reproducible sequence of changes, not a secret)
    doctor = member(session, "Dr Melange")
    people = [referred(session, f"Patient{n}") for n in range(8)]
    visits: list[Appointment] = []
    counted = set()
    for step in range(60):
        patient = rng.choice(people)
        action = rng.randrange(7)
        if action == 0 or not visits:
            start = NOW + timedelta(days=rng.randrange(-400, 60), hours=rng.randrange(8))
            status = "booked" if start > NOW else rng.choice(["honoured", "no_show", "cancelled"])
            visits.append(visit(session, patient, doctor, start, status=status))
        elif action == 1:
            rng.choice(visits).status = rng.choice(["booked", "honoured", "no_show", "cancelled"])
        elif action == 2:
            moved = rng.choice(visits)
            moved.starts_at = NOW + timedelta(days=rng.randrange(-400, 60))
            moved.ends_at = moved.starts_at + timedelta(minutes=30)
        elif action == 3:
            plan(session, patient, rng.choice([2, 6, 12, 52]))
        elif action == 4:
            existing = follow_up.plan_of(session, patient.id)
            if existing is not None:
                session.delete(existing)
        elif action == 5:
            patient.created_at = NOW - timedelta(days=rng.randrange(1, 500))
        else:  # given to another patient (the one it leaves is due again too)
            rng.choice(visits).patient_id = patient.id
        session.flush()
        for moment in (NOW + timedelta(days=60), NOW + timedelta(days=200)):  # after every visit
            stored = worklists.counts(session, now=moment).recall
            assert stored == worklists.overdue_count(session, at=moment), (step, action, moment)
            assert stored == worklists.recall(session, now=moment, overdue_only=True).total
            counted.add(stored)
    assert len(counted) >= 4  # the changes moved patients on and off the list


def test_since_when_each_waits_follows_every_change_of_their_referrals(session):
    """Whatever changes a referral — put on the waiting list, accepted from it, declined, its
    decision moved, a patient's record dated otherwise — the waiting list (read in the order of
    each patient's stored `waiting_since`) is the order worked out from the referrals themselves:
    oldest decision still on the waiting list first, the record's creation without one."""
    import random

    from dalia_site.models import Referral

    rng = random.Random(21)  # noqa: S311 (a reproducible sequence of changes, not a secret)
    people = [
        referred(session, f"Attente{n}", "waiting_list", NOW - timedelta(days=rng.randrange(1, 300)))
        for n in range(8)
    ]
    statuses = ["waiting_list", "waiting_list", "accepted", "declined"]
    orders, steps = set(), []
    for step in range(80):
        patient = rng.choice(people)
        theirs = list(session.scalars(select(Referral).where(Referral.patient_id == patient.id)))
        referral = rng.choice(theirs) if theirs else None
        action = rng.randrange(7)
        if referral is None and action in (0, 1, 5, 6):  # all theirs were moved away
            action = 4
        steps.append(action)
        if action == 5:  # a referral deleted (one of several)
            if len(theirs) > 1:
                session.delete(referral)
        elif action == 6:  # a referral moved to another patient (attached to the wrong one first)
            referral.patient_id = rng.choice([p for p in people if p is not patient]).id
        elif action == 4:  # the same patient referred again (a second referral, decided or not)
            session.add(
                Referral(
                    channel="direct",
                    last_name=patient.last_name,
                    first_names=patient.first_names,
                    birth_date=patient.birth_date,
                    sex=patient.sex,
                    patient_id=patient.id,
                    status=rng.choice(statuses),
                    decided_at=NOW - timedelta(days=rng.randrange(1, 300)),
                )
            )
        elif action == 0:
            referral.status = rng.choice(statuses)
        elif action == 1:
            referral.decided_at = NOW - timedelta(days=rng.randrange(1, 300), hours=rng.randrange(8))
        elif action == 2:
            patient.created_at = NOW - timedelta(days=rng.randrange(1, 400))
        else:
            patient.status = rng.choice([PatientStatus.WAITING_LIST, PatientStatus.FOLLOW_UP])
        session.flush()
        expected = []
        for person in people:
            session.refresh(person)
            if person.status != PatientStatus.WAITING_LIST:
                continue
            waiting = [
                r.decided_at
                for r in session.scalars(select(Referral).where(Referral.patient_id == person.id))
                if r.status == "waiting_list"
            ]
            since = min(waiting) if waiting else person.created_at
            assert person.waiting_since == since, (step, action)
            expected.append((since, person.id))
        listed = worklists.waiting(session, now=NOW, zone=ZoneInfo("Europe/Paris"))
        assert [row.patient.id for row in listed.rows] == [pid for _, pid in sorted(expected)], (step, action)
        assert [row.since for row in listed.rows] == [since for since, _ in sorted(expected)]
        assert listed.total == len(expected)
        orders.add(tuple(row.patient.id for row in listed.rows))
    assert len(orders) >= 6  # the changes did move patients in the list
    several = session.scalars(
        select(Referral.patient_id)
        .where(Referral.status == "waiting_list")
        .group_by(Referral.patient_id)
        .having(func.count() > 1)
    ).all()
    assert several  # some waited through two referrals at once: the oldest counted
    moved, deleted = (
        sum(1 for step in steps if step == n) for n in (6, 5)
    )  # both paths of the hook were taken
    assert moved and deleted
