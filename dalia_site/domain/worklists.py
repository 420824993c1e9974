"""The three worklists that keep every patient of the centre on somebody's desk:

- « À recontacter »: patients in follow-up with no visit to come, most overdue first — due
  `cadence` weeks after their last visit (the plan's cadence, else DEFAULT_CADENCE_WEEKS), or
  at once when they have not been seen yet;
- « Liste d'attente »: patients on the waiting list, oldest first, each with a free first-visit
  slot, and the slots freed by a cancellation offered to them first;
- « Non venus »: missed visits of the last weeks that nobody has called back yet; a patient
  who missed `no_show_flag_after` visits (centre setting) is flagged.

Each list is one query (its total counted in the same statement), and the navigation's counts
are one more, grouped.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from dalia_site.database import DbSession, column_rows, count_up_to, known_rows, page_count
from dalia_site.domain import audit, booking, referrals
from dalia_site.domain.opening import Opening
from dalia_site.domain.text import FieldError
from dalia_site.models import (
    Appointment,
    AppointmentClinician,
    ContactAttempt,
    OverdueSpan,
    Patient,
    Referral,
    SlotOffer,
    StaffUser,
)
from dalia_site.models.activity import OpenOverdueSpans
from dalia_site.models.patients import full_name
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import (
    AppointmentKind,
    AppointmentStatus,
    ContactOutcome,
    OfferStatus,
    PatientStatus,
    ReferralStatus,
    RefusalReason,
)

LIST_SIZE = 25  # rows a page of a list shows (the waiting list: its first page only, the
# oldest waiters, to whom the free slots go); its total says how many more there are
WAITED_DAYS = (30, 90)  # « Liste d'attente »: only who has waited that long (the filter's choices)
NO_SHOW_WEEKS = (2, 4, 8)  # how far back « Non venus » looks (the filter's choices)
DEFAULT_NO_SHOW_WEEKS = 4


# --- « À recontacter » --------------------------------------------------------------------------


def _listed(now: Any) -> ColumnElement[bool]:
    """On « À recontacter » at `now`: in follow-up, no visit to come (their next step as
    domain/recall.py keeps it, read by the index on status and due date)."""
    return and_(
        Patient.status == PatientStatus.FOLLOW_UP,
        or_(Patient.last_visit_at.is_(None), Patient.last_visit_at <= now),
    )


# A report's period end, bound each time.
AT = bindparam("at", type_=UTCDateTime())


def _overdue() -> Any:
    """How many patients of « À recontacter » were overdue at a past moment AT (a scalar
    subquery, for a report's period end): the overdue spans that hold it (domain/overdue_spans.py)
    — those open (their count kept with them) but those begun after AT, and those begun by AT
    and closed since: ranges of their index as long as the time since AT."""

    def count(*conditions: Any) -> Any:
        return select(func.count()).select_from(OverdueSpan).where(*conditions).scalar_subquery()

    open_spans = select(OpenOverdueSpans.spans).where(OpenOverdueSpans.id == 1).scalar_subquery()
    begun_since = count(OverdueSpan.ends_at.is_(None), OverdueSpan.starts_at > AT)
    closed_since = count(OverdueSpan.ends_at > AT, OverdueSpan.starts_at <= AT)
    return open_spans - begun_since + closed_since


@dataclass(frozen=True)
class ListedPatient:
    """What a list shows of a patient: a few columns read as such, not the whole record."""

    id: int
    last_name: str
    first_names: str
    phone: str

    @property
    def full_name(self) -> str:
        return full_name(self.last_name, self.first_names)


LISTED = (Patient.id, Patient.last_name, Patient.first_names, Patient.phone)


@dataclass(frozen=True)
class RecallRow:
    patient: ListedPatient
    last_visit: datetime | None
    overdue_days: int  # days past the due date (negative: due in that many days)
    attempted_at: datetime | None
    outcome: ContactOutcome | None
    attempted_by: str

    @property
    def outcome_label(self) -> str:
        return "" if self.outcome is None else self.outcome.label


@dataclass(frozen=True)
class Worklist:
    rows: Sequence[Any]
    total: int | None  # every row of the list, those beyond LIST_SIZE included (None: > known)
    page: int = 1  # which page of LIST_SIZE rows (macros.pagination reads the rest)
    known: int = 0  # with total None: the list has more rows than this

    @property
    def pages(self) -> int:
        return page_count(self.total, self.known, LIST_SIZE)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.total is None or self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


# « À recontacter » counts its rows up to this many (or to the page shown, further on): beyond,
# it says « plus de 1000 », and counting costs the same whatever the number of patients.
COUNTED_UP_TO = 1000


def _offset(page: int) -> int:
    return (page - 1) * LIST_SIZE


def recall(session: DbSession, *, now: datetime, overdue_only: bool = False, page: int = 1) -> Worklist:
    """« À recontacter » at `now` (the present, as the stored next steps are): most overdue
    first, a `page` of LIST_SIZE rows, with the last attempt to reach each (who, when, what came
    of it), read for the rows shown only; how many in all, up to COUNTED_UP_TO (or the page's
    end). One query."""
    rows, total = [], 0
    known = known_rows(COUNTED_UP_TO, _offset(page) + LIST_SIZE)
    values = {"now": now, "skipped": _offset(page), "counted": known + 1}
    for *shown, last, due, attempted_at, outcome, by, count in session.execute(
        _recall_statement(overdue_only), values
    ):
        late = (now - due).days
        rows.append(RecallRow(ListedPatient(*shown), last, late, attempted_at, outcome, by or ""))
        total = count
    return Worklist(rows, total if total <= known else None, page, known)


@functools.cache
def _recall_statement(overdue_only: bool) -> Any:
    """« À recontacter »'s query, built once per view (`now` and the rows `skipped` bound at
    each request)."""
    now = bindparam("now", type_=UTCDateTime())
    listed = _listed(now)
    if overdue_only:
        listed = and_(listed, Patient.recall_due_at <= now)
    # In the index's order (status, due, last visit, id): the first rows read are the page.
    order = (Patient.recall_due_at, Patient.last_visit_at, Patient.id)
    counted = count_up_to(select(Patient.id).where(listed), bindparam("counted", type_=Integer()))
    window = (
        select(Patient.id.label("patient_id"), counted.label("total"))
        .where(listed)
        .order_by(*order)
        .limit(LIST_SIZE)
        .offset(bindparam("skipped", type_=Integer()))
        .subquery()
    )
    latest_attempt = (
        select(ContactAttempt.id)
        .where(ContactAttempt.patient_id == window.c.patient_id)
        .order_by(ContactAttempt.attempted_at.desc(), ContactAttempt.id.desc())
        .limit(1)
        .correlate(window)
        .scalar_subquery()
    )
    return (
        select(
            *LISTED,
            Patient.last_visit_at,
            Patient.recall_due_at,
            ContactAttempt.attempted_at,
            ContactAttempt.outcome,
            StaffUser.name,
            window.c.total,
        )
        .join(window, window.c.patient_id == Patient.id)
        .outerjoin(ContactAttempt, ContactAttempt.id == latest_attempt)
        .outerjoin(StaffUser, StaffUser.id == ContactAttempt.by_id)
        .order_by(*order)
    )


def overdue_count(session: DbSession, *, at: datetime) -> int:
    """Patients in follow-up whose next visit was due by `at` and was not booked then (the
    report's figure at a period's end)."""
    return session.scalar(_overdue_statement(), {"at": at}) or 0


@functools.cache
def _overdue_statement() -> Any:
    return select(_overdue())


# --- « Liste d'attente » ------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitingRow:
    patient: ListedPatient
    since: datetime
    days: int
    offer: SlotOffer | None  # a slot freed by a cancellation: offered to the waiting list first
    slot: booking.Slot | None  # else a free first-visit slot (the earliest to who waited longest)


def _open_offers(now: Any) -> ColumnElement[bool]:
    """A freed first-visit slot still to come and still free (nobody booked its clinician
    over it since)."""
    rebooked = exists().where(
        AppointmentClinician.member_id == SlotOffer.lead_member_id,
        AppointmentClinician.appointment_id == Appointment.id,
        Appointment.status.in_(booking.ACTIVE),
        Appointment.starts_at < SlotOffer.ends_at,
        Appointment.ends_at > SlotOffer.starts_at,
    )
    return and_(
        SlotOffer.status == OfferStatus.OPEN,
        SlotOffer.starts_at > now,
        SlotOffer.kind == AppointmentKind.FIRST,
        ~rebooked,
    )


@functools.cache
def _waiting_statement() -> Any:
    """The waiting list's query, built once (its values bound at each request: `now`, and
    `waited_by`, the latest moment a patient shown began to wait). Its first LIST_SIZE read in
    order from the index on since when each waits (domain/recall.py keeps it), only they read in
    full and given their rank, which the freed slots are matched on."""
    now = bindparam("now", type_=UTCDateTime())
    first = (
        select(Patient.id.label("patient_id"), Patient.waiting_since, func.count().over().label("total"))
        .where(
            Patient.status == PatientStatus.WAITING_LIST,
            Patient.waiting_since <= bindparam("waited_by", type_=UTCDateTime()),
        )
        .order_by(Patient.waiting_since, Patient.id)
        .limit(LIST_SIZE)
        .subquery()
    )
    ranked = select(
        first,
        func.row_number().over(order_by=(first.c.waiting_since, first.c.patient_id)).label("rank"),
    ).subquery()
    offers = (
        select(
            SlotOffer.id.label("offer_id"),
            func.row_number().over(order_by=(SlotOffer.starts_at, SlotOffer.id)).label("rank"),
        )
        .where(_open_offers(now))
        .subquery()
    )
    return (
        select(*LISTED, ranked.c.waiting_since, ranked.c.total, SlotOffer)
        .join(ranked, ranked.c.patient_id == Patient.id)
        .outerjoin(offers, offers.c.rank == ranked.c.rank)
        .outerjoin(SlotOffer, SlotOffer.id == offers.c.offer_id)
        .order_by(ranked.c.rank)
    )


def waiting(
    session: DbSession,
    *,
    now: datetime,
    zone: ZoneInfo,
    free: Sequence[booking.Slot] = (),
    min_days: int = 0,
) -> Worklist:
    """The waiting list, oldest first, with how long each has waited. The slots freed by a
    cancellation go first, one per row in order (the earliest to who waited longest); then the
    `free` first-visit slots (earliest first), one per remaining row; only those waiting for
    `min_days` days or more when asked. One query."""
    rows = session.execute(
        _waiting_statement(), {"now": now, "waited_by": now - timedelta(days=min_days)}
    ).all()
    today = now.astimezone(zone).date()
    listed = []
    for *shown, waited_from, _, offer in rows:
        days = (today - waited_from.astimezone(zone).date()).days
        listed.append(WaitingRow(ListedPatient(*shown), waited_from, days, offer, None))
    return with_free_slots(Worklist(listed, rows[0][-2] if rows else 0), free)


def waiting_with_slots(
    session: DbSession,
    *,
    now: datetime,
    zone: ZoneInfo,
    visits: Mapping[str, int],
    opening: Opening,
    min_days: int = 0,
) -> Worklist:
    """The waiting list as its page shows it: each row no freed slot went to gets a free
    first-visit slot on the centre's open days — as many as rows are asked for, since the freed
    slots are free slots too."""
    found = waiting(session, now=now, zone=zone, min_days=min_days)
    if all(row.offer is not None for row in found.rows):
        return found
    free = booking.free_slots(
        session, AppointmentKind.FIRST, visits, zone, now, limit=len(found.rows), opening=opening
    )
    return with_free_slots(found, free)


def with_free_slots(found: Worklist, free: Sequence[booking.Slot]) -> Worklist:
    """The waiting list with the `free` first-visit slots (earliest first) given, one each, to
    the rows no freed slot went to, in order; a freed slot is not given twice."""
    offered = {(row.offer.starts_at, row.offer.lead_member_id) for row in found.rows if row.offer}
    remaining = iter([s for s in free if (s.starts_at, s.member_ids[0]) not in offered])
    rows = [row if row.offer else replace(row, slot=next(remaining, None)) for row in found.rows]
    return Worklist(rows, found.total)


def offer_choice(offer: SlotOffer) -> str:
    """The offer's slot as the booking forms send it (booking.Slot.choice)."""
    return f"{offer.starts_at.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%MZ}_{offer.member_ids}"


def accept_from_waiting_list(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    site_name: str = "DALIA",
    *,
    now: datetime,
    reach: Mapping[str, object] | None = None,
) -> Referral:
    """Take a patient off the waiting list: their oldest waiting referral is accepted (the
    referrer hears of it), so that the pair's first visit can be booked — in the slot offered,
    through booking's own confirmation. Until it is, they are on « À recontacter ». `reach`: how
    to reach them, as the referral's decision form gives it (referrals.decide)."""
    if patient.status != PatientStatus.WAITING_LIST:
        raise FieldError("patient", "Ce patient n'est plus sur la liste d'attente.")
    referral = session.scalar(
        select(Referral)
        .where(Referral.patient_id == patient.id, Referral.status == ReferralStatus.WAITING_LIST)
        .order_by(Referral.decided_at, Referral.id)
        .limit(1)
    )
    if referral is None:
        raise FieldError("patient", "Ce patient n'a pas d'adressage en liste d'attente.")
    try:  # referrals.decide holds the rule: no accepted patient is unreachable
        referrals.decide(
            session, actor, referral, ReferralStatus.ACCEPTED, site_name=site_name, now=now, reach=reach
        )
    except FieldError as error:
        if error.field != "reach":
            raise
        raise FieldError(
            "reach",
            "Pour accepter, il faut un moyen de joindre le patient : complétez sa fiche (téléphone, "
            "e-mail ou adresse), ou acceptez depuis son adressage en cochant « joignable par le référent ».",
        ) from error
    return referral


def dismiss_offer(session: DbSession, actor: StaffUser | None, offer_id: int) -> SlotOffer:
    """« Ne plus proposer »: the freed slot leaves the waiting list (it stays bookable)."""
    offer = session.get(SlotOffer, offer_id)
    if offer is None or offer.status != OfferStatus.OPEN:
        raise FieldError("offer", "Ce créneau n'est plus proposé.")
    offer.status = OfferStatus.DISMISSED
    audit.record(
        session,
        actor,
        "slot_offer.dismiss",
        "appointment",
        offer.cancelled_id,
        "Créneau libéré retiré de la liste d'attente",
    )
    return offer


# --- « Non venus » ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissedVisit:
    id: int
    starts_at: datetime
    kind: AppointmentKind

    @property
    def kind_label(self) -> str:
        return self.kind.label


@dataclass(frozen=True)
class NoShowRow:
    appointment: MissedVisit
    patient: ListedPatient
    missed: int  # the patient's no-shows, all time
    flagged: bool


def _not_called_back(since: Any) -> ColumnElement[bool]:
    called = exists().where(
        ContactAttempt.patient_id == Appointment.patient_id,
        ContactAttempt.attempted_at >= Appointment.starts_at,
    )
    return and_(
        Appointment.status == AppointmentStatus.NO_SHOW,
        Appointment.starts_at >= since,
        Patient.status == PatientStatus.FOLLOW_UP,
        ~called,
    )


def no_shows(session: DbSession, *, now: datetime, weeks: int, flag_after: int, page: int = 1) -> Worklist:
    """Missed visits of the last `weeks` weeks not called back since, latest first (a `page` of
    LIST_SIZE), each with the patient's count of missed visits (flagged from `flag_after`)."""
    missed = (
        select(func.count())
        .where(Appointment.patient_id == Patient.id, Appointment.status == AppointmentStatus.NO_SHOW)
        .correlate(Patient)
        .scalar_subquery()
        .label("missed")
    )
    rows = session.execute(
        select(Appointment.id, Appointment.starts_at, Appointment.kind, *LISTED, missed, func.count().over())
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(_not_called_back(now - timedelta(weeks=weeks)))
        .order_by(Appointment.starts_at.desc(), Appointment.id)
        .limit(LIST_SIZE)
        .offset(_offset(page))
    ).all()
    listed = [
        NoShowRow(MissedVisit(*row[:3]), ListedPatient(*row[3:7]), missed, missed >= flag_after)
        for *row, missed, _ in rows
    ]
    return Worklist(listed, rows[0][-1] if rows else 0, page)


# --- The navigation's counts --------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    recall: int  # overdue
    waiting: int
    no_shows: int


# The navigation shows « 999+ » beyond: a badge is a cue, the list says how many; and counting
# stops there, so the counts cost the same whatever the number of patients.
NAV_COUNT_CAP = 999


def counts(session: DbSession, *, now: datetime) -> Counts:
    """The three lists' counts in one query (the navigation shows them), each at most
    NAV_COUNT_CAP + 1."""
    values = {"now": now, "since": now - timedelta(weeks=DEFAULT_NO_SHOW_WEEKS)}
    row = session.execute(_counts_statement(), values).one()
    return Counts(*(int(n or 0) for n in row))


@functools.cache
def _counts_statement() -> Any:
    """The navigation's counts, built once (`now` and the no-shows' `since` bound each time)."""
    now, since = bindparam("now", type_=UTCDateTime()), bindparam("since", type_=UTCDateTime())
    most = NAV_COUNT_CAP + 1
    return select(
        count_up_to(select(Patient.id).where(_listed(now), Patient.recall_due_at <= now), most),
        count_up_to(select(Patient.id).where(Patient.status == PatientStatus.WAITING_LIST), most),
        count_up_to(
            select(Appointment.id)
            .join(Patient, Patient.id == Appointment.patient_id)
            .where(_not_called_back(since)),
            most,
        ),
    )


# --- The report's figures -----------------------------------------------------------------------


@dataclass
class PathwayFigures:
    """What the funders' report counts of the pathway, for a period [start, end)."""

    refusal_reasons: dict[str, int]  # RefusalReason code -> referrals received and declined
    # Days waited so far at the period's end by the middle one (or two) of who still waits then.
    middle_waits: list[int]
    overdue_follow_ups: int  # at the period's end
    gp_found_days: list[int]  # days from the first visit to the médecin traitant found
    waiting: int = 0  # who still waits at the period's end

    @property
    def gp_found_median_days(self) -> float | None:
        return median(self.gp_found_days) if self.gp_found_days else None

    @property
    def median_wait_days(self) -> float | None:
        return median(self.middle_waits) if self.middle_waits else None


def pathway_figures(session: DbSession, start: datetime, end: datetime, zone: ZoneInfo) -> PathwayFigures:
    """Refusals by reason, the waiting list and the overdue follow-ups at the period's end, and
    the médecins traitants found with how long after the first visit: one query (rows of four
    kinds, told apart by their first column; moments as naive UTC, read as plain columns).

    The waiting list at the period's end is « Liste d'attente »'s patients already waiting then
    (since when each waits: domain/recall.py): counted, and their median wait taken from the one
    or two in the middle of the list, read from its index."""
    at = end - timedelta(microseconds=1)
    figures = PathwayFigures(dict.fromkeys(RefusalReason, 0), [], 0, [])
    last_day = at.astimezone(zone).date()

    def day(moment: datetime) -> date:
        return moment.replace(tzinfo=UTC).astimezone(zone).date()

    rows = column_rows(session, _pathway_statement(), {"start": start, "end": end, "at": at})
    for what, code, first, second, n in rows:
        if what == "gp" and second is not None:
            figures.gp_found_days.append(max((day(first) - day(second)).days, 0))
        elif what == "gp":
            figures.gp_found_days.append(0)  # found before any visit at the centre
        elif what == "refusal":
            figures.refusal_reasons[code if RefusalReason.has(code) else RefusalReason.OTHER] += n
        elif what == "waiting":
            figures.middle_waits.append((last_day - day(first)).days)
            figures.waiting = n
        else:
            figures.overdue_follow_ups = n
    return figures


@functools.cache
def _pathway_statement() -> Any:
    """pathway_figures' query, built once (building it cost more than running it): the period's
    [start, end) and its last moment `at` bound each time."""
    # The moments given back as naive UTC (pathway_figures takes their local dates).
    moment, text, number = DateTime(), String(20), Integer()
    start, end = bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())

    def none(kind: Any) -> Any:
        return cast(null(), kind)

    first_visit = (
        select(func.min(Appointment.starts_at))
        .where(Appointment.patient_id == Patient.id, Appointment.status == AppointmentStatus.HONOURED)
        .correlate(Patient)
        .scalar_subquery()
    )
    found = select(
        literal("gp", text).label("what"),
        none(text).label("code"),
        type_coerce(Patient.gp_found_at, moment).label("first"),
        type_coerce(first_visit, moment).label("second"),
        none(number).label("n"),
    ).where(Patient.gp_found_at >= start, Patient.gp_found_at < end)
    refusals = (
        select(
            literal("refusal", text),
            cast(Referral.decline_code, text),
            none(moment),
            none(moment),
            func.count(),
        )
        .where(
            # In the statement's text, not bound: the index of the declined (ix_referral_declined,
            # read alone) answers a query whose condition names its status.
            Referral.status == literal_column(f"'{ReferralStatus.DECLINED}'"),
            Referral.received_at >= start,
            Referral.received_at < end,
        )
        .group_by(Referral.decline_code)
    )
    # Who still waits at the period's end, and the one or two in the middle of the list.
    waits = (Patient.status == PatientStatus.WAITING_LIST, Patient.waiting_since <= AT)
    waiting = select(func.count()).select_from(Patient).where(*waits).scalar_subquery()
    middle = (
        select(Patient.waiting_since)
        .where(*waits)
        .order_by(Patient.waiting_since, Patient.id)
        .offset(case((waiting > 0, (waiting - 1) // 2), else_=0))
        .limit(2 - waiting % 2)
        .subquery()
    )
    middle_waits = select(
        literal("waiting", text),
        none(text),
        type_coerce(middle.c.waiting_since, moment),
        none(moment),
        waiting,
    )
    overdue = select(literal("overdue", text), none(text), none(moment), none(moment), _overdue())
    return union_all(found, refusals, middle_waits, overdue)
