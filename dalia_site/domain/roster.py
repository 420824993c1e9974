"""The roster: who works when, the overlap rule, half-day coverage and the calendar feed.

Weekly patterns hold local wall-clock times; an occurrence is built for each date in the site's
timezone, so 8h30 stays 8h30 across the daylight-saving changes of March and October.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Container, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, or_, select, update

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import audit
from dalia_site.domain.opening import Opening
from dalia_site.domain.text import Collector, FieldError, choice, normalise_email, normalise_phone
from dalia_site.models import (
    Appointment,
    PatternException,
    Shift,
    StaffUser,
    TeamMember,
    WeeklyPattern,
)
from dalia_site.models.roster import LONGEST_SESSION, WEEKDAYS
from dalia_site.models.vocabulary import CLINICIANS, DoctorStatus, Profession, Team

FURTHEST = timedelta(days=2 * 366)  # how far ahead sessions and patterns may be planned
WEEK = timedelta(days=7)


# --- Team members -------------------------------------------------------------------------------


def rpps_is_valid(rpps: str) -> bool:
    """11 digits whose last one is the Luhn check digit of the first ten."""
    if len(rpps) != 11 or not rpps.isascii() or not rpps.isdigit():
        return False
    total = 0
    for index, digit in enumerate(int(c) for c in reversed(rpps)):
        if index % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def _rpps(value: str, profession: Profession | None) -> str | None:
    value = value.replace(" ", "")
    if not value:
        return None
    if profession not in CLINICIANS:
        raise FieldError("rpps", "Seuls les médecins et les infirmières ont un numéro RPPS.")
    if not rpps_is_valid(value):
        raise FieldError("rpps", "Numéro RPPS invalide : 11 chiffres dont une clé de contrôle.")
    return value


def _name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise FieldError("name", "Le nom est obligatoire.")
    if len(value) > 120:
        raise FieldError("name", "120 caractères au plus.")
    return value


def clean_member(values: Mapping[str, object]) -> dict[str, object]:
    cleaned: dict[str, object] = {}
    with Collector() as check:
        cleaned["name"] = check("name", _name, str(values.get("name") or ""))
        profession = check(
            "profession",
            choice,
            "profession",
            values.get("profession"),
            Profession,
            "Choisissez la profession.",
        )
        cleaned["profession"] = profession
        cleaned["team"] = check("team", choice, "team", values.get("team"), Team, "Choisissez l'équipe.")
        status = values.get("doctor_status") or None
        if profession is not None and profession.is_doctor:
            cleaned["doctor_status"] = check(
                "doctor_status",
                choice,
                "doctor_status",
                status,
                DoctorStatus,
                "Précisez le statut du médecin.",
            )
        else:
            cleaned["doctor_status"] = None
        cleaned["rpps"] = check("rpps", _rpps, str(values.get("rpps") or ""), profession)
        cleaned["phone"] = check("phone", normalise_phone, str(values.get("phone") or ""))
        cleaned["email"] = check("email", normalise_email, str(values.get("email") or ""))
    return cleaned


def save_member(
    session: DbSession,
    actor: StaffUser | None,
    member: TeamMember | None,
    values: Mapping[str, object],
    staff_user_id: int | None,
) -> TeamMember:
    cleaned = clean_member(values) | {"staff_user_id": staff_user_id}
    current = member.staff_user_id if member else None
    if (
        staff_user_id
        and staff_user_id != current
        and not session.scalar(
            select(StaffUser.id).where(StaffUser.id == staff_user_id, StaffUser.active.is_(True))
        )
    ):
        raise FieldError("staff_user_id", "Choisissez un compte actif dans la liste.")
    if cleaned["rpps"] and session.scalar(
        select(TeamMember.id).where(
            TeamMember.rpps == cleaned["rpps"], TeamMember.id != (member.id if member else 0)
        )
    ):
        raise FieldError("rpps", "Ce numéro RPPS est déjà celui d'un autre membre.")
    if staff_user_id and session.scalar(
        select(TeamMember.id).where(
            TeamMember.staff_user_id == staff_user_id, TeamMember.id != (member.id if member else 0)
        )
    ):
        raise FieldError("staff_user_id", "Ce compte est déjà lié à un autre membre.")
    if member is None:
        member = TeamMember(**cleaned, active=True)
        session.add(member)
        session.flush()
        audit.record(
            session,
            actor,
            "roster.member_create",
            "team_member",
            member.id,
            f"{member.name} ({member.profession_label}) ajouté·e à l'équipe",
        )
        return member
    before = {k: getattr(member, k) for k in cleaned}
    changes = audit.describe_changes(before, cleaned)
    for key, value in cleaned.items():
        setattr(member, key, value)
    if changes:
        audit.record(
            session, actor, "roster.member_update", "team_member", member.id, f"{member.name} : {changes}"
        )
    return member


class Clinician(Protocol):
    """What the slot engine and its pages read of a doctor or nurse: a team member, or the plain
    row booking.active_clinicians reads."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def profession(self) -> Profession: ...
    @property
    def is_doctor(self) -> bool: ...
    @property
    def is_nurse(self) -> bool: ...


def team_order(member: Clinician) -> tuple[bool, str, int]:
    """How clinicians are listed (desk, agenda, slot picker): doctors first, then by name."""
    return (not member.is_doctor, member.name.lower(), member.id)


SCHEDULERS = ("admin", "assistant")  # roles that manage every member's sessions


def may_manage_sessions(actor: StaffUser, member: TeamMember) -> bool:
    """Admins and assistants manage everyone's sessions and absences; a clinician only their
    own (the member record linked to their account)."""
    return actor.role in SCHEDULERS or (member.staff_user_id is not None and member.staff_user_id == actor.id)


def set_member_active(session: DbSession, actor: StaffUser | None, member: TeamMember, active: bool) -> None:
    if member.active == active:
        return
    member.active = active
    if not active:
        # The private calendar feed dies with the membership; a reactivation does not revive it.
        member.ics_token_hash = None
    audit.record(
        session,
        actor,
        "roster.member_update",
        "team_member",
        member.id,
        f"{member.name} : " + audit.describe_changes({"actif": not active}, {"actif": active}),
    )


# --- Occurrences and the overlap rule ----------------------------------------------------------


class Occurrence(NamedTuple):  # a tuple: a month of them is built in a blink
    member_id: int
    starts_at: datetime
    ends_at: datetime
    kind: str  # "pattern" or "session"
    ref_id: int
    exceptional: bool = False  # « ouverture exceptionnelle »: opens a closed day or half-day
    from_board: bool = False  # a half-day a volunteer took from the open half-days board


def local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


def _check_wall_clock(day: date, at: time, zone: ZoneInfo) -> None:
    """Refuse a local time that the clock change skips or repeats (e.g. 2h30 on the last Sunday
    of March): the session would not have one meaning."""
    moment = local(day, at, zone)
    round_trip = moment.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != moment.replace(tzinfo=None) or (
        local(day, at, zone).replace(fold=1).utcoffset() != moment.utcoffset()
    ):
        raise FieldError(
            "start",
            f"{at:%Hh%M} n'existe pas ou est ambiguë le {day:%d/%m/%Y} "
            "(changement d'heure) : choisissez une autre heure.",
        )


def _check_planning_dates(day: date, today: date, field_name: str) -> None:
    if day < today:
        raise FieldError(field_name, "La date est passée.")
    if day > today + FURTHEST:
        raise FieldError(field_name, "Date trop lointaine (deux ans au plus).")


def pattern_days(pattern: WeeklyPattern, first: date, last: date, skipped: Iterable[date] = ()) -> list[date]:
    """The dates in [first, last] on which a weekly pattern happens."""
    return _weekly(pattern.weekday, pattern.valid_from, pattern.valid_until, first, last, set(skipped))


def _weekly(
    weekday: int,
    valid_from: date,
    valid_until: date | None,
    first: date,
    last: date,
    skipped: Container[date],
) -> list[date]:
    """pattern_days, from the pattern's values."""
    start = max(first, valid_from)
    end = min(last, valid_until) if valid_until else last
    day = start + timedelta(days=(weekday - start.weekday()) % 7)
    days = []
    while day <= end:
        if day not in skipped:
            days.append(day)
        day += WEEK
    return days


@functools.cache
def _duty_queries(
    by_member: bool, professions: tuple[str, ...] | None, by_weekday: bool
) -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """The two statements of `occurrences`, built once for each shape and set of professions
    (their other values are bound when they run): the one-off sessions, and the weekly patterns
    each with their absences within the dates, as plain rows."""
    sessions = select(
        Shift.member_id, Shift.starts_at, Shift.ends_at, Shift.id, Shift.exceptional, Shift.from_board
    ).where(
        Shift.starts_at < bindparam("end"),
        Shift.starts_at > bindparam("earliest"),
        Shift.ends_at > bindparam("start"),
    )
    # Each pattern once, or once per absence it has within the dates.
    patterns = (
        select(
            WeeklyPattern.id,
            WeeklyPattern.member_id,
            WeeklyPattern.weekday,
            WeeklyPattern.start_time,
            WeeklyPattern.end_time,
            WeeklyPattern.valid_from,
            WeeklyPattern.valid_until,
            PatternException.day,
        )
        .outerjoin(
            PatternException,
            (PatternException.pattern_id == WeeklyPattern.id)
            & PatternException.day.between(bindparam("first"), bindparam("last")),
        )
        .where(
            WeeklyPattern.valid_from <= bindparam("last"),
            (WeeklyPattern.valid_until.is_(None)) | (WeeklyPattern.valid_until >= bindparam("first")),
        )
    )
    if by_weekday:
        patterns = patterns.where(WeeklyPattern.weekday.in_(bindparam("weekdays", expanding=True)))
    if by_member:
        sessions = sessions.where(Shift.member_id.in_(bindparam("ids", expanding=True)))
        patterns = patterns.where(WeeklyPattern.member_id.in_(bindparam("ids", expanding=True)))
    if professions is not None:
        # ORs of the professions (few, always the same): no IN list written out at each run.
        wanted = or_(*(TeamMember.profession == profession for profession in professions))
        sessions = sessions.join(TeamMember, TeamMember.id == Shift.member_id).where(wanted)
        patterns = patterns.join(TeamMember, TeamMember.id == WeeklyPattern.member_id).where(wanted)
    return sessions, patterns


def occurrences(
    session: DbSession,
    first: date,
    last: date,
    zone: ZoneInfo,
    member_ids: Iterable[int] | None = None,
    professions: Iterable[str] | None = None,
    *,
    opening: Opening | None = None,
) -> list[Occurrence]:
    """Every session of [first, last] (local dates): one-offs and weekly patterns less their
    absences, in two queries; only some members' or some professions' when asked. With the
    centre's `opening`, nothing happens on a closed day (holiday, closure) but the sessions of
    an « ouverture exceptionnelle »: booking's slots, the desk, the planning and the staffed
    hours all obey that one rule here (read_duty)."""
    duty = read_duty(session, first, last, zone, member_ids, professions, opening=opening)
    # By POSIX timestamp: comparing aware datetimes of two zones (UTC rows, local patterns) is slow.
    found = [
        (starts_at.timestamp(), member_id, Occurrence(member_id, starts_at, ends_at, "session", *rest))
        for member_id, starts_at, ends_at, *rest in duty.sessions
    ]
    for ref, member_id, days in duty.patterns:
        for _, (starts_at, start), (ends_at, _) in days:
            found.append((start, member_id, Occurrence(member_id, starts_at, ends_at, "pattern", ref)))
    found.sort(key=_BY_START)  # stable: a member's sessions starting together keep their order
    return [timed[2] for timed in found]


_BY_START = operator.itemgetter(0, 1)
Moment = tuple[datetime, float]  # a local moment and its POSIX timestamp


class Duty(NamedTuple):
    """The sessions of some dates as read, before an occurrence is built for each: the one-off
    sessions that happen, as rows (member id, start, end, id, « ouverture exceptionnelle », from
    the board), and each weekly pattern (its id, its member's) with the dates it happens on and
    its start and end on each; the local moments built for them, for more of the same dates."""

    sessions: list[Any]
    patterns: list[tuple[int, int, list[tuple[date, Moment, Moment]]]]
    moments: Moments


class Times(dict[date, Moment]):
    """A local time of the day in a zone, as a moment (and its timestamp) on each day asked for,
    built once: `times[day]`."""

    def __init__(self, at: time, zone: ZoneInfo) -> None:
        self.at, self.zone = at, zone

    def __missing__(self, day: date) -> Moment:
        moment = local(day, self.at, self.zone)
        found = self[day] = (moment, moment.timestamp())
        return found


class Moments(dict[time, Times]):
    """A zone's local moments, built once when first asked for: `moments[at][day]`. The team
    shares a few hours, and the planning's half-days mostly the same."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def __missing__(self, at: time) -> Times:
        found = self[at] = Times(at, self.zone)
        return found


def read_duty(
    session: DbSession,
    first: date,
    last: date,
    zone: ZoneInfo,
    member_ids: Iterable[int] | None = None,
    professions: Iterable[str] | None = None,
    *,
    opening: Opening | None = None,
) -> Duty:
    """What `occurrences` reads (its rules): for a page that compares thousands of sessions
    without building each."""
    start, end = local(first, time(), zone), local(last + timedelta(days=1), time(), zone)
    closed = opening.closed_days(first - timedelta(days=1), last) if opening is not None else {}
    values: dict[str, Any] = {
        "start": start,
        "earliest": start - LONGEST_SESSION,
        "end": end,
        "first": first,
        "last": last,
    }
    # Less than a week: only the patterns of the weekdays there are.
    by_weekday = last < first + timedelta(days=6)
    if by_weekday:
        values["weekdays"] = sorted(
            {(first + timedelta(days=n)).weekday() for n in range((last - first).days + 1)}
        )
    if member_ids is not None:
        values["ids"] = list(member_ids)
    wanted = tuple(professions) if professions is not None else None
    sessions, patterns = _duty_queries(member_ids is not None, wanted, by_weekday)
    one_offs = [
        row
        for row in column_rows(session, sessions, values)
        if not closed or row.exceptional or row.starts_at.astimezone(zone).date() not in closed
    ]
    weekly: dict[tuple[Any, ...], set[date]] = {}  # each pattern's values, and its absences
    for *pattern, absent in column_rows(session, patterns, values):
        absences = weekly.setdefault(tuple(pattern), set())
        if absent is not None:
            absences.add(absent)
    moments = Moments(zone)
    found = []
    for (ref, member_id, weekday, start_time, end_time, valid_from, valid_until), absences in weekly.items():
        starts, ends = moments[start_time], moments[end_time]
        skipped = absences | closed.keys() if absences else closed
        days = [
            (day, starts[day], ends[day])
            for day in _weekly(weekday, valid_from, valid_until, first, last, skipped)
        ]
        found.append((ref, member_id, days))
    return Duty(one_offs, found, moments)


def _conflict_message(occurrence: Occurrence, zone: ZoneInfo) -> str:
    start = occurrence.starts_at.astimezone(zone)
    end = occurrence.ends_at.astimezone(zone)
    return (
        f"Ce membre a déjà une vacation le {start:%d/%m/%Y} de {start:%Hh%M} à "
        f"{end:%Hh%M} : deux vacations ne peuvent pas se chevaucher."
    )


def check_no_overlap(
    session: DbSession,
    member_id: int,
    spans: Iterable[tuple[datetime, datetime]],
    zone: ZoneInfo,
    ignore: tuple[str, int] | None = None,
) -> None:
    spans = sorted(spans)
    if not spans:
        return
    first = spans[0][0].astimezone(zone).date()
    last = spans[-1][1].astimezone(zone).date()
    existing = [
        o for o in occurrences(session, first, last, zone, [member_id]) if (o.kind, o.ref_id) != ignore
    ]
    for start, end in spans:
        for other in existing:
            if start < other.ends_at and other.starts_at < end:
                raise FieldError("start", _conflict_message(other, zone))


# --- Sessions -----------------------------------------------------------------------------------


def add_shift(
    session: DbSession,
    actor: StaffUser | None,
    member: TeamMember,
    day: date | None,
    start: time | None,
    end: time | None,
    zone: ZoneInfo,
    note: str = "",
    *,
    today: date,
    opening: Opening | None = None,
    exceptional: bool = False,
    from_board: bool = False,
) -> Shift:
    """A one-off session (e.g. a half-day a volunteer doctor offers). With the centre's
    `opening`, refused on a closed day or outside the open half-days' hours unless it is an
    « ouverture exceptionnelle » (which then opens that time)."""
    if day is None:
        raise FieldError("day", "Indiquez la date (jj/mm/aaaa).")
    if start is None or end is None:
        raise FieldError("start", "Indiquez l'heure de début et de fin.")
    _check_planning_dates(day, today, "day")
    if start >= end:
        raise FieldError("start", "L'heure de fin doit suivre l'heure de début.")
    _check_wall_clock(day, start, zone)
    _check_wall_clock(day, end, zone)
    if not member.active:
        raise FieldError("member_id", "Ce membre n'est plus actif dans l'équipe.")
    if opening is not None and not exceptional and (refusal := opening.refusal(day, start, end)):
        raise FieldError("day", refusal)
    starts_at, ends_at = local(day, start, zone), local(day, end, zone)
    check_no_overlap(session, member.id, [(starts_at, ends_at)], zone)
    shift = Shift(
        member_id=member.id,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip()[:200],
        exceptional=exceptional,
        from_board=from_board,
        created_by_id=actor.id if actor else None,
    )
    session.add(shift)
    session.flush()
    audit.record(
        session,
        actor,
        "roster.session_add",
        "team_member",
        member.id,
        f"{member.name} : vacation le {day:%d/%m/%Y} de {start:%Hh%M} à {end:%Hh%M}"
        + (" (ouverture exceptionnelle)" if exceptional else "")
        + (" (demi-journée ouverte prise)" if from_board else ""),
    )
    return shift


def booked_appointments(session: DbSession, shift: Shift) -> list[Appointment]:
    """Booked appointments that a withdrawal of this session would strand."""
    from dalia_site.domain.booking import booked_in  # booking builds on the roster

    return booked_in(session, shift.member_id, shift.starts_at, shift.ends_at)


def lock_members(session: DbSession, member_ids: Iterable[int]) -> None:
    """Hold these members' rows until commit (a row lock on PostgreSQL, the write lock on
    SQLite): bookings and withdrawals touching the same clinician run one after the other."""
    session.execute(
        update(TeamMember)
        .where(TeamMember.id.in_(sorted(member_ids)))
        .values(id=TeamMember.id)
        .execution_options(synchronize_session=False)
    )


def withdraw_shift(
    session: DbSession,
    actor: StaffUser | None,
    shift: Shift,
    zone: ZoneInfo,
    *,
    now: datetime,
) -> None:
    if shift.starts_at <= now:
        raise FieldError("session", "Une vacation commencée ou passée reste dans l'historique.")
    lock_members(session, [shift.member_id])  # no booking slips in meanwhile
    booked = booked_appointments(session, shift)
    if booked:
        raise FieldError(
            "session",
            "Des rendez-vous sont pris sur cette vacation ; déplacez-les "
            "d'abord : " + ", ".join(f"n° {a.id} à {a.starts_at.astimezone(zone):%Hh%M}" for a in booked),
        )
    member = session.get_one(TeamMember, shift.member_id)
    start = shift.starts_at.astimezone(zone)
    session.delete(shift)
    audit.record(
        session,
        actor,
        "roster.session_withdraw",
        "team_member",
        member.id,
        f"{member.name} : vacation du {start:%d/%m/%Y à %Hh%M} retirée",
    )


def add_pattern(
    session: DbSession,
    actor: StaffUser | None,
    member: TeamMember,
    weekday: int | None,
    start: time | None,
    end: time | None,
    valid_from: date | None,
    valid_until: date | None,
    zone: ZoneInfo,
    *,
    today: date,
) -> WeeklyPattern:
    """'Every Tuesday morning' for a member of the stable team; refused if it overlaps anything
    the member already has within a year."""
    if weekday is None or weekday not in range(7):
        raise FieldError("weekday", "Choisissez le jour de la semaine.")
    if start is None or end is None or start >= end:
        raise FieldError("start", "Indiquez une heure de début suivie d'une heure de fin.")
    if valid_from is None:
        raise FieldError("valid_from", "Indiquez la date de début (jj/mm/aaaa).")
    if valid_until is not None and valid_until < valid_from:
        raise FieldError("valid_until", "La date de fin doit suivre la date de début.")
    if not member.active:
        raise FieldError("weekday", "Ce membre n'est plus actif dans l'équipe.")
    for at in (start, end):
        if at.replace(second=0, microsecond=0) != at:
            raise FieldError("start", "Heures à la minute près.")
    if time(2) <= start < time(3) or time(2) < end <= time(3):
        # Every week would include the Sundays of the clock changes.
        raise FieldError(
            "start", "Entre 2h et 3h, l'heure change deux dimanches par an : choisissez d'autres horaires."
        )
    if valid_from > today + FURTHEST or (valid_until is not None and valid_until > valid_from + 5 * FURTHEST):
        raise FieldError("valid_from", "Dates trop lointaines.")
    pattern = WeeklyPattern(
        member_id=member.id,
        weekday=weekday,
        start_time=start,
        end_time=end,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    pattern.exceptions = []
    # Against the member's other weekly patterns: same day, times and date ranges crossing.
    for other in session.scalars(
        select(WeeklyPattern).where(WeeklyPattern.member_id == member.id, WeeklyPattern.weekday == weekday)
    ):
        ranges_cross = (other.valid_until is None or other.valid_until >= valid_from) and (
            valid_until is None or valid_until >= other.valid_from
        )
        if ranges_cross and other.start_time < end and start < other.end_time:
            raise FieldError(
                "start",
                f"Ce membre a déjà une vacation chaque {WEEKDAYS[weekday]} "
                f"de {other.start_time:%Hh%M} à {other.end_time:%Hh%M} : "
                "deux vacations ne peuvent pas se chevaucher.",
            )
    # Against every one-off session to come within the pattern's dates, however far.
    first = max(valid_from, today)
    for one_off in session.scalars(
        select(Shift).where(Shift.member_id == member.id, Shift.ends_at > local(first, time(), zone))
    ):
        day = one_off.starts_at.astimezone(zone).date()
        if (
            pattern_days(pattern, day, day)
            and local(day, start, zone) < one_off.ends_at
            and one_off.starts_at < local(day, end, zone)
        ):
            raise FieldError(
                "start",
                _conflict_message(
                    Occurrence(member.id, one_off.starts_at, one_off.ends_at, "session", one_off.id), zone
                ),
            )
    session.add(pattern)
    session.flush()
    audit.record(
        session,
        actor,
        "roster.pattern_add",
        "team_member",
        member.id,
        f"{member.name} : chaque {WEEKDAYS[weekday]} de {start:%Hh%M} à {end:%Hh%M} "
        f"à partir du {valid_from:%d/%m/%Y}" + (f" jusqu'au {valid_until:%d/%m/%Y}" if valid_until else ""),
    )
    return pattern


def add_exception(
    session: DbSession,
    actor: StaffUser | None,
    pattern: WeeklyPattern,
    day: date | None,
    reason: str = "",
    until: date | None = None,
    *,
    today: date,
) -> list[PatternException]:
    """An absence: the pattern's days from `day` to `until` (one day when omitted) are off."""
    if day is None:
        raise FieldError("day", "Indiquez la date (jj/mm/aaaa).")
    until = until or day
    if until < day:
        raise FieldError("until", "La fin de l'absence doit suivre son début.")
    if day < today:
        raise FieldError("day", "Une absence se note pour aujourd'hui ou plus tard.")
    _check_planning_dates(day, today, "day")  # and not years ahead
    if (until - day).days > 366:
        raise FieldError("until", "Une absence d'un an au plus.")
    known = set(
        session.scalars(select(PatternException.day).where(PatternException.pattern_id == pattern.id))
    )
    days = [d for d in pattern_days(pattern, day, until) if d not in known]
    if not days:
        raise FieldError(
            "day", f"Aucun {WEEKDAYS[pattern.weekday]} de vacation à noter absent sur ces dates."
        )
    reason = reason.strip()[:120]
    added = [PatternException(pattern_id=pattern.id, day=d, reason=reason) for d in days]
    session.add_all(added)
    session.flush()
    session.expire(pattern, ["exceptions"])  # the next occurrences() sees the new absence
    member = session.get_one(TeamMember, pattern.member_id)
    period = (
        f"le {day:%d/%m/%Y}"
        if len(days) == 1
        else (f"du {days[0]:%d/%m/%Y} au {days[-1]:%d/%m/%Y} ({len(days)} {WEEKDAYS[pattern.weekday]}s)")
    )
    audit.record(
        session,
        actor,
        "roster.pattern_exception",
        "team_member",
        member.id,
        f"{member.name} : absent·e {period}" + (f" ({reason})" if reason else ""),
    )
    return added


def end_pattern(session: DbSession, actor: StaffUser | None, pattern: WeeklyPattern, today: date) -> bool:
    """Stop a weekly pattern from today on (past occurrences stay as history); False when it
    had already ended (nothing changes)."""
    if pattern.valid_until is not None and pattern.valid_until < today:
        return False
    member = session.get_one(TeamMember, pattern.member_id)
    if pattern.valid_from >= today:
        session.delete(pattern)
    else:
        pattern.valid_until = today - timedelta(days=1)
    audit.record(
        session,
        actor,
        "roster.pattern_end",
        "team_member",
        member.id,
        f"{member.name} : fin du modèle du {WEEKDAYS[pattern.weekday]}",
    )
    return True
