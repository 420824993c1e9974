"""The roster's figures of a period, for the activity report: the staffed hours (the union of
the doctors' and nurses' sessions), the hours of sessions by status (stable team, volunteers,
internes and SASPAS), the open half-days volunteers took from the board (issue 18), and the
half-days the centre opened that stayed without a doctor or a nurse.

One query (the clinicians' one-off sessions and weekly patterns with their absences and their
members' status, issue 22), read as plain values, and no occurrence built: a session is two POSIX
seconds filed under its local day. A weekly pattern's session on a day is its wall-clock times
added to that day's local midnight (exact on the days the clock changes), and which half-days it
overlaps is known once per pattern. The same rules as roster.occurrences: a one-off session
counts on a closed day only if exceptional, a pattern never on a closed day or an absence
(roster.pattern_days); a half-day opens as planning.build_half_days says (planning.opens)."""

from __future__ import annotations

import functools
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Date, DateTime, Select, bindparam, select, type_coerce

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import planning
from dalia_site.domain.opening import HALVES, Opening
from dalia_site.domain.roster import local, pattern_days
from dalia_site.models import PatternException, Shift, TeamMember, WeeklyPattern
from dalia_site.models.roster import LONGEST_SESSION, is_junior_doctor
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import CLINICIANS, DoctorStatus, Profession, Team

# Status of a doctor or nurse for the hours: (code, French label), in the report's order.
STATUSES = (
    ("stable", "équipe stable"),
    ("volunteer", "bénévoles de l'équipe flexible"),
    ("junior", "internes et SASPAS"),
)


def _status(profession: Profession, doctor_status: DoctorStatus | None, team: Team) -> str:
    if is_junior_doctor(profession, doctor_status):
        return "junior"
    return "volunteer" if team == Team.FLEXIBLE else "stable"


@dataclass
class RosterFigures:
    hours_by_status: dict[str, float] = field(default_factory=lambda: {code: 0.0 for code, _ in STATUSES})
    taken_from_board: int = 0  # open half-days a volunteer took
    uncovered_half_days: int = 0  # open to patients, without a doctor or a nurse


# What a session brings to a half-day it overlaps (bits of a mask).
DOCTOR, NURSE, EXCEPTIONAL = 1, 2, 4
COVERED = DOCTOR | NURSE
POSIX_EPOCH = datetime(1970, 1, 1)


class _Days:
    """The local days from the day before `first` to `last`, by index (0 is the day before): each
    one's local midnight in POSIX seconds, and its UTC offset when the clock does not change that
    day (None when it does). A wall-clock time is then one addition to its day's midnight, and a
    moment's day a bisection of the midnights. The offset is looked up once a week, and day by day
    only in a week where it changed (no zone changes twice within a week)."""

    def __init__(self, zone: ZoneInfo, first: date, last: date) -> None:
        self.zone = zone
        self.first = first - timedelta(days=1)
        count = (last - self.first).days + 1
        self.offsets: list[int | None] = []
        for start in range(0, count, 7):
            end = min(start + 7, count)
            if self._offset(start, time()) == self._offset(end, time()):
                self.offsets += [self._offset(start, time())] * (end - start)
                continue
            for index in range(start, end):
                before = self._offset(index, time())
                self.offsets.append(before if before == self._offset(index, time(23, 59)) else None)
        origin = (self.first - POSIX_EPOCH.date()).days * 86400
        self.midnights = [
            origin + index * 86400 - offset
            if offset is not None
            else local(self.day(index), time(), zone).timestamp()
            for index, offset in enumerate(self.offsets)
        ]

    def _offset(self, index: int, at: time) -> int | None:
        offset = local(self.day(index), at, self.zone).utcoffset()
        return None if offset is None else int(offset.total_seconds())

    def day(self, index: int) -> date:
        return self.first + timedelta(days=index)

    def seconds(self, index: int, at: time) -> float:
        """POSIX seconds of the wall-clock time `at` on the day `index` (roster.local's)."""
        if self.offsets[index] is None:
            return local(self.day(index), at, self.zone).timestamp()
        return self.midnights[index] + _of_day(at)


def _of_day(at: time) -> int:
    return at.hour * 3600 + at.minute * 60 + at.second


@functools.cache
def _members() -> Select[*tuple[Any, ...]]:
    """The doctors and nurses, each with their weekly patterns valid within [:first, :last] (none:
    one row with no pattern), each pattern once per absence within the dates. Built once."""
    first, last = bindparam("first", type_=Date()), bindparam("last", type_=Date())
    return (
        select(
            TeamMember.id,
            TeamMember.profession,
            TeamMember.doctor_status,
            TeamMember.team,
            WeeklyPattern.id.label("pattern_id"),
            WeeklyPattern.weekday,
            WeeklyPattern.start_time,
            WeeklyPattern.end_time,
            WeeklyPattern.valid_from,
            WeeklyPattern.valid_until,
            PatternException.day.label("absent"),
        )
        .outerjoin(
            WeeklyPattern,
            (WeeklyPattern.member_id == TeamMember.id)
            & (WeeklyPattern.valid_from <= last)
            & (WeeklyPattern.valid_until.is_(None) | (WeeklyPattern.valid_until >= first)),
        )
        .outerjoin(
            PatternException,
            (PatternException.pattern_id == WeeklyPattern.id) & PatternException.day.between(first, last),
        )
        .where(TeamMember.profession.in_(list(CLINICIANS)))
    )


@functools.cache
def _sessions() -> Select[*tuple[Any, ...]]:
    """The clinicians' one-off sessions that start before :end and end after :start, starting
    after :earliest (as roster.occurrences reads them), as plain values: naive UTC datetimes, no
    conversion per row (a year is a thousand rows). Built once."""
    moment = DateTime()
    start, end, earliest = (bindparam(name, type_=UTCDateTime()) for name in ("start", "end", "earliest"))
    return select(
        Shift.member_id,
        type_coerce(Shift.starts_at, moment),
        type_coerce(Shift.ends_at, moment),
        Shift.exceptional,
        Shift.from_board,
    ).where(
        Shift.member_id.in_(select(TeamMember.id).where(TeamMember.profession.in_(list(CLINICIANS)))),
        Shift.starts_at < end,
        Shift.starts_at > earliest,
        Shift.ends_at > start,
    )


def figures(
    session: DbSession, first: date, last: date, zone: ZoneInfo, opening: Opening | None
) -> tuple[float, RosterFigures]:
    """The staffed hours and the roster figures of [first, last] in two queries; with the
    centre's `opening`, nothing counts on a closed day and the uncovered half-days are counted
    (none without it)."""
    closed = opening.closed_days(first - timedelta(days=1), last) if opening is not None else {}
    days = _Days(zone, first, last)
    # Each half-day's hours (wall clock), and on each day (POSIX seconds).
    hours = [opening.window(code) for code in HALVES] if opening is not None else []
    windows = [
        [(days.seconds(index, opens), days.seconds(index, closes)) for index in range(len(days.offsets))]
        for opens, closes in hours
    ]
    result = RosterFigures()
    seconds = dict.fromkeys(result.hours_by_status, 0.0)
    # By day index: the sessions as (starts, ends) in POSIX seconds, and for each half-day what
    # the sessions overlapping it bring (a mask).
    spans: list[list[tuple[float, float]]] = [[] for _ in days.offsets]
    masks = [0] * (2 * len(days.offsets))

    def file(index: int, starts: float, ends: float, brings: int) -> None:
        spans[index].append((starts, ends))
        for half, on_day in enumerate(windows):
            opens, closes = on_day[index]
            if starts < closes and opens < ends:
                masks[2 * index + half] |= brings

    members: dict[int, tuple[str, int]] = {}  # status, what they bring
    patterns: dict[int, tuple[Any, set[date]]] = {}
    for row in column_rows(session, _members(), {"first": first, "last": last}):
        if row.id not in members:
            members[row.id] = (_status(row.profession, row.doctor_status, row.team), _brings(row.profession))
        if row.pattern_id is not None:
            patterns.setdefault(row.pattern_id, (row, set()))[1].update([row.absent] if row.absent else [])
    closed_at = {(day - days.first).days for day in closed}
    start, end = local(first, time(), zone), local(last + timedelta(days=1), time(), zone)
    bounds = {"start": start, "end": end, "earliest": start - LONGEST_SESSION}
    midnights, taken = days.midnights, 0
    for member_id, starts_at, ends_at, exceptional, from_board in column_rows(session, _sessions(), bounds):
        starts = (starts_at - POSIX_EPOCH).total_seconds()
        index = bisect_right(midnights, starts) - 1  # its day
        if not exceptional and index in closed_at:
            continue
        status, brings = members[member_id]
        ends = (ends_at - POSIX_EPOCH).total_seconds()
        file(index, starts, ends, brings | EXCEPTIONAL if exceptional else brings)
        seconds[status] += (ends_at - starts_at).total_seconds()
        taken += from_board
    result.taken_from_board = taken
    for row, absences in patterns.values():
        status, brings = members[row.id]
        # On a day the clock does not change: the same seconds after midnight, the same
        # half-days overlapped.
        starts, ends = _of_day(row.start_time), _of_day(row.end_time)
        overlaps = [
            half
            for half, (opens, closes) in enumerate(hours)
            if starts < _of_day(closes) and _of_day(opens) < ends
        ]
        for on in pattern_days(cast(WeeklyPattern, row), first, last, absences | closed.keys()):
            index = (on - days.first).days
            if days.offsets[index] is None:
                span = days.seconds(index, row.start_time), days.seconds(index, row.end_time)
                file(index, *span, brings)
                seconds[status] += span[1] - span[0]
                continue
            midnight = days.midnights[index]
            spans[index].append((midnight + starts, midnight + ends))
            seconds[status] += ends - starts
            for half in overlaps:
                masks[2 * index + half] |= brings
    result.hours_by_status = {code: total / 3600 for code, total in seconds.items()}
    if opening is not None:
        result.uncovered_half_days = _uncovered(masks, opening, closed, days)
    return _union_hours(spans), result


def _brings(profession: Profession) -> int:
    """What a member brings to a half-day they are on."""
    return (DOCTOR if profession.is_doctor else 0) | (NURSE if profession.is_nurse else 0)


def _uncovered(masks: list[int], opening: Opening, closed: dict[date, str], days: _Days) -> int:
    """The half-days of [first, last] open to patients (planning.opens) without a doctor or
    without a nurse."""
    uncovered = 0
    for index in range(1, len(days.offsets)):
        for half, code in enumerate(HALVES):
            mask = masks[2 * index + half]
            if mask & COVERED != COVERED and planning.opens(
                opening, closed, days.day(index), code, bool(mask & EXCEPTIONAL)
            ):
                uncovered += 1
    return uncovered


def _union_hours(spans: list[list[tuple[float, float]]]) -> float:
    """The hours covered by at least one session. Days in order, each day's sessions sorted: all
    of them in order of start, a session starting before its day's end."""
    total, cursor = 0.0, None
    for on_day in spans:
        for start, end in sorted(on_day):
            if cursor is None or start > cursor:
                total += end - start
                cursor = end
            elif end > cursor:
                total += end - cursor
                cursor = end
    return total / 3600
