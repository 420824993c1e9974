"""Today's desk: the day shown, the front desk's actions on an appointment (arrival, honoured,
no-show, back to « prévu »), the day's counts, the time grid and today's free slots.

Every action is allowed on the appointment's own day only (the site's timezone), so a mistake is
undone the same day and the past stays as it was recorded. Marking honoured / no-show is
booking.mark's rule (once the visit has started); this module adds arrival and undo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from dalia_site.database import DbSession
from dalia_site.domain import audit, booking, roster
from dalia_site.domain.agenda import Visit
from dalia_site.domain.opening import Opening
from dalia_site.domain.roster import Occurrence
from dalia_site.domain.text import FieldError
from dalia_site.models import Appointment, Patient, StaffUser, TeamMember
from dalia_site.models.roster import WEEKDAYS
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus

ROW = timedelta(minutes=15)  # one row of the time grid
HALF_HOUR = timedelta(minutes=30)


# --- The day shown ------------------------------------------------------------------------------


def is_open(day: date, open_days: Iterable[str], opening: Opening | None = None) -> bool:
    """An open weekday that is no holiday or closure (when the centre's `opening` is given)."""
    return WEEKDAYS[day.weekday()] in set(open_days) and (opening is None or not opening.closed_reason(day))


def open_day_from(day: date, open_days: Sequence[str], step: int = 1, opening: Opening | None = None) -> date:
    """`day` if the centre opens that day, else the next open day in the direction of `step`
    (a centre with no open day at all: `day` itself)."""
    if not open_days:
        return day
    while not is_open(day, open_days, opening):
        day += timedelta(days=step)
    return day


def neighbours(day: date, open_days: Sequence[str], opening: Opening | None = None) -> tuple[date, date]:
    """The previous and next open days around `day`."""
    return (
        open_day_from(day - timedelta(days=1), open_days, -1, opening),
        open_day_from(day + timedelta(days=1), open_days, 1, opening),
    )


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


# --- Actions ------------------------------------------------------------------------------------


def _same_day(appointment: Appointment, now: datetime, zone: ZoneInfo, what: str) -> None:
    if local_day(appointment.starts_at, zone) != local_day(now, zone):
        raise FieldError(
            "status",
            f"{what} seulement le jour du rendez-vous "
            f"(le {appointment.starts_at.astimezone(zone):%d/%m/%Y}).",
        )


def arrive(
    session: DbSession, actor: StaffUser | None, appointment: Appointment, now: datetime, zone: ZoneInfo
) -> None:
    """« Arrivé »: the patient is at the front desk, on the appointment's day."""
    booking.lock_appointment(session, appointment)
    if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
        raise FieldError("status", f"Ce rendez-vous est « {appointment.status_label} ».")
    _same_day(appointment, now, zone, "L'arrivée s'enregistre")
    if appointment.arrived_at is not None:
        raise FieldError(
            "status", f"Arrivée déjà enregistrée à {appointment.arrived_at.astimezone(zone):%Hh%M}."
        )
    appointment.arrived_at = now
    audit.record(
        session,
        actor,
        "appointment.arrive",
        "patient",
        appointment.patient_id,
        f"Rendez-vous n° {appointment.id} : arrivé à {now.astimezone(zone):%Hh%M}",
    )


def undo_arrival(
    session: DbSession, actor: StaffUser | None, appointment: Appointment, now: datetime, zone: ZoneInfo
) -> None:
    """« Annuler l'arrivée », the same day only."""
    booking.lock_appointment(session, appointment)
    if appointment.arrived_at is None:
        raise FieldError("status", "Aucune arrivée n'est enregistrée pour ce rendez-vous.")
    _same_day(appointment, now, zone, "L'arrivée s'annule")
    appointment.arrived_at = None
    audit.record(
        session,
        actor,
        "appointment.undo_arrival",
        "patient",
        appointment.patient_id,
        f"Rendez-vous n° {appointment.id} : arrivée annulée",
    )


def mark(
    session: DbSession,
    actor: StaffUser | None,
    appointment: Appointment,
    status: str,
    now: datetime,
    zone: ZoneInfo,
) -> None:
    """« Vu » / « Non venu » from the desk: booking.mark's rule, on the appointment's day."""
    _same_day(appointment, now, zone, "Le rendez-vous se marque ici")
    booking.mark(session, actor, appointment, status, now=now)


def reopen(
    session: DbSession, actor: StaffUser | None, appointment: Appointment, now: datetime, zone: ZoneInfo
) -> None:
    """Back to « prévu » from honoured or no-show (a click on the wrong line), the same day."""
    booking.lock_appointment(session, appointment)
    if appointment.walk_in or appointment.status not in booking.MARKS:
        raise FieldError("status", f"Ce rendez-vous est « {appointment.status_label} ».")
    _same_day(appointment, now, zone, "Le retour à « prévu » se fait")
    was = appointment.status_label.lower()
    appointment.status = AppointmentStatus.BOOKED
    audit.record(
        session,
        actor,
        "appointment.reopen",
        "patient",
        appointment.patient_id,
        f"Rendez-vous n° {appointment.id} : de nouveau prévu (était {was})",
    )


ACTIONS = ("arrive", "undo_arrival", "honoured", "no_show", "reopen", "cancel")


def actions(appointment: Appointment | Visit, now: datetime, zone: ZoneInfo) -> list[str]:
    """The buttons the desk shows for an appointment now (the rules above decide the rest): for
    a visit of the day's grid, or for the appointment just changed by a click."""
    if local_day(appointment.starts_at, zone) != local_day(now, zone):
        return []
    status = appointment.status
    if status == AppointmentStatus.CANCELLED:
        return []
    offered: list[str] = []
    if appointment.arrived_at is None and status != AppointmentStatus.NO_SHOW:
        offered.append("arrive")
    elif appointment.arrived_at is not None:
        offered.append("undo_arrival")
    # marks_offered reads only what a Visit has too (walk_in, status, starts_at, arrived_at).
    marks = booking.marks_offered(cast(Appointment, appointment), now)
    if status == AppointmentStatus.BOOKED:
        offered += marks
        if appointment.starts_at > now:  # once started: « Vu » or « Non venu »
            offered.append("cancel")
    elif not appointment.walk_in:
        offered.append("reopen")
    return offered


# --- Counts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    expected: int
    arrived: int
    seen: int
    no_show: int
    # The day's cancellations, those the patients made from their private link among them (issue 17).
    cancelled: int = 0
    cancelled_by_patient: int = 0


def counts(appointments: Iterable[Visit]) -> Counts:
    """Expected = every visit of the day but the cancelled ones (counted apart)."""
    day = list(appointments)
    kept = [a for a in day if a.status != AppointmentStatus.CANCELLED]
    cancelled = [a for a in day if a.status == AppointmentStatus.CANCELLED]
    return Counts(
        expected=len(kept),
        arrived=sum(a.arrived_at is not None for a in kept),
        seen=sum(a.status == AppointmentStatus.HONOURED for a in kept),
        no_show=sum(a.status == AppointmentStatus.NO_SHOW for a in kept),
        cancelled=len(cancelled),
        cancelled_by_patient=sum(a.cancelled_by_patient_at is not None for a in cancelled),
    )


# --- The time grid ------------------------------------------------------------------------------


@dataclass
class Column:
    member: TeamMember
    spans: list[Occurrence]
    own: bool = False  # the signed-in clinician's own column


def columns(
    members: Iterable[TeamMember], on_duty: Iterable[Occurrence], own_member_id: int | None = None
) -> list[Column]:
    """One column per clinician on duty: the viewer's own first, then doctors, then nurses, by name."""
    duty = list(on_duty)
    found = [
        Column(
            m,
            sorted((o for o in duty if o.member_id == m.id), key=lambda o: o.starts_at),
            m.id == own_member_id,
        )
        for m in members
        if any(o.member_id == m.id for o in duty)
    ]
    return sorted(found, key=lambda c: (not c.own, *roster.team_order(c.member)))


@dataclass
class Block:
    """A cell of the grid: the visits starting in its rows (one, or several that overlap)."""

    row: int
    column: int
    rows: int
    columns: int = 1
    appointments: list[Visit] = field(default_factory=list)
    pair_of: Visit | None = None  # a reminder of a pair visit shown in its other column


@dataclass
class Grid:
    start: datetime
    times: list[datetime]  # the start of each row
    starts: dict[tuple[int, int], Block]  # (row, column) -> the block that starts there
    covered: set[tuple[int, int]]  # cells under a block that starts higher up
    elsewhere: list[Visit]  # visits of clinicians not on duty in the grid
    # What the page draws, row by row: each row's time and its cells left to right, a block or
    # None for an empty cell (the cells under a block from higher up are not there).
    rows: list[tuple[datetime, list[tuple[Column, Block | None]]]] = field(default_factory=list)


def _row_of(moment: datetime, start: datetime, step: timedelta, up: bool) -> int:
    rows, rest = divmod(moment - start, step)
    return rows + (1 if up and rest else 0)


def grid(cols: Sequence[Column], appointments: Sequence[Visit], zone: ZoneInfo) -> Grid:
    """Place the day's visits (not cancelled) on quarter-hour rows: a pair visit spans the
    doctor's and the nurse's columns when they are side by side; otherwise it shows in the
    doctor's column with a reminder in the nurse's."""
    shown = sorted(
        (a for a in appointments if a.status != AppointmentStatus.CANCELLED),
        key=lambda a: (a.starts_at, a.id),
    )
    index = {c.member.id: i for i, c in enumerate(cols)}
    moments = [o.starts_at for c in cols for o in c.spans] + [a.starts_at for a in shown]
    ends = [o.ends_at for c in cols for o in c.spans] + [a.ends_at for a in shown]
    if not moments:
        return Grid(datetime.min, [], {}, set(), [])
    # Half-hour rows when every time falls on one (a shorter page), else quarter hours.
    step = HALF_HOUR if all(m.astimezone(zone).minute % 30 == 0 for m in moments + ends) else ROW
    first = min(moments).astimezone(zone)
    start = first.replace(minute=first.minute - first.minute % 15, second=0, microsecond=0)
    count = max(1, _row_of(max(ends), start, step, up=True))
    times = [start + i * step for i in range(count)]
    starts: dict[tuple[int, int], Block] = {}
    owner: dict[tuple[int, int], Block] = {}
    elsewhere: list[Visit] = []

    def free(column: int, top: int, bottom: int) -> bool:
        return all((r, column) not in owner for r in range(top, bottom))

    def place(block: Block) -> None:
        starts[(block.row, block.column)] = block
        for c in range(block.column, block.column + block.columns):
            for r in range(block.row, block.row + block.rows):
                owner[(r, c)] = block

    for a in shown:
        where = sorted(
            (index[member_id] for member_id in a.member_ids if member_id in index),
            key=lambda i: not cols[i].member.is_doctor,
        )
        if not where:
            elsewhere.append(a)
            continue
        top = _row_of(a.starts_at, start, step, up=False)
        bottom = max(top + 1, _row_of(a.ends_at, start, step, up=True))
        lead, *others = where
        if (top, lead) in owner:  # overlaps a visit above: shown in that cell
            owner[(top, lead)].appointments.append(a)
            continue
        while not free(lead, top, bottom):
            bottom -= 1
        side_by_side = (
            a.kind == AppointmentKind.FIRST
            and others
            and others[0] == lead + 1
            and free(lead + 1, top, bottom)
        )
        place(Block(top, lead, bottom - top, 2 if side_by_side else 1, [a]))
        if side_by_side:
            continue
        for other in others:
            if (top, other) in owner:
                continue
            end = bottom
            while not free(other, top, end):
                end -= 1
            place(Block(top, other, end - top, pair_of=a))
    covered = {cell for cell, block in owner.items() if cell != (block.row, block.column)}
    rows = [
        (
            moment,
            [
                (column, starts.get((r, c)))
                for c, column in enumerate(cols)
                if (r, c) in starts or (r, c) not in covered
            ],
        )
        for r, moment in enumerate(times)
    ]
    return Grid(start, times, starts, covered, elsewhere, rows)


# --- Today's free slots -------------------------------------------------------------------------


def free_today(
    members: Mapping[int, TeamMember],
    on_duty: Iterable[Occurrence],
    appointments: Iterable[Visit],
    kind: str,
    visits: Mapping[str, int],
    zone: ZoneInfo,
    now: datetime,
    limit: int = 6,
) -> list[booking.Slot]:
    """The free slots left today for a follow-up of `kind` (doctor or nurse), from what the desk
    already read (the day's sessions and visits): the slots booking.free_slots finds for today
    (tests/unit/test_desk_rules.py checks they are the same), without reading them again."""
    kind = booking.appointment_kind(kind)
    duration = booking.length(kind, visits)
    busy: dict[int, list[booking.Seconds]] = {}
    for a in appointments:
        if a.status in booking.ACTIVE:
            span = (int(a.starts_at.timestamp()), int(a.ends_at.timestamp()))
            for member_id in a.member_ids:
                busy.setdefault(member_id, []).append(span)
    duty = list(on_duty)
    wanted = [
        mid
        for mid in sorted({o.member_id for o in duty})
        if mid in members
        and members[mid].active
        and (members[mid].is_nurse if kind == AppointmentKind.NURSE else members[mid].is_doctor)
    ]
    free = booking.free_time(duty, busy, set(wanted))
    # Today's slots only, over by midnight: a session running past it offers nothing of tomorrow
    # (whose visits the desk has not read). `until` bounds the starts, the last one included.
    midnight = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(), tzinfo=zone)
    last_start = midnight - duration + timedelta(seconds=1)
    found = booking.find_slots(
        free, wanted, None, duration, now, zone, until=last_start, limit=limit, walk_in_now=True
    )
    return [booking.slot_at(start, duration, found[start], members) for start in sorted(found)[:limit]]


# --- A free slot of today, for a patient who needs it --------------------------------------------

WALK_IN = "walk_in"  # the slot begins now: the consultation is recorded as held now
BOOK = "book"  # later today: the slot is booked through the booking confirmation


def slot_kind(member: TeamMember | None) -> AppointmentKind:
    """The follow-up a free slot of `member` is for: a doctor's, a consultation médecin; a
    nurse's, a consultation infirmière. A FieldError when the member cannot see patients."""
    if member is not None and member.active and member.is_doctor:
        return AppointmentKind.DOCTOR
    if member is not None and member.active and member.is_nurse:
        return AppointmentKind.NURSE
    raise FieldError("member_id", "Ce créneau n'est pas celui d'un soignant de l'équipe.")


def slot_use(start: datetime, now: datetime, zone: ZoneInfo) -> str:
    """How one of today's free slots (desk « créneaux libres ») is given to a patient: WALK_IN
    when it begins within the current quarter hour, BOOK when it is later today. A FieldError in
    French when the slot is not today or already past."""
    if local_day(start, zone) != local_day(now, zone):
        raise FieldError("slot", "Ce créneau n'est pas aujourd'hui : réservez-le depuis la fiche du patient.")
    if start + ROW <= now:
        raise FieldError("slot", "Ce créneau est passé.")
    return WALK_IN if start < now + ROW else BOOK


def walk_in_in_slot(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    member: TeamMember | None,
    start: datetime,
    visits: Mapping[str, int],
    zone: ZoneInfo,
    *,
    now: datetime,
) -> Appointment:
    """The consultation held now in the free slot the desk showed (booking.record_walk_in's
    rules: a patient followed by the centre, nobody in a visit at that moment); SlotTaken when
    the slot was given to someone else meanwhile (checked under record_walk_in's locks). A slot
    that began is held from now; one that begins within the quarter hour, from its start (the
    clinician may be in a visit until then: the patient waits the few minutes)."""
    kind = slot_kind(member)
    assert member is not None  # slot_kind refused it otherwise
    if slot_use(start, now, zone) != WALK_IN:
        raise FieldError("slot", "Ce créneau n'a pas encore commencé : réservez-le.")
    end = start + booking.length(kind, visits)
    try:
        appointment = booking.record_walk_in(
            session, actor, patient, kind, member, visits, now=max(now, start)
        )
    except FieldError as error:  # the clinician in a visit at the slot's start: booked meanwhile?
        if error.field == "member_id" and booking.clinicians_busy(session, [member.id], start, end):
            raise booking.SlotTaken() from None
        raise
    if booking.clinicians_busy(session, [member.id], appointment.starts_at, end, appointment.id):
        raise booking.SlotTaken()
    return appointment
