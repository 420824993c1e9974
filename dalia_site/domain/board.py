"""The open half-days board: every half-day of the next three months that the centre opens and
that lacks a doctor or a nurse, with what it lacks. A volunteer of the flexible team takes one in
one click — it becomes their session, under the roster's rules (no overlap, an interne or SASPAS
needs a senior doctor on the same half-day) — and may give it back up to the site's delay before
it. The weekly email to the flexible team lists the same half-days; it carries no patient data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, select

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import audit, mail, planning, roster
from dalia_site.domain.opening import HALVES, Opening
from dalia_site.domain.text import FieldError
from dalia_site.models import Shift, StaffUser, TeamMember
from dalia_site.models.activity import RosterVersion
from dalia_site.models.vocabulary import Profession, Team

BOARD_DAYS = 92  # about three months ahead


class OpenHalfDay(NamedTuple):  # a tuple: the board lists about a hundred
    half: planning.HalfDay[planning.Staffing]
    lacks: tuple[str, ...]  # ("médecin", "infirmière")

    @property
    def lacks_text(self) -> str:
        return " et ".join(self.lacks)


# What a half-day lacks, by whether it has a doctor and whether it has a nurse.
_LACKS = {
    (False, False): ("médecin", "infirmière"),
    (False, True): ("médecin",),
    (True, False): ("infirmière",),
    (True, True): (),
}


def lacks(half: planning.HalfDay[planning.MemberT]) -> tuple[str, ...]:
    return _LACKS[half.has_doctor, half.has_nurse]


def open_half_days(
    session: DbSession,
    opening: Opening,
    zone: ZoneInfo,
    *,
    today: date,
    now: datetime,
    version: object = None,
) -> list[OpenHalfDay]:
    """The half-days of the next three months open to patients that lack a doctor or a nurse,
    earliest first (those already begun left out). With the roster's `version`
    (domain/roster_version.py), those this process already worked out for that version, the
    same opening and the same first day are not worked out again: a half-day's coverage changes
    only with them."""
    key = (str(session.get_bind().engine.url), zone.key, opening, today) if version is not None else ()
    kept = _KEPT.get(key) if key else None
    if kept is not None and kept[0] == version:
        found = kept[1]
    else:
        halves = planning.coverage(session, today, today + timedelta(days=BOARD_DAYS), opening, zone)
        found = tuple(OpenHalfDay(h, lacks(h)) for h in halves if h.gap)
        if key:
            if len(_KEPT) >= 8 and key not in _KEPT:  # a few sites, openings or days: start afresh
                _KEPT.clear()
            _KEPT[key] = (version, found)
    # A half-day of a later day than now's has not begun: only today's are compared with now
    # (aware datetimes of two zones compare slowly).
    now_day = now.astimezone(zone).date()
    return [item for item in found if item.half.day > now_day or item.half.starts_at > now]


# The open half-days, begun or not, worked out in this process: by site, zone, opening and
# first day, with the roster's version they were worked out for (never changed once kept).
_KEPT: dict[tuple[object, ...], tuple[object, tuple[OpenHalfDay, ...]]] = {}


class Reader(NamedTuple):
    """What the board reads of its reader's team member, as a row (no TeamMember built)."""

    id: int
    active: bool
    team: Team
    profession: Profession
    board_email: bool
    email: str


def reading(session: DbSession, staff_user_id: int) -> tuple[Reader | None, object]:
    """The team member of a staff account as the board reads them (None: no member), and the
    roster's version (domain/roster_version.py), in one statement."""
    version, *member = column_rows(session, _READING, {"user": staff_user_id})[0]
    return (Reader(*member) if member[0] is not None else None), version


_READING = (  # built once; one row whether the account has a member or not
    select(RosterVersion.version, *(getattr(TeamMember, column) for column in Reader._fields))
    .outerjoin(TeamMember, TeamMember.staff_user_id == bindparam("user"))
    .where(RosterVersion.id == 1)
)


def may_take(member: TeamMember | Reader | None) -> bool:
    """Volunteers of the flexible team, doctors or nurses, still in the team."""
    return (
        member is not None
        and member.active
        and member.team == Team.FLEXIBLE
        and (member.profession.is_doctor or member.profession.is_nurse)
    )


def _profession(member: TeamMember | Reader) -> str:
    """What a volunteer brings to a half-day, as `lacks` says it."""
    return "médecin" if member.profession.is_doctor else "infirmière"


def brings(member: TeamMember | Reader | None) -> str | None:
    """What `member` may take on the board, as `lacks` says it (« médecin », « infirmière »);
    None when they may not take any (not a volunteer who may take one)."""
    return _profession(member) if member is not None and may_take(member) else None


def fills_gap(brought: str | None, found: OpenHalfDay) -> bool:
    """Whether the board offers this half-day to a member who `brings` that: it lacks what they
    are (take() says why any other is refused)."""
    return brought is not None and brought in found.lacks


def _half_of(
    session: DbSession, opening: Opening, zone: ZoneInfo, day: date, code: str
) -> planning.HalfDay[TeamMember]:
    morning, afternoon = planning.half_days(session, day, day, opening, zone)
    return morning if code == HALVES[0] else afternoon


def take(
    session: DbSession,
    actor: StaffUser | None,
    member: TeamMember,
    day: date | None,
    code: str,
    opening: Opening,
    zone: ZoneInfo,
    *,
    today: date,
    now: datetime,
) -> Shift:
    """The volunteer takes an open half-day: it becomes their session (the half-day's hours)."""
    if not may_take(member):
        raise FieldError(
            "demi", "Seuls les médecins et infirmières de l'équipe flexible prennent une demi-journée."
        )
    if day is None or code not in HALVES:
        raise FieldError("demi", "Demi-journée inconnue : choisissez-la dans la liste.")
    if day > today + timedelta(days=BOARD_DAYS):
        raise FieldError("demi", "Cette demi-journée est au-delà des trois mois du tableau.")
    half = _half_of(session, opening, zone, day, code)
    if half.starts_at <= now:
        raise FieldError("demi", "Cette demi-journée est passée.")
    if not half.open:
        raise FieldError("demi", f"Le centre n'ouvre pas ce jour-là ({half.closed or 'fermé'}).")
    seniors = [m for m in half.members if m.is_doctor and not m.is_junior_doctor]
    if member.is_junior_doctor:
        # An interne or SASPAS works beside a senior doctor: never alone on a half-day.
        if not seniors:
            raise FieldError(
                "demi",
                "Un·e interne ou un·e SASPAS prend une demi-journée où un médecin senior est présent : "
                "celle-ci n'en a pas encore.",
            )
    elif _profession(member) not in lacks(half):
        raise FieldError(
            "demi", f"Cette demi-journée a déjà {'un médecin' if member.is_doctor else 'une infirmière'}."
        )
    start, end = opening.window(code)
    return roster.add_shift(
        session,
        actor,
        member,
        day,
        start,
        end,
        zone,
        "Demi-journée ouverte prise",
        today=today,
        opening=opening,
        from_board=True,
    )


def give_back(
    session: DbSession,
    actor: StaffUser | None,
    member: TeamMember,
    shift: Shift,
    opening: Opening,
    zone: ZoneInfo,
    *,
    now: datetime,
) -> None:
    """The volunteer gives back a half-day they took, up to the site's delay before it (then
    it goes back on the board); booked patients must be moved first."""
    if shift.member_id != member.id or not shift.from_board:
        raise FieldError("session", "Seules vos demi-journées prises sur le tableau se rendent ici.")
    delay = timedelta(days=opening.give_back_days)
    if shift.starts_at - delay < now:
        raise FieldError(
            "session",
            f"Trop tard pour rendre cette demi-journée : jusqu'à {opening.give_back_days} jour"
            f"{'s' if opening.give_back_days > 1 else ''} avant. Prévenez le secrétariat.",
        )
    roster.withdraw_shift(session, actor, shift, zone, now=now)


def taken_by(session: DbSession, member: TeamMember | Reader, now: datetime) -> Sequence[Row[Any]]:
    """The member's half-days taken from the board, still to come (id, start, end of each)."""
    return column_rows(session, _TAKEN, {"member": member.id, "now": now})


_TAKEN = (  # built once
    select(Shift.id, Shift.starts_at, Shift.ends_at)
    .where(
        Shift.member_id == bindparam("member"),
        Shift.from_board.is_(True),
        Shift.starts_at > bindparam("now"),
    )
    .order_by(Shift.starts_at)
)


def set_email(session: DbSession, actor: StaffUser | None, member: TeamMember, wanted: bool) -> None:
    """The member's opt-in to the weekly email of open half-days (audited)."""
    if member.board_email == wanted:
        return
    member.board_email = wanted
    audit.record(
        session,
        actor,
        "roster.board_email",
        "team_member",
        member.id,
        f"{member.name} : courriel des demi-journées ouvertes {'activé' if wanted else 'arrêté'}",
    )


def queue_weekly_email(
    session: DbSession,
    opening: Opening,
    zone: ZoneInfo,
    site_name: str,
    board_url: str,
    *,
    today: date,
    now: datetime,
) -> int:
    """The weekly email to the flexible team members who asked for it: the open half-days of
    the next three months, what each lacks, and the board's address — no patient data. Returns
    how many emails were queued (none when nothing is open)."""
    found = open_half_days(session, opening, zone, today=today, now=now)
    if not found:
        return 0
    readers = session.scalars(
        select(TeamMember).where(
            TeamMember.active.is_(True),
            TeamMember.team == Team.FLEXIBLE,
            TeamMember.board_email.is_(True),
            TeamMember.email != "",
        )
    )
    sent = 0
    for member in readers:
        if not may_take(member):
            continue
        body = mail.render(
            "open_half_days.txt", member=member, found=found, site_name=site_name, board_url=board_url
        )
        mail.queue(session, member.email, f"{site_name} : demi-journées ouvertes", body)
        sent += 1
    return sent
