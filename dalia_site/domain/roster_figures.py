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
(roster.pattern_days); a half-day opens as planning.build_half_days says (planning.opens).

A period's figures are the sum of its days' (each day's sessions, and those of the day before
that reach into the period): a day's figures change only with the roster, so each worker keeps
the days it worked out for the roster's version (domain/roster_version.py, read with the
activity figures) and reads only the months it has not seen — right after a change of the
roster, a year is worked out again from its sessions and patterns."""

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


@dataclass(frozen=True)
class _Day:
    """What a local day brings to a period's roster figures, from the sessions filed under it:
    the seconds of sessions by status (STATUSES' order), the sessions taken from the board, its
    open half-days left uncovered, and its sessions (POSIX seconds, sorted) with the measure of
    their union and the latest end. `before` is the same of its one-off sessions that end after
    its midnight: what the day brings as the day before a period (sessions reaching into it)."""

    seconds: tuple[float, ...]
    taken: int
    uncovered: int
    spans: list[tuple[float, float]]
    union: float
    reach: float
    before: _Day | None = None


class _Known:
    """The days worked out in this process, for each site, zone and opening, for one version of
    the roster (domain/roster_version.py): a new version forgets them."""

    def __init__(self) -> None:
        self._sites: dict[tuple[object, ...], tuple[object, dict[date, _Day]]] = {}

    def days(
        self, session: DbSession, zone: ZoneInfo, opening: Opening | None, version: object
    ) -> dict[date, _Day]:
        key = (str(session.get_bind().engine.url), zone.key, opening)
        found = self._sites.get(key)
        if found is None or found[0] != version:
            self._sites.pop(key, None)
            while len(self._sites) >= 8:  # a few sites or openings at most
                self._sites.pop(next(iter(self._sites)))
            found = self._sites[key] = (version, {})
        return found[1]


_KNOWN = _Known()


def figures(
    session: DbSession,
    first: date,
    last: date,
    zone: ZoneInfo,
    opening: Opening | None,
    version: object = None,
) -> tuple[float, RosterFigures]:
    """The staffed hours and the roster figures of [first, last]; with the centre's `opening`,
    nothing counts on a closed day and the uncovered half-days are counted (none without it).
    Worked out day by day (two queries for a run of days); with the roster's `version`
    (domain/roster_version.py), the days this process already worked out for that version are
    not read again: a day's figures change only with the roster."""
    wanted = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    if version is None:
        before, days = _days_of(session, first, last, zone, opening)
        return _sum(before, days)
    known = _KNOWN.days(session, zone, opening, version)
    day_before = first - timedelta(days=1)
    missing = [day for day in (day_before, *wanted) if day not in known]
    if len(missing) < len(wanted):
        # A period next to those asked before: the calendar months of its days not yet known,
        # worked out whole, so that the next periods asked (moved by a day or two) find them.
        months = sorted({day.replace(day=1) for day in missing})
        missing = [day for month in months for day in _month(month) if day not in known]
    for run_first, run_last in _runs(missing):
        _, days = _days_of(session, run_first, run_last, zone, opening)
        known.update(zip((run_first + timedelta(days=n) for n in range(len(days))), days, strict=True))
    reaching = known[day_before].before
    assert reaching is not None
    return _sum(reaching, [known[day] for day in wanted])


def _month(first: date) -> list[date]:
    """The days of the month that begins on `first`."""
    following = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=n) for n in range((following - first).days)]


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _sum(before: _Day, days: list[_Day]) -> tuple[float, RosterFigures]:
    """A period's figures from its days' (and the day before's sessions reaching into it). The
    seconds are whole numbers: their sum is the same in any order."""
    seconds = [0.0] * len(STATUSES)
    result = RosterFigures()
    total, cursor = 0.0, None
    for day in (before, *days):
        for index, value in enumerate(day.seconds):
            seconds[index] += value
        result.taken_from_board += day.taken
        result.uncovered_half_days += day.uncovered
        if not day.spans:
            continue
        if cursor is None or day.spans[0][0] >= cursor:
            total += day.union  # nothing before it reaches into its sessions
            cursor = day.reach
            continue
        for start, end in day.spans:
            if start > cursor:
                total += end - start
                cursor = end
            elif end > cursor:
                total += end - cursor
                cursor = end
    result.hours_by_status = {code: value / 3600 for (code, _), value in zip(STATUSES, seconds, strict=True)}
    return total / 3600, result


def _days_of(
    session: DbSession, first: date, last: date, zone: ZoneInfo, opening: Opening | None
) -> tuple[_Day, list[_Day]]:
    """The day before `first` (its sessions reaching into `first`) and each day of [first, last],
    in two queries."""
    closed = opening.closed_days(first - timedelta(days=1), last) if opening is not None else {}
    days = _Days(zone, first, last)
    count = len(days.offsets)
    # Each half-day's hours (wall clock), and on each day (POSIX seconds).
    hours = [opening.window(code) for code in HALVES] if opening is not None else []
    windows = [
        [(days.seconds(index, opens), days.seconds(index, closes)) for index in range(count)]
        for opens, closes in hours
    ]
    # By day index: the sessions as (starts, ends) in POSIX seconds, for each half-day what the
    # sessions overlapping it bring (a mask), the seconds by status and the sessions taken from
    # the board; the same of the one-off sessions ending after the next midnight.
    spans: list[list[tuple[float, float]]] = [[] for _ in range(count)]
    masks = [0] * (2 * count)
    seconds = [[0.0] * len(STATUSES) for _ in range(count)]
    taken = [0] * count
    reaching: dict[int, tuple[list[float], list[int], list[tuple[float, float]]]] = {}

    def file(index: int, starts: float, ends: float, brings: int) -> None:
        spans[index].append((starts, ends))
        for half, on_day in enumerate(windows):
            opens, closes = on_day[index]
            if starts < closes and opens < ends:
                masks[2 * index + half] |= brings

    members: dict[int, tuple[int, int]] = {}  # status (STATUSES' index), what they bring
    patterns: dict[int, tuple[Any, set[date]]] = {}
    order = {code: index for index, (code, _) in enumerate(STATUSES)}
    for row in column_rows(session, _members(), {"first": first, "last": last}):
        if row.id not in members:
            members[row.id] = (
                order[_status(row.profession, row.doctor_status, row.team)],
                _brings(row.profession),
            )
        if row.pattern_id is not None:
            patterns.setdefault(row.pattern_id, (row, set()))[1].update([row.absent] if row.absent else [])
    closed_at = {(day - days.first).days for day in closed}
    start, end = local(first, time(), zone), local(last + timedelta(days=1), time(), zone)
    bounds = {"start": start, "end": end, "earliest": start - LONGEST_SESSION}
    midnights = days.midnights
    following = [*midnights[1:], end.timestamp()]  # each day's next midnight
    for member_id, starts_at, ends_at, exceptional, from_board in column_rows(session, _sessions(), bounds):
        starts = (starts_at - POSIX_EPOCH).total_seconds()
        index = bisect_right(midnights, starts) - 1  # its day
        if not exceptional and index in closed_at:
            continue
        status, brings = members[member_id]
        ends = (ends_at - POSIX_EPOCH).total_seconds()
        file(index, starts, ends, brings | EXCEPTIONAL if exceptional else brings)
        length = (ends_at - starts_at).total_seconds()
        seconds[index][status] += length
        taken[index] += from_board
        if ends > following[index]:
            reach = reaching.setdefault(index, ([0.0] * len(STATUSES), [0], []))
            reach[0][status] += length
            reach[1][0] += from_board
            reach[2].append((starts, ends))
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
                seconds[index][status] += span[1] - span[0]
                continue
            midnight = days.midnights[index]
            spans[index].append((midnight + starts, midnight + ends))
            seconds[index][status] += ends - starts
            for half in overlaps:
                masks[2 * index + half] |= brings
    uncovered = _uncovered(masks, opening, closed, days) if opening is not None else [0] * count
    nothing = _day((0.0,) * len(STATUSES), 0, 0, [])
    befores = [
        _day(tuple(reaching[index][0]), reaching[index][1][0], 0, reaching[index][2])
        if index in reaching
        else nothing
        for index in range(count)
    ]
    return befores[0], [
        _day(tuple(seconds[index]), taken[index], uncovered[index], spans[index], befores[index])
        for index in range(1, count)
    ]


def _day(
    seconds: tuple[float, ...],
    taken: int,
    uncovered: int,
    spans: list[tuple[float, float]],
    before: _Day | None = None,
) -> _Day:
    """A day's figures, its sessions sorted and their union measured."""
    spans.sort()
    union, cursor = 0.0, None
    for start, end in spans:
        if cursor is None or start > cursor:
            union += end - start
            cursor = end
        elif end > cursor:
            union += end - cursor
            cursor = end
    return _Day(seconds, taken, uncovered, spans, union, cursor or 0.0, before)


def _brings(profession: Profession) -> int:
    """What a member brings to a half-day they are on."""
    return (DOCTOR if profession.is_doctor else 0) | (NURSE if profession.is_nurse else 0)


def _uncovered(masks: list[int], opening: Opening, closed: dict[date, str], days: _Days) -> list[int]:
    """By day index, its half-days open to patients (planning.opens) without a doctor or
    without a nurse (none on the day before the period, index 0)."""
    uncovered = [0] * len(days.offsets)
    for index in range(1, len(days.offsets)):
        for half, code in enumerate(HALVES):
            mask = masks[2 * index + half]
            if mask & COVERED != COVERED and planning.opens(
                opening, closed, days.day(index), code, bool(mask & EXCEPTIONAL)
            ):
                uncovered[index] += 1
    return uncovered
