"""The roster's figures of a period, for the activity report: the staffed hours (the union of
the doctors' and nurses' sessions), the hours of sessions by status (stable team, volunteers,
internes and SASPAS), the open half-days volunteers took from the board (issue 18), and the
half-days the centre opened that stayed without a doctor or a nurse.

Two queries (the doctors and nurses with their weekly patterns and absences; their one-off
sessions, issue 22), read as plain values — moments as whole seconds since 1970, _Seconds — and
no occurrence built. A session is filed under its local day as its start and end after that
day's midnight, those of the same member, flags and times together with their days; a weekly
pattern's are its wall-clock times on a day the clock does not change (exact on the days it
does), its days found by stepping a week at a time. The times after midnight that
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
from itertools import accumulate, filterfalse, pairwise, repeat
from operator import add, attrgetter, or_
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, Select, String, bindparam, case, cast, func, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import planning
from dalia_site.domain.opening import HALVES, Opening
from dalia_site.domain.referral_months import next_month
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
# Moments and lengths are whole seconds (exact sums), moments since 1970 (UTC, as _Seconds reads
# them).
SECOND = timedelta(seconds=1)
ONE_WEEK = timedelta(weeks=1)
DAY = 86_400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ORDER = {code: index for index, (code, _) in enumerate(STATUSES)}
# A one-off session's flags, as _sessions reads them with its member (member × 4 + flags).
EXCEPTIONAL_WHO, FROM_BOARD_WHO = 2, 1


class _Calendar:
    """The local days from the day before `first` to `last`, by index (0 is the day before): each
    one's local midnight (seconds since 1970, UTC), the midnight after `last` last, the days the
    clock changes and the shortest day. The offset is looked up once a week, and day by day only
    in a week where it changed (no zone changes twice within a week)."""

    def __init__(self, zone: ZoneInfo, first: date, last: date) -> None:
        self.zone = zone
        self.first = first - timedelta(days=1)
        count = (last - self.first).days + 1
        weeks = [*range(0, count + 1, 7), count + 1]
        midnight = datetime.combine(self.first, time())
        walls = list(accumulate(repeat(ONE_WEEK, count // 7), add, initial=midnight))
        offsets = list(map(zone.utcoffset, [*walls, midnight + timedelta(days=count + 1)]))
        start = _day_seconds(self.first)  # the first midnight's wall-clock time
        self.midnights: list[int] = []
        self.changes: set[int] = set()
        steady = 0  # the first day of the weeks the offset has not changed in since
        unsteady: list[int] = []
        for week, (since, until) in enumerate(pairwise(weeks)):
            if offsets[week] == offsets[week + 1]:
                continue
            shift = _whole_seconds(offsets[week])
            self.midnights += range(start + steady * DAY - shift, start + since * DAY - shift, DAY)
            for index in range(since, until):
                wall = midnight + timedelta(days=index)
                offset = _offset(zone, wall)
                self.midnights.append(start + index * DAY - offset)
                if offset != _offset(zone, wall.replace(hour=23, minute=59)):
                    self.changes.add(index)
            steady = until
            unsteady += range(since, min(until, count))
        shift = _whole_seconds(offsets[-1])
        self.midnights += range(start + steady * DAY - shift, start + (count + 1) * DAY - shift, DAY)
        # The shortest day: a whole DAY but in the weeks the offset changed in.
        self.shortest = min([DAY] + [self.midnights[index + 1] - self.midnights[index] for index in unsteady])

    def day(self, index: int) -> date:
        return self.first + timedelta(days=index)

    def after_midnight(self, index: int, at: time) -> int:
        """How long after the day's midnight the wall-clock time `at` is (roster.local's)."""
        if index in self.changes:
            day = self.day(index)
            wall = datetime.combine(day, at)
            return _day_seconds(day) + _of_day(at) - _offset(self.zone, wall) - self.midnights[index]
        return _of_day(at)


def _day_seconds(day: date) -> int:
    return (day.toordinal() - EPOCH.toordinal()) * DAY


def _offset(zone: ZoneInfo, wall: datetime) -> int:
    """The UTC offset of a local wall-clock time (the first of a time the clock repeats)."""
    return _whole_seconds(zone.utcoffset(wall))


def _whole_seconds(offset: timedelta | None) -> int:
    assert offset is not None  # a zone always has one
    return offset // SECOND


@functools.cache
def _of_day(at: time) -> int:
    return (at.hour * 60 + at.minute) * 60 + at.second


class _Seconds(FunctionElement[int]):
    """A stored moment or date (naive UTC) as whole seconds since 1970, on either database: a
    year of sessions is read as integers, no datetime built for each. A fraction of a second is
    dropped (the forms give minutes; SQLite rounds it to the millisecond first)."""

    name = "seconds"
    type = Integer()
    inherit_cache = True


@compiles(_Seconds, "sqlite")
def _seconds_sqlite(element: _Seconds, compiler: Any, **kw: Any) -> str:
    (moment,) = element.clauses  # kept as the text 'YYYY-MM-DD HH:MM:SS.ffffff' or 'YYYY-MM-DD'
    text = compiler.process(moment, **kw)
    seconds = f"unixepoch({text})"
    if (compiler.dialect.server_version_info or ()) < (3, 38):  # unixepoch() came with 3.38
        seconds = f"CAST(strftime('%s', {text}) AS INTEGER)"
    return seconds


@compiles(_Seconds, "postgresql")
def _seconds_postgresql(element: _Seconds, compiler: Any, **kw: Any) -> str:
    (moment,) = element.clauses
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(moment, **kw)})) AS BIGINT)"


@functools.cache
def _members() -> Select[*tuple[Any, ...]]:
    """The doctors and nurses (their vocabulary as stored), each with their weekly patterns valid
    within [:first, :last] (none: one row with no pattern), and each pattern's absences within
    the dates (their _Seconds, separated by commas). Built once."""
    first, last = bindparam("first", type_=Date()), bindparam("last", type_=Date())
    return (
        select(
            TeamMember.id,
            type_coerce(TeamMember.profession, String()),
            type_coerce(TeamMember.doctor_status, String()),
            type_coerce(TeamMember.team, String()),
            WeeklyPattern.weekday,
            WeeklyPattern.start_time,
            WeeklyPattern.end_time,
            WeeklyPattern.valid_from,
            WeeklyPattern.valid_until,
            func.aggregate_strings(cast(_Seconds(PatternException.day), String()), ","),
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
        .group_by(TeamMember.id, WeeklyPattern.id)
    )


@functools.cache
def _sessions() -> Select[*tuple[Any, ...]]:
    """The one-off sessions that start before :end and end after :start, starting after
    :earliest (as roster.occurrences reads them), as three integers: who (the member × 4, + 2 if
    exceptional, + 1 if taken from the board), the start and the end (_Seconds) — no conversion
    per row, a year is a thousand rows; by start, as the index of their times gives them (a
    day's are read together). Everyone's: those of others than doctors and nurses, few, are
    left as read, cheaper than a look at each one's profession. Built once."""
    start, end, earliest = (bindparam(name, type_=UTCDateTime()) for name in ("start", "end", "earliest"))
    return (
        select(
            Shift.member_id * 4
            + case((Shift.exceptional, EXCEPTIONAL_WHO), else_=0)
            + case((Shift.from_board, FROM_BOARD_WHO), else_=0),
            _Seconds(Shift.starts_at),
            _Seconds(Shift.ends_at),
        )
        .where(
            Shift.starts_at < end,
            Shift.starts_at > earliest,
            Shift.ends_at > start,
        )
        .order_by(Shift.starts_at)
    )


def _pieces(bits: int, points: list[int]) -> Iterator[tuple[int, int]]:
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

    def __init__(self, calendar: _Calendar, points: list[int], taken: list[int]) -> None:
        count = len(calendar.midnights) - 1
        self.first, self.last = calendar.day(1), calendar.day(count - 1)  # the days kept
        self.midnights = calendar.midnights
        self.points = points
        self.lengths = [[0] * count for _ in STATUSES]
        self.taken = taken
        self.uncovered = [0] * count
        self.covered: list[int] = []
        self.union: list[int] = []
        self.before: dict[int, tuple[list[int], int, int]] = {}
        self.reaching: list[int] = []
        self._measures: dict[int, int] = {0: 0}

    def measure(self, bits: int) -> int:
        found = self._measures.get(bits)
        if found is None:
            found = sum(end - start for start, end in _pieces(bits, self.points))
            self._measures[bits] = found
        return found

    def reach(self, index: int, bits: int) -> int:
        """The latest end of a day's sessions (`bits`, not none)."""
        return self.midnights[index] + self.points[bits.bit_length()]

    def beyond(self, index: int, cursor: int) -> tuple[int, int]:
        """What a day's sessions add to the union past `cursor` (the latest end of the days
        before), and the latest end then."""
        midnight, added = self.midnights[index], 0
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
    return next_month(day) - timedelta(days=1)


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
    before's sessions reaching into it (whole seconds: exact sums). A day's union counts whole but
    where sessions of the days before reach past its midnight (`cursor`, their latest end, is
    past it): there, only what its sessions add past the cursor."""
    lengths = [0] * len(STATUSES)
    result = RosterFigures()
    total, cursor = 0, None
    run, index = before
    if index in run.before:
        reaching, taken, bits = run.before[index]
        lengths = list(reaching)
        result.taken_from_board = taken
        total, cursor = run.measure(bits), run.reach(index, bits)
    for run, since, to in days:
        stop = to + 1
        for status, column in enumerate(run.lengths):
            lengths[status] += sum(column[since:stop])
        result.taken_from_board += sum(run.taken[since:stop])
        result.uncovered_half_days += sum(run.uncovered[since:stop])
        total += sum(run.union[since:stop])
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
    result.hours_by_status = {code: value / 3600 for (code, _), value in zip(STATUSES, lengths, strict=True)}
    return total / 3600, result


def _run(session: DbSession, first: date, last: date, zone: ZoneInfo, opening: Opening | None) -> _Run:
    """The figures of the days of [first, last] and of the day before (its sessions reaching into
    `first`), in two queries."""
    closed = opening.closed_days(first - timedelta(days=1), last) if opening is not None else {}
    calendar = _Calendar(zone, first, last)
    count = len(calendar.midnights) - 1
    closed_at = {(day - calendar.first).days for day in closed}
    members, patterns = _members_and_patterns(session, first, last)
    sessions = _OneOffs(session, calendar, members, closed_at)
    spans = sessions.spans + _weekly(calendar, members, patterns, closed_at)

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
        {at for _, _, after, until, _ in spans for at in (after, until)}
        | {at for windows in (steady, *changed.values()) for window in windows for at in window}
    )
    bit = {at: 1 << rank for rank, at in enumerate(points)}
    run = _Run(calendar, points, sessions.taken)
    doctors, nurses, exceptional = [0] * count, [0] * count, [0] * count
    for status, kind, after, until, on in spans:
        bits, length, column = bit[until] - bit[after], until - after, run.lengths[status]
        covers = doctors if kind & DOCTOR else nurses  # a doctor or a nurse, never both
        for index in on:
            column[index] += length
            covers[index] |= bits
        if kind & EXCEPTIONAL:
            for index in on:
                exceptional[index] |= bits
    run.covered = list(map(or_, doctors, nurses))
    measures = {bits: run.measure(bits) for bits in set(run.covered)}  # a few sets of pieces
    run.union = list(map(measures.__getitem__, run.covered))
    for index, status, length, from_board, after, until in sessions.reaching:
        lengths, taken, bits = run.before.get(index, ([0] * len(STATUSES), 0, 0))
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
            if planning.opens(opening, closed, calendar.day(index), code, bool(exceptional[index] & on_day)):
                run.uncovered[index] += 1
    return run


def _members_and_patterns(
    session: DbSession, first: date, last: date
) -> tuple[dict[int, tuple[int, int]], list[tuple[Any, ...]]]:
    """The doctors and nurses, each one's status (STATUSES' index) and what they bring to a
    half-day they are on; their weekly patterns within [first, last], each with its absences."""
    members: dict[int, tuple[int, int]] = {}
    patterns = []
    for member_id, profession, doctor_status, team, *pattern in column_rows(
        session, _members(), {"first": first, "last": last}
    ):
        if member_id not in members:
            members[member_id] = _brings(profession, doctor_status, team)
        if pattern[0] is not None:
            patterns.append((member_id, *pattern))
    return members, patterns


@functools.cache
def _brings(profession: str, doctor_status: str | None, team: str) -> tuple[int, int]:
    """A doctor's or nurse's status (STATUSES' index) and what they bring to a half-day, from
    their vocabulary as stored."""
    role = Profession(profession)
    status = _status(role, DoctorStatus(doctor_status) if doctor_status else None, Team(team))
    return _ORDER[status], (DOCTOR if role.is_doctor else 0) | (NURSE if role.is_nurse else 0)


class _OneOffs:
    """The one-off sessions of a run of days, as _weekly's patterns: those of the same status,
    kind (what their member brings, with EXCEPTIONAL), start and end after midnight, with the
    days they are on (by index); by day, how many were taken from the board; and those ending
    past the next midnight (day, status, length, from the board, start and end)."""

    def __init__(
        self,
        session: DbSession,
        calendar: _Calendar,
        members: dict[int, tuple[int, int]],
        closed_at: set[int],
    ) -> None:
        midnights = calendar.midnights
        count = len(midnights) - 1
        start = EPOCH + midnights[1] * SECOND
        bounds = {
            "start": start,
            "end": EPOCH + midnights[count] * SECOND,
            "earliest": start - LONGEST_SESSION,
        }
        # The sessions of the same member and flags (_sessions' who), start and end after
        # midnight, and their days; what they count is worked out once for each.
        alike: dict[tuple[int, int, int], list[int]] = {}
        skipped = closed_at | {-1}  # -1: a session that starts before the day before, not the run's
        index, midnight, following, closed = -1, midnights[0], midnights[0], True
        for who, starts_at, ends_at in column_rows(session, _sessions(), bounds):
            if starts_at >= following:  # the day's first session (the rows come by start)
                index = bisect_right(midnights, starts_at, index + 1) - 1
                midnight, following, closed = midnights[index], midnights[index + 1], index in skipped
            if closed and (index < 0 or not who & EXCEPTIONAL_WHO):
                continue  # on a closed day, only an « ouverture exceptionnelle » counts
            key = (who, starts_at - midnight, ends_at - midnight)
            days = alike.get(key)
            if days is None:
                alike[key] = [index]
            else:
                days.append(index)
        self.spans: list[tuple[int, int, int, int, list[int]]] = []
        self.taken = [0] * count
        self.reaching: list[tuple[int, int, int, int, int, int]] = []
        for (who, after, until), days in alike.items():
            found = members.get(who // 4)
            if found is None:
                continue  # not a doctor's or a nurse's
            status, kind = found
            from_board = who & FROM_BOARD_WHO
            self.spans.append(
                (status, kind | EXCEPTIONAL if who & EXCEPTIONAL_WHO else kind, after, until, days)
            )
            if from_board:
                for index in days:
                    self.taken[index] += 1
            if until > calendar.shortest:  # some may end past the next midnight
                for index in days:
                    if midnights[index] + until > midnights[index + 1]:
                        self.reaching.append((index, status, until - after, from_board, after, until))


def _weekly(
    calendar: _Calendar,
    members: dict[int, tuple[int, int]],
    patterns: list[tuple[Any, ...]],
    closed_at: set[int],
) -> list[tuple[int, int, int, int, list[int]]]:
    """Each weekly pattern's member's status and what they bring, its start and end after
    midnight and the days it happens on (roster.pattern_days) — on a day the clock changes, its
    own start and end."""
    first, last = calendar.day(1), calendar.day(len(calendar.midnights) - 2)
    origin = _day_seconds(calendar.first)
    weekly = []
    for member_id, weekday, start_time, end_time, valid_from, valid_until, absences in patterns:
        status, kind = members[member_id]
        since = max(first, valid_from)
        to = min(last, valid_until) if valid_until is not None else last
        days = range(
            (since - calendar.first).days + (weekday - since.weekday()) % 7, (to - calendar.first).days + 1, 7
        )
        off = closed_at
        if absences:
            off = off | {(int(day) - origin) // DAY for day in absences.split(",")}
        on = list(filterfalse(off.__contains__, days))
        odd = [index for index in calendar.changes if index in days and index not in off]
        if odd:
            on = [index for index in on if index not in calendar.changes]
        weekly.append((status, kind, _of_day(start_time), _of_day(end_time), on))
        for index in odd:
            at = calendar.after_midnight(index, start_time), calendar.after_midnight(index, end_time)
            weekly.append((status, kind, *at, [index]))
    return weekly
