"""The roster's figures of a period, for the activity report: the staffed hours (the union of
the doctors' and nurses' sessions), the hours of sessions by status (stable team, volunteers,
internes and SASPAS), the open half-days volunteers took from the board (issue 18), and the
half-days the centre opened that stayed without a doctor or a nurse.

One query (one-off sessions and weekly patterns with their absences and their members' status,
issue 22), and no occurrence built: a weekly pattern's session on a day is its wall-clock times
on that day's UTC offset (computed exactly on the two days the clock changes), so a year costs a
few thousand numbers, not thousands of aware datetimes. The same rules as roster.occurrences: a
one-off session counts on a closed day only if exceptional, a pattern never on a closed day or an
absence (roster.pattern_days); a half-day opens as planning.build_half_days says (planning.opens)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Date, Integer, Time, literal, null, select, union_all
from sqlalchemy import cast as sql_cast

from dalia_site.database import DbSession
from dalia_site.domain import planning
from dalia_site.domain.opening import HALVES, Opening
from dalia_site.domain.roster import local, pattern_days
from dalia_site.models import PatternException, Shift, TeamMember, WeeklyPattern
from dalia_site.models.roster import LONGEST_SESSION
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import CLINICIANS, DoctorStatus, Profession, Team

# Status of a doctor or nurse for the hours: (code, French label), in the report's order.
STATUSES = (
    ("stable", "équipe stable"),
    ("volunteer", "bénévoles de l'équipe flexible"),
    ("junior", "internes et SASPAS"),
)


def status_of(member: TeamMember) -> str:
    return _status(member.profession, member.doctor_status, member.team)


def _status(profession: Profession, doctor_status: DoctorStatus | None, team: Team) -> str:
    # TeamMember.is_junior_doctor's rule, on the columns read.
    if profession.is_doctor and doctor_status is not None and doctor_status.is_junior:
        return "junior"
    return "volunteer" if team == Team.FLEXIBLE else "stable"


@dataclass
class RosterFigures:
    hours_by_status: dict[str, float] = field(default_factory=lambda: {code: 0.0 for code, _ in STATUSES})
    taken_from_board: int = 0  # open half-days a volunteer took
    uncovered_half_days: int = 0  # open to patients, without a doctor or a nurse


class _Span(NamedTuple):
    """A clinician's session as POSIX seconds, with what the figures need of it."""

    starts: float
    ends: float
    doctor: bool
    nurse: bool
    exceptional: bool


class _Days:
    """POSIX seconds of a local wall-clock time, by day: one UTC offset lookup per day, and the
    exact conversion on a day the clock changes."""

    EPOCH = date(1970, 1, 1).toordinal()

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._offsets: dict[date, int | None] = {}

    def seconds(self, day: date, at: time) -> float:
        if day not in self._offsets:
            before = local(day, time(), self.zone).utcoffset()
            after = local(day, time(23, 59), self.zone).utcoffset()
            self._offsets[day] = (
                int(before.total_seconds()) if before is not None and before == after else None
            )
        offset = self._offsets[day]
        if offset is None:
            return local(day, at, self.zone).timestamp()
        return (day.toordinal() - self.EPOCH) * 86400 + at.hour * 3600 + at.minute * 60 + at.second - offset


def _rows(session: DbSession, first: date, last: date, zone: ZoneInfo) -> Any:
    """The clinicians' one-off sessions around [first, last] (as roster.occurrences reads them)
    and their weekly patterns valid then, once per absence within the dates: one statement."""
    start, end = local(first, time(), zone), local(last + timedelta(days=1), time(), zone)
    moment, clock_time, day, number, flag = UTCDateTime(), Time(), Date(), Integer(), Boolean()
    member = (TeamMember.profession, TeamMember.doctor_status, TeamMember.team)
    sessions = (
        select(
            Shift.member_id.label("member_id"),
            *member,
            Shift.starts_at.label("starts_at"),
            Shift.ends_at.label("ends_at"),
            Shift.exceptional.label("exceptional"),
            Shift.from_board.label("from_board"),
            sql_cast(null(), number).label("pattern_id"),
            sql_cast(null(), number).label("weekday"),
            sql_cast(null(), clock_time).label("start_time"),
            sql_cast(null(), clock_time).label("end_time"),
            sql_cast(null(), day).label("valid_from"),
            sql_cast(null(), day).label("valid_until"),
            sql_cast(null(), day).label("absent"),
        )
        .join(TeamMember, TeamMember.id == Shift.member_id)
        .where(
            TeamMember.profession.in_(list(CLINICIANS)),
            Shift.starts_at < end,
            Shift.starts_at > start - LONGEST_SESSION,
            Shift.ends_at > start,
        )
    )
    patterns = (
        select(
            WeeklyPattern.member_id,
            *member,
            sql_cast(null(), moment),
            sql_cast(null(), moment),
            literal(False, flag),
            literal(False, flag),
            WeeklyPattern.id,
            WeeklyPattern.weekday,
            WeeklyPattern.start_time,
            WeeklyPattern.end_time,
            WeeklyPattern.valid_from,
            WeeklyPattern.valid_until,
            PatternException.day,
        )
        .join(TeamMember, TeamMember.id == WeeklyPattern.member_id)
        .outerjoin(
            PatternException,
            (PatternException.pattern_id == WeeklyPattern.id) & PatternException.day.between(first, last),
        )
        .where(
            TeamMember.profession.in_(list(CLINICIANS)),
            WeeklyPattern.valid_from <= last,
            (WeeklyPattern.valid_until.is_(None)) | (WeeklyPattern.valid_until >= first),
        )
    )
    return session.execute(union_all(sessions, patterns))


def figures(
    session: DbSession, first: date, last: date, zone: ZoneInfo, opening: Opening | None
) -> tuple[float, RosterFigures]:
    """The staffed hours and the roster figures of [first, last]; with the centre's `opening`,
    nothing counts on a closed day and the uncovered half-days are counted (none without it)."""
    closed = opening.closed_days(first - timedelta(days=1), last) if opening is not None else {}
    days = _Days(zone)
    result = RosterFigures()
    seconds = dict.fromkeys(result.hours_by_status, 0.0)
    spans: list[_Span] = []
    by_day: dict[date, list[_Span]] = {}
    patterns: dict[int, tuple[Any, set[date]]] = {}
    members: dict[int, tuple[str, bool, bool]] = {}  # status, doctor, nurse
    for row in _rows(session, first, last, zone):
        (
            member_id,
            profession,
            doctor_status,
            team,
            starts_at,
            ends_at,
            exceptional,
            from_board,
            pattern_id,
        ) = row[:9]
        if pattern_id is not None:
            patterns.setdefault(pattern_id, (row, set()))[1].update([row.absent] if row.absent else [])
            continue
        on = starts_at.astimezone(zone).date()
        if not exceptional and on in closed:
            continue
        member = members.get(member_id)
        if member is None:
            member = members[member_id] = (
                _status(profession, doctor_status, team),
                profession.is_doctor,
                profession.is_nurse,
            )
        span = _Span(starts_at.timestamp(), ends_at.timestamp(), member[1], member[2], exceptional)
        spans.append(span)
        by_day.setdefault(on, []).append(span)
        seconds[member[0]] += (ends_at - starts_at).total_seconds()
        result.taken_from_board += from_board
    for row, absences in patterns.values():
        status = _status(row.profession, row.doctor_status, row.team)
        doctor, nurse = row.profession.is_doctor, row.profession.is_nurse
        for on in pattern_days(cast(WeeklyPattern, row), first, last, absences | closed.keys()):
            span = _Span(
                days.seconds(on, row.start_time), days.seconds(on, row.end_time), doctor, nurse, False
            )
            spans.append(span)
            by_day.setdefault(on, []).append(span)
            seconds[status] += span.ends - span.starts
    result.hours_by_status = {code: total / 3600 for code, total in seconds.items()}
    if opening is not None:
        result.uncovered_half_days = _uncovered(by_day, opening, first, last, days)
    return _union_hours(spans), result


def _uncovered(
    by_day: dict[date, list[_Span]], opening: Opening, first: date, last: date, days: _Days
) -> int:
    """The half-days open to patients (planning.opens) without a doctor or without a nurse."""
    closed = opening.closed_days(first, last)
    windows = [(code, *opening.window(code)) for code in HALVES]
    uncovered, day = 0, first
    while day <= last:
        on_day = by_day.get(day, ())
        for code, start, end in windows:
            if not on_day and not opening.half_is_open(day, code):
                continue
            starts, ends = days.seconds(day, start), days.seconds(day, end)
            during = [s for s in on_day if s.starts < ends and starts < s.ends]
            if planning.opens(opening, closed, day, code, any(s.exceptional for s in during)) and not (
                any(s.doctor for s in during) and any(s.nurse for s in during)
            ):
                uncovered += 1
        day += timedelta(days=1)
    return uncovered


def _union_hours(spans: list[_Span]) -> float:
    total, cursor = 0.0, None
    for start, end in sorted((s.starts, s.ends) for s in spans):
        if cursor is None or start > cursor:
            total += end - start
            cursor = end
        elif end > cursor:
            total += end - cursor
            cursor = end
    return total / 3600
