"""The team roster: members, their sessions and weekly patterns, the planning, calendar feeds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from typing import NamedTuple

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, public, roles
from dalia_site.domain import board, centre, planning, roster
from dalia_site.domain.opening import Opening, hours_range
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.filters import clock_time, date_fr, site_zone, time_fr, urls_of
from dalia_site.forms import choices, parse_id, submit
from dalia_site.htmx import render_page
from dalia_site.listing import public_url
from dalia_site.models import Shift, StaffUser, TeamMember, WeeklyPattern
from dalia_site.models.roster import WEEKDAYS
from dalia_site.roster.forms import ExceptionForm, MemberForm, PatternForm, ShiftForm

bp = Blueprint("roster", __name__, template_folder="templates")

READERS = ("admin", "assistant", "clinician")
MANAGERS = ("admin", "assistant")


def _today() -> date:
    return clock.today(site_zone())


def _hours() -> dict:
    return centre.load(db.session).hours


def _opening() -> Opening:
    return centre.load(db.session).opening


def _date_arg(name: str, default: date) -> date:
    try:
        value = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return default
    return value if clock.within_range(value) else default


# --- Planning -----------------------------------------------------------------------------------


@bp.route("/planning")
@roles(*READERS)
def week():
    today = _today()
    monday = _date_arg("semaine", today)
    monday -= timedelta(days=monday.weekday())
    halves = planning.half_days(db.session, monday, monday + timedelta(days=6), _opening(), site_zone())
    days = [monday + timedelta(days=i) for i in range(7)]
    names = [_short_day(day) for day in days]
    return render_page(
        "roster/week.html",
        "planning",
        monday=monday,
        days=list(zip(days, names, strict=True)),
        rows=[("Matin", _week_cells(halves[0::2], names)), ("Après-midi", _week_cells(halves[1::2], names))],
        gaps=_gap_lines(planning.gaps_by_week(halves)),
        today=today,
        previous=monday - timedelta(days=7),
        next=monday + timedelta(days=7),
    )


SHORT_WEEKDAYS = ("Lun.", "Mar.", "Mer.", "Jeu.", "Ven.", "Sam.", "Dim.")


def _short_day(day: date) -> str:
    """« Lun. 23/11 »"""
    return f"{SHORT_WEEKDAYS[day.weekday()]} {day:%d/%m}"


def _week_urls() -> Callable[[date], str]:
    """The week planning's address of each day a page links (a month has 42): built once."""
    url = urls_of("roster.week", "semaine", "0000-00-00")
    return lambda day: url(day.isoformat())


class GapLine(NamedTuple):
    """A half-day's gap in the alerts above the planning, in words: a month ahead may have
    eighty, worded here once rather than by a url_for and three filters each in the template."""

    url: str  # its week's planning
    half: str  # « Lun. 02/11 après-midi »
    alert: str  # « demi-journée sans infirmière »


def _gap_lines(gaps: list[tuple[date, list[planning.HalfDay]]]) -> list[tuple[date, list[GapLine]]]:
    """The gaps of `planning.gaps_by_week`, one line per alert, by week (its Monday)."""
    week_url = _week_urls()
    return [
        (
            monday,
            [
                GapLine(week_url(h.day), f"{_short_day(h.day)} {h.label}", alert.lower())
                for h in halves
                for alert in h.gap_alerts
            ],
        )
        for monday, halves in gaps
    ]


class OnDuty(NamedTuple):
    """A member on duty in the week planning, in words (the same in each of their half-days)."""

    profession: str  # its code: the CSS class
    name: str
    title: str  # « Médecin, installé·e », « Médecin, SASPAS », « Infirmière Azalée »


def _on_duty(member: TeamMember) -> OnDuty:
    title = member.profession_label
    if member.doctor_status:
        status = member.doctor_status
        title += ", " + ("SASPAS" if status == "saspas" else member.doctor_status_label.lower())
    return OnDuty(member.profession, member.name, title)


class WeekCell(NamedTuple):
    """A half-day of the week planning, in words: the page lays out fourteen, each with its team,
    worded here once rather than by a dozen lookups and filters per member in the template."""

    css: str  # « closed », « gap », « closed gap »
    day: str  # « Lun. 23/11 » (a phone shows it: the header row is hidden)
    missing: str  # « Sans médecin, sans infirmière »
    closed: str  # « férié — Noël »
    open: bool
    exceptional: bool
    members: list[OnDuty]
    others: list[planning.Alert]  # the other alerts


def _week_cells(halves: list[planning.HalfDay], names: list[str]) -> list[WeekCell]:
    """The cells of one row (the mornings or the afternoons), the day `names` in order."""
    words: dict[int, OnDuty] = {}
    cells = []
    for half, name in zip(halves, names, strict=True):
        gaps = half.gap_alerts
        cells.append(
            WeekCell(
                ("" if half.open else "closed") + (" gap" if gaps else ""),
                name,
                half.missing.capitalize() if gaps else "",
                half.closed,
                half.open,
                half.exceptional,
                [words.get(m.id) or words.setdefault(m.id, _on_duty(m)) for m in half.members],
                half.other_alerts,
            )
        )
    return cells


@bp.route("/planning/mois")
@roles(*READERS)
def month():
    today = _today()
    first = _date_arg("mois", today).replace(day=1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    start = first - timedelta(days=first.weekday())
    end = last + timedelta(days=6 - last.weekday())
    halves = planning.half_days(db.session, start, end, _opening(), site_zone())
    days = _month_days(halves, first.month, today)
    return render_page(
        "roster/month.html",
        "planning",
        first=first,
        month_name=MONTHS[first.month - 1],
        weeks=[days[i : i + 7] for i in range(0, len(days), 7)],
        gaps=_gap_lines(planning.gaps_by_week([h for h in halves if h.day.month == first.month])),
        today=today,
        previous=(first - timedelta(days=1)).replace(day=1),
        next=last + timedelta(days=1),
    )


MONTHS = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split()


class MonthHalf(NamedTuple):
    """A half-day in its day of the month planning, in words."""

    css: str  # the classes after « half »: « gap », « closed »
    short: str  # « M », « AM »
    label: str  # « matin », « après-midi »
    open: bool
    on_duty: int  # how many
    missing: str  # its gap alerts: « sans médecin, sans infirmière »
    others: str  # the other alerts, « ; » between


class MonthDay(NamedTuple):
    """A day of the month planning, in words: the page lays out 42 of them, worded here once
    rather than by a dozen lookups and filters each in the template."""

    css: str  # « other-month »
    name: str  # « Lundi »
    today: bool
    url: str  # its week's planning
    number: int
    month: str  # « novembre »
    closed: str  # the whole day: « férié — Noël »
    halves: tuple[MonthHalf, ...]


def _month_days(halves: list[planning.HalfDay], month: int, today: date) -> list[MonthDay]:
    """The days of `halves` (a morning, then an afternoon, day by day)."""
    week_url = _week_urls()
    return [
        MonthDay(
            "other-month" if morning.day.month != month else "",
            WEEKDAYS[morning.day.weekday()].capitalize(),
            morning.day == today,
            week_url(morning.day),
            morning.day.day,
            MONTHS[morning.day.month - 1],
            morning.closed,
            (_month_half(morning), _month_half(afternoon)),
        )
        for morning, afternoon in zip(halves[0::2], halves[1::2], strict=True)
    ]


def _month_half(half: planning.HalfDay) -> MonthHalf:
    gaps = half.gap_alerts
    return MonthHalf(
        (" gap" if gaps else "") + ("" if half.open else " closed"),
        "M" if half.label == "matin" else "AM",
        half.label,
        half.open,
        len(half.members),
        half.missing,
        " ; ".join(half.other_alerts),
    )


# --- The open half-days board ------------------------------------------------------------------


def _own_member() -> TeamMember | None:
    return db.session.scalar(select(TeamMember).where(TeamMember.staff_user_id == current_staff().id))


class BoardLine(NamedTuple):
    """An open half-day of the board in words: the page lists about a hundred, worded here once
    rather than by a dozen filter calls each in the template (and in few pieces: each costs an
    escape)."""

    title: str  # « Lundi 30/11/2026 après-midi »
    details: str  # « (13h30 – 17h30) : sans médecin ni infirmière »
    takes: bool  # the reader may take it (what it lacks is what they are)
    iso_day: str
    code: str  # « matin », « apres-midi »
    when: str  # « 30/11/2026 après-midi »


def _board_lines(found: list[board.OpenHalfDay], me: board.Reader | None) -> list[BoardLine]:
    # A half-day's hours are its code's, whatever the day: its details are its code's and lacks'.
    # A day's words serve both its halves (found in order: a day's halves follow each other).
    details: dict[tuple[str, tuple[str, ...]], str] = {}
    brought = board.brings(me)
    lines = []
    last_day, weekday, day_fr, iso_day = None, "", "", ""
    for item in found:
        half = item.half
        day, code, label = half.day, half.code, half.label
        if day != last_day:
            last_day, weekday, day_fr, iso_day = (
                day,
                WEEKDAYS[day.weekday()].capitalize(),
                date_fr(day),
                day.isoformat(),
            )
        when = f"{day_fr} {label}"
        said = details.get((code, item.lacks))
        if said is None:
            hours = f"{time_fr(half.starts_at)} – {time_fr(half.ends_at)}"
            said = details[code, item.lacks] = f"({hours}) : sans {' ni '.join(item.lacks)}"
        lines.append(
            BoardLine(f"{weekday} {when}", said, board.fills_gap(brought, item), iso_day, code, when)
        )
    return lines


def _board_page(status: int = 200, message: str = ""):
    """Every open half-day of the next three months that lacks a doctor or a nurse; a volunteer
    of the flexible team takes one here, and gives back what they took."""
    opening, now, zone, today = _opening(), clock.now(), site_zone(), _today()
    me, version = board.reading(db.session, current_staff().id)
    found = board.open_half_days(db.session, opening, zone, today=today, now=now, version=version)
    return render_template(
        "roster/board.html",
        lines=_board_lines(found, me),
        me=me,
        can_take=board.may_take(me),
        mine=board.taken_by(db.session, me, now) if me is not None else [],
        give_back_days=opening.give_back_days,
        zone=zone,
        message=message,
        today=today,
    ), status


@bp.route("/planning/demi-journees-ouvertes")
@roles(*READERS)
def board_page():
    return _board_page()


@bp.route("/planning/demi-journees-ouvertes/prendre", methods=["POST"])
@roles(*READERS)
def board_take():
    me = _own_member()
    if not board.may_take(me):
        return _board_page(
            403, "Seuls les médecins et infirmières de l'équipe flexible prennent une demi-journée."
        )
    assert me is not None  # may_take checked it
    try:
        day = date.fromisoformat(request.form.get("jour", ""))
    except ValueError:
        day = None
    if day is not None and not clock.within_range(day):
        day = None
    try:
        shift = board.take(
            db.session,
            current_staff(),
            me,
            day,
            request.form.get("demi", ""),
            _opening(),
            site_zone(),
            today=_today(),
            now=clock.now(),
        )
    except FieldError as error:
        unit_of_work.discard()
        return _board_page(422, str(error))
    start = shift.starts_at.astimezone(site_zone())
    flash(f"Demi-journée du {start:%d/%m/%Y} à {start:%Hh%M} prise : elle est dans vos vacations.", "success")
    return redirect(url_for("roster.board_page"), 303)


@bp.route("/planning/demi-journees-ouvertes/<int:shift_id>/rendre", methods=["POST"])
@roles(*READERS)
def board_give_back(shift_id: int):
    shift = db.session.get(Shift, shift_id)
    if shift is None:
        abort(404)
    me = _own_member()
    if me is None or shift.member_id != me.id:
        return _board_page(
            403, "Cette demi-journée n'est pas la vôtre : seule la personne qui l'a prise la rend."
        )
    try:
        board.give_back(db.session, current_staff(), me, shift, _opening(), site_zone(), now=clock.now())
    except FieldError as error:
        unit_of_work.discard()
        return _board_page(422, str(error))
    flash("Demi-journée rendue : elle est de nouveau ouverte à l'équipe.", "success")
    return redirect(url_for("roster.board_page"), 303)


@bp.route("/planning/demi-journees-ouvertes/courriel", methods=["POST"])
@roles(*READERS)
def board_email():
    me = _own_member()
    if not board.may_take(me):
        return _board_page(403, "Le courriel des demi-journées ouvertes est réservé à l'équipe flexible.")
    assert me is not None  # may_take checked it
    if request.form.get("courriel") not in ("0", "1"):
        abort(400, description="Choix du courriel invalide.")
    board.set_email(db.session, current_staff(), me, request.form["courriel"] == "1")
    flash(
        "Vous recevrez chaque lundi les demi-journées ouvertes."
        if me.board_email
        else "Vous ne recevrez plus le courriel des demi-journées ouvertes.",
        "success",
    )
    return redirect(url_for("roster.board_page"), 303)


# --- Team ---------------------------------------------------------------------------------------


@bp.route("/equipe")
@roles(*MANAGERS)
def team():
    members = db.session.scalars(
        select(TeamMember).order_by(TeamMember.active.desc(), TeamMember.team, func.lower(TeamMember.name))
    ).all()
    return render_template("roster/team.html", members=members)


def _account_choices(form: MemberForm) -> None:
    accounts = db.session.execute(
        select(StaffUser.id, StaffUser.name, StaffUser.email)
        .where(StaffUser.active.is_(True))
        .order_by(func.lower(StaffUser.name))
    ).all()
    form.staff_user_id.choices = choices(
        [("", "Aucun")] + [(str(i), f"{name} <{email}>") for i, name, email in accounts]
    )


def _new_account(account_id: int | None) -> StaffUser | None:
    """The active account `?compte=` names, if no team member is linked to it yet."""
    if account_id is None:
        return None
    account = db.session.get(StaffUser, account_id)
    linked = db.session.scalar(select(TeamMember.id).where(TeamMember.staff_user_id == account_id))
    return account if account and account.active and not linked else None


def _member_form_page(member: TeamMember | None):
    form = MemberForm(obj=member)
    _account_choices(form)
    if request.method == "GET":
        if member:
            form.staff_user_id.data = str(member.staff_user_id or "")
            form.doctor_status.data = member.doctor_status or ""
        elif account := _new_account(parse_id(request.args.get("compte"))):
            # The next step of creating a clinician's account: the member starts from it.
            form.staff_user_id.data = str(account.id)
            form.name.data, form.email.data = account.name, account.email
        return render_template("roster/member_form.html", form=form, member=member)
    account_id = parse_id(form.staff_user_id.data)
    ok, saved = submit(
        form, lambda: roster.save_member(db.session, current_staff(), member, form.values(), account_id)
    )
    if not ok:
        return render_template("roster/member_form.html", form=form, member=member), 422
    flash(f"{saved.name} : fiche enregistrée.", "success")
    return redirect(url_for("roster.member", member_id=saved.id), 303)


@bp.route("/equipe/nouveau", methods=["GET", "POST"])
@roles(*MANAGERS)
def member_create():
    return _member_form_page(None)


@bp.route("/equipe/<int:member_id>/modifier", methods=["GET", "POST"])
@roles(*MANAGERS)
def member_edit(member_id: int):
    return _member_form_page(db.get_or_404(TeamMember, member_id))


@bp.route("/equipe/<int:member_id>/statut", methods=["POST"])
@roles(*MANAGERS)
def member_set_active(member_id: int):
    member = db.get_or_404(TeamMember, member_id)
    if request.form.get("active") not in ("0", "1"):
        abort(400)
    roster.set_member_active(db.session, current_staff(), member, request.form["active"] == "1")
    flash(f"{member.name} : {'réactivé·e' if member.active else 'retiré·e de l’équipe'}.", "success")
    return redirect(url_for("roster.team"), 303)


# --- A member's sessions (managers for everyone, a clinician for their own) -----------------------


def _member_in_reach(member_id: int) -> TeamMember:
    """The member whose sessions the user may manage: anyone for managers, oneself otherwise."""
    member = db.get_or_404(TeamMember, member_id)
    if not roster.may_manage_sessions(current_staff(), member):
        abort(403)
    return member


def _member_page(
    member: TeamMember,
    status: int = 200,
    session_form=None,
    pattern_form=None,
    exception_forms=None,
    calendar_url: str | None = None,
):
    today = _today()
    upcoming = roster.occurrences(
        db.session, today, today + timedelta(days=90), site_zone(), [member.id], opening=_opening()
    )
    patterns = db.session.scalars(
        select(WeeklyPattern)
        .where(WeeklyPattern.member_id == member.id)
        .options(selectinload(WeeklyPattern.exceptions))
        .order_by(WeeklyPattern.weekday, WeeklyPattern.start_time)
    ).all()
    exception_forms = exception_forms or {}
    for pattern in patterns:
        exception_forms.setdefault(pattern.id, ExceptionForm(prefix=f"absence-{pattern.id}"))
    return render_template(
        "roster/member.html",
        member=member,
        upcoming=_upcoming_lines(member, upcoming),
        patterns=[_pattern_line(pattern, today) for pattern in patterns],
        session_form=session_form or ShiftForm(prefix="vacation"),
        pattern_form=pattern_form or PatternForm(prefix="modele"),
        exception_forms=exception_forms,
        can_manage=current_staff().role in MANAGERS,
        calendar_url=calendar_url,
    ), status


class UpcomingLine(NamedTuple):
    """A session to come on a member's page, in words (a member's page lists up to ninety days
    of them, worded here once rather than by a few filters each in the template)."""

    day: str  # « 30/11/2026 »
    weekday: str  # « lundi »
    hours: str  # « 08h30 – 12h30 »
    kind: str  # « Ponctuelle » (a session, which may be withdrawn), « Hebdomadaire »
    withdraw_url: str  # a session's; "" for a weekly one


def _upcoming_lines(member: TeamMember, upcoming: list[roster.Occurrence]) -> list[UpcomingLine]:
    zone = site_zone()
    withdraw_url = urls_of("roster.session_withdraw", "shift_id", member_id=member.id)
    lines = []
    for o in upcoming:
        start, end = o.starts_at.astimezone(zone), o.ends_at.astimezone(zone)
        session = o.kind == "session"
        lines.append(
            UpcomingLine(
                date_fr(start),
                WEEKDAYS[start.weekday()],
                f"{clock_time(start)} – {clock_time(end)}",
                "Ponctuelle" if session else "Hebdomadaire",
                withdraw_url(o.ref_id) if session else "",
            )
        )
    return lines


class PatternLine(NamedTuple):
    """A weekly session on its member's page, in words."""

    id: int
    title: str  # « Chaque mardi, 08h30 – 12h30 »
    period: str  # « Du 26/11/2016, sans date de fin. »
    absences: str  # « 27/12/2016 (Congés), 08/08/2017 »
    current: bool  # not over: an absence may be noted, the pattern ended


def _pattern_line(pattern: WeeklyPattern, today: date) -> PatternLine:
    until = pattern.valid_until
    return PatternLine(
        pattern.id,
        f"Chaque {WEEKDAYS[pattern.weekday]}, {pattern.start_time:%Hh%M} – {pattern.end_time:%Hh%M}",
        f"Du {date_fr(pattern.valid_from)}" + (f" au {date_fr(until)}." if until else ", sans date de fin."),
        ", ".join(date_fr(e.day) + (f" ({e.reason})" if e.reason else "") for e in pattern.exceptions),
        not until or until >= today,
    )


@bp.route("/equipe/<int:member_id>")
@roles(*READERS)
def member(member_id: int):
    return _member_page(_member_in_reach(member_id))


@bp.route("/mes-vacations")
@roles(*READERS)
def my_sessions():
    mine = db.session.scalar(select(TeamMember.id).where(TeamMember.staff_user_id == current_staff().id))
    if mine is None:
        return render_template("roster/no_member.html"), 404
    return redirect(url_for("roster.member", member_id=mine))


def _times(form) -> tuple[time | None, time | None]:
    if form.half_day.data in ("matin", "apres-midi"):
        return hours_range(_hours()["morning" if form.half_day.data == "matin" else "afternoon"])
    return form.start.data, form.end.data


@bp.route("/equipe/<int:member_id>/vacations", methods=["POST"])
@roles(*READERS)
def session_add(member_id: int):
    member = _member_in_reach(member_id)
    form = ShiftForm(prefix="vacation")
    start, end = _times(form)
    ok, added = submit(
        form,
        lambda: roster.add_shift(
            db.session,
            current_staff(),
            member,
            form.day.data,
            start,
            end,
            site_zone(),
            form.note.data or "",
            today=_today(),
            opening=_opening(),
            exceptional=bool(form.exceptional.data),
        ),
    )
    if not ok:
        return _member_page(member, 422, session_form=form)
    flash(f"Vacation du {added.starts_at.astimezone(site_zone()):%d/%m/%Y} enregistrée.", "success")
    return redirect(url_for("roster.member", member_id=member_id), 303)


@bp.route("/equipe/<int:member_id>/vacations/<int:shift_id>/retirer", methods=["POST"])
@roles(*READERS)
def session_withdraw(member_id: int, shift_id: int):
    member = _member_in_reach(member_id)
    shift = db.session.get(Shift, shift_id)
    if shift is None or shift.member_id != member.id:
        abort(404)
    try:
        roster.withdraw_shift(db.session, current_staff(), shift, site_zone(), now=clock.now())
    except FieldError as error:
        unit_of_work.discard()
        flash(str(error), "error")
        return redirect(url_for("roster.member", member_id=member_id), 303)
    flash("Vacation retirée.", "success")
    return redirect(url_for("roster.member", member_id=member_id), 303)


@bp.route("/equipe/<int:member_id>/modeles", methods=["POST"])
@roles(*MANAGERS)
def pattern_add(member_id: int):
    member = db.get_or_404(TeamMember, member_id)
    form = PatternForm(prefix="modele")
    start, end = _times(form)
    weekday = int(form.weekday.data) if form.weekday.data in tuple("0123456") else None
    ok, _ = submit(
        form,
        lambda: roster.add_pattern(
            db.session,
            current_staff(),
            member,
            weekday,
            start,
            end,
            form.valid_from.data,
            form.valid_until.data,
            site_zone(),
            today=_today(),
        ),
    )
    if not ok:
        return _member_page(member, 422, pattern_form=form)
    flash("Vacation hebdomadaire enregistrée.", "success")
    return redirect(url_for("roster.member", member_id=member_id), 303)


def _pattern_of(member: TeamMember, pattern_id: int) -> WeeklyPattern:
    pattern = db.session.get(WeeklyPattern, pattern_id)
    if pattern is None or pattern.member_id != member.id:
        abort(404)
    return pattern


@bp.route("/equipe/<int:member_id>/modeles/<int:pattern_id>/absence", methods=["POST"])
@roles(*READERS)
def pattern_exception(member_id: int, pattern_id: int):
    member = _member_in_reach(member_id)
    pattern = _pattern_of(member, pattern_id)
    form = ExceptionForm(prefix=f"absence-{pattern_id}")
    ok, _ = submit(
        form,
        lambda: roster.add_exception(
            db.session,
            current_staff(),
            pattern,
            form.day.data,
            form.reason.data or "",
            form.until.data,
            today=_today(),
        ),
    )
    if not ok:
        return _member_page(member, 422, exception_forms={pattern_id: form})
    flash("Absence enregistrée.", "success")
    return redirect(url_for("roster.member", member_id=member_id), 303)


@bp.route("/equipe/<int:member_id>/modeles/<int:pattern_id>/terminer", methods=["POST"])
@roles(*MANAGERS)
def pattern_end(member_id: int, pattern_id: int):
    member = db.get_or_404(TeamMember, member_id)
    if roster.end_pattern(db.session, current_staff(), _pattern_of(member, pattern_id), _today()):
        flash("Vacation hebdomadaire arrêtée à partir d'aujourd'hui.", "success")
    else:
        flash("Cette vacation hebdomadaire est déjà terminée.", "info")
    return redirect(url_for("roster.member", member_id=member_id), 303)


# --- Calendar feed ------------------------------------------------------------------------------


@bp.route("/equipe/<int:member_id>/agenda", methods=["POST"])
@roles(*READERS)
def calendar_link(member_id: int):
    member = _member_in_reach(member_id)
    token = planning.new_calendar_token(db.session, current_staff(), member)
    # Shown once, in this response only.
    return _member_page(member, 201, calendar_url=public_url("roster.calendar_feed", token=token))


@bp.route("/equipe/<int:member_id>/agenda/revoquer", methods=["POST"])
@roles(*READERS)
def calendar_revoke(member_id: int):
    member = _member_in_reach(member_id)
    planning.revoke_calendar_token(db.session, current_staff(), member)
    flash("Lien d'agenda révoqué : il ne fonctionne plus.", "success")
    return redirect(url_for("roster.member", member_id=member_id), 303)


@bp.route("/agenda/<token>.ics")
@public
def calendar_feed(token: str):
    member = planning.member_for_calendar(db.session, token)
    if member is None:
        abort(404)
    body = planning.calendar(
        db.session,
        member,
        current_app.config["SITE"]["name"],
        site_zone(),
        _today(),
        current_app.config["SITE"]["domain"] or "dalia.invalid",
        now=clock.now(),
    )
    return Response(
        body,
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="vacations.ics"'},
    )
