"""Booking: free slots from the roster, the pair first visit, alternation, and the booking itself.

No double booking, whatever the page showed: a booking runs in a transaction that first locks
the rows of the clinicians and of the patient (a row lock on PostgreSQL, the database write lock
on SQLite), then checks for overlaps, then writes. Concurrent bookings of one slot queue up on
those locks; the first wins, the others see its appointment and are refused.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Select, String, bindparam, or_, select, type_coerce, update
from sqlalchemy.orm import joinedload, selectinload

from dalia_site.database import DbSession, claim, column_rows
from dalia_site.domain import audit, mail
from dalia_site.domain.opening import Opening
from dalia_site.domain.roster import (
    Clinician,
    Duty,
    Occurrence,
    lock_members,
    occurrences,
    read_duty,
)
from dalia_site.domain.text import FieldError
from dalia_site.models import Appointment, AppointmentClinician, Patient, SlotOffer, StaffUser, TeamMember
from dalia_site.models.booking import LONGEST_VISIT
from dalia_site.models.vocabulary import (
    CLINICIANS,
    AppointmentKind,
    AppointmentStatus,
    PatientStatus,
    Profession,
)

GRID = timedelta(minutes=15)  # slots start on the quarter hour
HORIZON = timedelta(days=60)  # how far ahead slots are proposed
FIRST_LOOK = timedelta(days=7)  # free_slots searches this far first, the whole horizon if short
FURTHEST = timedelta(days=366)  # how far ahead a booking may be
TAKEN = "Ce créneau vient d'être pris : choisissez-en un autre dans la liste à jour."
# Appointments that hold their clinicians' time.
ACTIVE = (AppointmentStatus.BOOKED, AppointmentStatus.HONOURED)


class SlotTaken(FieldError):
    def __init__(self) -> None:
        super().__init__("slot", TAKEN)


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    member_ids: tuple[int, ...]  # the doctor first for a first visit, then the nurse
    members: tuple[Clinician, ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.starts_at.isoformat()}|{','.join(map(str, self.member_ids))}"

    @property
    def who(self) -> str:
        """Its clinicians by name: « Dr Anne Audouy et Nina Vidal »."""
        return " et ".join(m.name for m in self.members)

    @property
    def choice(self) -> str:
        """The slot as the picker sends it, short (a week has a hundred or more): its start in
        UTC (ISO 8601 basic format), then its clinicians' ids."""
        at = self.starts_at.astimezone(UTC)  # as numbers, not strftime: a third of its time
        ids = ",".join(map(str, self.member_ids))
        return f"{(at.year * 100 + at.month) * 100 + at.day:08d}T{at.hour * 100 + at.minute:04d}Z_{ids}"

    @property
    def picker_choice(self) -> str:
        """Shorter still for the picker's week (issue 15: a busy week ≤ 10 KB): the start in UTC
        as yymmddHHMM then « Z » (`slot_start` reads it back), then the clinicians' ids."""
        at = self.starts_at.astimezone(UTC)  # a week has a hundred: one number, not strftime
        ids = ",".join(map(str, self.member_ids))
        return f"{(at.year % 100 * 100 + at.month) * 100 + at.day:06d}{at.hour * 100 + at.minute:04d}Z_{ids}"


def slot_start(text: str) -> datetime:
    """A slot's start as a page sent it: ISO 8601 with its offset (`Slot.choice`, the desk's
    links), or the picker's yymmddHHMMZ in UTC; ValueError otherwise, or when it has no offset."""
    if len(text) == 11 and text.endswith("Z") and text[:10].isdigit():
        return datetime.strptime(text, "%y%m%d%H%MZ").replace(tzinfo=UTC)
    start = datetime.fromisoformat(text)
    if start.tzinfo is None:
        raise ValueError("a slot's start needs its offset")
    return start


def length(kind: AppointmentKind, visits: Mapping[str, int]) -> timedelta:
    return timedelta(minutes=visits[f"{kind}_minutes"])


def appointment_kind(value: str) -> AppointmentKind:
    """The kind a form sent, or a FieldError."""
    if not AppointmentKind.has(value):
        raise FieldError("kind", "Type de rendez-vous inconnu.")
    return AppointmentKind(value)


# --- Alternation --------------------------------------------------------------------------------


def next_kind(history: Iterable[Appointment | FileVisit]) -> AppointmentKind:
    """The kind to propose: a first visit, then nurse after doctor (the first visit counts as a
    doctor visit) and doctor after nurse. Cancelled visits and no-shows do not count; until the
    pair has seen the patient once, the first visit is what is proposed."""
    held = [a for a in history if a.status in ACTIVE]
    last = max(held, key=lambda a: a.starts_at).kind if held else None
    return _kind_after(any(a.kind == AppointmentKind.FIRST for a in held), last)


def _kind_after(first_held: bool, last_kind: str | None) -> AppointmentKind:
    """next_kind's rule, from whether a first visit is held (or to come) and the latest visit's kind."""
    if not first_held or last_kind is None:
        return AppointmentKind.FIRST  # walk-ins alone do not replace the pair's first visit
    return AppointmentKind.DOCTOR if last_kind == AppointmentKind.NURSE else AppointmentKind.NURSE


# --- Free slots ---------------------------------------------------------------------------------
#
# The engine reckons in POSIX seconds: sessions are the site's local times and visits UTC rows, and
# comparing aware datetimes of two zones is slow (a week has thousands of comparisons); a slot
# found becomes datetimes again.

Seconds = tuple[int, int]  # [start, end) in POSIX seconds
_STEP = int(GRID.total_seconds())
_LATEST = 2**62  # sorts after any end: bisects on start alone


# The engine's queries are built once, their values bound when they run: building a statement
# costs SQLAlchemy more than SQLite takes to run it. They read plain columns (database.column_rows),
# the visits' times as the naive UTC the database holds: the engine wants seconds, not aware
# datetimes.
# A fixed list of values as ORs rather than IN: SQLAlchemy writes an IN list out anew at each run
# (SQLite reads both the same way).
_HOLDING_TIME = or_(*(Appointment.status == status for status in ACTIVE))
_IN_WINDOW = (
    (Appointment.starts_at < bindparam("end"))
    & (Appointment.starts_at > bindparam("earliest"))
    & (Appointment.ends_at > bindparam("start"))
)
_STARTS_AT, _ENDS_AT = (type_coerce(c, DateTime) for c in (Appointment.starts_at, Appointment.ends_at))
_BOOKED = (
    select(AppointmentClinician.member_id, _STARTS_AT, _ENDS_AT, Appointment.patient_id)
    .join(Appointment)
    .where(_HOLDING_TIME, Appointment.id != bindparam("ignore"), _IN_WINDOW)
)
_ACTIVE_CLINICIANS = select(TeamMember.id, TeamMember.name, TeamMember.profession).where(
    TeamMember.active.is_(True), or_(*(TeamMember.profession == p for p in CLINICIANS))
)
_EPOCH = datetime(1970, 1, 1)  # (naive - _EPOCH) // _SECOND: int(aware.timestamp())
_SECOND = timedelta(seconds=1)


def _window(start: datetime, end: datetime, ignore: int | None) -> dict[str, Any]:
    """The values of `_IN_WINDOW`: visits overlapping [start, end), but the one being moved."""
    return {"start": start, "end": end, "earliest": start - LONGEST_VISIT, "ignore": ignore or 0}


class ActiveClinician(NamedTuple):
    """An active doctor or nurse as a plain row (a roster.Clinician): the engine and the picker
    read the whole team each time, and a team member object each cost more than the search."""

    id: int
    name: str
    profession: Profession
    is_doctor: bool
    is_nurse: bool


def active_clinicians(session: DbSession) -> dict[int, ActiveClinician]:
    """The active doctors and nurses, by id."""
    return {
        member_id: ActiveClinician(member_id, name, profession, profession.is_doctor, profession.is_nurse)
        for member_id, name, profession in column_rows(session, _ACTIVE_CLINICIANS)
    }


def _busy(
    session: DbSession,
    start: datetime,
    end: datetime,
    ignore: int | None = None,
    patient_id: int | None = None,
) -> tuple[dict[int, list[Seconds]], list[Seconds]]:
    """Booked time in [start, end) (but the appointment being moved): per clinician, and the
    patient's own (POSIX seconds)."""
    busy: dict[int, list[Seconds]] = {}
    own = set()
    for member_id, s, e, patient in column_rows(session, _BOOKED, _window(start, end, ignore)):
        span = ((s - _EPOCH) // _SECOND, (e - _EPOCH) // _SECOND)
        busy.setdefault(member_id, []).append(span)
        if patient_id is not None and patient == patient_id:
            own.add(span)
    return busy, sorted(own)


def _free_spans(spans: list[Seconds], busy: list[Seconds]) -> list[Seconds]:
    """Working spans minus busy spans (one pass over each, both sorted)."""
    busy = sorted(busy)
    free, first = [], 0
    for start, end in sorted(spans):
        while first < len(busy) and busy[first][1] <= start:
            first += 1  # over before this span, so before every later one too
        cursor = start
        for b_start, b_end in busy[first:]:
            if b_start >= end:
                break
            if b_start > cursor:
                free.append((cursor, b_start))
            cursor = max(cursor, b_end)
        if cursor < end:
            free.append((cursor, end))
    return free


def free_time(
    duty: Iterable[Occurrence], busy: Mapping[int, list[Seconds]], member_ids: Container[int]
) -> dict[int, list[Seconds]]:
    """Each clinician's free time: their sessions less their booked visits, sorted."""
    spans: dict[int, list[Seconds]] = {}
    for o in duty:
        if o.member_id in member_ids:
            spans.setdefault(o.member_id, []).append(
                (int(o.starts_at.timestamp()), int(o.ends_at.timestamp()))
            )
    return {mid: _free_spans(s, busy.get(mid, [])) for mid, s in spans.items()}


def _read_free_time(
    session: DbSession,
    first: date,
    last: date,
    zone: ZoneInfo,
    busy: Mapping[int, list[Seconds]],
    member_ids: Container[int],
    opening: Opening | None,
) -> dict[int, list[Seconds]]:
    """free_time over the sessions of the local dates [first, last] (two queries), from the
    sessions as read (roster.read_duty) rather than an occurrence built for each."""
    duty: Duty = read_duty(session, first, last, zone, professions=CLINICIANS, opening=opening)
    spans: dict[int, list[Seconds]] = {}
    for member_id, starts_at, ends_at, *_ in duty.sessions:
        if member_id in member_ids:
            spans.setdefault(member_id, []).append((int(starts_at.timestamp()), int(ends_at.timestamp())))
    for _, member_id, days in duty.patterns:
        if member_id in member_ids and days:
            spans.setdefault(member_id, []).extend((int(start), int(end)) for _, (_, start), (_, end) in days)
    return {mid: _free_spans(s, busy.get(mid, [])) for mid, s in spans.items()}


def _fits(free: list[Seconds], start: int, end: int) -> bool:
    """[start, end) lies within one of the free spans (sorted, not overlapping)."""
    index = bisect.bisect_right(free, (start, _LATEST)) - 1
    return index >= 0 and free[index][0] <= start and end <= free[index][1]


def on_grid(moment: datetime, zone: ZoneInfo) -> bool:
    local_time = moment.astimezone(zone)
    return local_time.minute % 15 == 0 and local_time.second == 0 and local_time.microsecond == 0


def _next_on_grid(moment: float, zone: ZoneInfo) -> int:
    """The first quarter hour of the local clock at or after `moment` (POSIX seconds)."""
    offset = cast(timedelta, datetime.fromtimestamp(moment, zone).utcoffset()) // timedelta(seconds=1)
    return int(-(-(moment + offset) // _STEP) * _STEP - offset)  # ceiling


def bookable(start: datetime, now: datetime) -> bool:
    """The one rule of whether a slot can still be booked at `now`: it starts after this very
    moment (at 10:00:00 the 10:00 slot has begun) and less than FURTHEST ahead. The proposals, the
    picker's week, its confirmation and the booking itself all ask it."""
    return now < start < now + FURTHEST


def bookable_seconds(now: datetime) -> tuple[float, float]:
    """`bookable` in POSIX seconds, for the slot engine: a start `s` is bookable when
    first < s < last."""
    return now.timestamp(), (now + FURTHEST).timestamp()


def check_bookable(start: datetime, now: datetime, zone: ZoneInfo) -> None:
    """`bookable`, on the quarter hour, or a FieldError in French (confirmation and booking)."""
    if start <= now:
        raise FieldError("slot", "Ce créneau est passé.")
    if not bookable(start, now) or not on_grid(start, zone):
        raise FieldError("slot", "Ce créneau n'est pas proposé par le planning.")


def _starts(free: list[Seconds], duration: int, earliest: float, zone: ZoneInfo) -> Iterator[int]:
    for span_start, span_end in free:
        yield from range(_next_on_grid(max(span_start, earliest), zone), span_end - duration + 1, _STEP)


def leads_and_partners(
    kind: AppointmentKind, doctors: list[int], nurses: list[int]
) -> tuple[list[int], list[int] | None]:
    """Who leads a visit of `kind` and who must be free with them: a nurse alone, a doctor
    alone, or a doctor with a nurse (the pair's first visit)."""
    return (
        nurses if kind == AppointmentKind.NURSE else doctors,
        nurses if kind == AppointmentKind.FIRST else None,
    )


def find_slots(
    free: Mapping[int, list[Seconds]],
    leads: Iterable[int],
    partners: Sequence[int] | None,
    duration: timedelta,
    now: datetime,
    zone: ZoneInfo,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    own_time: Sequence[Seconds] = (),
    refuse: Callable[[int], bool] | None = None,
    limit: int | None = None,
    walk_in_now: bool = False,
) -> dict[int, tuple[int, ...]]:
    """The slot engine: free slots' starts (POSIX seconds) with their clinicians, at most one per
    start time. Each lead's quarter hours in turn, from `now` (or `since`) to `until`, where
    their `free` time holds the visit, with the first of the `partners` free then (the pair of a
    first visit; None: the lead alone), outside the patient's `own_time`, not refused by
    `refuse`, and `bookable` — or, with `walk_in_now`, beginning now (the desk's walk-in). With a
    `limit`, the earliest `limit` starts are all there (later ones may be too)."""
    length_s = duration // timedelta(seconds=1)
    earliest = max(now, since).timestamp() if since is not None else now.timestamp()
    last = until.timestamp() if until is not None else float("inf")
    soonest, furthest = (-float("inf"), float("inf")) if walk_in_now else bookable_seconds(now)
    found: dict[int, tuple[int, ...]] = {}
    refused: set[int] = set()  # starts no lead can have: nothing that refuses them is the lead's
    cutoff = float("inf")  # once `limit` starts are known, later ones cannot make the list
    for lead in leads:
        for start in _starts(free[lead], length_s, earliest, zone):
            if start >= last or start > cutoff:
                break
            if start in found or start in refused:
                continue
            end = start + length_s
            if (
                not soonest < start < furthest
                or (refuse is not None and refuse(start))
                or (own_time and any(s < end and start < e for s, e in own_time))
            ):
                refused.add(start)
                continue
            if partners is None:
                found[start] = (lead,)
                continue
            for partner in partners:
                if _fits(free[partner], start, end):
                    found[start] = (lead, partner)
                    break
            else:
                refused.add(start)
        if limit is not None and len(found) >= limit:
            cutoff = sorted(found)[limit - 1]
    return found


def slot_at(
    start: int, duration: timedelta, member_ids: tuple[int, ...], members: Mapping[int, Clinician]
) -> Slot:
    """The slot `find_slots` found at `start`."""
    starts_at = datetime.fromtimestamp(start, UTC)
    return Slot(starts_at, starts_at + duration, member_ids, tuple([members[i] for i in member_ids]))


def free_slots(
    session: DbSession,
    kind: str,
    visits: Mapping[str, int],
    zone: ZoneInfo,
    now: datetime,
    patient: Patient | None = None,
    limit: int = 8,
    horizon: timedelta = HORIZON,
    moving: int | None = None,
    *,
    opening: Opening | None = None,
) -> list[Slot]:
    """The next free slots for a visit of `kind` (first = a doctor and a nurse together), at most
    one per start time, earliest first; none overlapping the patient's own appointments. The
    first week ahead is searched first (four statements): only when it has fewer than `limit`
    is the whole `horizon` read (the same search, further: three statements more)."""
    kind = appointment_kind(kind)
    duration = length(kind, visits)
    members = active_clinicians(session)
    for reach in (min(FIRST_LOOK, horizon), horizon):
        first_day = now.astimezone(zone).date()
        last_day = (now + reach).astimezone(zone).date()
        busy, patient_busy = _busy(
            session,
            now,
            now + reach + timedelta(days=1),
            ignore=moving,
            patient_id=patient.id if patient is not None else None,
        )
        free = _read_free_time(session, first_day, last_day, zone, busy, members, opening)
        doctors = sorted(mid for mid in free if members[mid].is_doctor)
        nurses = sorted(mid for mid in free if members[mid].is_nurse)
        found = find_slots(
            free,
            *leads_and_partners(kind, doctors, nurses),
            duration,
            now,
            zone,
            own_time=patient_busy,
            limit=limit,
        )
        if len(found) >= limit:
            break
    return [slot_at(start, duration, found[start], members) for start in sorted(found)[:limit]]


# --- The slot picker: a week of free slots, with the team's real choices ---------------------------

WEEK_DAYS = 7
HALF_DAYS = ("matin", "apres-midi")
ANY = ""  # any clinician of the right profession (any pair for a first visit)


@dataclass(frozen=True)
class Picker:
    """What the person booking chose: the kind (None: the one the alternation proposes), the
    first day of the week shown, a named clinician (or None: any of the right profession) and a
    half-day ("" for both)."""

    kind: AppointmentKind | None
    first_day: date
    member_id: int | None = None
    half_day: str = ""

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=WEEK_DAYS - 1)


@dataclass(frozen=True)
class Week:
    picker: Picker
    kind: AppointmentKind  # the picker's, or the proposed one
    proposed: AppointmentKind  # what the alternation proposes (the picker's kind when moving)
    days: tuple[tuple[date, tuple[Slot, ...]], ...]  # every day of the week, free slots in order
    # The clinicians' free time and the patient's own booked time (POSIX seconds), as read.
    free: Mapping[int, list[Seconds]] = field(default_factory=dict, compare=False, repr=False)
    patient_busy: list[Seconds] = field(default_factory=list, compare=False, repr=False)

    @property
    def slots(self) -> list[Slot]:
        return [slot for _, slots in self.days for slot in slots]


def picker_dates(today: date) -> tuple[date, date]:
    """The first days a week may start on: from today to the furthest day a booking may be."""
    return today, today + FURTHEST - timedelta(days=1)


def parse_picker(
    values: Mapping[str, str],
    members: Mapping[int, Clinician],
    today: date,
) -> Picker:
    """The picker's choices from a form (`kind`, `du`, `soignant`, `moment`), or a FieldError in
    French: an unknown kind, a date out of range, a clinician unknown or of the wrong profession."""
    kind = appointment_kind(values["kind"]) if values.get("kind") else None
    raw_day = (values.get("du") or "").strip()
    first, last = picker_dates(today)
    try:
        first_day = date.fromisoformat(raw_day) if raw_day else today
    except ValueError:
        raise FieldError("du", "Date invalide : choisissez un jour dans le calendrier.") from None
    if not first <= first_day <= last:
        raise FieldError("du", f"Choisissez une date entre le {first:%d/%m/%Y} et le {last:%d/%m/%Y}.")
    half_day = values.get("moment") or ""
    if half_day and half_day not in HALF_DAYS:
        raise FieldError("moment", "Choisissez le matin, l'après-midi ou la journée.")
    raw_member = (values.get("soignant") or ANY).strip()
    if raw_member == ANY:
        return Picker(kind, first_day, None, half_day)
    member = members.get(int(raw_member)) if raw_member.isdigit() else None
    if member is None:
        raise FieldError("soignant", "Ce soignant n'est pas dans l'équipe active.")
    if kind is not None:
        _check_profession(kind, member)
    return Picker(kind, first_day, member.id, half_day)


def _check_profession(kind: AppointmentKind, member: Clinician) -> None:
    if kind == AppointmentKind.DOCTOR and not member.is_doctor:
        raise FieldError("soignant", "Choisissez un médecin pour une consultation médecin.")
    if kind == AppointmentKind.NURSE and not member.is_nurse:
        raise FieldError("soignant", "Choisissez une infirmière pour une consultation infirmière.")


_BOOKED_AND_HISTORY = (
    select(
        AppointmentClinician.member_id,
        _STARTS_AT,
        _ENDS_AT,
        Appointment.patient_id,
        type_coerce(Appointment.kind, String),  # compared with the kinds' codes: no member built
    )
    .join(AppointmentClinician)
    .where(_HOLDING_TIME, _IN_WINDOW | (Appointment.patient_id == bindparam("patient_id")))
)


def _booked_and_history(
    session: DbSession, start: datetime, end: datetime, patient_id: int
) -> tuple[dict[int, list[Seconds]], list[Seconds], AppointmentKind]:
    """In one query: the clinicians' booked time in [start, end), the patient's own (POSIX
    seconds), and the kind the alternation proposes from the patient's whole history
    (next_kind)."""
    rows = column_rows(session, _BOOKED_AND_HISTORY, _window(start, end, None) | {"patient_id": patient_id})
    naive_start, naive_end = (t.astimezone(UTC).replace(tzinfo=None) for t in (start, end))
    busy: dict[int, list[Seconds]] = {}
    own: set[Seconds] = set()
    first_held, last = False, None  # the history as next_kind reads it: its latest visit's kind
    for member_id, s, e, patient, kind in rows:
        if patient == patient_id:
            first_held = first_held or kind == AppointmentKind.FIRST
            if last is None or s > last[0]:
                last = (s, kind)
        if s < naive_end and e > naive_start:
            span = ((s - _EPOCH) // _SECOND, (e - _EPOCH) // _SECOND)
            busy.setdefault(member_id, []).append(span)
            if patient == patient_id:
                own.add(span)
    return busy, sorted(own), _kind_after(first_held, last[1] if last is not None else None)


def afternoon_starts(hours: Mapping[str, Any]) -> time:
    """Where the morning ends for the picker: the end of the centre's morning opening hours."""
    return time.fromisoformat(str(hours["morning"]).split("-")[1])


def week_slots(
    session: DbSession,
    picker: Picker,
    patient_id: int,
    members: Mapping[int, Clinician],
    visits: Mapping[str, int],
    hours: Mapping[str, Any],
    zone: ZoneInfo,
    now: datetime,
    moving: Appointment | None = None,
    *,
    opening: Opening | None = None,
    search: bool = True,
) -> Week:
    """Every free slot of the picker's week (7 local days from its first day, none in the past),
    grouped by day: the pair for a first visit (the named clinician one of the two), one
    clinician of the right profession otherwise, no double booking, none overlapping the
    patient's own appointments; at most one per start time. `members` are the active clinicians;
    an appointment being moved frees its time but its own start is no move. Three queries
    (sessions, weekly patterns, appointments), whatever the data size; a FieldError when the
    named clinician is not of the kind's profession. Without `search`, the week's days have no
    slot: its free time is what `check_choice` needs."""
    zone_start = datetime.combine(picker.first_day, time(), tzinfo=zone)
    zone_end = datetime.combine(picker.last_day + timedelta(days=1), time(), tzinfo=zone)
    start, end = max(now, zone_start), min(zone_end, now + FURTHEST)  # bookable: not past, not too far
    if moving is None:
        busy, patient_busy, proposed = _booked_and_history(session, start, end, patient_id)
        kind = picker.kind or proposed
    else:  # a visit moved keeps its kind: the patient's history is not read
        busy, patient_busy = _busy(session, start, end, moving.id, patient_id)
        kind = proposed = AppointmentKind(moving.kind)
    if picker.member_id is not None:
        _check_profession(kind, members[picker.member_id])
    picker = replace(picker, kind=kind)
    duration = length(kind, visits)
    free = _read_free_time(session, picker.first_day, picker.last_day, zone, busy, members, opening)
    doctors = sorted(mid for mid in free if members[mid].is_doctor)
    nurses = sorted(mid for mid in free if members[mid].is_nurse)
    named = picker.member_id
    if named is not None:  # the named clinician takes their profession's place
        if members[named].is_doctor:
            doctors = [named] if named in free else []
        else:
            nurses = [named] if named in free else []
    days = [picker.first_day + timedelta(days=i) for i in range(WEEK_DAYS)]
    if not search:
        return Week(picker, kind, proposed, tuple((day, ()) for day in days), free, patient_busy)
    # Each day's midnight and the start of its afternoon (the end of the morning opening hours).
    midnights = [int(datetime.combine(day, time(), tzinfo=zone).timestamp()) for day in days]
    afternoons = [
        int(datetime.combine(day, afternoon_starts(hours), tzinfo=zone).timestamp()) for day in days
    ]
    moved_from = int(moving.starts_at.timestamp()) if moving is not None else None

    def refuse(slot_start: int) -> bool:
        """The start of the visit being moved is no move; a half-day chosen keeps the other out."""
        if slot_start == moved_from:
            return True
        if not picker.half_day:
            return False
        morning = slot_start < afternoons[bisect.bisect_right(midnights, slot_start) - 1]
        return morning != (picker.half_day == "matin")

    found = find_slots(
        free,
        *leads_and_partners(kind, doctors, nurses),
        duration,
        now,
        zone,
        since=start,
        until=end,
        own_time=patient_busy,
        refuse=refuse,
    )
    by_day: list[list[Slot]] = [[] for _ in days]
    for slot_start in sorted(found):
        by_day[bisect.bisect_right(midnights, slot_start) - 1].append(
            slot_at(slot_start, duration, found[slot_start], members)
        )
    return Week(picker, kind, proposed, tuple(zip(days, map(tuple, by_day), strict=True)), free, patient_busy)


def check_choice(
    week: Week,
    start: datetime,
    member_ids: Iterable[int],
    members: Mapping[int, Clinician],
    override_reason: str,
    visits: Mapping[str, int],
    zone: ZoneInfo,
    now: datetime,
) -> Slot:
    """The slot picked in `week` (read afresh, from the slot's day), before the confirmation
    shows it: a FieldError in French when it is past, off the planning's grid, not of the kind's
    professions, or leaves the alternation without a reason; SlotTaken when one of its
    clinicians or the patient is no longer free then."""
    kind = week.kind
    check_bookable(start, now, zone)
    ids = tuple(member_ids)
    chosen = [members[i] for i in ids if i in members]
    expected = {AppointmentKind.FIRST: (1, 1), AppointmentKind.DOCTOR: (1, 0), AppointmentKind.NURSE: (0, 1)}
    if (
        len(chosen) != len(set(ids))
        or (
            sum(m.is_doctor for m in chosen),
            sum(m.is_nurse for m in chosen),
        )
        != expected[kind]
    ):
        raise FieldError("slot", "Ce créneau ne correspond pas au type de rendez-vous.")
    if kind != week.proposed and not " ".join(override_reason.split()):
        raise FieldError(
            "override_reason",
            f"L'alternance propose : {week.proposed.label.lower()}. "
            "Indiquez pourquoi vous choisissez un autre type.",
        )
    end = start + length(kind, visits)
    if start.astimezone(zone).date() not in dict(week.days):
        raise FieldError("slot", "Ce créneau n'est pas proposé par le planning.")
    start_s, end_s = int(start.timestamp()), int(end.timestamp())
    if not all(_fits(week.free.get(i, []), start_s, end_s) for i in ids) or any(
        s < end_s and start_s < e for s, e in week.patient_busy
    ):
        raise SlotTaken()
    doctors_first = sorted(chosen, key=lambda m: not m.is_doctor)
    return Slot(start, end, tuple(m.id for m in doctors_first), tuple(doctors_first))


# --- Booking ------------------------------------------------------------------------------------


def _lock(session: DbSession, patient: Patient, member_ids: Iterable[int]) -> None:
    """Take the rows' write locks before reading anything the booking depends on."""
    lock_members(session, member_ids)
    session.execute(
        update(Patient)
        .where(Patient.id == patient.id)
        .values(id=Patient.id)
        .execution_options(synchronize_session=False)
    )


def lock_appointment(session: DbSession, appointment: Appointment) -> None:
    """Hold the appointment's row and read its state afresh (two people changing it at once)."""
    session.execute(
        update(Appointment)
        .where(Appointment.id == appointment.id)
        .values(id=Appointment.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(appointment)


def _check_free(
    session: DbSession,
    patient: Patient,
    members: list[TeamMember],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    ignore: int | None = None,
    opening: Opening | None = None,
) -> None:
    """The slot lies within each clinician's session (none on a closed day) and overlaps
    nothing booked."""
    day = start.astimezone(zone).date()
    on_duty = occurrences(session, day, day, zone, [m.id for m in members], opening=opening)
    for member in members:
        if not any(o.member_id == member.id and o.starts_at <= start and end <= o.ends_at for o in on_duty):
            raise SlotTaken()
    if clinicians_busy(session, [m.id for m in members], start, end, ignore):
        raise SlotTaken()
    clash = _visits_over(start, end, ignore).where(Appointment.patient_id == patient.id)
    if session.scalar(clash.limit(1)) is not None:
        raise FieldError("slot", "Le patient a déjà un rendez-vous sur ce créneau.")


def _visits_over(start: datetime, end: datetime, ignore: int | None = None) -> Select[int]:
    """The visits (booked or held) overlapping [start, end), but `ignore`: a range of the index
    on their start (none lasts longer than LONGEST_VISIT)."""
    clash = select(Appointment.id).where(
        Appointment.status.in_(ACTIVE),
        Appointment.starts_at < end,
        Appointment.starts_at > start - LONGEST_VISIT,
        Appointment.ends_at > start,
    )
    return clash if ignore is None else clash.where(Appointment.id != ignore)


def clinicians_busy(
    session: DbSession, member_ids: list[int], start: datetime, end: datetime, ignore: int | None = None
) -> bool:
    """Whether one of these clinicians has a visit between `start` and `end` (but `ignore`)."""
    busy = _visits_over(start, end, ignore).join(AppointmentClinician)
    return session.scalar(busy.where(AppointmentClinician.member_id.in_(member_ids)).limit(1)) is not None


def _members_for(session: DbSession, kind: AppointmentKind, member_ids: list[int]) -> list[TeamMember]:
    members = list(
        session.scalars(select(TeamMember).where(TeamMember.id.in_(member_ids), TeamMember.active.is_(True)))
    )
    doctors = [m for m in members if m.is_doctor]
    nurses = [m for m in members if m.is_nurse]
    expected = {AppointmentKind.FIRST: (1, 1), AppointmentKind.DOCTOR: (1, 0), AppointmentKind.NURSE: (0, 1)}[
        kind
    ]
    if len(members) != len(set(member_ids)) or (len(doctors), len(nurses)) != expected:
        raise FieldError("slot", "Ce créneau ne correspond pas au type de rendez-vous.")
    return doctors + nurses


def book(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    kind: str,
    start: datetime,
    member_ids: list[int],
    visits: Mapping[str, int],
    zone: ZoneInfo,
    override_reason: str = "",
    *,
    now: datetime,
    opening: Opening | None = None,
) -> Appointment:
    """Book a slot; SlotTaken when someone was faster (or the centre is closed then). The caller
    commits (or rolls back)."""
    if not may_book(patient):
        raise FieldError("patient", "Seuls les patients acceptés (en suivi) peuvent avoir un rendez-vous.")
    kind = appointment_kind(kind)
    check_bookable(start, now, zone)
    end = start + length(kind, visits)
    _lock(session, patient, member_ids)  # before any read the decision depends on
    history = session.scalars(select(Appointment).where(Appointment.patient_id == patient.id))
    proposed = next_kind(history)
    override_reason = " ".join(override_reason.split())[:300]
    if kind != proposed and not override_reason:
        raise FieldError(
            "override_reason",
            f"L'alternance propose : {proposed.label.lower()}. "
            "Indiquez pourquoi vous choisissez un autre type.",
        )
    members = _members_for(session, kind, member_ids)
    _check_free(session, patient, members, start, end, zone, opening=opening)
    appointment = Appointment(
        patient_id=patient.id,
        kind=kind,
        starts_at=start,
        ends_at=end,
        status=AppointmentStatus.BOOKED,
        created_by_id=actor.id if actor else None,
        override_reason=override_reason if kind != proposed else "",
    )
    appointment.clinicians = [AppointmentClinician(member_id=m.id) for m in members]
    session.add(appointment)
    session.flush()
    local = start.astimezone(zone)
    audit.record(
        session,
        actor,
        "appointment.book",
        "patient",
        patient.id,
        f"Rendez-vous n° {appointment.id} ({kind.label.lower()}) le "
        f"{local:%d/%m/%Y à %Hh%M} avec {', '.join(m.name for m in members)}"
        + (f" — hors alternance : {override_reason}" if appointment.override_reason else ""),
    )
    return appointment


def cancel(session: DbSession, actor: StaffUser | None, appointment: Appointment, reason: str) -> None:
    reason = " ".join(reason.split())[:300]
    lock_appointment(session, appointment)
    if appointment.status != AppointmentStatus.BOOKED:
        raise FieldError("reason", f"Ce rendez-vous est « {appointment.status_label} ».")
    if not reason:
        raise FieldError("reason", "Indiquez le motif de l'annulation.")
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancel_reason = reason
    audit.record(
        session,
        actor,
        "appointment.cancel",
        "patient",
        appointment.patient_id,
        f"Rendez-vous n° {appointment.id} annulé : {reason}",
    )
    offer_freed_slot(session, appointment)


def offer_freed_slot(session: DbSession, appointment: Appointment) -> SlotOffer | None:
    """Every cancellation (the desk's, the patient's own) frees a slot: it is offered to the
    waiting list first (domain/worklists lists it while it is to come and still free)."""
    member_ids = list(
        session.scalars(
            select(AppointmentClinician.member_id)
            .join(TeamMember, TeamMember.id == AppointmentClinician.member_id)
            .where(AppointmentClinician.appointment_id == appointment.id)
            .order_by(TeamMember.profession != Profession.MEDECIN, TeamMember.id)
        )
    )
    if not member_ids:
        return None
    offer = SlotOffer(
        cancelled_id=appointment.id,
        kind=appointment.kind,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        lead_member_id=member_ids[0],
        member_ids=",".join(map(str, member_ids)),
    )
    session.add(offer)
    return offer


class NotReschedulable(FieldError):
    """Only an appointment still to come (booked) can be moved."""


def ensure_reschedulable(appointment: Appointment) -> None:
    if appointment.status != AppointmentStatus.BOOKED:
        raise NotReschedulable(
            "start", f"Ce rendez-vous est « {appointment.status_label} » : il ne peut pas être reporté."
        )


MARKS = (AppointmentStatus.HONOURED, AppointmentStatus.NO_SHOW)


def marks_offered(appointment: Appointment | FileVisit, now: datetime) -> list[AppointmentStatus]:
    """What an appointment can be marked as now: once it has started, a booked visit as honoured
    or missed, a marked one corrected to the other. A walk-in was held by nature; a cancelled
    visit stays cancelled; a patient who arrived was not missed."""
    if (
        appointment.walk_in
        or appointment.status == AppointmentStatus.CANCELLED
        or appointment.starts_at > now
    ):
        return []
    return [
        status
        for status in MARKS
        if status != appointment.status
        and not (status == AppointmentStatus.NO_SHOW and appointment.arrived_at is not None)
    ]


def may_book(patient: Patient) -> bool:
    """Appointments are booked for patients in follow-up (accepted by triage)."""
    return patient.status == PatientStatus.FOLLOW_UP


def split_upcoming(
    appointments: Iterable[FileVisit], now: datetime
) -> tuple[list[FileVisit], list[FileVisit]]:
    """(upcoming, past): still booked and not over, soonest first; the rest (held, missed,
    cancelled, or booked and over), latest first."""
    upcoming: list[FileVisit] = []
    past: list[FileVisit] = []
    for appointment in sorted(appointments, key=lambda a: (a.starts_at, a.id)):
        still_to_come = appointment.status == AppointmentStatus.BOOKED and appointment.ends_at > now
        (upcoming if still_to_come else past).append(appointment)
    return upcoming, past[::-1]


def reschedule(
    session: DbSession,
    actor: StaffUser | None,
    appointment: Appointment,
    start: datetime,
    member_ids: list[int],
    visits: Mapping[str, int],
    zone: ZoneInfo,
    *,
    now: datetime,
    opening: Opening | None = None,
) -> Appointment:
    """Move to another slot: the old one is cancelled only if the new one is booked."""
    ensure_reschedulable(appointment)
    patient = session.get_one(Patient, appointment.patient_id)
    cancel(session, actor, appointment, "Reporté")
    session.flush()
    moved = book(
        session,
        actor,
        patient,
        appointment.kind,
        start,
        member_ids,
        visits,
        zone,
        override_reason=appointment.override_reason or "report",
        now=now,
        opening=opening,
    )
    return moved


def mark(
    session: DbSession,
    actor: StaffUser | None,
    appointment: Appointment,
    status: str,
    *,
    now: datetime,
) -> None:
    """Honoured or no-show, once the appointment has started; a patient who arrived is not marked
    « non venu »."""
    if status not in MARKS:
        raise FieldError("status", "Statut inconnu.")
    lock_appointment(session, appointment)
    if status == AppointmentStatus.NO_SHOW and appointment.arrived_at is not None:
        raise FieldError("status", "Le patient est arrivé : annulez d'abord l'arrivée.")
    if appointment.status == AppointmentStatus.CANCELLED:
        raise FieldError("status", f"Ce rendez-vous est « {appointment.status_label} ».")
    if appointment.starts_at > now:
        raise FieldError("status", "Ce rendez-vous n'a pas encore eu lieu.")
    appointment.status = AppointmentStatus(status)
    audit.record(
        session,
        actor,
        "appointment.mark",
        "patient",
        appointment.patient_id,
        f"Rendez-vous n° {appointment.id} : {appointment.status_label.lower()}",
    )


def record_walk_in(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    kind: str,
    member: TeamMember | None,
    visits: Mapping[str, int],
    *,
    now: datetime,
) -> Appointment:
    """A consultation held without an appointment (the patient came in directly), by a
    clinician of the team who is still active."""
    if patient.status not in (PatientStatus.FOLLOW_UP, PatientStatus.REFERRED, PatientStatus.WAITING_LIST):
        raise FieldError("patient", "Ce patient n'est pas suivi par le centre.")
    if member is None or not member.active:
        raise FieldError("member_id", "Choisissez le soignant qui a reçu le patient.")
    if not (
        member.is_doctor
        if kind == AppointmentKind.DOCTOR
        else kind == AppointmentKind.NURSE and member.is_nurse
    ):
        raise FieldError(
            "member_id",
            "Choisissez un médecin pour une consultation médecin, "
            "une infirmière pour une consultation infirmière.",
        )
    kind = AppointmentKind(kind)
    now = now.replace(second=0, microsecond=0)
    _lock(session, patient, [member.id])
    # The walk-in holds the clinician's and the patient's time until their next appointment.
    following = (
        select(Appointment)
        .join(AppointmentClinician)
        .where(
            Appointment.status.in_(ACTIVE),
            Appointment.ends_at > now,
            Appointment.starts_at > now - LONGEST_VISIT,
            (AppointmentClinician.member_id == member.id) | (Appointment.patient_id == patient.id),
        )
    )
    end = now + length(kind, visits)
    for other in session.scalars(following.order_by(Appointment.starts_at)):
        if other.starts_at <= now:
            raise FieldError(
                "member_id",
                "Le soignant ou le patient est en rendez-vous en ce "
                "moment : enregistrez la consultation après.",
            )
        end = min(end, other.starts_at)
        break
    appointment = Appointment(
        patient_id=patient.id,
        kind=kind,
        walk_in=True,
        starts_at=now,
        ends_at=end,
        status=AppointmentStatus.HONOURED,
        created_by_id=actor.id if actor else None,
    )
    appointment.clinicians = [AppointmentClinician(member_id=member.id)]
    session.add(appointment)
    session.flush()
    audit.record(
        session,
        actor,
        "appointment.walk_in",
        "patient",
        patient.id,
        f"Consultation sans rendez-vous n° {appointment.id} avec {member.name}",
    )
    return appointment


_APPOINTMENT = (  # built once
    select(Appointment)
    .where(Appointment.id == bindparam("appointment_id"))
    .options(
        joinedload(Appointment.patient),
        joinedload(Appointment.clinicians).joinedload(AppointmentClinician.member),
    )
)


def find_appointment(session: DbSession, appointment_id: int) -> Appointment | None:
    """The appointment with its patient and who sees it (one query), or None."""
    return session.scalar(_APPOINTMENT, {"appointment_id": appointment_id})


def local_days(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From the start of `first` to the end of `last`, local days of the site."""
    return (
        datetime.combine(first, time(), tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=zone),
    )


@dataclass(slots=True)
class FileVisit:
    """An appointment as a patient's file shows it (its table, history, timeline, liaison letter):
    plain values, read as columns. It answers the names those read of an appointment."""

    id: int
    starts_at: datetime
    ends_at: datetime
    kind: AppointmentKind
    walk_in: bool
    status: AppointmentStatus
    arrived_at: datetime | None
    cancel_reason: str
    override_reason: str
    clinicians: list[tuple[str, Profession]] = field(default_factory=list)  # (name, profession), as booked
    kind_label = Appointment.kind_label

    @property
    def names(self) -> str:
        """Who sees the patient: « Anne Roux, Laure Carrière »."""
        return ", ".join(name for name, _ in self.clinicians)


_APPOINTMENTS_OF = (  # built once
    select(
        Appointment.id,
        Appointment.starts_at,
        Appointment.ends_at,
        Appointment.kind,
        Appointment.walk_in,
        Appointment.status,
        Appointment.arrived_at,
        Appointment.cancel_reason,
        Appointment.override_reason,
        TeamMember.name,
        TeamMember.profession,
    )
    .outerjoin(AppointmentClinician, AppointmentClinician.appointment_id == Appointment.id)
    .outerjoin(TeamMember, TeamMember.id == AppointmentClinician.member_id)
    .where(Appointment.patient_id == bindparam("patient_id"))
    .order_by(Appointment.starts_at, Appointment.id, AppointmentClinician.id)
)


def appointments_of(session: DbSession, patient_id: int) -> list[FileVisit]:
    """The patient's appointments with who sees them, oldest first (one query)."""
    visits: dict[int, FileVisit] = {}
    # Each row is a visit's columns, then one of its clinicians (none: a visit nobody sees).
    for *columns, name, profession in column_rows(session, _APPOINTMENTS_OF, {"patient_id": patient_id}):
        visit = visits.get(columns[0])
        if visit is None:
            visit = visits[columns[0]] = FileVisit(*columns)
        if name is not None:
            visit.clinicians.append((name, profession))
    return list(visits.values())


def booked_in(session: DbSession, member_id: int, start: datetime, end: datetime) -> list[Appointment]:
    """The member's booked appointments within [start, end) (a session they want to withdraw)."""
    return list(
        session.scalars(
            select(Appointment)
            .join(AppointmentClinician)
            .where(
                AppointmentClinician.member_id == member_id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.starts_at < end,
                Appointment.starts_at > start - LONGEST_VISIT,
                Appointment.ends_at > start,
            )
            .order_by(Appointment.starts_at)
        )
    )


# --- Convocation and reminders ------------------------------------------------------------------


def convocation_ics(
    appointment: Appointment,
    members: list[TeamMember],
    site_name: str,
    address: str,
    zone: ZoneInfo,
    domain: str = "dalia.invalid",
    *,
    now: datetime,
) -> bytes:
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//URPS Occitanie//DALIA site kit//FR")
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", f"rdv-{appointment.id}@{domain}")
    event.add("dtstamp", now.astimezone(zone).replace(microsecond=0))
    event.add("dtstart", appointment.starts_at.astimezone(zone))
    event.add("dtend", appointment.ends_at.astimezone(zone))
    event.add("summary", f"Rendez-vous {site_name}")
    if address:
        event.add("location", address)
    event.add("description", f"{appointment.kind_label} avec {', '.join(m.name for m in members)}.")
    cal.add_component(event)
    return with_timezones(cal)


def with_timezones(cal: Any) -> bytes:
    """`cal.to_ical()` as after icalendar's add_missing_timezones(), with each zone's VTIMEZONE
    (all its transitions: a hundred dates) built and written once, as it depends on the zone
    alone; it goes before the calendar's first component. Writing it took longer than the rest
    of a feed."""
    zones = b"".join(_vtimezone(tzid) for tzid in cal.get_missing_tzids())
    body: bytes = cal.to_ical()
    if not zones:
        return body
    first = body.find(b"\r\nBEGIN:")  # a folded line goes on with a space: this is a component
    at = first + 2 if first >= 0 else body.rindex(b"END:VCALENDAR")
    return body[:at] + zones + body[at:]


@functools.cache
def _vtimezone(tzid: str) -> bytes:
    """The VTIMEZONE of a zone: it depends on the zone's rules alone (tzdata), not on the data."""
    from icalendar import Timezone

    ical: bytes = Timezone.from_tzid(tzid).to_ical()
    return ical


def queue_reminders(
    session: DbSession,
    site_name: str,
    visits: Mapping[str, object],
    zone: ZoneInfo,
    today: date,
    *,
    now: datetime,
) -> int:
    """Queue tomorrow's reminders for patients with an email; each appointment once only
    (marked in the same transaction as its email enters the outbox)."""
    tomorrow = today + timedelta(days=1)
    start = datetime.combine(tomorrow, time(), tzinfo=zone)
    due = session.scalars(
        select(Appointment)
        .where(
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.reminder_queued_at.is_(None),
            Appointment.starts_at >= start,
            Appointment.starts_at < start + timedelta(days=1),
        )
        .options(
            selectinload(Appointment.patient),
            selectinload(Appointment.clinicians).selectinload(AppointmentClinician.member),
        )
    )
    count = 0
    for appointment in due:
        patient = appointment.patient
        if not patient.email:
            continue
        # Claimed first: a second run at the same moment finds it taken and queues nothing.
        if not claim(
            session,
            update(Appointment)
            .where(Appointment.id == appointment.id, Appointment.reminder_queued_at.is_(None))
            .values(reminder_queued_at=now),
        ):
            continue
        local = appointment.starts_at.astimezone(zone)
        who = ", ".join(c.member.name for c in appointment.clinicians)
        mail.queue(
            session,
            patient.email,
            f"{site_name} — rappel de votre rendez-vous demain",
            mail.render(
                "appointment_reminder.txt",
                site_name=site_name,
                starts_at=local,
                clinicians=who,
                address=visits.get("address"),
                what_to_bring=visits["what_to_bring"],
            ),
            appointment_id=appointment.id,
        )
        count += 1
    return count
