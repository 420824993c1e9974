"""The worklists: « À recontacter », « Liste d'attente », « Non venus » (each page's filters
swap its rows with htmx), their counts for the navigation, and the actions taken from them:
a contact attempt, a patient taken off the waiting list into a slot, a freed slot withdrawn."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, roles
from dalia_site.domain import centre, follow_up, patients, worklists
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import parse_id
from dalia_site.htmx import render_page
from dalia_site.listing import page_number
from dalia_site.models import Patient
from dalia_site.models.vocabulary import AppointmentKind, ContactOutcome

bp = Blueprint("worklists", __name__, url_prefix="/listes", template_folder="templates")

STAFF = ("admin", "assistant", "clinician")
BOOKERS = ("admin", "assistant")
CHANGED = {"HX-Trigger": "worklists-changed"}
# Where a contact attempt sends back to: the list it was made from, or the patient's follow-up.
BACK = {"recall": "worklists.recall", "no_shows": "worklists.no_shows"}


def _page_of(found: worklists.Worklist) -> worklists.Worklist:
    """A page past the end of a list is a 404 (page 1 of an empty list is not)."""
    if found.page > 1 and not found.rows:
        abort(404)
    return found


def _traced(rows, what: str) -> None:
    patients.record_list_view(db.session, current_staff(), [row.patient.id for row in rows], what)


@bp.route("/a-recontacter")
@roles(*STAFF)
def recall():
    overdue_only = request.args.get("vue") == "retard"
    found = _page_of(
        worklists.recall(db.session, now=clock.now(), overdue_only=overdue_only, page=page_number())
    )
    response = render_page(
        "worklists/recall.html",
        "rows",
        found=found,
        overdue_only=overdue_only,
        outcomes=ContactOutcome,
        may_book=current_staff().role in BOOKERS,
    )
    _traced(found.rows, "liste « À recontacter »")
    return response


@bp.route("/liste-d-attente")
@roles(*STAFF)
def waiting():
    now, zone = clock.now(), site_zone()
    settings = centre.load(db.session)
    raw = parse_id(request.args.get("depuis", ""))
    min_days = raw if raw in worklists.WAITED_DAYS else 0
    found = worklists.waiting_with_slots(
        db.session, now=now, zone=zone, visits=settings.visits, opening=settings.opening, min_days=min_days
    )
    response = render_page(
        "worklists/waiting.html",
        "rows",
        found=found,
        min_days=min_days,
        choices=worklists.WAITED_DAYS,
        offered=[row for row in found.rows if row.offer],
        offer_choice=worklists.offer_choice,
        may_book=current_staff().role in BOOKERS,
    )
    _traced(found.rows, "liste d'attente")
    return response


def _weeks() -> int:
    raw = parse_id(request.args.get("semaines", ""))
    return raw if raw in worklists.NO_SHOW_WEEKS else worklists.DEFAULT_NO_SHOW_WEEKS


@bp.route("/non-venus")
@roles(*STAFF)
def no_shows():
    weeks = _weeks()
    flag_after = centre.load(db.session).no_show_flag_after
    found = _page_of(
        worklists.no_shows(
            db.session, now=clock.now(), weeks=weeks, flag_after=flag_after, page=page_number()
        )
    )
    response = render_page(
        "worklists/no_shows.html",
        "rows",
        found=found,
        weeks=weeks,
        choices=worklists.NO_SHOW_WEEKS,
        flag_after=flag_after,
        outcomes=ContactOutcome,
    )
    _traced(found.rows, "liste « Non venus »")
    return response


@bp.route("/compteurs")
@roles(*STAFF)
def counts():
    """The navigation's counts (fetched by the layout once loaded, and again when a list
    changes): swapped out of band into each link."""
    return render_template(
        "worklists/_counts.html",
        counts=worklists.counts(db.session, now=clock.now()),
        cap=worklists.NAV_COUNT_CAP,
    )


def _patient_or_404(patient_id: int) -> Patient:
    return db.session.get(Patient, patient_id) or abort(404)


def _refused(error: FieldError):
    unit_of_work.discard()
    abort(422, description=str(error))


@bp.route("/appels/<int:patient_id>", methods=["POST"])
@roles(*STAFF)
def contact(patient_id: int):
    """A contact attempt (appelé, message laissé, injoignable, ne souhaite plus venir)."""
    patient = _patient_or_404(patient_id)
    try:
        attempt = follow_up.record_contact(
            db.session, current_staff(), patient, request.form.get("outcome", ""), now=clock.now()
        )
    except FieldError as error:
        return _refused(error)
    flash(f"{patient.full_name} : « {attempt.outcome_label} » noté.", "success")
    back = BACK.get(request.values.get("retour", ""))  # the form's action says where it was
    target = url_for(back) if back else url_for("patients.follow_up_page", patient_id=patient.id)
    return redirect(target, 303)


@bp.route("/liste-d-attente/<int:patient_id>/accepter", methods=["POST"])
@roles(*BOOKERS)
def accept(patient_id: int):
    """Off the waiting list into the pair's first visit: the referral is accepted, then the
    slot offered is confirmed on booking's own page (or the picker opens on first visits)."""
    patient = _patient_or_404(patient_id)
    try:
        worklists.accept_from_waiting_list(
            db.session, current_staff(), patient, current_app.config["SITE"]["name"], now=clock.now()
        )
    except FieldError as error:
        return _refused(error)
    slot = request.form.get("creneau", "")
    flash(f"{patient.full_name} quitte la liste d'attente : confirmez sa première consultation.", "success")
    if slot and len(slot) < 80:
        return redirect(
            url_for("booking.confirm", patient_id=patient.id, kind=AppointmentKind.FIRST.value, creneau=slot),
            303,
        )
    return redirect(url_for("booking.slots", patient_id=patient.id, kind=AppointmentKind.FIRST.value), 303)


@bp.route("/creneaux-liberes/<int:offer_id>/retirer", methods=["POST"])
@roles(*BOOKERS)
def dismiss_offer(offer_id: int):
    try:
        worklists.dismiss_offer(db.session, current_staff(), offer_id)
    except FieldError as error:
        return _refused(error)
    flash("Créneau retiré de la liste d'attente (il reste libre dans l'agenda).", "success")
    return redirect(url_for("worklists.waiting"), 303)
