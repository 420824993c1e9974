"""The report's « en retard en fin de période »: how many patients in follow-up stood overdue on
« À recontacter » at a period's last moment, read from the overdue spans each patient keeps
(domain/overdue_spans.py). Right after any change of a visit, a plan, a patient's status or
record, whoever writes it, the count at any moment is what the rule gives from the visits
themselves — on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dalia_site.domain import follow_up, referrals, worklists
from dalia_site.domain.overdue_spans import spans
from dalia_site.models import Appointment, FollowUpPlan, Patient
from dalia_site.models.vocabulary import PatientStatus
from tests.unit.test_activity import db_backend, session  # noqa: F401 (fixtures)
from tests.unit.test_worklist_rules import IDENTITY, NOW, member, plan, referred, visit

WEEK = timedelta(weeks=1)
NEW = IDENTITY | {"first_names": "Nouvelle"}


def at(days: float) -> datetime:
    return NOW + timedelta(days=days)


# --- The rule, without a database ------------------------------------------------------------


def test_a_patient_never_seen_is_overdue_from_their_record_s_creation():
    assert spans(at(-30), None, []) == [(at(-30), None)]


def test_a_visit_keeps_its_patient_from_its_booking_to_the_cadence_after_it():
    """Booked on day 0 for day 20, six weeks' cadence: overdue until the booking, kept until six
    weeks after the visit, overdue again from then."""
    assert spans(at(-10), 6, [(at(0), at(20))]) == [(at(-10), at(0)), (at(20) + 6 * WEEK, None)]


def test_without_a_plan_the_default_cadence_applies():
    assert spans(at(-10), None, [(at(-10), at(0))]) == [(at(0) + 8 * WEEK, None)]


def test_a_walk_in_entered_after_it_began_keeps_from_its_start():
    """A visit written at 10:20 for 10:00 (a walk-in): kept from 10:00, not from 10:20."""
    start = at(5)
    assert spans(at(-1), 2, [(start + timedelta(minutes=20), start)]) == [
        (at(-1), start),
        (start + 2 * WEEK, None),
    ]


def test_visits_that_overlap_or_follow_each_other_keep_one_stretch():
    """Booked again before the cadence ran out: no overdue stretch between the visits; a later
    visit booked only after the first ran out leaves a gap."""
    visits = [(at(0), at(7)), (at(10), at(30)), (at(100), at(120))]
    assert spans(at(0), 4, visits) == [(at(30) + 4 * WEEK, at(100)), (at(120) + 4 * WEEK, None)]


def test_a_visit_before_the_record_s_creation_counts_only_from_it():
    """A visit entered for a patient whose record was dated later: kept from the record on."""
    assert spans(at(0), 2, [(at(-30), at(-20))]) == [(at(0), None)]
    assert spans(at(0), 4, [(at(-30), at(-20))]) == [(at(-20) + 4 * WEEK, None)]


def test_kept_ends_exactly_at_the_cadence_and_an_overdue_stretch_ends_at_the_booking():
    """[from, until): overdue at the very moment a stretch begins, kept at the booking's moment."""
    (first, until), (again, _) = spans(at(-10), 1, [(at(0), at(3))])
    assert (first, until, again) == (at(-10), at(0), at(3) + WEEK)


# --- Kept by the session, counted by the report ----------------------------------------------


def the_rule(db_session):
    """The rule worked out here from the rows, as a function of the moment: patients in follow-up
    created by then whom no visit booked or held keeps then — booked by then and to come, or
    begun less than the plan's cadence before."""
    cadence = {p.patient_id: p.cadence_weeks for p in db_session.scalars(select(FollowUpPlan))}
    active = db_session.scalars(
        select(Appointment).where(Appointment.status.in_(("booked", "honoured")))
    ).all()
    followed = db_session.scalars(select(Patient).where(Patient.status == PatientStatus.FOLLOW_UP)).all()
    theirs = {
        patient.id: [
            (v.created_at, v.starts_at, timedelta(weeks=cadence.get(patient.id) or 8))
            for v in active
            if v.patient_id == patient.id
        ]
        for patient in followed
    }

    def overdue_at(moment: datetime) -> int:
        return sum(
            patient.created_at <= moment
            and not any(
                booked <= moment < starts or starts <= moment < starts + weeks
                for booked, starts, weeks in theirs[patient.id]
            )
            for patient in followed
        )

    return overdue_at


def moments_of(db_session, rng: random.Random) -> list[datetime]:
    """Moments the count can change at (a record's creation, a visit's booking, start and end of
    its cadence), a microsecond either side, some of them drawn each time, and a few others."""
    edges: set[datetime] = set()
    for patient in db_session.scalars(select(Patient)):
        edges.add(patient.created_at)
    for v in db_session.scalars(select(Appointment)):
        edges |= {v.created_at, v.starts_at}
        edges |= {v.starts_at + timedelta(weeks=weeks) for weeks in (1, 4, 8, 12, 52)}
    tick = timedelta(microseconds=1)
    near = [m + d for m in edges for d in (-tick, timedelta(0), tick)]
    return [NOW, at(-365), at(400), *rng.sample(near, min(len(near), 45))]


def test_the_count_at_any_moment_follows_every_change_whoever_writes_it(session):  # noqa: F811
    """Visits booked, held, missed, cancelled, moved, re-dated, given to another patient or
    deleted; plans made, changed, moved or dropped; patients created, dated otherwise, taken out
    of follow-up and back: after each change the report's count at every moment where it can
    change is the rule's, worked out from the rows."""
    rng = random.Random(27)  # noqa: S311 (a reproducible sequence of changes, not a secret)
    doctor = member(session, "Dr Retard")
    people = [referred(session, f"Suivi{n}") for n in range(6)]
    visits: list[Appointment] = []
    seen_counts: set[int] = set()
    actions_done: set[int] = set()
    for step in range(200):
        patient = rng.choice(people)
        action = rng.randrange(10) if visits else 0
        if action == 0:
            start = at(rng.randrange(-400, 90)) + timedelta(hours=rng.randrange(8, 18))
            status = rng.choice(["booked", "honoured", "no_show", "cancelled"])
            made = visit(session, patient, doctor, start, status=status)
            made.created_at = start - timedelta(
                days=rng.choice([-1, 0, 3, 40])
            )  # -1: a walk-in written later
            visits.append(made)
        elif action == 1:
            rng.choice(visits).status = rng.choice(["booked", "honoured", "no_show", "cancelled"])
        elif action == 2:
            moved = rng.choice(visits)
            moved.starts_at = at(rng.randrange(-400, 90))
            moved.ends_at = moved.starts_at + timedelta(minutes=30)
        elif action == 3:
            rng.choice(visits).created_at = at(rng.randrange(-450, 60))
        elif action == 4:
            rng.choice(visits).patient_id = patient.id  # the one it leaves changes too
        elif action == 5:
            gone = visits.pop(rng.randrange(len(visits)))
            session.delete(gone)
        elif action == 6:
            weeks = rng.choice([1, 4, 12, 52])
            if patient.status == PatientStatus.FOLLOW_UP:
                plan(session, patient, weeks)  # through the rule, audited
            else:  # a plan left from before, changed past the rule
                existing = follow_up.plan_of(session, patient.id)
                if existing is None:
                    session.add(
                        FollowUpPlan(patient_id=patient.id, cadence_weeks=weeks, preferred_nurse="ipa")
                    )
                else:
                    existing.cadence_weeks = weeks
        elif action == 7:
            existing = follow_up.plan_of(session, patient.id)
            if existing is not None:
                other = rng.choice([p for p in people if follow_up.plan_of(session, p.id) is None] or [None])
                if other is not None and rng.random() < 0.5:
                    existing.patient_id = other.id  # the plan given to another patient
                else:
                    session.delete(existing)
        elif action == 8:
            patient.status = (
                PatientStatus.FOLLOW_UP
                if patient.status != PatientStatus.FOLLOW_UP
                else rng.choice([PatientStatus.GP_FOUND, PatientStatus.DISCHARGED])
            )
        else:
            patient.created_at = at(-rng.randrange(1, 500))
        if action == 9 and rng.random() < 0.3:  # a new patient, dated as the rules date them
            when = at(-rng.randrange(0, 300))
            referral = referrals.receive(
                session,
                None,
                "direct",
                NEW | {"last_name": f"Nouveau{step}"},
                {},
                "Suivi.",
                now=when,
                today=when.date(),
            )
            people.append(referrals.decide(session, None, referral, "accepted", now=when))
        session.flush()
        actions_done.add(action)
        overdue_at = the_rule(session)
        for moment in moments_of(session, rng):
            expected = overdue_at(moment)
            assert worklists.overdue_count(session, at=moment) == expected, (step, action, moment)
            seen_counts.add(expected)
    assert actions_done == set(range(10))
    assert len(seen_counts) >= 5  # the changes moved patients on and off the count


def test_the_report_s_count_is_the_list_s_count_now(session):  # noqa: F811
    """At the present moment the report's figure is « À recontacter »'s overdue rows, including a
    patient whose visit was marked held a little before its start (arrived early)."""
    doctor = member(session, "Dr Tot")
    early = referred(session, "Avance")
    visit(session, early, doctor, at(-60))
    visit(session, early, doctor, NOW + timedelta(minutes=20))  # marked held at 9:00 for 9:20
    late = referred(session, "Retard")
    visit(session, late, doctor, at(-100))
    never = referred(session, "Jamais")
    assert never.status == PatientStatus.FOLLOW_UP
    shown = worklists.recall(session, now=NOW, overdue_only=True)
    assert sorted(row.patient.last_name for row in shown.rows) == ["Jamais", "Retard"]
    assert worklists.overdue_count(session, at=NOW) == shown.total == 2
    assert worklists.overdue_count(session, at=datetime(2020, 1, 1, tzinfo=UTC)) == 0


def test_a_plan_changed_moved_or_a_patient_written_in_follow_up_at_once_is_counted(session):  # noqa: F811
    """The changes the sequence above meets seldom, one by one: a plan's cadence changed, a plan
    given to another patient (the one it leaves is back to eight weeks), a patient written
    straight into follow-up."""
    doctor = member(session, "Dr Plan")
    first, second = referred(session, "Premier"), referred(session, "Second")
    for patient in (first, second):
        visit(session, patient, doctor, at(-70))  # ten weeks ago
    plan(session, first, 12)
    assert worklists.overdue_count(session, at=NOW) == 1  # the second, eight weeks past
    plan(session, first, 4)
    assert worklists.overdue_count(session, at=NOW) == 2
    plan(session, first, 12)
    moved = follow_up.plan_of(session, first.id)
    moved.patient_id = second.id
    session.flush()
    assert worklists.overdue_count(session, at=NOW) == 1  # the first, now eight weeks past
    assert worklists.overdue_count(session, at=at(-70) + timedelta(weeks=9)) == 1
    written = Patient(
        last_name="Direct",
        first_names="Paule",
        birth_date=NEW["birth_date"],
        sex="F",
        status=PatientStatus.FOLLOW_UP,
        created_at=at(-3),
    )
    session.add(written)
    session.flush()
    assert worklists.overdue_count(session, at=NOW) == 2
    assert worklists.overdue_count(session, at=at(-4)) == 1
