"""Booking: slots proposed on the patient page, appointments, the day and week agenda."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload, load_only

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, roles
from dalia_site.booking import agenda_lines
from dalia_site.domain import agenda, booking, centre, desk, patients, reminders, roster
from dalia_site.domain.roster import occurrences
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.filters import clock_time, site_zone
from dalia_site.forms import parse_id
from dalia_site.htmx import render_block, render_page, wants_fragment
from dalia_site.models import Appointment, Patient, TeamMember
from dalia_site.models.vocabulary import CLINICIANS, AppointmentKind

bp = Blueprint("booking", __name__, template_folder="templates")

READERS = ("admin", "assistant", "clinician")
BOOKERS = ("admin", "assistant")


def _patient_or_404(patient_id: int) -> Patient:
    return patients.find(db.session, patient_id) or abort(404)


# What the picker and its confirmation show of the patient: the name and birth date.
_PICKED = (Patient.last_name, Patient.first_names, Patient.birth_date)
_PICKED_PATIENT = (  # built once
    select(Patient).where(Patient.id == bindparam("patient_id")).options(load_only(*_PICKED, raiseload=True))
)
_MOVING = (  # built once
    select(Appointment)
    .where(Appointment.id == bindparam("appointment_id"))
    .options(joinedload(Appointment.patient).load_only(*_PICKED, raiseload=True))
)


def _picked_patient_or_404(patient_id: int) -> Patient:
    """The patient alone, for the picker and its confirmation: they show the name and birth date,
    not the rest of the file nor the referrals `patients.find` joins for it (issue 22)."""
    return db.session.scalar(_PICKED_PATIENT, {"patient_id": patient_id}) or abort(404)


def _visits() -> dict:
    return centre.load(db.session).visits


def _appointment_or_404(appointment_id: int) -> Appointment:
    return booking.find_appointment(db.session, appointment_id) or abort(404)


def _clinicians() -> dict[int, booking.ActiveClinician]:
    """The active clinicians, doctors first, then by name: the picker's list and its engine's."""
    rows = booking.active_clinicians(db.session).values()
    return {m.id: m for m in sorted(rows, key=roster.team_order)}


def _moving_or_404(appointment_id: int) -> Appointment:
    """The appointment being moved, with its patient as the picker shows them (one query: the
    picker's budget)."""
    appointment = db.session.scalar(_MOVING, {"appointment_id": appointment_id})
    if appointment is None:
        abort(404)
    try:
        booking.ensure_reschedulable(appointment)
    except booking.NotReschedulable as error:
        abort(409, description=str(error))
    return appointment


def _parse_slot(start_text: str, members_text: str) -> tuple[datetime, list[int]]:
    """A slot as the picker sends it (its start, see booking.slot_start; its clinicians' ids), or 400."""
    unreadable = "Créneau illisible : choisissez-le dans la liste des créneaux libres."
    try:
        start = booking.slot_start(start_text)
        member_ids = [parse_id(i) for i in members_text.split(",")]
    except ValueError:
        abort(400, description=unreadable)
    if start.tzinfo is None or not member_ids or len(member_ids) > 2 or None in member_ids:
        abort(400, description=unreadable)
    if not clock.within_range(start.date()):
        abort(422, description="Ce créneau n'est pas proposé par le planning.")
    return start, [member_id for member_id in member_ids if member_id is not None]


def _picker_page(
    patient: Patient,
    status: int = 200,
    message: str = "",
    reschedule: Appointment | None = None,
    slot: tuple[datetime, list[int]] | None = None,
):
    """The slot picker (the choices, a week of free slots), or its block alone for htmx; with a
    `slot`, its confirmation when the slot is still free, or else the reason with a fresh week
    (409 when it was taken meanwhile, 422 for a bad choice). Nothing is written but the trace."""
    settings = centre.load(db.session)
    members = _clinicians()
    zone = site_zone()
    now = clock.now()
    choice = {k: request.values.get(k, "") for k in ("kind", "du", "soignant", "moment", "override_reason")}
    if slot is not None and slot[0] > now:  # the week read afresh is the slot's
        choice["du"] = slot[0].astimezone(zone).date().isoformat()

    def read_week(search: bool) -> booking.Week:
        return booking.week_slots(
            db.session,
            picker,
            patient.id,
            members,
            settings.visits,
            settings.hours,
            zone,
            now,
            reschedule,
            opening=settings.opening,
            search=search,
        )

    week, chosen = None, None
    try:
        picker = booking.parse_picker(choice, members, clock.today(zone))
        week = read_week(search=slot is None)  # a confirmation checks its slot alone
        if slot is not None:
            chosen = booking.check_choice(
                week, slot[0], slot[1], members, choice["override_reason"], settings.visits, zone, now
            )
    except FieldError as error:
        unit_of_work.discard()
        status, message = (409 if isinstance(error, booking.SlotTaken) else 422), str(error)
        if week is not None:  # the slot refused: the reason, with the week's free slots
            week = read_week(search=True)
    today = clock.today(zone)
    first_day = week.picker.first_day if week else today
    context = {
        "today": today,
        "previous_url": week
        and first_day > today
        and _week_url(patient, reschedule, choice, week, max(today, first_day - timedelta(days=7))),
        "next_url": week and _week_url(patient, reschedule, choice, week, first_day + timedelta(days=7)),
        "back_url": week and _week_url(patient, reschedule, choice, week, first_day),
        "patient": patient,
        "reschedule": reschedule,
        "week": week,
        "choice": choice,
        "override_reason": choice["override_reason"],
        "clinicians": list(members.values()),
        "hours": settings.hours,
        # « férié — Noël », « fermé — fermeture estivale »: why a day of the week has no slot.
        "closed": settings.opening.closed_days(first_day, first_day + timedelta(days=6)),
        "kinds": AppointmentKind,
        "proposed": week.proposed if week else None,
        "slot_message": message,
        "zone": zone,
    }
    what = "créneaux de rendez-vous"
    if chosen is not None:
        body = render_template("booking/confirm.html", slot=chosen, **context)
        what = "confirmation de rendez-vous"
    elif wants_fragment():  # htmx swaps the week alone: the page's own include, its block
        body = render_block("booking/_week.html", "week", buttons=_slot_buttons(week, zone), **context)
    else:
        body = render_template("booking/slots.html", buttons=_slot_buttons(week, zone), **context)
    if not wants_fragment() or chosen is not None:
        # The page names the patient: traced like the patient page.
        patients.record_view(db.session, current_staff(), patient.id, what)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def _slot_buttons(week: booking.Week | None, zone: ZoneInfo) -> dict[date, list[tuple[str, str]]]:
    """Each day's slot buttons, their value and local time (« 09h15 »): a week has a hundred and
    more, worded here rather than by filters in the template's loop."""
    buttons: dict[date, list[tuple[str, str]]] = {}
    for day, slots in week.days if week else ():
        buttons[day] = []
        for slot in slots:
            buttons[day].append((slot.picker_choice, clock_time(slot.starts_at.astimezone(zone))))
    return buttons


def _week_url(patient: Patient, reschedule: Appointment | None, choice: dict, week, first_day: date) -> str:
    """The picker on another week, with the same choices (a plain link, or htmx's swap)."""
    args = {k: v for k, v in choice.items() if v and k not in ("du", "kind")} | {"du": first_day.isoformat()}
    if reschedule is not None:
        args.pop("override_reason", None)
        return url_for("booking.reschedule", appointment_id=reschedule.id, **args)
    return url_for("booking.slots", patient_id=patient.id, kind=week.kind.value, **args)


def _refused(error: FieldError, patient_id: int, moving_id: int | None = None):
    """Someone was faster (409), or the choice is refused (422): the reason, with a fresh week
    of slots. The refused change is rolled back first; everything is read again."""
    unit_of_work.discard()
    return _picker_page(
        _picked_patient_or_404(patient_id),
        409 if isinstance(error, booking.SlotTaken) else 422,
        message=str(error),
        reschedule=_moving_or_404(moving_id) if moving_id else None,
    )


@bp.route("/patients/<int:patient_id>/creneaux")
@roles(*BOOKERS)
def slots(patient_id: int):
    return _picker_page(_picked_patient_or_404(patient_id))


@bp.route("/patients/<int:patient_id>/rendez-vous/confirmer")
@roles(*BOOKERS)
def confirm(patient_id: int):
    """The slot picked, to confirm: nothing is booked until « Confirmer » is pressed."""
    patient = _picked_patient_or_404(patient_id)
    start, _, members = request.args.get("creneau", "").partition("_")
    return _picker_page(patient, slot=_parse_slot(start, members))


def _slot_from_form() -> tuple[datetime, list[int]]:
    return _parse_slot(request.form.get("start", ""), request.form.get("members", ""))


@bp.route("/patients/<int:patient_id>/rendez-vous", methods=["POST"])
@roles(*BOOKERS)
def book(patient_id: int):
    patient = _patient_or_404(patient_id)
    kind = request.form.get("kind", "")
    if not AppointmentKind.has(kind):
        abort(400, description="Type de rendez-vous inconnu.")
    start, member_ids = _slot_from_form()
    try:
        appointment = booking.book(
            db.session,
            current_staff(),
            patient,
            kind,
            start,
            member_ids,
            _visits(),
            site_zone(),
            request.form.get("override_reason", ""),
            now=clock.now(),
            opening=centre.load(db.session).opening,
        )
    except FieldError as error:
        return _refused(error, patient_id)
    flash("Rendez-vous confirmé.", "success")
    return redirect(url_for("booking.convocation", appointment_id=appointment.id), 303)


@bp.route("/rendez-vous/<int:appointment_id>/annuler", methods=["POST"])
@roles(*BOOKERS)
def cancel(appointment_id: int):
    appointment = _appointment_or_404(appointment_id)
    try:
        booking.cancel(db.session, current_staff(), appointment, request.form.get("reason", ""))
    except FieldError as error:
        unit_of_work.discard()
        flash(str(error), "error")
        return redirect(url_for("patients.show", patient_id=appointment.patient_id), 303)
    flash("Rendez-vous annulé.", "success")
    return redirect(url_for("patients.show", patient_id=appointment.patient_id), 303)


@bp.route("/rendez-vous/<int:appointment_id>/reporter", methods=["GET", "POST"])
@roles(*BOOKERS)
def reschedule(appointment_id: int):
    """The same picker and confirmation as a booking; the POST is the confirmation's."""
    if request.method == "GET":
        moving = _moving_or_404(appointment_id)
        return _picker_page(moving.patient, reschedule=moving)
    appointment = _appointment_or_404(appointment_id)
    patient = appointment.patient
    try:
        booking.ensure_reschedulable(appointment)
    except booking.NotReschedulable as error:
        abort(409, description=str(error))
    start, member_ids = _slot_from_form()
    try:
        moved = booking.reschedule(
            db.session,
            current_staff(),
            appointment,
            start,
            member_ids,
            _visits(),
            site_zone(),
            now=clock.now(),
            opening=centre.load(db.session).opening,
        )
    except FieldError as error:
        return _refused(error, patient.id, appointment_id)
    flash("Rendez-vous reporté.", "success")
    return redirect(url_for("booking.convocation", appointment_id=moved.id), 303)


@bp.route("/rendez-vous/<int:appointment_id>/reporter/confirmer")
@roles(*BOOKERS)
def confirm_reschedule(appointment_id: int):
    moving = _moving_or_404(appointment_id)
    start, _, members = request.args.get("creneau", "").partition("_")
    return _picker_page(moving.patient, reschedule=moving, slot=_parse_slot(start, members))


@bp.route("/rendez-vous/<int:appointment_id>/statut", methods=["POST"])
@roles(*READERS)
def mark(appointment_id: int):
    appointment = _appointment_or_404(appointment_id)
    try:
        booking.mark(
            db.session, current_staff(), appointment, request.form.get("status", ""), now=clock.now()
        )
    except FieldError as error:
        unit_of_work.discard()
        flash(str(error), "error")
    else:
        flash(f"Rendez-vous : {appointment.status_label.lower()}.", "success")
    target = request.form.get("retour")
    if target == "agenda":
        day = appointment.starts_at.astimezone(site_zone()).date()
        return redirect(url_for("booking.day", jour=day.isoformat()), 303)
    return redirect(url_for("patients.show", patient_id=appointment.patient_id), 303)


@bp.route("/patients/<int:patient_id>/sans-rendez-vous", methods=["POST"])
@roles(*READERS)
def walk_in(patient_id: int):
    patient = _patient_or_404(patient_id)
    member = db.session.get(TeamMember, parse_id(request.form.get("member_id")) or 0)
    try:
        booking.record_walk_in(
            db.session,
            current_staff(),
            patient,
            request.form.get("kind", ""),
            member,
            _visits(),
            now=clock.now(),
        )
    except FieldError as error:
        unit_of_work.discard()
        flash(str(error), "error")
        return redirect(url_for("patients.show", patient_id=patient_id), 303)
    flash("Consultation sans rendez-vous enregistrée.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


def _traced_appointment_or_404(appointment_id: int, what: str) -> Appointment:
    """The appointment of a convocation, which names the patient: its reading is traced."""
    appointment = _appointment_or_404(appointment_id)
    patients.record_view(db.session, current_staff(), appointment.patient_id, what)
    return appointment


@bp.route("/rendez-vous/<int:appointment_id>/convocation")
@roles(*READERS)
def convocation(appointment_id: int):
    appointment = _traced_appointment_or_404(appointment_id, "convocation")
    link = qr_code = ""
    if reminders.state(appointment, clock.now()) == "open":
        import segno  # only printing a convocation needs it (not loaded to serve other pages)

        # The patient's private link (issue 17), new at each printing: only its hash is kept.
        link = url_for(
            "answers.appointment", token=reminders.issue_link(db.session, appointment), _external=True
        )
        # One fixed mask: choosing the best of the eight took 2.3 ms more. Every mask reads the
        # same; 3 is the one segno picks most often for these links.
        qr_code = segno.make(link, error="m", mask=3).svg_inline(scale=3)
    return render_template(
        "booking/convocation.html",
        appointment=appointment,
        members=[c.member for c in appointment.clinicians],
        centre=centre.load(db.session),
        zone=site_zone(),
        link=link,
        qr_code=qr_code,
    )


@bp.route("/rendez-vous/<int:appointment_id>/convocation.ics")
@roles(*READERS)
def convocation_ics(appointment_id: int):
    appointment = _traced_appointment_or_404(appointment_id, "convocation (.ics)")
    site = current_app.config["SITE"]
    settings = centre.load(db.session)
    body = booking.convocation_ics(
        appointment,
        [c.member for c in appointment.clinicians],
        settings.display_name or site["name"],
        settings.address,
        site_zone(),
        site["domain"] or "dalia.invalid",
        now=clock.now(),
    )
    return Response(
        body,
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="rendez-vous-{appointment.id}.ics"'},
    )


# --- Agenda -------------------------------------------------------------------------------------

_ON_DUTY = select(TeamMember).where(  # built once: the day's clinicians on duty
    TeamMember.id.in_(bindparam("on_duty", expanding=True)), TeamMember.profession.in_(CLINICIANS)
)


def _day_arg() -> date:
    today = clock.today(site_zone())
    try:
        value = date.fromisoformat(request.args.get("jour", ""))
    except ValueError:
        return today
    return value if clock.within_range(value) else today


def _record_agenda_view(visits: Sequence[agenda.Visit], what: str) -> None:
    """The agenda shows patients' names: the reading is traced."""
    patients.record_list_view(db.session, current_staff(), [v.patient_id for v in visits], what)


@bp.route("/agenda")
@roles(*READERS)
def day():
    zone = site_zone()
    on = _day_arg()
    duty = occurrences(db.session, on, on, zone, opening=centre.load(db.session).opening)  # none on a holiday
    members = {
        m.id: m for m in db.session.scalars(_ON_DUTY, {"on_duty": sorted({o.member_id for o in duty})})
    }
    visits = agenda.visits_between(db.session, on, on, zone)
    page = render_page(
        "booking/day.html",
        "agenda",
        on=on,
        columns=agenda_lines.day_columns(desk.columns(members.values(), duty), visits, zone),
        previous=on - timedelta(days=1),
        next=on + timedelta(days=1),
    )
    _record_agenda_view(visits, f"agenda du {on:%d/%m/%Y}")
    return page


@bp.route("/agenda/semaine")
@roles(*READERS)
def week():
    on = _day_arg()
    monday = on - timedelta(days=on.weekday())
    zone = site_zone()
    visits = agenda.visits_between(db.session, monday, monday + timedelta(days=6), zone)
    days = [monday + timedelta(days=i) for i in range(7)]
    page = render_page(
        "booking/week.html",
        "agenda",
        days=days,
        by_day=agenda_lines.week_lines(visits, days, zone),
        monday=monday,
        previous=monday - timedelta(days=7),
        next=monday + timedelta(days=7),
    )
    _record_agenda_view(visits, f"agenda de la semaine du {monday:%d/%m/%Y}")
    return page
