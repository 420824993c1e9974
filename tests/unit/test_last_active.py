"""Each patient's stored last activity (domain/last_active.py) and what retention reads from it:
whatever writes the visits, referrals and patients — added, re-dated, moved to another patient,
cancelled, deleted, declined, erased — the stored value is the one the rows give, and the timer's
list and « Données personnelles »'s are those the erasure rule gives worked out from scratch."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from dalia_site import database
from dalia_site.domain import retention
from dalia_site.extensions import db
from dalia_site.models import Appointment, Patient, Referral
from dalia_site.models.types import clock_at
from tests.unit.test_activity import decide, held, receive

ORIGIN = datetime(2027, 1, 4, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    """The rule is SQL (the latest of three, the declined's subqueries): SQLite and PostgreSQL."""
    return request.param


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def anniversary(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def worked_out(session, now: datetime, within_days: int, periods: retention.Periods) -> list[retention.Due]:
    """The erasure rule from the rows, patient by patient: no visit (whatever became of it),
    referral or creation since N years — or declined, never seen at a visit, every referral
    declined over a year ago (then due a year after the last decision, if that comes first)."""
    horizon = datetime.combine(
        (now + timedelta(days=within_days)).date() + timedelta(days=1), time(), now.tzinfo
    )
    inactive_cutoff = retention.years_before(horizon, periods.inactive_years)
    declined_cutoff = retention.years_before(horizon, periods.declined_years)
    visits, referrals = defaultdict(list), defaultdict(list)
    for visit in session.scalars(select(Appointment)):
        visits[visit.patient_id].append(visit.starts_at)
    for referral in session.scalars(select(Referral)):
        referrals[referral.patient_id].append(referral)
    found = []
    for patient in session.scalars(select(Patient).where(Patient.erased_at.is_(None))):
        theirs, seen = referrals[patient.id], visits[patient.id]
        last = max([patient.created_at, *seen, *(referral.received_at for referral in theirs)])
        declined_alone = (  # with a decision on file to count from (none left: the inactivity rule)
            patient.status == "declined"
            and not seen
            and bool(theirs)
            and all(
                r.status == "declined" and r.decided_at and r.decided_at < declined_cutoff for r in theirs
            )
        )
        if not (last < inactive_cutoff or declined_alone):
            continue
        inactive_on = anniversary(last.date(), periods.inactive_years)
        decisions = [referral.decided_at for referral in theirs if referral.decided_at is not None]
        if patient.status == "declined" and not seen and decisions:
            decision = max(decisions)
            declined_on = anniversary(decision.date(), periods.declined_years)
            if declined_on < inactive_on:
                found.append(retention.Due("declined", patient.id, None, declined_on, decision.date()))
                continue
        found.append(retention.Due("inactive", patient.id, None, inactive_on, last.date()))
    for referral in referrals[None]:
        if referral.erased_at is not None:
            continue
        if referral.status == "declined" and referral.decided_at is not None:
            if referral.decided_at < declined_cutoff:
                since = referral.decided_at.date()
                due_on = anniversary(since, periods.declined_years)
                found.append(retention.Due("declined", None, referral.id, due_on, since))
        elif referral.received_at < inactive_cutoff:
            since = referral.received_at.date()
            due_on = anniversary(since, periods.inactive_years)
            found.append(retention.Due("inactive", None, referral.id, due_on, since))
    return sorted(found, key=lambda due: (due.due_on, due.patient_id or 0, due.referral_id or 0))


def test_the_stored_last_activity_and_what_retention_lists_follow_every_change(session):
    """90 mixed changes, each flushed: after each, every patient's stored last activity is the
    latest of their creation, visits and referrals; and every few, the timer's list (due now, and
    in 30 days) and the page's (what comes in the next 30 days: how many, the first three) are
    the rule's, for moments and periods that cut through them."""
    rng = random.Random(24)  # noqa: S311 (a reproducible sequence of changes, not a secret)

    def moment() -> datetime:
        return ORIGIN + timedelta(days=rng.randrange(0, 700), hours=rng.randrange(0, 24))

    def new_patient(declined: bool = False) -> Patient:
        received = moment()
        referral = receive(
            session, received, f"Mélange{rng.randrange(1000)}", date(1950 + rng.randrange(50), 3, 1)
        )
        if declined:
            return decide(
                session,
                received + timedelta(days=2),
                referral,
                "declined",
                decline_reason="Hors zone",
                orientation="sas",
            )
        return decide(session, received + timedelta(days=rng.randrange(0, 3)), referral)

    people = [new_patient(declined=n % 3 == 0) for n in range(9)]
    for _ in range(3):  # referrals with no patient of their own
        receive(session, moment(), f"Seul{rng.randrange(1000)}", date(1970, 5, 5))
    nows = [ORIGIN + timedelta(days=days) for days in (500, 800, 1100, 1500)]
    periods = [retention.Periods(1, 1), retention.Periods(2, 1)]
    seen_due, seen_coming, actions = set(), set(), set()
    for step in range(90):
        visits = list(session.scalars(select(Appointment)))
        referrals = list(session.scalars(select(Referral).where(Referral.erased_at.is_(None))))
        living = [p for p in session.scalars(select(Patient).where(Patient.erased_at.is_(None)))]
        action = rng.randrange(14) if visits and referrals and len(living) > 3 else 0
        actions.add(action)
        if action == 0:
            status = rng.choice(["honoured", "honoured", "no_show", "cancelled", "booked"])
            held(session, rng.choice(people), rng.choice(["first", "doctor", "nurse"]), moment(), status)
        elif action == 1:
            rng.choice(visits).status = rng.choice(["honoured", "no_show", "cancelled"])
        elif action == 2:
            moved = rng.choice(visits)
            moved.starts_at = moment()
            moved.ends_at = moved.starts_at + timedelta(minutes=30)
        elif action == 3:
            rng.choice(visits).patient_id = rng.choice(people).id
        elif action == 4:
            session.delete(rng.choice(visits))
        elif action == 5:  # the same patient referred again (found by their identity)
            patient = rng.choice([p for p in living if p.first_names == "Martine"])
            referral = receive(session, moment(), patient.last_name, patient.birth_date)
            if referral.patient_id is None:
                decide(session, referral.received_at, referral, patient=patient)
        elif action == 6:
            rng.choice(referrals).received_at = moment()
        elif action == 7:
            referral = rng.choice(referrals)
            referral.patient_id = rng.choice([None, *(p.id for p in people)])
        elif action == 8:
            session.delete(rng.choice(referrals))
        elif action == 9:  # a decision: declined (the patient with it) or accepted
            referral = rng.choice(referrals)
            referral.status = rng.choice(["declined", "declined", "accepted"])
            referral.decided_at = moment()
            if referral.patient_id is not None:
                patient = session.get(Patient, referral.patient_id)
                patient.status = "declined" if referral.status == "declined" else "follow_up"
        elif action == 10:
            patient = rng.choice(living)
            theirs = [r for r in referrals if r.patient_id == patient.id]
            retention.erase_patient(session, None, patient, "essai", now=moment(), referrals=theirs)
        elif action == 11 and rng.randrange(2):
            people.append(new_patient(declined=rng.randrange(2) == 0))
        elif action == 11:  # a record made without a referral
            with clock_at(moment()):
                people.append(
                    Patient(last_name="Seule", first_names="Anne", birth_date=date(1960, 1, 1), sex="F")
                )
                session.add(people[-1])
        elif action == 12:  # (a record's creation re-dated: no page does it, the rule counts it)
            rng.choice(living).created_at = moment()
        else:  # the latest visit given to another patient, then deleted, in one flush
            gone = max(visits, key=lambda visit: visit.starts_at)
            gone.patient_id = rng.choice(people).id
            session.delete(gone)
        session.flush()

        latest = {pid: created for pid, created in session.execute(select(Patient.id, Patient.created_at))}
        for pid, starts in session.execute(select(Appointment.patient_id, Appointment.starts_at)):
            latest[pid] = max(latest[pid], starts)
        for pid, received in session.execute(select(Referral.patient_id, Referral.received_at)):
            if pid is not None:
                latest[pid] = max(latest[pid], received)
        stored = {pid: last for pid, last in session.execute(select(Patient.id, Patient.last_active_at))}
        assert stored == latest, (step, action)
        # The patients already loaded read it afresh too.
        assert all(patient.last_active_at == latest[patient.id] for patient in people), (step, action)
        if step % 5:
            continue
        for now in nows:
            for period in periods:
                due = retention.upcoming(session, now=now, periods=period)
                assert due == worked_out(session, now, 0, period), (step, action, now, period)
                everything = retention.upcoming(session, now=now, within_days=30, periods=period)
                assert everything == worked_out(session, now, 30, period), (step, action, now, period)
                # What comes after today, by the month's end.
                later = [
                    item
                    for item in everything
                    if now.date() < item.due_on <= (now + timedelta(days=30)).date()
                ]
                coming = retention.coming(session, now=now, periods=period, limit=3)
                assert coming == retention.Coming(len(later), later[:3]), (step, action, now, period)
                seen_due.add(tuple(due))
                seen_coming.add((coming.count, tuple(coming.first)))
    assert actions == set(range(14))
    assert len(seen_due) > 8 and len(seen_coming) > 8  # the changes moved both lists
    assert {item.kind for items in seen_due for item in items} == {"inactive", "declined"}
    # Migration 0024 fills it by the same rule from the rows left.
    session.commit()
    kept = session.execute(select(Patient.id, Patient.last_active_at).order_by(Patient.id)).all()
    session.commit()  # (PostgreSQL: the migration waits for no reader of the table)
    database.downgrade(db.engine, "0023")
    database.upgrade(db.engine)
    assert session.execute(select(Patient.id, Patient.last_active_at).order_by(Patient.id)).all() == kept


def test_the_page_lists_a_29_february_with_the_28th_it_falls_on_by_patient_number(session):
    """Seen last on 29 February 2028 and on the 28th: with one year's retention, both are erased
    on 28 February 2029 — listed by number, the first patient first, whichever day came first."""
    first = decide(
        session,
        datetime(2028, 2, 29, 9, tzinfo=UTC),
        receive(session, ORIGIN, "Bissextile", date(1950, 1, 1)),
    )
    second = decide(
        session, datetime(2028, 2, 28, 9, tzinfo=UTC), receive(session, ORIGIN, "Veille", date(1951, 1, 1))
    )
    now, periods = datetime(2029, 2, 20, 10, tzinfo=UTC), retention.Periods(1, 1)

    coming = retention.coming(session, now=now, periods=periods, limit=1)

    assert coming.count == 2
    assert [(item.patient_id, item.due_on, item.since) for item in coming.first] == [
        (first.id, date(2029, 2, 28), date(2028, 2, 29))
    ]
    everything = retention.coming(session, now=now, periods=periods).first
    assert [item.patient_id for item in everything] == [first.id, second.id]
    assert everything == retention.upcoming(session, now=now, within_days=30, periods=periods)
