"""The roster's figures of a period (staffed hours, hours by status, half-days taken from the board
and left uncovered), which each worker keeps day by day for the roster's version
(domain/roster_version.py): right after any change of the roster, whoever writes it, they are
what the sessions and weekly patterns give when worked out afresh."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from dalia_site.domain import activity, centre, roster_figures
from dalia_site.models import PatternException, Shift, TeamMember, WeeklyPattern
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
