"""Views of the roster: half-day coverage for the planning, and each member's calendar feed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Generic, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_, select

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import audit
from dalia_site.domain.booking import with_timezones
from dalia_site.domain.opening import HALVES, Opening, parse_half_days
from dalia_site.domain.roster import Duty, Times, local, occurrences, read_duty
from dalia_site.domain.tokens import new_token, token_hash
from dalia_site.models import StaffUser, TeamMember
from dalia_site.models.roster import is_junior_doctor
from dalia_site.models.vocabulary import ASSISTANTS, AppointmentStatus, DoctorStatus, Profession

# --- Half-days and coverage -----------------------------------------------------------------------


class Staffing(NamedTuple):
    """What the coverage rules read of a member, read as a row (no TeamMember built)."""

    id: int
    name: str
    active: bool
    profession: Profession
    doctor_status: DoctorStatus | None


MemberT = TypeVar("MemberT", TeamMember, Staffing)  # a half-day's members: objects, or rows


@dataclass(slots=True)
class HalfDay(Generic[MemberT]):
    day: date
    label: str  # "matin" or "après-midi"
    starts_at: datetime
    ends_at: datetime
    open: bool
    members: list[MemberT] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    closed: str = ""  # « férié — Noël », « fermé — fermeture estivale » (no alert that day)
    exceptional: bool = False  # opened by an « ouverture exceptionnelle »
    has_doctor: bool = False  # among `members` (build_half_days says, once)
    has_nurse: bool = False

    @property
    def code(self) -> str:
        """ "matin" or "apres-midi" (URLs, forms)."""
        return HALVES[0] if self.label == "matin" else HALVES[1]

    @property
    def gap_alerts(self) -> list[Alert]:
        """What the half-day lacks, one alert each: « demi-journée sans médecin »…"""
        return [a for a in self.alerts if a.code in GAP_CODES]

    @property
    def missing(self) -> str:
        """What a half-day open to patients lacks: « sans médecin, sans infirmière »."""
        return ", ".join(a.replace("Demi-journée ", "") for a in self.gap_alerts)

    @property
    def other_alerts(self) -> list[Alert]:
        """The alerts beyond the missing doctor or nurse (which `gap` already says)."""
        return [a for a in self.alerts if a.code not in GAP_CODES]

    @property
    def gap(self) -> bool:
        """Open to patients but without a doctor or a nurse."""
        return self.open and not (self.has_doctor and self.has_nurse)


GAP_CODES = ("no_doctor", "no_nurse", "no_assistant")


class Alert(str):
    """A coverage alert: its French text, and a code the pages can sort on."""

    code: str

    def __new__(cls, code: str, text: str) -> Alert:
        alert = super().__new__(cls, text)
        alert.code = code
        return alert


NO_DOCTOR = Alert("no_doctor", "Demi-journée sans médecin")
NO_NURSE = Alert("no_nurse", "Demi-journée sans infirmière")
NO_ASSISTANT = Alert("no_assistant", "Demi-journée sans assistant·e")

# What the coverage rules read of a member, as bits: worked out once per page, not per half-day.
DOCTOR, NURSE, ASSISTANT, JUNIOR, SENIOR = 1, 2, 4, 8, 16


def role_bits(member: TeamMember | Staffing) -> int:
    profession = member.profession
    if is_junior_doctor(profession, member.doctor_status):
        return DOCTOR | JUNIOR
    return (
        (DOCTOR | SENIOR if profession.is_doctor else 0)
        | (NURSE if profession.is_nurse else 0)
        | (ASSISTANT if profession in ASSISTANTS else 0)
    )


def coverage_alerts(members: Sequence[TeamMember | Staffing], open_to_patients: bool) -> list[Alert]:
    """The coverage rules of a half-day, as French alerts (empty when covered)."""
    present = 0
    for member in members:
        present |= role_bits(member)
    return _alerts(present, members, open_to_patients)


def _alerts(present: int, members: Sequence[TeamMember | Staffing], open_to_patients: bool) -> list[Alert]:
    """coverage_alerts, from the members' `role_bits` put together (`present`)."""
    alerts = []
    if open_to_patients:
        if not present & DOCTOR:
            alerts.append(NO_DOCTOR)
        if not present & NURSE:
            alerts.append(NO_NURSE)
        if not present & ASSISTANT:
            alerts.append(NO_ASSISTANT)
    if present & JUNIOR and not present & SENIOR:
        juniors = ", ".join(m.name for m in members if is_junior_doctor(m.profession, m.doctor_status))
        alerts.append(Alert("no_senior", f"{juniors} : pas de médecin senior présent"))
    return alerts


def as_opening(hours: Mapping[str, object] | Opening) -> Opening:
    """The centre's opening; a bare [hours] mapping (open days, morning, afternoon) opens both
    halves of each open day, with no holiday or closure."""
    if isinstance(hours, Opening):
        return hours
    names, morning, afternoon = hours["open_days"], hours["morning"], hours["afternoon"]
    if not (isinstance(names, list) and isinstance(morning, str) and isinstance(afternoon, str)):
        raise TypeError("hours: open_days, morning and afternoon, as the centre settings give them")
    return Opening(parse_half_days("", names), morning, afternoon)


def half_days(
    session: DbSession, first: date, last: date, hours: Mapping[str, object] | Opening, zone: ZoneInfo
) -> list[HalfDay[TeamMember]]:
    """Every half-day of [first, last] with who is on duty and its alerts (four queries). A
    holiday or closure says so and has no alert; a half-day the centre does not open has none
    either, unless an « ouverture exceptionnelle » opens it."""
    opening = as_opening(hours)
    duty = read_duty(session, first, last, zone, opening=opening)
    members = {m.id: m for m in session.scalars(_ON_DUTY, {"ids": _member_ids(duty)})}
    return build_half_days(duty, members, opening, first, last, zone)


def coverage(
    session: DbSession, first: date, last: date, opening: Opening, zone: ZoneInfo
) -> list[HalfDay[Staffing]]:
    """half_days, its members read as rows of what the rules read (no TeamMember built): for a
    page that shows what the half-days lack, not who is there."""
    duty = read_duty(session, first, last, zone, opening=opening)
    rows = column_rows(session, _STAFFING, {"ids": _member_ids(duty)})
    members = {row.id: Staffing(*row) for row in rows}
    return build_half_days(duty, members, opening, first, last, zone)


def _member_ids(duty: Duty) -> list[int]:
    """The members with a session in `duty`."""
    ids = {row.member_id for row in duty.sessions}
    ids |= {member_id for _, member_id, days in duty.patterns if days}
    return sorted(ids)


# Built once: the members on duty, as objects or as what the coverage rules read.
_ON_DUTY = select(TeamMember).where(TeamMember.id.in_(bindparam("ids", expanding=True)))
_STAFFING = select(*(getattr(TeamMember, column) for column in Staffing._fields)).where(
    TeamMember.id.in_(bindparam("ids", expanding=True))
)


def opens(opening: Opening, closed: Mapping[date, str], day: date, code: str, exceptional: bool) -> bool:
    """Whether a half-day is open to patients: by the weekly hours unless the day is `closed`
    (holiday, closure); always with an « ouverture exceptionnelle » session (`exceptional`)."""
    return exceptional or (day not in closed and opening.half_is_open(day, code))


def build_half_days(
    duty: Duty,
    members: Mapping[int, MemberT],
    opening: Opening,
    first: date,
    last: date,
    zone: ZoneInfo,
    active_only: bool = True,
) -> list[HalfDay[MemberT]]:
    """The half-days of [first, last] from sessions already read (`duty`, with their members):
    who is on duty, whether the centre opens, the alerts. No query. The planning shows the team
    as it is (`active_only`); past figures count who was there."""
    # Each half's start and end on each day: the local moments read_duty built, mostly.
    windows: list[tuple[str, str, Times, Times]] = []
    for code, label in zip(HALVES, ("matin", "après-midi"), strict=True):
        start_time, end_time = opening.window(code)
        windows.append((code, label, duty.moments[start_time], duty.moments[end_time]))
    closed = opening.closed_days(first, last)
    # Each member read once: their rank in a half-day's order (profession, name) and what the
    # rules read; a member no longer in the team (when `active_only`) ranks -1.
    kept = sorted(
        (m for m in members.values() if m.active or not active_only),
        key=lambda m: (m.profession, m.name, m.id),
    )
    rank = {m.id: n for n, m in enumerate(kept)}
    bits = [role_bits(m) for m in kept]
    # Each day's sessions (a session lies within one local day): start and end as timestamps
    # (aware datetimes of two zones compare slowly), member's rank, « ouverture exceptionnelle ».
    by_day: dict[date, list[tuple[float, float, int, bool]]] = {}
    for member_id, starts_at, ends_at, _, exceptional, _ in duty.sessions:
        by_day.setdefault(starts_at.astimezone(zone).date(), []).append(
            (starts_at.timestamp(), ends_at.timestamp(), rank.get(member_id, -1), exceptional)
        )
    for _, member_id, days in duty.patterns:
        ranked = rank.get(member_id, -1)
        for day, (_, begins), (_, ends) in days:
            by_day.setdefault(day, []).append((begins, ends, ranked, False))
    result = []
    day = first
    while day <= last:
        sessions = by_day.get(day, ())
        closed_text = closed.get(day, "")
        for code, label, at_start, at_end in windows:
            (starts_at, half_start), (ends_at, half_end) = at_start[day], at_end[day]
            during: set[int] = set()
            exceptional = False
            for s, e, ranked, ex in sessions:
                if s < half_end and half_start < e:
                    during.add(ranked)
                    exceptional = exceptional or ex
            during.discard(-1)
            present = 0
            for ranked in during:
                present |= bits[ranked]
            on_duty = [kept[ranked] for ranked in sorted(during)]
            half_open = opens(opening, closed, day, code, exceptional)
            result.append(
                HalfDay(
                    day,
                    label,
                    starts_at,
                    ends_at,
                    half_open,
                    on_duty,
                    _alerts(present, on_duty, half_open),
                    "" if exceptional else closed_text,
                    exceptional,
                    bool(present & DOCTOR),
                    bool(present & NURSE),
                )
            )
        day += timedelta(days=1)
    return result


def gaps_by_week(halves: list[HalfDay[MemberT]]) -> list[tuple[date, list[HalfDay[MemberT]]]]:
    """The half-days open to patients that lack someone, grouped by week (its Monday): one
    alert per real gap."""
    weeks: dict[date, list[HalfDay[MemberT]]] = {}
    for half in halves:
        if half.gap_alerts:
            weeks.setdefault(half.day - timedelta(days=half.day.weekday()), []).append(half)
    return sorted(weeks.items())


# --- Calendar feed ------------------------------------------------------------------------------


def new_calendar_token(session: DbSession, actor: StaffUser | None, member: TeamMember) -> str:
    """A new private feed address; the previous one stops working."""
    token, member.ics_token_hash = new_token()
    audit.record(
        session,
        actor,
        "roster.ics_token",
        "team_member",
        member.id,
        f"{member.name} : nouveau lien d'agenda (l'ancien ne fonctionne plus)",
    )
    return token


def revoke_calendar_token(session: DbSession, actor: StaffUser | None, member: TeamMember) -> None:
    member.ics_token_hash = None
    audit.record(
        session,
        actor,
        "roster.ics_revoke",
        "team_member",
        member.id,
        f"{member.name} : lien d'agenda révoqué",
    )


def member_for_calendar(session: DbSession, token: str) -> TeamMember | None:
    """The member of a feed token: an active member whose linked account, if any, is active."""
    member = session.scalar(
        select(TeamMember)
        .outerjoin(StaffUser, StaffUser.id == TeamMember.staff_user_id)
        .where(
            TeamMember.ics_token_hash == token_hash(token),
            TeamMember.active.is_(True),
            or_(TeamMember.staff_user_id.is_(None), StaffUser.active.is_(True)),
        )
    )
    return member


def calendar(
    session: DbSession,
    member: TeamMember,
    site_name: str,
    zone: ZoneInfo,
    today: date,
    domain: str = "dalia.invalid",
    *,
    now: datetime,
) -> bytes:
    """The member's sessions and booked appointments from 60 days back to a year ahead, as an
    iCalendar file whose times carry the site's timezone (with its daylight-saving rules in a
    VTIMEZONE). An appointment says its kind, never who the patient is: a calendar app is not
    a place for health data."""
    from icalendar import Calendar, Event

    from dalia_site.models import Appointment, AppointmentClinician

    cal = Calendar()
    cal.add("prodid", "-//URPS Occitanie//DALIA site kit//FR")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{site_name} — vacations de {member.name}")
    cal.add("x-wr-timezone", str(zone))
    stamp = now.astimezone(zone).replace(microsecond=0)
    for occurrence in occurrences(
        session, today - timedelta(days=60), today + timedelta(days=365), zone, [member.id]
    ):
        event = Event()
        start = occurrence.starts_at.astimezone(zone)
        event.add("uid", f"{occurrence.kind}-{occurrence.ref_id}-{start:%Y%m%d}@{domain}")
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", occurrence.ends_at.astimezone(zone))
        event.add("summary", f"Vacation {site_name}")
        cal.add_component(event)
    first = local(today - timedelta(days=60), time(), zone)
    appointments = session.scalars(
        select(Appointment)
        .join(AppointmentClinician)
        .where(
            AppointmentClinician.member_id == member.id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at >= first,
            Appointment.starts_at < first + timedelta(days=60 + 366),
        )
    )
    for appointment in appointments:
        event = Event()
        event.add("uid", f"rdv-{appointment.id}@{domain}")
        event.add("dtstamp", stamp)
        event.add("dtstart", appointment.starts_at.astimezone(zone))
        event.add("dtend", appointment.ends_at.astimezone(zone))
        event.add("summary", f"Rendez-vous : {appointment.kind_label.lower()}")
        cal.add_component(event)
    return with_timezones(cal)
