"""Today's desk: the front desk's one-click actions on the day's visits, the day's counts and the
printable day list. The desk page itself is the home page (core.home renders desk/page.py)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, may_access, roles
from dalia_site.desk.page import render_desk, requested_day
from dalia_site.domain import agenda, booking, centre, desk, patients
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import parse_id
from dalia_site.htmx import render_block, render_page, wants_fragment
from dalia_site.models import Appointment, Patient, TeamMember
from dalia_site.models.vocabulary import PatientStatus

bp = Blueprint("desk", __name__, template_folder="templates")

DESK = ("admin", "assistant", "clinician")
BOOKERS = ("admin", "assistant")
DONE = {
    "arrive": "Arrivée enregistrée.",
    "undo_arrival": "Arrivée annulée.",
    "honoured": "Rendez-vous : vu.",
    "no_show": "Rendez-vous : non venu.",
    "reopen": "Rendez-vous de nouveau prévu.",
    "cancel": "Rendez-vous annulé.",
}
CHANGED = "desk-changed"  # HX-Trigger: the day's counts refresh themselves


def _appointment_or_404(appointment_id: int) -> Appointment:
    return booking.find_appointment(db.session, appointment_id) or abort(404)


def _block(appointment: Appointment, status: int = 200, message: str = "", cancelling: bool = False):
    """The appointment's block of the grid alone (the same include as in the page), swapped in
    place of the old one; the counts refresh on the HX-Trigger."""
    zone = site_zone()
    body = render_template(
        "desk/_appointment.html",
        a=appointment,
        actions=desk.actions(appointment, clock.now(), zone),
        message=message,
        cancelling=cancelling,
        may_cancel=may_access(current_staff(), "desk.cancel"),
        zone=zone,
    )
    response = make_response(body, status)
    response.headers["HX-Retarget"] = f"#rdv-{appointment.id}"
    response.headers["HX-Reswap"] = "outerHTML"
    response.headers["HX-Trigger"] = CHANGED
    response.vary.add("HX-Request")
    return response


def _act(appointment_id: int, action: str):
    appointment = _appointment_or_404(appointment_id)
    zone, now, actor = site_zone(), clock.now(), current_staff()
    day = desk.local_day(appointment.starts_at, zone)
    try:
        if action == "arrive":
            desk.arrive(db.session, actor, appointment, now, zone)
        elif action == "undo_arrival":
            desk.undo_arrival(db.session, actor, appointment, now, zone)
        elif action in ("honoured", "no_show"):
            desk.mark(db.session, actor, appointment, action, now, zone)
        elif action == "reopen":
            desk.reopen(db.session, actor, appointment, now, zone)
        else:
            booking.cancel(db.session, actor, appointment, request.form.get("motif", ""))
    except FieldError as error:
        unit_of_work.discard()
        if wants_fragment():
            return _block(_appointment_or_404(appointment_id), 422, str(error), cancelling=action == "cancel")
        flash(str(error), "error")
        return render_desk(422, day)  # the desk of the visit's day, saying why
    if wants_fragment():
        return _block(appointment, message=DONE[action])
    flash(DONE[action], "success")
    return redirect(url_for("core.home", jour=day.isoformat()), 303)


@bp.route("/bureau/rdv/<int:appointment_id>/arrivee", methods=["POST"])
@roles(*DESK)
def arrive(appointment_id: int):
    return _act(appointment_id, "arrive")


@bp.route("/bureau/rdv/<int:appointment_id>/annuler-arrivee", methods=["POST"])
@roles(*DESK)
def undo_arrival(appointment_id: int):
    return _act(appointment_id, "undo_arrival")


@bp.route("/bureau/rdv/<int:appointment_id>/vu", methods=["POST"])
@roles(*DESK)
def honoured(appointment_id: int):
    return _act(appointment_id, "honoured")


@bp.route("/bureau/rdv/<int:appointment_id>/non-venu", methods=["POST"])
@roles(*DESK)
def no_show(appointment_id: int):
    return _act(appointment_id, "no_show")


@bp.route("/bureau/rdv/<int:appointment_id>/prevu", methods=["POST"])
@roles(*DESK)
def reopen(appointment_id: int):
    return _act(appointment_id, "reopen")


@bp.route("/bureau/rdv/<int:appointment_id>/annuler", methods=["GET", "POST"])
@roles(*BOOKERS)
def cancel(appointment_id: int):
    """GET: the block with the reason to type (htmx), or a page of its own without JavaScript."""
    if request.method == "POST":
        return _act(appointment_id, "cancel")
    appointment = _appointment_or_404(appointment_id)
    patients.record_view(db.session, current_staff(), appointment.patient_id, "annulation depuis l'accueil")
    if wants_fragment():
        return _block(appointment, cancelling=True)
    zone = site_zone()
    return render_template(
        "desk/cancel.html",
        a=appointment,
        actions=desk.actions(appointment, clock.now(), zone),
        cancelling=True,
        may_cancel=True,
        message="",
        zone=zone,
        back=desk.local_day(appointment.starts_at, zone).isoformat(),
    )


@bp.route("/bureau/compteurs")
@roles(*DESK)
def counts():
    """The day's counts alone, refreshed by htmx after each action (HX-Trigger: desk-changed)."""
    day = requested_day()
    counted = desk.counts(agenda.visits_between(db.session, day, day, site_zone(), with_cancelled=True))
    response = make_response(render_block("desk/desk.html", "counts", day=day, counts=counted))
    response.vary.add("HX-Request")
    return response


@bp.route("/bureau/feuille")
@roles(*DESK)
def day_sheet():
    """« Feuille du jour »: the day's visits by time, to print."""
    day = requested_day()
    appointments = agenda.visits_between(db.session, day, day, site_zone())
    page = render_template("desk/sheet.html", day=day, appointments=appointments, zone=site_zone())
    patients.record_list_view(
        db.session,
        current_staff(),
        [a.patient_id for a in appointments],
        f"feuille du jour du {day:%d/%m/%Y}",
    )
    return page


FOLLOWED = (PatientStatus.FOLLOW_UP, PatientStatus.REFERRED, PatientStatus.WAITING_LIST)
FOUND = 10  # patients listed for a free slot: the search narrows, it does not page
UNREADABLE_SLOT = "Créneau illisible : choisissez-le dans les créneaux libres de l'accueil."


def _free_slot_args(creneau: str) -> tuple[datetime, TeamMember | None]:
    """The slot as the desk links it (its start in UTC, its clinician's id), or 400."""
    start_text, _, member_text = creneau.partition("_")
    try:
        start = booking.slot_start(start_text)
    except ValueError:
        abort(400, description=UNREADABLE_SLOT)
    member_id = parse_id(member_text)
    if member_id is None or not clock.within_range(start.date()):
        abort(400, description=UNREADABLE_SLOT)
    return start, db.session.get(TeamMember, member_id)


def _free_slot_page(creneau: str, status: int = 200, message: str = ""):
    """« Consultation sans rendez-vous à 10h30 avec X »: a patient search, and per patient found
    the button that records the walk-in (the slot is now) or books the slot (later today)."""
    start, member = _free_slot_args(creneau)
    try:
        kind = desk.slot_kind(member)
        use = desk.slot_use(start, clock.now(), site_zone())
    except FieldError as error:
        abort(422, description=str(error))
    q = request.values.get("q", "").strip()[:100]
    found: list[Patient] = []
    if q:
        found = patients.first_found(db.session, q, list(FOLLOWED), FOUND)
    response = render_page(
        "desk/free_slot.html",
        "found",
        start=start,
        member=member,
        kind=kind,
        creneau=creneau,
        use=use,
        q=q,
        found=found,
        message=message,
    )
    patients.record_list_view(
        db.session, current_staff(), [p.id for p in found], "créneau libre de l'accueil"
    )
    response.status_code = status
    return response


@bp.route("/bureau/creneau/<creneau>")
@roles(*BOOKERS)
def free_slot(creneau: str):
    return _free_slot_page(creneau)


@bp.route("/bureau/creneau/<creneau>", methods=["POST"])
@roles(*BOOKERS)
def walk_in(creneau: str):
    """The walk-in recorded in a free slot that begins now (booking.record_walk_in's rules)."""
    start, member = _free_slot_args(creneau)
    patient = db.session.get(Patient, parse_id(request.form.get("patient_id")) or 0) or abort(404)
    try:
        desk.walk_in_in_slot(
            db.session,
            current_staff(),
            patient,
            member,
            start,
            centre.load(db.session).visits,
            site_zone(),
            now=clock.now(),
        )
    except FieldError as error:
        unit_of_work.discard()
        return _free_slot_page(creneau, 409 if isinstance(error, booking.SlotTaken) else 422, str(error))
    flash(f"Consultation sans rendez-vous enregistrée : {patient.full_name}.", "success")
    return redirect(url_for("core.home"), 303)
