"""Booking: slots proposed on the patient page, appointments, the day and week agenda."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, roles
from dalia_site.domain import booking, centre, patients
from dalia_site.domain.roster import occurrences
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import parse_id
from dalia_site.htmx import render_page, wants_fragment
from dalia_site.models import Appointment, AppointmentClinician, Patient, TeamMember
from dalia_site.models.vocabulary import CLINICIANS, AppointmentKind, AppointmentStatus

bp = Blueprint("booking", __name__, template_folder="templates")

READERS = ("admin", "assistant", "clinician")
BOOKERS = ("admin", "assistant")


def _patient_or_404(patient_id: int) -> Patient:
    return patients.find(db.session, patient_id) or abort(404)


def _visits() -> dict:
    return centre.load(db.session).visits


def _appointment_or_404(appointment_id: int) -> Appointment:
    appointment = db.session.scalar(
        select(Appointment)
        .where(Appointment.id == appointment_id)
        .options(
            joinedload(Appointment.patient),
            selectinload(Appointment.clinicians).joinedload(AppointmentClinician.member),
        )
    )
    if appointment is None:
        abort(404)
    return appointment


def _kind_choice(patient: Patient) -> tuple[AppointmentKind, AppointmentKind]:
    proposed = booking.next_kind(booking.appointments_of(db.session, patient))
    kind = request.values.get("kind") or proposed
    if not AppointmentKind.has(kind):
        abort(400)
    return AppointmentKind(kind), proposed


def _slots_page(patient: Patient, status: int = 200, message: str = "", reschedule=None):
    """The page for choosing a slot, or just its list for htmx (the same block)."""
    kind, proposed = (reschedule.kind, reschedule.kind) if reschedule else _kind_choice(patient)
    slots = booking.free_slots(
        db.session,
        kind,
        _visits(),
        site_zone(),
        patient=patient,
        moving=reschedule.id if reschedule else None,
    )
    if reschedule:  # its own time is no move
        slots = [s for s in slots if s.starts_at != reschedule.starts_at]
    block = {
        "slots": slots,
        "slot_kind": kind,
        "slot_members": {m.id: m for s in slots for m in s.members},
        "slot_message": message,
        "override_reason": request.values.get("override_reason", ""),
        "reschedule": reschedule,
    }
    # Without JavaScript, a page of its own for choosing the slot; with htmx, its block alone.
    response = render_page(
        "booking/slots.html",
        "slots",
        patient=patient,
        proposed=proposed,
        kinds=AppointmentKind,
        zone=site_zone(),
        **block,
    )
    if not wants_fragment():
        # The page names the patient: traced like the patient page.
        patients.record_view(db.session, current_staff(), patient.id, "créneaux de rendez-vous")
    return response, status


def _refused(error: FieldError, patient_id: int, moving_id: int | None = None):
    """Someone was faster (409), or the choice is refused (422): the reason, with a fresh list
    of slots. The refused change is rolled back first; everything is read again."""
    unit_of_work.discard()
    return _slots_page(
        _patient_or_404(patient_id),
        409 if isinstance(error, booking.SlotTaken) else 422,
        message=str(error),
        reschedule=_appointment_or_404(moving_id) if moving_id else None,
    )


@bp.route("/patients/<int:patient_id>/creneaux")
@roles(*BOOKERS)
def slots(patient_id: int):
    return _slots_page(_patient_or_404(patient_id))


def _slot_from_form() -> tuple[datetime, list[int]]:
    try:
        start = datetime.fromisoformat(request.form.get("start", ""))
        member_ids = [parse_id(i) for i in request.form.get("members", "").split(",")]
    except ValueError:
        abort(400)
    if (
        start.tzinfo is None
        or not member_ids
        or len(member_ids) > 2
        or None in member_ids
        or not clock.within_range(start.date())
    ):
        abort(400)
    return start, [member_id for member_id in member_ids if member_id is not None]


@bp.route("/patients/<int:patient_id>/rendez-vous", methods=["POST"])
@roles(*BOOKERS)
def book(patient_id: int):
    patient = _patient_or_404(patient_id)
    kind, _ = _kind_choice(patient)
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
    appointment = _appointment_or_404(appointment_id)
    patient = appointment.patient
    try:
        booking.ensure_reschedulable(appointment)
    except booking.NotReschedulable as error:
        abort(409, description=str(error))
    if request.method == "GET":
        return _slots_page(patient, reschedule=appointment)
    start, member_ids = _slot_from_form()
    try:
        moved = booking.reschedule(
            db.session, current_staff(), appointment, start, member_ids, _visits(), site_zone()
        )
    except FieldError as error:
        return _refused(error, patient.id, appointment_id)
    flash("Rendez-vous reporté.", "success")
    return redirect(url_for("booking.convocation", appointment_id=moved.id), 303)


@bp.route("/rendez-vous/<int:appointment_id>/statut", methods=["POST"])
@roles(*READERS)
def mark(appointment_id: int):
    appointment = _appointment_or_404(appointment_id)
    try:
        booking.mark(db.session, current_staff(), appointment, request.form.get("status", ""))
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
            db.session, current_staff(), patient, request.form.get("kind", ""), member, _visits()
        )
    except FieldError as error:
        unit_of_work.discard()
        flash(str(error), "error")
        return redirect(url_for("patients.show", patient_id=patient_id), 303)
    flash("Consultation sans rendez-vous enregistrée.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


def _trace_view(appointment_id: int, what: str) -> None:
    """The convocation names the patient: its reading is traced."""
    patient_id = db.session.scalar(select(Appointment.patient_id).where(Appointment.id == appointment_id))
    if patient_id is None:
        abort(404)
    patients.record_view(db.session, current_staff(), patient_id, what)


@bp.route("/rendez-vous/<int:appointment_id>/convocation")
@roles(*READERS)
def convocation(appointment_id: int):
    _trace_view(appointment_id, "convocation")
    appointment = _appointment_or_404(appointment_id)
    return render_template(
        "booking/convocation.html",
        appointment=appointment,
        members=[c.member for c in appointment.clinicians],
        centre=centre.load(db.session),
        zone=site_zone(),
    )


@bp.route("/rendez-vous/<int:appointment_id>/convocation.ics")
@roles(*READERS)
def convocation_ics(appointment_id: int):
    _trace_view(appointment_id, "convocation (.ics)")
    appointment = _appointment_or_404(appointment_id)
    site = current_app.config["SITE"]
    settings = centre.load(db.session)
    body = booking.convocation_ics(
        appointment,
        [c.member for c in appointment.clinicians],
        settings.display_name or site["name"],
        settings.address,
        site_zone(),
        site["domain"] or "dalia.invalid",
    )
    return Response(
        body,
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="rendez-vous-{appointment.id}.ics"'},
    )


# --- Agenda -------------------------------------------------------------------------------------


def _day_arg() -> date:
    today = clock.today(site_zone())
    try:
        value = date.fromisoformat(request.args.get("jour", ""))
    except ValueError:
        return today
    return value if clock.within_range(value) else today


def _appointments_between(first: date, last: date) -> list[Appointment]:
    zone = site_zone()
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return list(
        db.session.scalars(
            select(Appointment)
            .where(
                Appointment.starts_at >= start,
                Appointment.starts_at < end,
                Appointment.status != AppointmentStatus.CANCELLED,
            )
            .options(
                joinedload(Appointment.patient),
                selectinload(Appointment.clinicians).joinedload(AppointmentClinician.member),
            )
            .order_by(Appointment.starts_at)
        )
    )


def _record_agenda_view(appointments: list[Appointment], what: str) -> None:
    """The agenda shows patients' names: the reading is traced."""
    patients.record_list_view(db.session, current_staff(), [a.patient_id for a in appointments], what)


@bp.route("/agenda")
@roles(*READERS)
def day():
    zone = site_zone()
    on = _day_arg()
    duty = occurrences(db.session, on, on, zone)
    members = {
        m.id: m
        for m in db.session.scalars(
            select(TeamMember).where(
                TeamMember.id.in_({o.member_id for o in duty}), TeamMember.profession.in_(CLINICIANS)
            )
        )
    }
    appointments = _appointments_between(on, on)
    columns = []
    # Doctors first, then nurses, by name.
    for member_id in sorted(members, key=lambda i: (not members[i].is_doctor, members[i].name)):
        columns.append(
            {
                "member": members[member_id],
                "spans": [o for o in duty if o.member_id == member_id],
                "appointments": [a for a in appointments if member_id in {c.member_id for c in a.clinicians}],
            }
        )
    page = render_page(
        "booking/day.html",
        "agenda",
        on=on,
        columns=columns,
        zone=zone,
        previous=on - timedelta(days=1),
        next=on + timedelta(days=1),
    )
    _record_agenda_view(appointments, f"agenda du {on:%d/%m/%Y}")
    return page


@bp.route("/agenda/semaine")
@roles(*READERS)
def week():
    on = _day_arg()
    monday = on - timedelta(days=on.weekday())
    appointments = _appointments_between(monday, monday + timedelta(days=6))
    days = [monday + timedelta(days=i) for i in range(7)]
    zone = site_zone()
    by_day = {d: [a for a in appointments if a.starts_at.astimezone(zone).date() == d] for d in days}
    page = render_page(
        "booking/week.html",
        "agenda",
        days=days,
        by_day=by_day,
        zone=zone,
        monday=monday,
        previous=monday - timedelta(days=7),
        next=monday + timedelta(days=7),
    )
    _record_agenda_view(appointments, f"agenda de la semaine du {monday:%d/%m/%Y}")
    return page
