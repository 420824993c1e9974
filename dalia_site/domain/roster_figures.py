"""The roster's figures of a period, for the activity report (issue 18): the hours of sessions by
status (stable team, volunteers, internes and SASPAS), the open half-days volunteers took from the
board, and the half-days the centre opened that stayed without a doctor or a nurse. Computed from
the sessions the activity figures already read, plus one query for their members."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dalia_site.database import DbSession
from dalia_site.domain import planning
from dalia_site.domain.opening import Opening
from dalia_site.domain.roster import Occurrence
from dalia_site.models import TeamMember
from dalia_site.models.vocabulary import Team

# Status of a doctor or nurse for the hours: (code, French label), in the report's order.
STATUSES = (
    ("stable", "équipe stable"),
    ("volunteer", "bénévoles de l'équipe flexible"),
    ("junior", "internes et SASPAS"),
)


def status_of(member: TeamMember) -> str:
    if member.is_junior_doctor:
        return "junior"
    return "volunteer" if member.team == Team.FLEXIBLE else "stable"


@dataclass
class RosterFigures:
    hours_by_status: dict[str, float] = field(default_factory=lambda: {code: 0.0 for code, _ in STATUSES})
    taken_from_board: int = 0  # open half-days a volunteer took
    uncovered_half_days: int = 0  # open to patients, without a doctor or a nurse


def figures(
    session: DbSession,
    found: Iterable[Occurrence],
    opening: Opening | None,
    first: date,
    last: date,
    zone: ZoneInfo,
) -> RosterFigures:
    """The figures of [first, last] from its clinicians' sessions (`found`); the uncovered
    half-days need the centre's `opening` (none counted without it). One query."""
    found = list(found)
    result = RosterFigures()
    ids = {o.member_id for o in found}
    members = (
        {m.id: m for m in session.scalars(select(TeamMember).where(TeamMember.id.in_(ids)))} if ids else {}
    )
    for o in found:
        member = members.get(o.member_id)
        if member is not None:
            result.hours_by_status[status_of(member)] += (o.ends_at - o.starts_at).total_seconds() / 3600
        result.taken_from_board += o.from_board
    if opening is not None:
        halves = planning.build_half_days(found, members, opening, first, last, zone, active_only=False)
        result.uncovered_half_days = sum(1 for h in halves if h.open and not (h.has_doctor and h.has_nurse))
    return result
