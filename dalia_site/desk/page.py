"""Today's desk, the home page of assistants, clinicians and admins: what it reads (in a fixed
number of queries whatever the day) and how it renders. core.home and the desk's own routes
both render it from here."""

from __future__ import annotations

from datetime import date

from flask import abort, request
from sqlalchemy import bindparam, func, or_, select

from dalia_site import clock
from dalia_site.access import current_staff, may_access
from dalia_site.domain import agenda, centre, desk, patients
from dalia_site.domain.roster import occurrences
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.htmx import render_page
from dalia_site.models import Referral, TeamMember
from dalia_site.models.vocabulary import CLINICIANS, AppointmentKind, ReferralStatus

BAD_DAY = "Date invalide : jour au format AAAA-MM-JJ attendu, entre 2000 et 2099 (ex. ?jour=2026-11-30)."
OLDEST_REFERRALS = 3


def requested_day() -> date:
    """`?jour=AAAA-MM-JJ`, today when absent; a malformed or out-of-range date is a 400."""
    raw = request.args.get("jour", "")
    if not raw:
        return clock.today(site_zone())
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400, description=BAD_DAY)
    if len(raw) != 10 or not clock.within_range(day):
        abort(400, description=BAD_DAY)
    return day


# The desk's own queries, built once (building a statement costs more than running it here).
_WAITING = (
    select(Referral.id, Referral.received_at, func.count().over())
    .where(Referral.status == ReferralStatus.NEW)
    .order_by(Referral.received_at, Referral.id)
    .limit(OLDEST_REFERRALS)
)
_COLUMNS = select(TeamMember).where(
    TeamMember.profession.in_(CLINICIANS),
    or_(
        TeamMember.id.in_(bindparam("on_duty", expanding=True)),
        TeamMember.staff_user_id == bindparam("viewer"),
    ),
)


def waiting_referrals() -> tuple[int, list]:
    """How many referrals wait for triage, and the oldest few (one query)."""
    rows = db.session.execute(_WAITING).all()
    return (rows[0][2] if rows else 0), list(rows)


def render_desk(status: int = 200, asked: date | None = None):
    """The desk for `?jour=` (today by default), or for `asked`; on a closed day, the next open day."""
    zone = site_zone()
    now = clock.now()
    today = clock.today(zone)
    settings = centre.load(db.session)
    asked = asked or requested_day()
    opening = settings.opening
    day = desk.open_day_from(asked, settings.open_days, opening=opening)
    duty = occurrences(db.session, day, day, zone, opening=opening)
    viewer = current_staff()
    members = {
        m.id: m
        for m in db.session.scalars(
            _COLUMNS, {"on_duty": sorted({o.member_id for o in duty}), "viewer": viewer.id}
        )
    }
    own = next((m.id for m in members.values() if m.staff_user_id == viewer.id), None)
    cols = desk.columns(members.values(), duty, own)
    appointments = agenda.visits_between(db.session, day, day, zone, with_cancelled=True)
    waiting, oldest = waiting_referrals()
    free = {}
    if day == today:
        for kind in (AppointmentKind.DOCTOR, AppointmentKind.NURSE):
            free[kind] = desk.free_today(
                members, duty, appointments, kind, settings.visits, zone, now, limit=4
            )
    previous, following = desk.neighbours(day, settings.open_days, opening)
    response = render_page(
        "desk/desk.html",
        "desk",
        day=day,
        asked=asked,
        today=today,
        closed=day != asked,
        closed_reason=opening.closed_reason(asked),
        columns=cols,
        grid=desk.grid(cols, appointments, zone),
        offered={a.id: desk.actions(a, now, zone) for a in appointments},
        counts=desk.counts(appointments),
        free=free,
        waiting=waiting,
        oldest=oldest,
        previous=previous,
        following=following,
        zone=zone,
        may_cancel=may_access(viewer, "desk.cancel"),
    )
    patients.record_list_view(
        db.session, viewer, [a.patient_id for a in appointments], f"accueil du {day:%d/%m/%Y}"
    )
    response.status_code = status
    return response
