"""The roster's figures of a period, for the activity report: the staffed hours (the union of
the doctors' and nurses' sessions), the hours of sessions by status (stable team, volunteers,
internes and SASPAS), the open half-days volunteers took from the board (issue 18), and the
half-days the centre opened that stayed without a doctor or a nurse.

Two queries (the doctors and nurses with their weekly patterns and absences; their one-off
sessions, issue 22), read as plain values, and no occurrence built. A session is filed under its
local day as its start and end after that day's midnight (a naive UTC datetime, as rows are
read); a weekly pattern's are its wall-clock times on a day the clock does not change (exact on
the days it does), its days found by stepping a week at a time. The times after midnight that
occur (the sessions' and the half-days' bounds) cut a day into pieces: a day's sessions are the
bits of the pieces they cover, an int, so that their union is one `|`, its measure is looked up
once for each set of pieces, and a session overlaps a half-day when their bits meet. The same
rules as roster.occurrences: a one-off session counts on a closed day only if exceptional, a
pattern never on a closed day or an absence (roster.pattern_days); a half-day opens as
planning.build_half_days says (planning.opens).

A period's figures are the sum of its days' (each day's sessions, and those of the day before
that reach into the period): a day's figures change only with the roster, so each worker keeps
the runs of days it worked out for the roster's version (domain/roster_version.py, read with the
activity figures) and reads only the months it has not seen — right after a change of the
roster, a year is worked out again from its sessions and patterns."""

from __future__ import annotations

import functools
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate, filterfalse, repeat
from operator import add, attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, DateTime, Select, String, bindparam, select, type_coerce

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import planning
from dalia_site.domain.opening import HALVES, Opening
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


# What a member brings to a half-day they are on (bits), and a session of « ouverture
# exceptionnelle ».
DOCTOR, NURSE, EXCEPTIONAL = 1, 2, 4
ZERO, ONE_DAY = timedelta(), timedelta(days=1)
_ORDER = {code: index for index, (code, _) in enumerate(STATUSES)}


class _Calendar:
    """The local days from the day before `first` to `last`, by index (0 is the day before): each
    one's local midnight as a naive UTC datetime, the midnight after `last` last, and the days the
    clock changes. The offset is looked up once a week, and day by day only in a week where it
    changed (no zone changes twice within a week)."""

    def __init__(self, zone: ZoneInfo, first: date, last: date) -> None:
        self.zone = zone
        self.first = first - timedelta(days=1)
        count = (last - self.first).days + 1
        self.days: list[date] = list(accumulate(repeat(ONE_DAY, count), add, initial=self.first))
        walls: list[datetime] = list(
            accumulate(repeat(ONE_DAY, count), add, initial=datetime.combine(self.first, time()))
        )
        self.midnights: list[datetime] = []
        self.changes: set[int] = set()
        for week in range(0, count + 1, 7):
            offset = _offset(zone, walls[week])
            if offset == _offset(zone, walls[min(week + 7, count)]):
                self.midnights += [wall - offset for wall in walls[week : week + 7]]
                continue
            for index in range(week, min(week + 7, count + 1)):
                offset = _offset(zone, walls[index])
                self.midnights.append(walls[index] - offset)
                if offset != _offset(zone, walls[index].replace(hour=23, minute=59)):
                    self.changes.add(index)

    def after_midnight(self, index: int, at: time) -> timedelta:
        """How long after the day's midnight the wall-clock time `at` is (roster.local's)."""
        if index in self.changes:
            wall = datetime.combine(self.days[index], at)
            return wall - _offset(self.zone, wall) - self.midnights[index]
        return _of_day(at)


def _offset(zone: ZoneInfo, wall: datetime) -> timedelta:
    """The UTC offset of a local wall-clock time (the first of a time the clock repeats)."""
    offset = zone.utcoffset(wall)
    assert offset is not None  # a zone always has one
    return offset


@functools.cache
def _of_day(at: time) -> timedelta:
    return timedelta(hours=at.hour, minutes=at.minute, seconds=at.second, microseconds=at.microsecond)


@functools.cache
def _members() -> Select[*tuple[Any, ...]]:
    """The doctors and nurses (their vocabulary as stored), each with their weekly patterns valid
    within [:first, :last] (none: one row with no pattern), each pattern once per absence within
    the dates. Built once."""
    first, last = bindparam("first", type_=Date()), bindparam("last", type_=Date())
    return (
        select(
            TeamMember.id,
            type_coerce(TeamMember.profession, String()),
            type_coerce(TeamMember.doctor_status, String()),
            type_coerce(TeamMember.team, String()),
            WeeklyPattern.id,
            WeeklyPattern.weekday,
            WeeklyPattern.start_time,
            WeeklyPattern.end_time,
            WeeklyPattern.valid_from,
            WeeklyPattern.valid_until,
            PatternException.day,
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
    conversion per row (a year is a thousand rows); by start, as the index of their times gives
    them (a day's are read together). Built once."""
    moment = DateTime()
    start, end, earliest = (bindparam(name, type_=UTCDateTime()) for name in ("start", "end", "earliest"))
    return (
        select(
            Shift.member_id,
            type_coerce(Shift.starts_at, moment),
            type_coerce(Shift.ends_at, moment),
            Shift.exceptional,
            Shift.from_board,
        )
        .where(
            Shift.member_id.in_(select(TeamMember.id).where(TeamMember.profession.in_(list(CLINICIANS)))),
            Shift.starts_at < end,
            Shift.starts_at > earliest,
            Shift.ends_at > start,
        )
        .order_by(Shift.starts_at)
    )


def _pieces(bits: int, points: list[timedelta]) -> Iterator[tuple[timedelta, timedelta]]:
    """The disjoint spans after midnight that a day's bits cover, in order (bit k is the piece
    from points[k] to points[k + 1])."""
    low = 0
    while bits:
        skipped = (bits & -bits).bit_length() - 1
        bits >>= skipped
        low += skipped
        ones = (~bits & (bits + 1)).bit_length() - 1
        yield points[low], points[low + ones]
        bits >>= ones
        low += ones


class _Run:
    """The figures of a run of days, by index as in _Calendar (the day before the run only for
    its sessions reaching past midnight): by status, the sessions' length; the sessions taken
    from the board; the half-days left uncovered; the sessions as bits of the pieces of the day
    cut at `points`, and their union's measure; for a day whose one-off sessions end past the
    next midnight (`reaching`, in order), the same of those sessions (`before`)."""

    def __init__(self, calendar: _Calendar, points: list[timedelta], sessions: _OneOffs) -> None:
        count = len(calendar.midnights) - 1
        self.first, self.last = calendar.days[1], calendar.days[count - 1]  # the days kept
        self.midnights = calendar.midnights
        self.points = points
        self.seconds = sessions.lengths  # the patterns' are added
        self.taken = sessions.taken
        self.uncovered = [0] * count
        self.covered: list[int] = []
        self.union: list[timedelta] = []
        self.before: dict[int, tuple[list[timedelta], int, int]] = {}
        self.reaching: list[int] = []
        self._measures: dict[int, timedelta] = {0: ZERO}

    def measure(self, bits: int) -> timedelta:
        found = self._measures.get(bits)
        if found is None:
            found = sum((end - start for start, end in _pieces(bits, self.points)), ZERO)
            self._measures[bits] = found
        return found

    def reach(self, index: int, bits: int) -> datetime:
        """The latest end of a day's sessions (`bits`, not none)."""
        return self.midnights[index] + self.points[bits.bit_length()]

    def beyond(self, index: int, cursor: datetime) -> tuple[timedelta, datetime]:
        """What a day's sessions add to the union past `cursor` (the latest end of the days
        before), and the latest end then."""
        midnight, added = self.midnights[index], ZERO
        for after, until in _pieces(self.covered[index], self.points):
            start, end = midnight + after, midnight + until
            if start > cursor:
                added += end - start
                cursor = end
            elif end > cursor:
                added += end - cursor
                cursor = end
        return added, cursor


class _Known:
    """The runs of days worked out in this process, for each site, zone and opening, for one
    version of the roster (domain/roster_version.py): a new version forgets them. A tuple in
    order, replaced whole under a lock: a request's threads read it as it is, and a run two of
    them worked out at once is kept once."""

    def __init__(self) -> None:
        self._sites: dict[tuple[object, ...], tuple[object, tuple[_Run, ...]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session: DbSession, zone: ZoneInfo, opening: Opening | None) -> tuple[object, ...]:
        return (str(session.get_bind().engine.url), zone.key, opening)

    def runs(
        self, session: DbSession, zone: ZoneInfo, opening: Opening | None, version: object
    ) -> tuple[_Run, ...]:
        found = self._sites.get(self._key(session, zone, opening))
        return found[1] if found is not None and found[0] == version else ()

    def keep(
        self, session: DbSession, zone: ZoneInfo, opening: Opening | None, version: object, new: list[_Run]
    ) -> tuple[_Run, ...]:
        """The runs kept, with those `new` ones that no run kept meets."""
        key = self._key(session, zone, opening)
        with self._lock:
            found = self._sites.get(key)  # read, not taken out: other threads read it meanwhile
            runs = found[1] if found is not None and found[0] == version else ()
            new = [run for run in new if _missing(runs, run.first, run.last) == [(run.first, run.last)]]
            runs = tuple(sorted((*runs, *new), key=attrgetter("first")))
            while found is None and len(self._sites) >= 8:  # a few sites or openings at most
                self._sites.pop(next(iter(self._sites)))
            self._sites[key] = (version, runs)
            return runs


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
    Worked out for a run of days in two queries; with the roster's `version`
    (domain/roster_version.py), the days this process already worked out for that version are
    not read again: a day's figures change only with the roster."""
    if version is None:
        run = _run(session, first, last, zone, opening)
        return _sum((run, 0), [(run, 1, len(run.taken) - 1)])
    runs = _KNOWN.runs(session, zone, opening, version)
    day_before = first - timedelta(days=1)
    while missing := _missing(runs, day_before, last):  # once, but where another thread kept some
        if sum((to - since).days + 1 for since, to in missing) <= (last - first).days:
            # A period next to those asked before: the calendar months of its days not yet
            # known, worked out whole, so that the next periods asked (moved by a day or two)
            # find them.
            months: list[tuple[date, date]] = []
            for since, to in missing:
                month, end = since.replace(day=1), _month_end(to)
                if months and months[-1][1] >= month - timedelta(days=1):
                    months[-1] = (months[-1][0], end)
                else:
                    months.append((month, end))
            missing = [gap for since, to in months for gap in _missing(runs, since, to)]
        new = [_run(session, since, to, zone, opening) for since, to in missing]
        runs = _KNOWN.keep(session, zone, opening, version, new)
    ((run, index, _),) = _segments(runs, day_before, day_before)
    return _sum((run, index), _segments(runs, first, last))


def _month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _missing(runs: Sequence[_Run], first: date, last: date) -> list[tuple[date, date]]:
    """The runs of days of [first, last] that no run kept covers."""
    gaps, cursor = [], first
    for run, since, to in _segments(runs, first, last):
        if run.first + timedelta(days=since - 1) > cursor:
            gaps.append((cursor, run.first + timedelta(days=since - 2)))
        cursor = run.first + timedelta(days=to)
    if cursor <= last:
        gaps.append((cursor, last))
    return gaps


def _segments(runs: Sequence[_Run], first: date, last: date) -> list[tuple[_Run, int, int]]:
    """The days of [first, last] that runs kept cover, as (run, first index, last index)."""
    found = []
    for run in runs[max(bisect_right([run.first for run in runs], first) - 1, 0) :]:
        if run.first > last:
            break
        if run.last >= first:
            since, to = max(first, run.first), min(last, run.last)
            found.append((run, (since - run.first).days + 1, (to - run.first).days + 1))
    return found


def _sum(before: tuple[_Run, int], days: list[tuple[_Run, int, int]]) -> tuple[float, RosterFigures]:
    """A period's figures from its days' (`days`: every one of them, in order) and the day
    before's sessions reaching into it (timedeltas: exact sums). A day's union counts whole but
    where sessions of the days before reach past its midnight (`cursor`, their latest end, is
    past it): there, only what its sessions add past the cursor."""
    seconds = [ZERO] * len(STATUSES)
    result = RosterFigures()
    total, cursor = ZERO, None
    run, index = before
    if index in run.before:
        reaching, taken, bits = run.before[index]
        seconds = list(reaching)
        result.taken_from_board = taken
        total, cursor = run.measure(bits), run.reach(index, bits)
    for run, since, to in days:
        stop = to + 1
        for status, column in enumerate(run.seconds):
            seconds[status] += sum(column[since:stop], ZERO)
        result.taken_from_board += sum(run.taken[since:stop])
        result.uncovered_half_days += sum(run.uncovered[since:stop])
        total += sum(run.union[since:stop], ZERO)
        index = since
        while index < stop:
            if cursor is not None and cursor > run.midnights[index]:
                if run.covered[index]:
                    added, cursor = run.beyond(index, cursor)
                    total += added - run.union[index]
                index += 1
                continue
            # Nothing reaches this day: on to the next day whose sessions reach past midnight.
            found = bisect_left(run.reaching, index)
            if found == len(run.reaching) or run.reaching[found] >= stop:
                break
            index = run.reaching[found]
            cursor = run.reach(index, run.covered[index])
            index += 1
    result.hours_by_status = {
        code: value.total_seconds() / 3600 for (code, _), value in zip(STATUSES, seconds, strict=True)
    }
    return total.total_seconds() / 3600, result


def _run(session: DbSession, first: date, last: date, zone: ZoneInfo, opening: Opening | None) -> _Run:
    """The figures of the days of [first, last] and of the day before (its sessions reaching into
    `first`), in two queries."""
    closed = opening.closed_days(first - timedelta(days=1), last) if opening is not None else {}
    calendar = _Calendar(zone, first, last)
    count = len(calendar.midnights) - 1
    closed_at = {(day - calendar.first).days for day in closed}
    members, patterns = _members_and_patterns(session, first, last)
    sessions = _OneOffs(session, calendar, members, closed_at)
    weekly = _weekly(calendar, members, patterns, closed_at)

    # The half-days' hours after midnight: the same every day but those the clock changes.
    hours = [opening.window(code) for code in HALVES] if opening is not None else []
    steady = [(_of_day(opens), _of_day(closes)) for opens, closes in hours]
    changed = {
        index: [
            (calendar.after_midnight(index, opens), calendar.after_midnight(index, closes))
            for opens, closes in hours
        ]
        for index in calendar.changes
    }
    # The pieces of a day: between the times after midnight that occur.
    points = sorted(
        {*sessions.starts, *sessions.ends}
        | {at for _, _, after, until, _ in weekly for at in (after, until)}
        | {at for windows in (steady, *changed.values()) for window in windows for at in window}
    )
    bit = {at: 1 << rank for rank, at in enumerate(points)}
    run = _Run(calendar, points, sessions)
    doctors, nurses, exceptional = [0] * count, [0] * count, [0] * count
    for index, after, until, kind in zip(
        sessions.days, sessions.starts, sessions.ends, sessions.kinds, strict=True
    ):
        bits = bit[until] - bit[after]
        if kind & DOCTOR:
            doctors[index] |= bits
        if kind & NURSE:
            nurses[index] |= bits
        if kind & EXCEPTIONAL:
            exceptional[index] |= bits
    for status, kind, after, until, on in weekly:
        bits, length, column = bit[until] - bit[after], until - after, run.seconds[status]
        for role, covers in ((DOCTOR, doctors), (NURSE, nurses)):
            if kind & role:
                for index in on:
                    covers[index] |= bits
        for index in on:
            column[index] += length
    run.covered = [doctor | nurse for doctor, nurse in zip(doctors, nurses, strict=True)]
    run.union = [run.measure(bits) for bits in run.covered]
    for index, status, length, from_board, after, until in sessions.reaching:
        lengths, taken, bits = run.before.get(index, ([ZERO] * len(STATUSES), 0, 0))
        lengths[status] += length
        run.before[index] = (lengths, taken + from_board, bits | bit[until] - bit[after])
    run.reaching = sorted(run.before)
    if opening is None:
        return run
    # A half-day is covered when a doctor's and a nurse's sessions meet its piece of the day.
    for half, (code, (opens, closes)) in enumerate(zip(HALVES, steady, strict=True)):
        window = bit[closes] - bit[opens]
        lacking = [
            index
            for index, doctor, nurse in zip(range(1, count), doctors[1:], nurses[1:], strict=True)
            if not (doctor & window and nurse & window) or index in changed
        ]
        for index in lacking:
            on_day = window
            if index in changed:
                on_day = bit[changed[index][half][1]] - bit[changed[index][half][0]]
                if doctors[index] & on_day and nurses[index] & on_day:
                    continue
            if planning.opens(opening, closed, calendar.days[index], code, bool(exceptional[index] & on_day)):
                run.uncovered[index] += 1
    return run


def _members_and_patterns(
    session: DbSession, first: date, last: date
) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[tuple[Any, ...], set[date]]]]:
    """The doctors and nurses, each one's status (STATUSES' index) and what they bring to a
    half-day they are on; their weekly patterns within [first, last], each with its absences."""
    members: dict[int, tuple[int, int]] = {}
    patterns: dict[int, tuple[tuple[Any, ...], set[date]]] = {}
    for row in column_rows(session, _members(), {"first": first, "last": last}):
        member_id, profession, doctor_status, team, pattern_id, _, _, _, _, _, absent = row
        if member_id not in members:
            role = Profession(profession)
            status = _status(role, DoctorStatus(doctor_status) if doctor_status else None, Team(team))
            members[member_id] = (
                _ORDER[status],
                (DOCTOR if role.is_doctor else 0) | (NURSE if role.is_nurse else 0),
            )
        if pattern_id is not None:
            found = patterns.get(pattern_id)
            if found is None:
                found = patterns[pattern_id] = ((member_id, *row[5:10]), set())
            if absent is not None:
                found[1].add(absent)
    return members, patterns


class _OneOffs:
    """The one-off sessions of a run of days: for each, its day (by index), its start and end
    after that day's midnight, and what its member brings (with EXCEPTIONAL); by status and day,
    their length; by day, how many were taken from the board; and those ending past the next
    midnight (day, status, length, from the board, start and end)."""

    def __init__(
        self,
        session: DbSession,
        calendar: _Calendar,
        members: dict[int, tuple[int, int]],
        closed_at: set[int],
    ) -> None:
        midnights = calendar.midnights
        count = len(midnights) - 1
        self.days: list[int] = []
        self.starts: list[timedelta] = []
        self.ends: list[timedelta] = []
        self.kinds: list[int] = []
        self.lengths = [[ZERO] * count for _ in STATUSES]
        self.taken = [0] * count
        self.reaching: list[tuple[int, int, timedelta, bool, timedelta, timedelta]] = []
        start = midnights[1].replace(tzinfo=UTC)
        bounds = {
            "start": start,
            "end": midnights[count].replace(tzinfo=UTC),
            "earliest": start - LONGEST_SESSION,
        }
        by_member = {member_id: (self.lengths[status], kind) for member_id, (status, kind) in members.items()}
        skipped = closed_at | {-1}  # -1: a session that starts before the day before, not the run's
        on_day, starts, ends, kinds = (
            self.days.append,
            self.starts.append,
            self.ends.append,
            self.kinds.append,
        )
        index, midnight, following = -1, midnights[0], midnights[0]
        for member_id, starts_at, ends_at, exceptional, from_board in column_rows(
            session, _sessions(), bounds
        ):
            if starts_at >= following:  # the day's first session (the rows come by start)
                index = bisect_right(midnights, starts_at, index + 1) - 1
                midnight, following = midnights[index], midnights[index + 1]
            if index in skipped and (index < 0 or not exceptional):
                continue
            column, kind = by_member[member_id]
            on_day(index)
            starts(after := starts_at - midnight)
            ends(until := ends_at - midnight)
            kinds(kind | EXCEPTIONAL if exceptional else kind)
            column[index] += until - after
            if from_board:
                self.taken[index] += 1
            if ends_at > following:
                self.reaching.append((index, members[member_id][0], until - after, from_board, after, until))


def _weekly(
    calendar: _Calendar,
    members: dict[int, tuple[int, int]],
    patterns: dict[int, tuple[tuple[Any, ...], set[date]]],
    closed_at: set[int],
) -> list[tuple[int, int, timedelta, timedelta, list[int]]]:
    """Each weekly pattern's member's status and what they bring, its start and end after
    midnight and the days it happens on (roster.pattern_days) — on a day the clock changes, its
    own start and end."""
    first, last = calendar.days[1], calendar.days[-2]
    weekly = []
    for (member_id, weekday, start_time, end_time, valid_from, valid_until), absences in patterns.values():
        status, kind = members[member_id]
        since = max(first, valid_from)
        to = min(last, valid_until) if valid_until is not None else last
        days = range(
            (since - calendar.first).days + (weekday - since.weekday()) % 7, (to - calendar.first).days + 1, 7
        )
        off = closed_at | {(day - calendar.first).days for day in absences}
        on = list(filterfalse(off.__contains__, days))
        odd = [index for index in calendar.changes if index in days and index not in off]
        if odd:
            on = [index for index in on if index not in calendar.changes]
        weekly.append((status, kind, _of_day(start_time), _of_day(end_time), on))
        for index in odd:
            at = calendar.after_midnight(index, start_time), calendar.after_midnight(index, end_time)
            weekly.append((status, kind, *at, [index]))
    return weekly
