"""The consultations, walk-ins, no-shows and reminders' figures of a period, which the activity
figures sum from each UTC day's kept counts (domain/visit_days.py) and the visits of the hours
its local bounds cut off: right after any change of a visit or of a reminder, whoever writes it,
they are what the visits and reminders themselves give."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dalia_site.domain import activity, reminders, visit_days
from dalia_site.extensions import db
from dalia_site.models import Appointment, HeldVisit, OutboundEmail
from dalia_site.models.activity import NONE_BEFORE, HeldMonth, VisitDay
from tests.unit.test_activity import (  # noqa: F401 (fixtures)
    PARIS,
    _as_date,
    accepted_patient,
    at,
    db_backend,
    held,
    session,
)

PERIODS = [
    activity.Period(date(2027, 3, 1), date(2027, 4, 30)),
    activity.Period(date(2027, 3, 27), date(2027, 3, 29)),  # the clock changes on the 28th
    activity.Period(date(2027, 3, 15), date(2027, 3, 15)),
    activity.Period(date(2027, 2, 20), date(2027, 5, 10)),
]


def worked_out(db_session, period: activity.Period) -> tuple:
    """The figures from the visits themselves: held by kind and by month, walk-ins, no-shows,
    and the reminders' figures as domain/reminders.figures gives them from the visits."""
    start, end = period.bounds(PARIS)
    visits = [a for a in db_session.scalars(select(Appointment)) if start <= a.starts_at < end]
    by_kind = {kind: 0 for kind in ("first", "doctor", "nurse")}
    by_month: dict[tuple[int, int], int] = {}
    for visit in visits:
        if visit.status == "honoured":
            by_kind[visit.kind] += 1
            local = visit.starts_at.astimezone(PARIS)
            by_month[local.year, local.month] = by_month.get((local.year, local.month), 0) + 1
    walk_ins = sum(1 for a in visits if a.status == "honoured" and a.walk_in)
    no_shows = sum(1 for a in visits if a.status == "no_show")
    return by_kind, by_month, walk_ins, no_shows, reminders.figures(db_session, start, end)


def shown(db_session, period: activity.Period) -> tuple:
    figures = activity.compute(db_session, period, PARIS)
    by_month = {(first.year, first.month): sum(counts.values()) for first, counts in figures.monthly}
    return (
        {str(kind): n for kind, n in figures.by_kind.items()},
        {month: n for month, n in by_month.items() if n},
        figures.walk_ins,
        figures.no_shows,
        figures.reminders,
    )


def test_the_visits_days_follow_every_change_of_visits_and_reminders(session):  # noqa: F811 (the fixture)
    """Visits booked or held, marked, moved (across local and UTC midnights), made walk-ins or
    not, answered by the patient, deleted; reminders queued, sent, moved to another visit,
    deleted: the stored days are what the visits give, and so are the figures."""
    rng = random.Random(17)  # noqa: S311 (a reproducible sequence of changes, not a secret)
    people = [accepted_patient(session, f"Jour{n}", date(1950 + n, 1, 1)) for n in range(4)]
    origin = datetime(2027, 2, 25, tzinfo=PARIS)

    def moment() -> datetime:
        # Any hour, the night's too: the local and UTC midnights cut the days differently.
        return origin + timedelta(days=rng.randrange(0, 70), hours=rng.randrange(0, 24))

    seen = set()
    for step in range(80):
        visits = list(session.scalars(select(Appointment)))
        messages = list(session.scalars(select(OutboundEmail)))
        action = rng.randrange(10)
        if action == 0 or not visits:
            status = rng.choice(["honoured", "honoured", "no_show", "cancelled", "booked"])
            kind = rng.choice(["first", "doctor", "nurse"])
            held(session, rng.choice(people), kind, moment(), status, walk_in=rng.randrange(4) == 0)
        elif action == 1:
            rng.choice(visits).status = rng.choice(["honoured", "no_show", "cancelled", "booked"])
        elif action == 2:
            moved = rng.choice(visits)
            moved.starts_at = moment()
            moved.ends_at = moved.starts_at + timedelta(minutes=30)
        elif action == 3:
            changed = rng.choice(visits)
            changed.kind, changed.walk_in = rng.choice(["first", "doctor", "nurse"]), not changed.walk_in
        elif action == 4:
            answered = rng.choice(visits)
            if rng.randrange(2):
                answered.confirmed_by_patient_at = None if answered.confirmed_by_patient_at else moment()
            else:
                answered.cancelled_by_patient_at = None if answered.cancelled_by_patient_at else moment()
        elif action == 5:
            gone = rng.choice(visits)
            for message in messages:  # a visit deleted takes its reminders with it
                if message.appointment_id == gone.id:
                    session.delete(message)
            session.delete(gone)
        elif action == 6 or not messages:
            session.add(
                OutboundEmail(
                    to="patient@example.org",
                    subject="Rappel",
                    body="Rappel de votre rendez-vous",
                    appointment_id=rng.choice(visits).id,
                    channel=rng.choice(["email", "sms"]),
                    sent_at=moment() if rng.randrange(2) else None,
                )
            )
        elif action == 7:
            sent = rng.choice(messages)
            sent.sent_at = None if sent.sent_at else moment()
        elif action == 8:
            rng.choice(messages).appointment_id = rng.choice(visits).id
        else:
            session.delete(rng.choice(messages))
        session.flush()
        stored = {
            tuple(row)
            for row in session.execute(
                select(VisitDay.day, *(getattr(VisitDay, name) for name in visit_days.COLUMNS))
            )
        }
        afresh = {(_as_date(day), *counts) for day, *counts in session.execute(visit_days._of_days(False))}
        assert stored == afresh, (step, action)
        for period in PERIODS:
            assert shown(session, period) == worked_out(session, period), (step, action, period)
        seen.add(repr(shown(session, PERIODS[3])))
    assert len(seen) >= 15  # the changes moved the figures


# Zones whose local midnights fall at every side of UTC's: the hours between them and the nearest
# UTC midnight are added to a month's UTC days (the midnight inside the month) or taken away.
ZONES = ["Europe/Paris", "America/St_Johns", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


def test_each_month_counts_the_visits_of_its_local_days_in_any_zone(session):  # noqa: F811 (the fixture)
    """Visits at every hour of two months: for a centre in each zone, each month of a period
    counts the visits held on its local days, and the period those of its local days."""
    rng = random.Random(29)  # noqa: S311 (reproducible moments, not a secret)
    patient = accepted_patient(session, "Partout", date(1950, 1, 1))
    origin = datetime(2027, 2, 26, tzinfo=UTC)
    moments = [origin + timedelta(minutes=rng.randrange(70 * 24 * 60)) for _ in range(300)]
    for moment in moments:
        held(session, patient, "doctor", moment)
    periods = [
        activity.Period(date(2027, 3, 1), date(2027, 4, 30)),
        activity.Period(date(2027, 3, 10), date(2027, 4, 3)),
        activity.Period(date(2027, 3, 28), date(2027, 3, 28)),
    ]
    for key in ZONES:
        zone = ZoneInfo(key)
        for period in periods:
            local = [m.astimezone(zone).date() for m in moments]
            expected: dict[date, int] = {}
            for day in local:
                if period.first <= day <= period.last:
                    expected[day.replace(day=1)] = expected.get(day.replace(day=1), 0) + 1
            figures = activity.compute(session, period, zone)
            months = {first.replace(day=1): counts["doctor"] for first, counts in figures.monthly}
            assert months == {month: expected.get(month, 0) for month in months}, (key, period)
            assert figures.consultations == sum(expected.values()) > 0, (key, period)


def at_once(app, mine, first, second) -> list[Exception]:
    """`first(mine)` flushed in this transaction, `second(its session)` flushed and committed in
    another while this one has not committed yet: what the other raised."""
    flushed, failures = threading.Event(), []

    def other_desk() -> None:
        with app.app_context():
            try:
                flushed.wait(10)
                second(db.session)
                db.session.commit()
            except Exception as error:  # what the other desk would have seen: a server error
                failures.append(error)
                db.session.rollback()

    desk = threading.Thread(target=other_desk)
    desk.start()
    first(mine)
    flushed.set()
    time.sleep(0.5)  # the other desk's flush is under way, waiting on this transaction
    mine.commit()
    desk.join(30)
    return failures


def test_visits_of_one_day_changed_by_two_transactions_at_once_are_both_counted(app, session):  # noqa: F811
    """Two desks mark visits of the same day at the same moment: the second transaction's flush
    waits for the first one's day (PostgreSQL: its lock; SQLite: its one writer), then counts both
    visits — neither fails on the day's row, neither loses the other's visit."""
    one = accepted_patient(session, "Alric", date(1950, 1, 1))
    two = accepted_patient(session, "Bories", date(1951, 2, 2))
    session.commit()
    morning = at(date(2027, 3, 10), 9)

    failures = at_once(
        app,
        session,
        lambda s: held(s, one, "first", morning),
        lambda s: held(s, two, "first", morning + timedelta(hours=2)),
    )

    assert failures == []
    day = session.scalars(select(VisitDay).where(VisitDay.day == morning.date())).one()
    assert day.held_first == 2  # both first visits held that day
    # Both first visits in their month's count of visits with none before (held_visits.py).
    first = session.scalars(
        select(HeldMonth).where(HeldMonth.month == date(2027, 3, 1), HeldMonth.previous_month == NONE_BEFORE)
    ).one()
    assert first.visits == 2


def test_one_patients_visits_changed_by_two_transactions_at_once_are_both_kept(app, session):  # noqa: F811
    """Two requests add visits of the same patient at once (a double click, two desks): the
    patient's kept facts (held visits, next step, last activity) are written by one at a time —
    the second waits, then reads the first one's visit: both held visits are there, chained."""
    patient = accepted_patient(session, "Cabrol", date(1952, 3, 3))
    session.commit()
    morning = at(date(2027, 3, 10), 9)

    failures = at_once(
        app,
        session,
        lambda s: held(s, patient, "first", morning),
        lambda s: held(s, patient, "nurse", morning + timedelta(days=7)),
    )

    assert failures == []
    chain = session.execute(
        select(HeldVisit.starts_at, HeldVisit.previous_at)
        .where(HeldVisit.patient_id == patient.id)
        .order_by(HeldVisit.starts_at)
    ).all()
    assert [tuple(row) for row in chain] == [(morning, None), (morning + timedelta(days=7), morning)]
