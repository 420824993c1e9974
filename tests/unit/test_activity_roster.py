"""The roster's figures of a period (staffed hours, hours by status, half-days taken from the board
and left uncovered), which each worker keeps day by day for the roster's version
(domain/roster_version.py): right after any change of the roster, whoever writes it, they are
what the sessions and weekly patterns give when worked out afresh."""

from __future__ import annotations

import random
import sys
import threading
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from dalia_site.domain import activity, centre, planning, roster, roster_figures
from dalia_site.extensions import db
from dalia_site.models import PatternException, Shift, TeamMember, WeeklyPattern
from dalia_site.models.vocabulary import CLINICIANS
from tests.unit.test_activity import PARIS, at, db_backend, member, on_duty, session  # noqa: F401 (fixtures)

PERIODS = [
    activity.Period(date(2027, 3, 1), date(2027, 4, 30)),
    activity.Period(date(2027, 3, 27), date(2027, 3, 29)),  # the clock changes on the 28th
    activity.Period(date(2027, 4, 6), date(2027, 4, 6)),
    activity.Period(date(2027, 2, 20), date(2027, 5, 10)),
]


def kept(db_session, period: activity.Period, opening) -> tuple:
    """The figures as the activity page gets them (the worker's days for the roster's version)."""
    figures = activity.compute(db_session, period, PARIS, opening)
    return figures.staffed_hours, figures.roster


def afresh(db_session, period: activity.Period, opening) -> tuple:
    """The same worked out from the sessions and patterns, nothing kept."""
    return roster_figures.figures(db_session, period.first, period.last, PARIS, opening)


def test_the_roster_figures_kept_follow_every_change_of_the_roster(session):  # noqa: F811 (the fixture)
    """Sessions added, moved, made exceptional or taken from the board, deleted; weekly patterns
    added, ended, deleted; absences added; members changing status or profession: after each
    flush, the figures of periods that cut them are those worked out afresh."""
    rng = random.Random(18)  # noqa: S311 (a reproducible sequence of changes, not a secret)
    team = [member(session, "Dr Anne"), member(session, "Dr Bruno"), member(session, "Nina", "ipa")]
    team.append(member(session, "Ines", "infirmier"))
    opening = centre.load(session).opening
    origin = date(2027, 2, 22)

    def day() -> date:
        return origin + timedelta(days=rng.randrange(0, 75))

    seen = set()
    for step in range(60):
        shifts = list(session.scalars(select(Shift)))
        patterns = list(session.scalars(select(WeeklyPattern)))
        action = rng.randrange(9)
        if action == 0 or not shifts:
            start = rng.choice([8, 9, 13, 14, 20])
            shift = on_duty(session, rng.choice(team), day(), start, min(start + rng.randrange(2, 5), 23))
            shift.exceptional = rng.randrange(3) == 0
        elif action == 1:
            moved = rng.choice(shifts)
            moved.starts_at = at(day(), rng.randrange(7, 20))
            moved.ends_at = moved.starts_at + timedelta(hours=rng.choice([2, 4, 6]))
        elif action == 2:
            changed = rng.choice(shifts)
            changed.exceptional, changed.from_board = not changed.exceptional, not changed.from_board
        elif action == 3:
            session.delete(rng.choice(shifts))
        elif action == 4 or not patterns:
            session.add(
                WeeklyPattern(
                    member_id=rng.choice(team).id,
                    weekday=rng.randrange(0, 6),
                    start_time=time(rng.choice([8, 9, 10])),
                    end_time=time(rng.choice([12, 17])),
                    valid_from=day(),
                )
            )
        elif action == 5:
            ended = rng.choice(patterns)
            ended.valid_until = ended.valid_from + timedelta(days=rng.randrange(0, 40))
        elif action == 6:
            pattern = rng.choice(patterns)
            absent = pattern.valid_from + timedelta(weeks=rng.randrange(0, 8))
            if session.scalar(select(PatternException).filter_by(pattern_id=pattern.id, day=absent)) is None:
                session.add(PatternException(pattern_id=pattern.id, day=absent, reason="congés"))
        elif action == 7:
            session.delete(rng.choice(patterns))
        else:
            someone = session.get(TeamMember, rng.choice(team).id)
            someone.team = rng.choice(["flexible", "stable"])
            if someone.profession == "medecin":
                someone.doctor_status = rng.choice(["retraite", "interne", "installe"])
        session.flush()
        for period in PERIODS:
            for centre_opening in (opening, None):
                assert kept(session, period, centre_opening) == afresh(session, period, centre_opening), (
                    step,
                    action,
                    period,
                )
        seen.add(kept(session, PERIODS[0], opening)[0])
    assert len(seen) >= 20  # the changes moved the figures


def test_a_change_rolled_back_leaves_the_figures_of_the_roster_as_it_was(session):  # noqa: F811 (the fixture)
    someone = member(session, "Dr Anne")
    on_duty(session, someone, date(2027, 3, 2), 9, 12)
    session.commit()
    period = activity.Period(date(2027, 3, 1), date(2027, 3, 31))
    assert kept(session, period, None)[0] == 3
    on_duty(session, someone, date(2027, 3, 3), 9, 12)
    session.flush()
    assert kept(session, period, None)[0] == 6
    session.rollback()
    assert kept(session, period, None)[0] == 3


def test_a_roster_written_past_the_session_counts_once_the_version_is_drawn_again(session):  # noqa: F811 (the fixture)
    """The benchmark's bulk seed writes sessions with plain inserts: it draws a new version."""
    from sqlalchemy import insert

    from dalia_site.domain import roster_version

    someone = member(session, "Dr Anne")
    session.commit()
    period = activity.Period(date(2027, 3, 1), date(2027, 3, 31))
    assert kept(session, period, None)[0] == 0
    moment = datetime(2027, 3, 2, 8, tzinfo=PARIS)
    session.execute(
        insert(Shift).values(
            member_id=someone.id, starts_at=moment, ends_at=moment + timedelta(hours=2), note=""
        )
    )
    roster_version.bump(session.connection())
    assert kept(session, period, None)[0] == 2


def from_occurrences(db_session, first: date, last: date, opening) -> tuple:
    """The same figures from the sessions as roster.occurrences gives them (their instants) and
    the half-days as the planning builds them: nothing shared with roster_figures' way."""
    found = roster.occurrences(db_session, first, last, PARIS, professions=CLINICIANS, opening=opening)
    team = {someone.id: someone for someone in db_session.scalars(select(TeamMember))}
    seconds = {code: 0.0 for code, _ in roster_figures.STATUSES}
    for occurrence in found:
        someone = team[occurrence.member_id]
        status = (
            "junior" if someone.is_junior_doctor else "volunteer" if someone.team == "flexible" else "stable"
        )
        seconds[status] += occurrence.ends_at.timestamp() - occurrence.starts_at.timestamp()
    union, cursor = 0.0, None
    for start, end in sorted((o.starts_at.timestamp(), o.ends_at.timestamp()) for o in found):
        if cursor is None or start > cursor:
            union, cursor = union + end - start, end
        elif end > cursor:
            union, cursor = union + end - cursor, end
    uncovered = 0
    if opening is not None:
        duty = roster.read_duty(db_session, first, last, PARIS, professions=CLINICIANS, opening=opening)
        halves = planning.build_half_days(duty, team, opening, first, last, PARIS, active_only=False)
        uncovered = sum(1 for half in halves if half.open and not (half.has_doctor and half.has_nurse))
    taken = sum(occurrence.from_board for occurrence in found)
    hours = {code: value / 3600 for code, value in seconds.items()}
    return union / 3600, roster_figures.RosterFigures(hours, taken, uncovered)


def busy_roster(db_session, rng: random.Random) -> None:
    """Doctors (a volunteer, a stable one, an intern), nurses and an assistant (not counted), with
    one-off sessions around both clock changes — some past midnight, a few to the second, some
    exceptional (holidays among the days), some taken from the board — and weekly patterns on
    every weekday (Sunday's at night too), with absences and ends."""
    team = [member(db_session, "Dr Anne"), member(db_session, "Dr Bruno"), member(db_session, "Dr Chloé")]
    team += [member(db_session, "Nina", "ipa"), member(db_session, "Ines", "infirmier")]
    team.append(member(db_session, "Alix", "assistant_medical"))
    team[1].team, team[1].doctor_status = "stable", "installe"
    team[2].doctor_status = "interne"
    team[4].team = "stable"
    days = [date(2026, 10, 18) + timedelta(days=n) for n in range(24)]
    days += [date(2027, 3, 20) + timedelta(days=n) for n in range(24)]  # Easter Monday: 5 April
    for _ in range(120):
        starts = at(rng.choice(days), rng.randrange(0, 24), rng.choice([0, 15, 30, 45]))
        starts += timedelta(seconds=rng.choice([0, 0, 0, 30]))
        db_session.add(
            Shift(
                member_id=rng.choice(team).id,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=rng.randrange(30, 12 * 60, 15)),
                exceptional=rng.randrange(4) == 0,
                from_board=rng.randrange(4) == 0,
            )
        )
    for _ in range(14):
        start, end = rng.choice([(time(1), time(3, 30)), (time(8, 30), time(12, 30)), (time(12), time(18))])
        valid_from = date(2026, 10, 1) + timedelta(days=rng.randrange(0, 60))
        pattern = WeeklyPattern(
            member_id=rng.choice(team).id,
            weekday=rng.randrange(0, 7),
            start_time=start,
            end_time=end,
            valid_from=valid_from,
            valid_until=rng.choice([None, date(2027, 3, 29), date(2027, 4, 1)]),
        )
        db_session.add(pattern)
        db_session.flush()
        for week in rng.sample(range(30), 4):
            absent = valid_from + timedelta(weeks=week, days=(pattern.weekday - valid_from.weekday()) % 7)
            db_session.add(PatternException(pattern_id=pattern.id, day=absent, reason="congés"))
    db_session.commit()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_roster_figures_are_those_of_the_occurrences_and_the_planning(session, seed):  # noqa: F811
    """Whatever the sessions (past midnight, across a clock change, on a holiday, to the second)
    and patterns: the figures of a period, worked out afresh or kept day by day by the worker,
    are the union of the instants roster.occurrences gives, their hours by status, the half-days
    taken, and the open half-days the planning shows without a doctor or a nurse."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible roster, not a secret)
    busy_roster(session, rng)
    opening = centre.load(session).opening
    periods = [
        (date(2026, 10, 25), date(2026, 10, 25)),  # the clock goes back
        (date(2026, 10, 26), date(2026, 10, 26)),
        (date(2026, 10, 18), date(2026, 11, 10)),
        (date(2027, 3, 28), date(2027, 3, 28)),  # the clock goes forward
        (date(2027, 3, 29), date(2027, 4, 12)),
        (date(2026, 9, 1), date(2027, 5, 31)),
    ]
    for _ in range(12):
        first = rng.choice([date(2026, 10, 18), date(2027, 3, 20)]) + timedelta(days=rng.randrange(24))
        periods.append((first, first + timedelta(days=rng.randrange(0, 40))))
    seen = set()
    for first, last in periods:
        period = activity.Period(first, last)
        for centre_opening in (opening, None):
            expected = from_occurrences(session, first, last, centre_opening)
            assert afresh(session, period, centre_opening) == expected, (first, last)
            assert kept(session, period, centre_opening) == expected, (first, last)
            seen.add(expected[1].uncovered_half_days)
    assert len(seen) >= 4  # periods with and without uncovered half-days


def test_threads_asking_at_once_keep_each_day_once(app, session):  # noqa: F811 (the fixture)
    """A worker's threads (gunicorn's gthread) asking overlapping periods at once, right after a
    change of the roster: each gets the figures worked out afresh — a run of days two of them
    worked out at the same time is kept once, never counted twice."""
    busy_roster(session, random.Random(4))  # noqa: S311 (a reproducible roster, not a secret)
    opening = centre.load(session).opening
    periods = [
        activity.Period(date(2026, 9, 1) + timedelta(days=days), date(2027, 4, 30) - timedelta(days=days))
        for days in range(0, 120, 6)
    ]
    expected = {period: afresh(session, period, opening) for period in periods}
    wrong = []

    def ask(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 (a reproducible order, not a secret)
        with app.app_context():
            for period in rng.sample(periods, len(periods)):
                if kept(db.session, period, opening) != expected[period]:
                    wrong.append(period)

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, as under load
    try:
        threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switching)
    assert wrong == []
