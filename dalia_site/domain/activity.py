"""Activity figures for a period: what a centre reports to its funders (the one-year review of
seed 001 is the model). Aggregates only, never a patient's identity.

Definitions (a period is a range of local dates, both ends included):
- patients received: distinct patients with at least one consultation held in the period;
- consultations: appointments held (status honoured, walk-ins included) in the period; a pair's
  first visit is one consultation;
- staffed hours: hours during which at least one doctor or nurse was on the roster (the union of
  their sessions); patients per staffed hour = consultations / staffed hours;
- direct access: patients received whose first contact with the centre was not a partner's
  referral (their earliest referral came in by "accès direct");
- referral to first visit: days from a patient's earliest referral to their first consultation
  ever, for the patients whose first consultation falls in the period (median);
- no-show rate: no-shows / (no-shows + booked appointments held), walk-ins left out;
- patients given a médecin traitant: patients marked so in the period.

The number of queries is fixed: it does not grow with the data.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CompoundSelect,
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)

from dalia_site.clock import FIRST_DAY, LAST_DAY
from dalia_site.database import DbSession, column_rows, moment_function
from dalia_site.domain import referral_months, roster_version, visit_days
from dalia_site.domain.opening import Opening
from dalia_site.domain.reminders import ReminderFigures
from dalia_site.domain.reminders import figures_from as reminder_figures_from
from dalia_site.domain.reminders import sent_columns as reminder_sent_columns
from dalia_site.domain.roster_figures import STATUSES, RosterFigures
from dalia_site.domain.roster_figures import figures as roster_figures
from dalia_site.domain.spreadsheet import csv_text
from dalia_site.domain.worklists import PathwayFigures, pathway_figures
from dalia_site.models import Appointment, AuditEvent, HeldVisit, PartnerOrganisation, Referral, Shift
from dalia_site.models.activity import FIRST_ONLY, HeldMonth, ReferralMonth, VisitDay
from dalia_site.models.audit import WRITES
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import (
    AppointmentKind,
    Channel,
    MessageChannel,
    PartnerCategory,
    ReferralStatus,
    RefusalReason,
)

MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
# Where referrals come from: the category of the partner who sent them, or direct access.
DIRECT = referral_months.DIRECT
SOURCE_LABELS = {DIRECT: Channel.DIRECT.label} | {c.value: c.label for c in PartnerCategory}
LONGEST_YEARS = 20  # a longer period is a typing error
EARLIEST, LATEST = FIRST_DAY, LAST_DAY


class PeriodError(ValueError):
    """A period that cannot be reported on, with the French message that says why."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    def __post_init__(self) -> None:
        if not (EARLIEST <= self.first and self.last <= LATEST):
            raise PeriodError(f"Dates entre {EARLIEST:%d/%m/%Y} et {LATEST:%d/%m/%Y} seulement.")
        if self.first > self.last:
            raise PeriodError("La date de début doit précéder la date de fin.")
        if self.last >= _years_later(self.first, LONGEST_YEARS):
            raise PeriodError("Période trop longue : vingt ans au plus.")

    @classmethod
    def year_to(cls, last: date) -> Period:
        """The twelve months that end on `last` (the default period)."""
        if not EARLIEST <= last <= LATEST:
            raise PeriodError(f"Dates entre {EARLIEST:%d/%m/%Y} et {LATEST:%d/%m/%Y} seulement.")
        return cls(_years_later(last + timedelta(days=1), -1), last)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: local midnight to the midnight after the last day."""
        return (
            datetime.combine(self.first, time(), tzinfo=zone),
            datetime.combine(self.last + timedelta(days=1), time(), tzinfo=zone),
        )

    def months(self) -> list[tuple[date, date]]:
        """The calendar months the period touches, each clipped to the period."""
        months, start = [], self.first
        while start <= self.last:
            following = referral_months.next_month(start)
            months.append((start, min(self.last, following - timedelta(days=1))))
            start = following
        return months

    @property
    def label(self) -> str:
        return f"du {self.first:%d/%m/%Y} au {self.last:%d/%m/%Y}"


def _years_later(day: date, years: int) -> date:
    """The same date `years` later (or earlier); 29 February becomes 1 March."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def month_label(day: date) -> str:
    return f"{MONTHS[day.month - 1]} {day.year}"


@dataclass
class Activity:
    period: Period
    patients_received: int = 0
    consultations: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AppointmentKind, 0))
    walk_ins: int = 0
    no_shows: int = 0
    booked_held: int = 0  # booked appointments that were held (the no-show rate's other part)
    staffed_hours: float = 0.0
    direct_patients: int = 0
    referrals: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> status -> n
    days_to_first_visit: list[int] = field(default_factory=list)
    gp_found: int = 0
    monthly: list[tuple[date, dict[str, int]]] = field(default_factory=list)
    # Issue 16: refusals by reason, waiting list, overdue follow-ups, delay to a médecin traitant.
    pathway: PathwayFigures = field(
        default_factory=lambda: PathwayFigures(dict.fromkeys(RefusalReason, 0), [], 0, [])
    )
    # Issue 17: reminders sent by channel, patients' answers, no-shows with and without a reminder.
    reminders: ReminderFigures = field(default_factory=ReminderFigures)
    # Issue 18: hours of sessions by status, open half-days taken by volunteers, uncovered ones.
    roster: RosterFigures = field(default_factory=RosterFigures)

    @property
    def patients_per_hour(self) -> float | None:
        return self.consultations / self.staffed_hours if self.staffed_hours else None

    @property
    def direct_access_share(self) -> float | None:
        return self.direct_patients / self.patients_received if self.patients_received else None

    @property
    def no_show_rate(self) -> float | None:
        seen = self.no_shows + self.booked_held
        return self.no_shows / seen if seen else None

    @property
    def median_days_to_first_visit(self) -> float | None:
        return median(self.days_to_first_visit) if self.days_to_first_visit else None

    @property
    def referrals_received(self) -> int:
        return sum(sum(row.values()) for row in self.referrals.values())

    @property
    def referrals_by_status(self) -> dict[str, int]:
        totals: dict[str, int] = dict.fromkeys(ReferralStatus, 0)
        for row in self.referrals.values():
            for status, count in row.items():
                totals[status] += count
        return totals

    @property
    def referral_rows(self) -> list[tuple[str, str, dict[str, int], int]]:
        """(source code, label, counts by status, total), largest first."""
        rows = [
            (source, SOURCE_LABELS[source], counts, sum(counts.values()))
            for source, counts in self.referrals.items()
        ]
        return sorted(rows, key=lambda row: (-row[3], row[1]))


# The statements are built once (for each number of months) and bound to each period's values:
# building them costs more than running them. They bind :start and :end, the period's bounds.
START, END = bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
NEVER = literal(datetime(1, 1, 1, tzinfo=UTC), UTCDateTime())  # before any moment stored
PAIR, NEXT = "|", ";"  # statement 2's separators of a new patient's moments, and of the patients


@functools.lru_cache(maxsize=32)
def _appointments_and_referrals(months: int) -> CompoundSelect[*tuple[Any, ...]]:
    """Statement 1: for each month, the consultations held by kind, the walk-ins held, the
    no-shows and the reminders' figures of the booked visits (domain/visit_days.py's columns):
    the sum of its UTC days between the UTC midnights nearest its local bounds (:day_0 to
    :day_1…, stored), and for each bound of the months, the visits between it and its midnight
    ([:lo_0, :hi_0)…, read from the index of the visits: hours around a local midnight, when a
    centre holds few visits), which compute adds to one month and takes from the other; and
    the referrals received by the category of who sent them and by decision: the sum of the
    whole UTC months (domain/referral_months.py, stored) and those of the days the period's
    bounds cut off, read from the referrals."""
    moment, text, number = UTCDateTime(), String(30), Integer()
    day = Date()

    def row(what: str, index: int, *columns: Any) -> Select[*tuple[Any, ...]]:
        return select(literal(what, text), literal(index, number), null(), null(), *columns)

    stored = [func.coalesce(func.sum(getattr(VisitDay, name)), 0) for name in visit_days.COLUMNS]
    midnights = [bindparam(f"day_{index}", type_=day) for index in range(months + 1)]
    parts = [
        row("appointment", index, *stored).where(
            VisitDay.day >= midnights[index], VisitDay.day < midnights[index + 1]
        )
        for index in range(months)
    ]
    counted = visit_days.counts()  # one set of columns for every bound: one of parameters
    for index in range(months + 1):
        lo, hi = bindparam(f"lo_{index}", type_=moment), bindparam(f"hi_{index}", type_=moment)
        parts.append(
            row("bound", index, *counted).where(Appointment.starts_at >= lo, Appointment.starts_at < hi)
        )
    # The referrals: those of the whole UTC months between :months_from and :months_to (stored),
    # and those the period's bounds cut off, [:start, :months_cut) and [:months_resume, :end).
    none = [cast(null(), number) for _ in range(len(visit_days.COLUMNS) - 1)]
    kept = (
        select(
            literal("referral", text),
            cast(null(), number),
            ReferralMonth.category,
            ReferralMonth.status,
            type_coerce(func.sum(ReferralMonth.referrals), number),
            *none,
        )
        .where(
            ReferralMonth.month >= bindparam("months_from", type_=day),
            ReferralMonth.month < bindparam("months_to", type_=day),
        )
        .group_by(ReferralMonth.category, ReferralMonth.status)
    )
    kind = referral_months.origin()
    cut, resume = bindparam("months_cut", type_=moment), bindparam("months_resume", type_=moment)
    cut_off_referrals = (
        select(
            literal("referral", text),
            cast(null(), number),
            kind,
            type_coerce(Referral.status, text),
            func.count(),
            *none,
        )
        .select_from(Referral)
        .outerjoin(PartnerOrganisation, Referral.source_id == PartnerOrganisation.id)
        .where(
            or_(
                and_(Referral.received_at >= START, Referral.received_at < cut),
                and_(Referral.received_at >= resume, Referral.received_at < END),
            )
        )
        .group_by(kind, Referral.status)
    )
    return union_all(*parts, kept, cut_off_referrals)


def _whole_months(start: datetime, end: datetime) -> dict[str, Any]:
    """Statement 1's values for the referrals of [start, end): its whole UTC months (their first
    days), and the moments before and after them its bounds cut off (all of it when it holds no
    whole UTC month)."""
    from_utc, to_utc = start.astimezone(UTC), end.astimezone(UTC)
    months_from = referral_months.month_of(from_utc)
    if from_utc != datetime.combine(months_from, time(), tzinfo=UTC):
        months_from = referral_months.next_month(months_from)
    months_to = referral_months.month_of(to_utc)
    cut = min(datetime.combine(months_from, time(), tzinfo=UTC), end)
    resume = max(datetime.combine(months_to, time(), tzinfo=UTC), cut)
    return {"months_from": months_from, "months_to": months_to, "months_cut": cut, "months_resume": resume}


def _month_bounds(months: list[tuple[date, date]], zone: ZoneInfo) -> tuple[dict[str, Any], list[int]]:
    """Statement 1's values for the months' bounds — their local midnights, the period's end
    last —, each with the UTC midnight nearest it and the moments between them; and what the
    visits between them count for the month the bound begins (the one before takes the
    opposite): 1 when its midnight comes after it (they are the month's, and the UTC days
    leave them out), -1 when before. The midnights are never in the wrong order (a month is 23
    hours at least, each midnight 12 hours at most from its bound)."""
    values: dict[str, Any] = {}
    signs: list[int] = []
    for index, first in enumerate([*(first for first, _ in months), months[-1][1] + timedelta(days=1)]):
        bound = datetime.combine(first, time(), tzinfo=zone)
        midnight = _nearest_midnight(bound)
        values |= {
            f"day_{index}": midnight.date(),
            f"lo_{index}": min(bound, midnight),
            f"hi_{index}": max(bound, midnight),
        }
        signs.append(1 if bound <= midnight else -1)
    return values, signs


def _nearest_midnight(moment: datetime) -> datetime:
    """The UTC midnight nearest a moment (the later one at noon)."""
    return datetime.combine((moment.astimezone(UTC) + timedelta(hours=12)).date(), time(), tzinfo=UTC)


@functools.cache
def _patients_and_reminders() -> Select[*tuple[Any, ...]]:
    """Statement 2, one row: the patients received and how many of them came directly (their
    earliest referral) — a patient is received at their first visit of the period, the one whose
    visit before came before :start (domain/held_visits.py): the visits of the period's whole UTC
    months (statement 1's :months_from to :months_to) whose visit before came before the UTC
    month of :start (:start_month, models/activity.HeldMonth, stored), those whose visit before
    came in that month before :start (from :start_month_at), and the visits of the days its
    bounds cut off ([:start, :months_cut) and [:months_resume, :end)), read from the indexes of
    the held visits; for the new patients — whose first visit ever falls in the period, read from
    the index of first visits — the days from their earliest referral to it, 'days;days…': kept
    as a number when both moments are in the UTC hours where the local date is the UTC date
    (:band_from to :band_to, see _band), else as the two moments' text 'seen|referred'
    (_UTCText: compute reads their local dates, see _delays); with, riding along, the reminders
    and the patients' answers (issue 17) and the roster's version."""
    day, moment = Date(), UTCDateTime()
    cut, resume = bindparam("months_cut", type_=moment), bindparam("months_resume", type_=moment)

    def visits(*where: Any) -> Any:
        # FILTER, not CASE: SQLite tests the condition alone, not a CASE built for each visit.
        return select(
            func.count().label("visits"), func.count().filter(HeldVisit.direct).label("direct")
        ).where(*where)

    kept = select(
        func.coalesce(func.sum(HeldMonth.visits), 0).label("visits"),
        func.coalesce(func.sum(HeldMonth.direct), 0).label("direct"),
    ).where(
        HeldMonth.month >= bindparam("months_from", type_=day),
        HeldMonth.month < bindparam("months_to", type_=day),
        HeldMonth.previous_month < bindparam("start_month", type_=day),
    )
    in_start_month = visits(
        HeldVisit.previous_at >= bindparam("start_month_at", type_=moment),
        HeldVisit.previous_at < START,
        HeldVisit.starts_at >= cut,
        HeldVisit.starts_at < resume,
    )
    cut_off = visits(
        or_(
            and_(HeldVisit.starts_at >= START, HeldVisit.starts_at < cut),
            and_(HeldVisit.starts_at >= resume, HeldVisit.starts_at < END),
        ),
        # None held before it since :start — one comparison of each visit read (none held
        # before at all: the first moment there is), not a test for NULL and one.
        func.coalesce(HeldVisit.previous_at, NEVER) < START,
    )
    band_from, band_to = bindparam("band_from", type_=String()), bindparam("band_to", type_=String())
    seen, referred = _UTCMinute(HeldVisit.starts_at), _UTCMinute(HeldVisit.referred_at)
    in_band = and_(seen >= band_from, seen < band_to, referred >= band_from, referred < band_to)
    moments = _UTCText(HeldVisit.starts_at) + PAIR + _UTCText(HeldVisit.referred_at)
    # The hours tested once a new patient: a number, or the moments.
    delay = case((in_band, cast(HeldVisit.referral_days, String())), else_=moments)
    first_visits = select(func.aggregate_strings(delay, NEXT).label("first_visits")).where(
        FIRST_ONLY,
        HeldVisit.starts_at >= START,
        HeldVisit.starts_at < END,
        HeldVisit.referred_at.is_not(None),
    )
    parts = [part.subquery() for part in (kept, in_start_month, cut_off)]
    new = first_visits.subquery()
    return select(
        (parts[0].c.visits + parts[1].c.visits + parts[2].c.visits).label("received"),
        (parts[0].c.direct + parts[1].c.direct + parts[2].c.direct).label("direct"),
        *reminder_sent_columns(),
        roster_version.CURRENT,
        new.c.first_visits,
    ).select_from(parts[0].join(parts[1], true()).join(parts[2], true()).join(new, true()))


def compute(session: DbSession, period: Period, zone: ZoneInfo, opening: Opening | None = None) -> Activity:
    """Every figure of the period, in a fixed number of queries; with the centre's `opening`,
    nothing counts on a closed day and the half-days left uncovered are counted."""
    start, end = period.bounds(zone)
    bounds = {"start": start, "end": end}
    result = Activity(period)

    # 1. Consultations by month and kind, walk-ins, no-shows, the booked visits' reminders'
    #    figures (from the visits' days); referrals by origin and decision.
    months = period.months()
    month_bounds, signs = _month_bounds(months, zone)
    whole_months = _whole_months(start, end)  # statement 2's too
    values: dict[str, Any] = bounds | whole_months | month_bounds
    monthly: list[dict[str, int]] = [dict.fromkeys(AppointmentKind, 0) for _ in months]
    visits = [0] * len(visit_days.COLUMNS)

    def add(index: int, counts: list[int], weight: int) -> None:
        if 0 <= index < len(months):
            for kind, count in zip(AppointmentKind, counts, strict=False):
                monthly[index][kind] += weight * count
            for column, count in enumerate(counts):
                visits[column] += weight * count

    statement = _appointments_and_referrals(len(months))
    for what, index, code, state, *counts in column_rows(session, statement, values):
        if what == "referral":
            row = result.referrals.setdefault(code, dict.fromkeys(ReferralStatus, 0))  # origin()
            row[ReferralStatus(state)] += counts[0]
        elif what == "bound":  # the visits between a month's bound and its UTC midnight
            add(index, counts, signs[index])
            add(index - 1, counts, -signs[index])
        else:
            add(index, counts, 1)
    kinds = len(AppointmentKind)
    for kind, count in zip(AppointmentKind, visits, strict=False):
        result.by_kind[kind] = count
    result.consultations = sum(visits[:kinds])
    result.walk_ins, result.no_shows = visits[kinds], visits[kinds + 1]
    result.booked_held = result.consultations - result.walk_ins
    result.monthly = [(first, counts) for (first, _), counts in zip(months, monthly, strict=True)]

    # 2. Patients received, direct access, referral to first visit; the reminders sent (issue 17)
    #    and the roster's version (domain/roster_version.py).
    start_month = referral_months.month_of(start)
    held = {"start_month": start_month, "start_month_at": datetime.combine(start_month, time(), tzinfo=UTC)}
    ((received, direct, sms, email, roster, first_visits),) = column_rows(
        session, _patients_and_reminders(), bounds | whole_months | held | _band(zone)
    )
    result.patients_received, result.direct_patients = received, direct
    result.reminders = reminder_figures_from([sms, email, *visits[kinds + 2 :]])
    result.days_to_first_visit = _delays(first_visits, zone)

    # 3. Patients given a médecin traitant (and how long after their first visit), refusals by
    #    reason, the waiting list and the overdue follow-ups at the period's end: one query.
    result.pathway = pathway_figures(session, start, end, zone)
    result.gp_found = len(result.pathway.gp_found_days)

    # 4. Staffed hours (the union of the clinicians' sessions) and the roster (issue 18): hours
    #    by status, half-days taken from the board, uncovered ones; two queries (the doctors and
    #    nurses with their weekly patterns, the one-off sessions), no occurrence built.
    #    The days of a roster version this worker already counted are not read again (roster = its
    #    version, read with statement 2).
    result.staffed_hours, result.roster = roster_figures(
        session, period.first, period.last, zone, opening, roster
    )
    return result


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The local date of a naive UTC moment as read from the database."""
    return moment.replace(tzinfo=UTC).astimezone(zone).date()


# A stored moment as its text, 'YYYY-MM-DD HH:MM:SS.ffffff', on either database (PostgreSQL's
# to_char: whatever the server's DateStyle): compute reads the local dates of hundreds of them
# without a datetime built for each. And its time of day, 'HH:MM' (statement 2's hours).
_UTCText = moment_function("utc_text", String(), "{0}", "to_char({0}, 'YYYY-MM-DD HH24:MI:SS.US')")
_UTCMinute = moment_function("utc_minute", String(), "substr({0}, 12, 5)", "to_char({0}, 'HH24:MI')")


# What the local dates of each UTC day are, by zone: the UTC time 'HH:MM' at which the local date
# changes ('00:00': it does not), and the local dates' ordinals before and after it; None on a day
# the zone's offset changes. Worked out once per worker for each day met, not once per moment (the
# zone's rules do not change while it runs; the days are those of the data, one entry each).
UTCDay = tuple[str, int, int] | None
_UTC_DAYS: dict[ZoneInfo, dict[str, UTCDay]] = {}


def _utc_day(day: str, zone: ZoneInfo) -> UTCDay:
    """A UTC date's (`day`, 'YYYY-MM-DD') entry of _UTC_DAYS. The offset at the first and the
    last moment of the day is the offset all day: the zones' offsets change at least days apart
    (tzdata, 2000-2099), and by whole minutes — a moment and the minute it starts in are then on
    the same side of a local midnight, hence the comparison of 'HH:MM' alone."""
    utc = date.fromisoformat(day)
    first = datetime.combine(utc, time(), UTC).astimezone(zone)
    last = datetime.combine(utc, time.max, UTC).astimezone(zone)
    offset = first.utcoffset()
    if offset is None or offset != last.utcoffset() or offset % timedelta(minutes=1):
        return None
    cut = -offset // timedelta(minutes=1) % (24 * 60)
    return f"{cut // 60:02}:{cut % 60:02}", first.toordinal(), last.toordinal()


def _delays(first_visits: str | None, zone: ZoneInfo) -> list[int]:
    """Days from each new patient's earliest referral to their first visit, in local dates (none
    when referred after it), from statement 2's 'days;seen|referred;…': the days as they are, the
    moments by their local dates."""
    if not first_visits:
        return []
    items = first_visits.split(NEXT)
    if PAIR not in first_visits:  # no moment near a local midnight: numbers only
        return list(map(int, items))
    moments = NEXT.join(item for item in items if PAIR in item).replace(PAIR, NEXT).split(NEXT)
    ordinals = _local_ordinals(moments, zone, _UTC_DAYS.setdefault(zone, {}))
    seen, referred = ordinals[::2], ordinals[1::2]
    kept = [int(item) for item in items if PAIR not in item]
    return kept + [late - early if late > early else 0 for late, early in zip(seen, referred, strict=True)]


@functools.cache
def _band(zone: ZoneInfo) -> dict[str, str]:
    """Statement 2's :band_from and :band_to ('HH:MM'): the UTC times of day at which a moment's
    local date is its UTC date whatever its date (2000-2099) — after the local midnight of the
    zone's westmost offset, before that of its eastmost (Paris: 00:00 to 22:00), rounded inwards
    to whole minutes. The offsets are read a week apart: none of tzdata's lasts less in these
    years (the westmost and eastmost are those read every six hours, in each of its 599 zones
    when written; a test checks some); worked out once per zone (~4 ms)."""
    first = datetime(2000, 1, 1, tzinfo=UTC)
    moments = (first + timedelta(weeks=week) for week in range(5_220))
    offsets = [moment.astimezone(zone).utcoffset() or timedelta(0) for moment in moments]
    minute, day = timedelta(minutes=1), timedelta(days=1)
    east, west = max(offsets), min(offsets)
    start = -(min(west, timedelta(0)) // minute)  # minutes, rounded up
    end = (day - max(east, timedelta(0))) // minute  # minutes, rounded down
    if start >= end:  # no such time: every moment read as text
        return {"band_from": "24:00", "band_to": "00:00"}
    return {"band_from": f"{start // 60:02}:{start % 60:02}", "band_to": f"{end // 60:02}:{end % 60:02}"}


_MISSING: UTCDay = ("", 0, 0)  # a day not in _UTC_DAYS yet (told apart by identity)


def _local_ordinals(moments: list[str], zone: ZoneInfo, utc_days: dict[str, UTCDay]) -> list[int]:
    """The ordinals of the local dates of moments read as _UTCText: _local_day's dates, from the
    entries of their UTC days (`utc_days`, _UTC_DAYS[zone]); on a day the offset changes,
    _local_day. A loop of lookups, no call per moment: a year at three times the patients holds
    over seven hundred new patients, ten years ago over a thousand."""
    ordinals: list[int] = []
    add, known = ordinals.append, utc_days.get
    for moment in moments:
        entry = known(moment[:10], _MISSING)
        if entry is _MISSING:
            entry = utc_days[moment[:10]] = _utc_day(moment[:10], zone)
        if entry is None:
            add(_local_day(datetime.fromisoformat(moment), zone).toordinal())
        else:
            cut, before, after = entry
            add(before if moment[11:16] < cut else after)
    return ordinals


# --- What the page, the exports and the CLI show ------------------------------------------------


def number_fr(value: float | None, decimals: int = 1, group: bool = True) -> str:
    """2.6 -> '2,6', 2260 -> '2 260' (a narrow space between thousands unless `group` is off,
    as a spreadsheet wants); None -> '—'."""
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}".replace(",", "\u202f" if group else "").replace(".", ",")


def hours_fr(value: float, group: bool = True) -> str:
    """1.25 -> '1,25 h', 8.0 -> '8 h': staffed hours keep their quarters (a shift needs not be
    whole hours), without trailing zeros."""
    text = number_fr(value, 2, group)
    if "," in text:
        text = text.rstrip("0").rstrip(",")
    return f"{text} h"


def days_fr(value: float) -> str:
    """0 -> '0 jour', 1 -> '1 jour', 25 -> '25 jours' (French keeps 0 and 1 singular)."""
    days = round(value)
    return f"{number_fr(days, 0)} jour{'s' if days >= 2 else ''}"


def share_fr(value: float | None) -> str:
    return "—" if value is None else f"{number_fr(value * 100, 0)} %"


def summary(activity: Activity, group: bool = True, threshold: int | None = None) -> list[tuple[str, str]]:
    """The headline figures as (label, French text), in the order of the yearly review; with a
    `threshold`, under statistical secrecy (see secret and masked_rates)."""
    kinds = activity.by_kind
    num = partial(number_fr, group=group)
    hidden = masked_rates(activity, threshold) if threshold else frozenset()

    def rate(key: str, text: str) -> str:
        return masked_rate(threshold) if threshold and key in hidden else text

    rows = [
        ("Patients reçus", num(activity.patients_received, 0)),
        ("Consultations", num(activity.consultations, 0)),
        ("dont premières consultations (médecin et infirmière)", num(kinds[AppointmentKind.FIRST], 0)),
        ("dont consultations médecin", num(kinds[AppointmentKind.DOCTOR], 0)),
        ("dont consultations infirmières", num(kinds[AppointmentKind.NURSE], 0)),
        ("dont sans rendez-vous", num(activity.walk_ins, 0)),
        ("Heures de présence soignante", hours_fr(activity.staffed_hours, group)),
        (
            "Patients par heure de présence soignante",
            rate("patients_per_hour", num(activity.patients_per_hour, 1)),
        ),
        *(
            (f"Heures de vacation : {label}", hours_fr(activity.roster.hours_by_status[code], group))
            for code, label in STATUSES
        ),
        ("Demi-journées ouvertes prises par des bénévoles", num(activity.roster.taken_from_board, 0)),
        (
            "Demi-journées ouvertes restées sans médecin ou sans infirmière",
            num(activity.roster.uncovered_half_days, 0),
        ),
        (
            "Patients venus directement (sans adressage)",
            rate("direct_access_share", share_fr(activity.direct_access_share)),
        ),
        ("Adressages reçus", num(activity.referrals_received, 0)),
        (
            "Délai médian de l'adressage à la première consultation",
            "—"
            if activity.median_days_to_first_visit is None
            else days_fr(activity.median_days_to_first_visit),
        ),
        ("Taux de rendez-vous non honorés", rate("no_show_rate", share_fr(activity.no_show_rate))),
        ("Rappels envoyés par SMS", num(activity.reminders.sent[MessageChannel.SMS], 0)),
        ("Rappels envoyés par e-mail", num(activity.reminders.sent[MessageChannel.EMAIL], 0)),
        ("Rendez-vous confirmés par le patient", num(activity.reminders.confirmed_by_patient, 0)),
        ("Rendez-vous annulés par le patient", num(activity.reminders.cancelled_by_patient, 0)),
        (
            "Non honorés après un rappel",
            rate("no_show_rate_with_reminder", share_fr(activity.reminders.no_show_rate_with_reminder)),
        ),
        (
            "Non honorés sans rappel",
            rate("no_show_rate_without_reminder", share_fr(activity.reminders.no_show_rate_without_reminder)),
        ),
        ("Patients ayant trouvé un médecin traitant", num(activity.gp_found, 0)),
        (
            "Délai médian de la première consultation au médecin traitant trouvé",
            _days_or_dash(activity.pathway.gp_found_median_days),
        ),
        ("Patients en liste d'attente en fin de période", num(activity.pathway.waiting, 0)),
        ("Attente médiane en liste d'attente", _days_or_dash(activity.pathway.median_wait_days)),
        (
            "Patients en suivi à recontacter (retard) en fin de période",
            num(activity.pathway.overdue_follow_ups, 0),
        ),
    ]
    if threshold:
        return [(label, str(secret(value, threshold))) for label, value in rows]
    return rows


def _days_or_dash(value: float | None) -> str:
    return "—" if value is None else days_fr(value)


def refusal_rows(activity: Activity) -> list[tuple[str, int]]:
    """(reason, count) of the referrals received in the period and declined, in the list's order."""
    return [(reason.label, activity.pathway.refusal_reasons[reason]) for reason in RefusalReason]


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def as_dict(activity: Activity, site: str = "") -> dict[str, Any]:
    """The figures as plain values (the JSON export and `dalia report --format json`)."""
    return {
        "site": site,
        "period": {"from": activity.period.first.isoformat(), "to": activity.period.last.isoformat()},
        "patients_received": activity.patients_received,
        "consultations": activity.consultations,
        "consultations_by_kind": dict(activity.by_kind),
        "walk_ins": activity.walk_ins,
        "staffed_hours": round(activity.staffed_hours, 2),
        "staffed_hours_by_status": {code: round(h, 2) for code, h in activity.roster.hours_by_status.items()},
        "open_half_days_taken_by_volunteers": activity.roster.taken_from_board,
        "half_days_uncovered": activity.roster.uncovered_half_days,
        "patients_per_hour": _rounded(activity.patients_per_hour, 3),
        "direct_access_share": _rounded(activity.direct_access_share, 4),
        "referrals_received": activity.referrals_received,
        "referrals_by_decision": activity.referrals_by_status,
        "referrals_by_source": {
            source: {"label": label, "total": total, **counts}
            for source, label, counts, total in activity.referral_rows
        },
        "median_days_referral_to_first_visit": activity.median_days_to_first_visit,
        "no_show_rate": _rounded(activity.no_show_rate, 4),
        "no_shows": activity.no_shows,
        "patients_given_gp": activity.gp_found,
        "reminders_sent": activity.reminders.total_sent,
        "reminders_sent_by_channel": {str(c): n for c, n in activity.reminders.sent.items()},
        "confirmed_by_patient": activity.reminders.confirmed_by_patient,
        "cancelled_by_patient": activity.reminders.cancelled_by_patient,
        "no_show_rate_with_reminder": _rounded(activity.reminders.no_show_rate_with_reminder, 4),
        "no_show_rate_without_reminder": _rounded(activity.reminders.no_show_rate_without_reminder, 4),
        "refusal_reasons": {str(reason): n for reason, n in activity.pathway.refusal_reasons.items()},
        "waiting_list": {
            "count": activity.pathway.waiting,
            "median_wait_days": activity.pathway.median_wait_days,
        },
        "overdue_follow_ups": activity.pathway.overdue_follow_ups,
        "gp_found": activity.gp_found,
        "gp_found_median_days": activity.pathway.gp_found_median_days,
        "consultations_by_month": [
            {"month": f"{first:%Y-%m}", **counts} for first, counts in activity.monthly
        ],
    }


def as_json(activity: Activity, site: str = "") -> str:
    return json.dumps(as_dict(activity, site), ensure_ascii=False, indent=2) + "\n"


def as_csv(activity: Activity, site: str = "") -> str:
    """One sheet for French Excel: the headline figures, then the months, then the referrals."""
    return csv_text(_csv_rows(activity, site))


def _csv_rows(activity: Activity, site: str, threshold: int | None = None) -> list[list[object]]:
    statuses = list(ReferralStatus)
    rows: list[list[object]] = [
        ["Indicateur", "Valeur"],
        ["Centre", site],
        ["Période", activity.period.label],
        *(list[object]([label, value]) for label, value in summary(activity, False, threshold)),
        [],
        ["Mois", *(k.label for k in AppointmentKind), "Total"],
    ]
    rows += [
        [month_label(first), *(counts[k] for k in AppointmentKind), sum(counts.values())]
        for first, counts in activity.monthly
    ]
    rows += [[], ["Adressages par origine", *(s.label for s in statuses), "Total"]]
    rows += [
        [label, *(counts[s] for s in statuses), total] for _, label, counts, total in activity.referral_rows
    ]
    rows += [[], ["Refus par motif", "Adressages"], *([label, n] for label, n in refusal_rows(activity))]
    return rows


def as_text(activity: Activity, site: str = "", threshold: int | None = None) -> str:
    """The figures as text (`dalia report SLUG`); with a `threshold`, under statistical secrecy."""

    def people(value: object) -> object:
        return secret(value, threshold) if threshold else value

    rows = summary(activity, threshold=threshold)
    lines = [f"{site} — activité {activity.period.label}" if site else f"Activité {activity.period.label}"]
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    if activity.referral_rows:
        lines.append("  Adressages par origine :")
        lines += [
            f"    {label} : {people(total)} (acceptés {people(counts[ReferralStatus.ACCEPTED])}, refusés "
            f"{people(counts[ReferralStatus.DECLINED])}, liste d'attente "
            f"{people(counts[ReferralStatus.WAITING_LIST])}, à trier {people(counts[ReferralStatus.NEW])})"
            for _, label, counts, total in activity.referral_rows
        ]
    lines.append(
        "  Refus par motif : "
        + ", ".join(f"{label.lower()} {people(n)}" for label, n in refusal_rows(activity))
    )
    return "\n".join(lines) + "\n"


def one_line(activity: Activity, threshold: int | None = None) -> str:
    """The figures URPS follows across sites, on one line (`dalia report --all`); with a
    `threshold`, under statistical secrecy."""
    shown = dict(summary(activity, False, threshold))
    return (
        f"{shown['Patients reçus']} patients reçus, {shown['Consultations']} consultations,"
        f" {shown['Patients par heure de présence soignante']} patients/heure, accès direct "
        f"{shown['Patients venus directement (sans adressage)']}, non venus "
        f"{shown['Taux de rendez-vous non honorés']} ({activity.period.label})"
    )


@functools.cache
def _data_version() -> Select[*tuple[Any, ...]]:
    """FiguresCache's key, built once: the newest write (an audit event not in READS, one step
    back along its partial index), and the newest rows of the counted tables."""
    newest_write = (
        select(AuditEvent.id).where(WRITES).order_by(AuditEvent.id.desc()).limit(1).scalar_subquery()
    )
    newest = [select(func.max(model.id)).scalar_subquery() for model in (Appointment, Referral, Shift)]
    return select(newest_write, *newest)


class FiguresCache:
    """The figures of the last few periods asked for, computed again only when the data they
    count may have changed: every write of the app leaves an audit event (reads leave some too,
    which do not count); the newest rows of the counted tables catch anything else (a bulk load).
    The key is read from the database: any worker or host sees the same changes."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[object, ...], Activity] = OrderedDict()

    @staticmethod
    def data_version(session: DbSession) -> tuple[object, ...]:
        return tuple(session.execute(_data_version()).one())

    def figures(
        self, session: DbSession, period: Period, zone: ZoneInfo, opening: Opening | None = None
    ) -> Activity:
        key = (period, opening, self.data_version(session))
        figures = self._entries.pop(key, None) or compute(session, period, zone, opening)
        self._entries[key] = figures  # most recently used last
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return figures


# --- Statistical secrecy (issue 19) ---------------------------------------------------------------
# In the figures the reporting role sees and in every export, a count of 1 to threshold - 1 people
# is shown as « < 5 » (threshold: [security] small_count_threshold): a one-day period must not single
# out a patient. Zero stays 0 (nobody to single out); hours, half-days and delays are not people.

NOT_PEOPLE = frozenset(
    {
        "staffed_hours",
        "staffed_hours_by_status",
        "open_half_days_taken_by_volunteers",
        "half_days_uncovered",
        "median_days_referral_to_first_visit",
        "median_wait_days",
        "gp_found_median_days",
        "patients_per_hour",
        "direct_access_share",
        "no_show_rate",
        "no_show_rate_with_reminder",
        "no_show_rate_without_reminder",
    }
)


def secret(value: object, threshold: int) -> object:
    """`value` unless it is a count (an int, or a text of digits) from 1 to threshold - 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        return value
    return f"< {threshold}" if 0 < number < threshold else value


def secret_dict(values: Any, threshold: int, key: str = "") -> Any:
    """The export's plain values with every small count of people hidden (see secret)."""
    if key in NOT_PEOPLE:
        return values
    if isinstance(values, dict):
        return {k: secret_dict(v, threshold, str(k)) for k, v in values.items()}
    if isinstance(values, list):
        return [secret_dict(v, threshold, key) for v in values]
    return secret(values, threshold)


def masked_rate(threshold: int) -> str:
    """What a rate computed from a hidden count shows instead of its value."""
    return f"masqué (< {threshold})"


def masked_rates(activity: Activity, threshold: int) -> frozenset[str]:
    """The rates (as_dict's keys) computed from a count of people that secrecy hides — the count
    itself or its complement (the rate and the other count would give it back): masked with it."""
    reminders = activity.reminders

    def small(*counts: int) -> bool:
        return any(0 < count < threshold for count in counts)

    def missed_held(missed: int, held: int) -> tuple[int, ...]:
        return missed, held, missed + held

    counts = {
        "patients_per_hour": (activity.consultations,),
        "direct_access_share": (
            activity.direct_patients,
            activity.patients_received - activity.direct_patients,
            activity.patients_received,
        ),
        "no_show_rate": missed_held(activity.no_shows, activity.booked_held),
        "no_show_rate_with_reminder": missed_held(*reminders.with_reminder),
        "no_show_rate_without_reminder": missed_held(*reminders.without_reminder),
    }
    return frozenset(key for key, numbers in counts.items() if small(*numbers))


def secret_values(activity: Activity, site: str, threshold: int) -> dict[str, Any]:
    """as_dict under statistical secrecy: small counts as "< 5", the rates they give back as
    "masqué (< 5)" (the JSON exports, `dalia report --format json` and `report --all`)."""
    data: dict[str, Any] = secret_dict(as_dict(activity, site), threshold)
    return data | dict.fromkeys(masked_rates(activity, threshold), masked_rate(threshold))


def as_secret_json(activity: Activity, site: str, threshold: int) -> str:
    return json.dumps(secret_values(activity, site, threshold), ensure_ascii=False, indent=2) + "\n"


def as_secret_csv(activity: Activity, site: str, threshold: int) -> str:
    """as_csv with every small count hidden (the site and period cells are texts, not counts) and
    the rates they give back masked."""
    rows = _csv_rows(activity, site, threshold)
    return csv_text([[secret(cell, threshold) for cell in row] for row in rows])
