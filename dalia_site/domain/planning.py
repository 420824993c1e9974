"""Views of the roster: half-day coverage for the planning, and each member's calendar feed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from dalia_site.database import DbSession
from dalia_site.domain import audit
from dalia_site.domain.opening import HALVES, Opening, parse_half_days
from dalia_site.domain.roster import Occurrence, local, occurrences
from dalia_site.domain.tokens import new_token, token_hash
from dalia_site.models import StaffUser, TeamMember
from dalia_site.models.vocabulary import ASSISTANTS, AppointmentStatus

# --- Half-days and coverage -----------------------------------------------------------------------


@dataclass
class HalfDay:
    day: date
    label: str  # "matin" or "après-midi"
    starts_at: datetime
    ends_at: datetime
    open: bool
    members: list[TeamMember] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    closed: str = ""  # « férié — Noël », « fermé — fermeture estivale » (no alert that day)
    exceptional: bool = False  # opened by an « ouverture exceptionnelle »

    @property
    def code(self) -> str:
        """ "matin" or "apres-midi" (URLs, forms)."""
        return HALVES[0] if self.label == "matin" else HALVES[1]

    @property
    def gap_alerts(self) -> list[Alert]:
        """What the half-day lacks, one alert each: « demi-journée sans médecin »…"""
        return [a for a in self.alerts if a.code in GAP_CODES]

    @property
    def has_doctor(self) -> bool:
        return any(m.is_doctor for m in self.members)

    @property
    def has_nurse(self) -> bool:
        return any(m.is_nurse for m in self.members)

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


def coverage_alerts(members: list[TeamMember], open_to_patients: bool) -> list[Alert]:
    """The coverage rules of a half-day, as French alerts (empty when covered)."""
    alerts = []
    if open_to_patients:
        if not any(m.is_doctor for m in members):
            alerts.append(Alert("no_doctor", "Demi-journée sans médecin"))
        if not any(m.is_nurse for m in members):
            alerts.append(Alert("no_nurse", "Demi-journée sans infirmière"))
        if not any(m.profession in ASSISTANTS for m in members):
            alerts.append(Alert("no_assistant", "Demi-journée sans assistant·e"))
    juniors = [m for m in members if m.is_junior_doctor]
    seniors = [m for m in members if m.is_doctor and not m.is_junior_doctor]
    if juniors and not seniors:
        alerts.append(
            Alert("no_senior", f"{', '.join(m.name for m in juniors)} : pas de médecin senior présent")
        )
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
) -> list[HalfDay]:
    """Every half-day of [first, last] with who is on duty and its alerts (four queries). A
    holiday or closure says so and has no alert; a half-day the centre does not open has none
    either, unless an « ouverture exceptionnelle » opens it."""
    opening = as_opening(hours)
    found = occurrences(session, first, last, zone, opening=opening)
    members = {
        m.id: m
        for m in session.scalars(select(TeamMember).where(TeamMember.id.in_({o.member_id for o in found})))
    }
    return build_half_days(found, members, opening, first, last, zone)


def opens(opening: Opening, closed: Mapping[date, str], day: date, code: str, exceptional: bool) -> bool:
    """Whether a half-day is open to patients: by the weekly hours unless the day is `closed`
    (holiday, closure); always with an « ouverture exceptionnelle » session (`exceptional`)."""
    return exceptional or (day not in closed and opening.half_is_open(day, code))


def build_half_days(
    found: Iterable[Occurrence],
    members: Mapping[int, TeamMember],
    opening: Opening,
    first: date,
    last: date,
    zone: ZoneInfo,
    active_only: bool = True,
) -> list[HalfDay]:
    """The half-days of [first, last] from sessions already read (`found`, with their members):
    who is on duty, whether the centre opens, the alerts. No query. The planning shows the team
    as it is (`active_only`); past figures count who was there."""
    windows = [
        (label, *opening.window(code)) for code, label in zip(HALVES, ("matin", "après-midi"), strict=True)
    ]
    closed = opening.closed_days(first, last)
    by_day: dict[date, list[Occurrence]] = {}
    for o in found:  # a session lies within one local day
        by_day.setdefault(o.starts_at.astimezone(zone).date(), []).append(o)
    result = []
    day = first
    while day <= last:
        for (label, start, end), code in zip(windows, HALVES, strict=True):
            half = HalfDay(day, label, local(day, start, zone), local(day, end, zone), open=False)
            during = [
                o for o in by_day.get(day, []) if o.starts_at < half.ends_at and half.starts_at < o.ends_at
            ]
            half.exceptional = any(o.exceptional for o in during)
            half.closed = "" if half.exceptional else closed.get(day, "")
            half.open = opens(opening, closed, day, code, half.exceptional)
            on_duty = {o.member_id for o in during}
            half.members = sorted(
                (members[i] for i in on_duty if i in members and (members[i].active or not active_only)),
                key=lambda m: (m.profession, m.name),
            )
            half.alerts = coverage_alerts(half.members, half.open)
            result.append(half)
        day += timedelta(days=1)
    return result


def gaps_by_week(halves: list[HalfDay]) -> list[tuple[date, list[HalfDay]]]:
    """The half-days open to patients that lack someone, grouped by week (its Monday): one
    alert per real gap."""
    weeks: dict[date, list[HalfDay]] = {}
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
    cal.add_missing_timezones()
    ical: bytes = cal.to_ical()
    return ical
