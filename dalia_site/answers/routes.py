"""« Votre rendez-vous »: the patient's private page, reached from a reminder or the convocation
(public, no account). It shows the date, time and place and the first letter of the name only;
the patient confirms, cancels (through the desk's own cancellation) or stops the reminders.
Rate-limited, audited; an unknown link is a 404."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from dalia_site import clock
from dalia_site.access import public
from dalia_site.answers.forms import AnswerForm
from dalia_site.domain import centre, reminders, rights
from dalia_site.extensions import db
from dalia_site.forms import submit
from dalia_site.models import PatientLink
from dalia_site.models.vocabulary import Purpose
from dalia_site.rate_limits import Limit, rate_limited

bp = Blueprint("answers", __name__, template_folder="templates")

# Per address, every try at an unknown link and every answer; per link, its answers.
ADDRESS_LIMIT, LINK_LIMIT, WINDOW = 30, 10, timedelta(hours=1)
DONE = {
    "confirmer": "Merci : votre venue est confirmée.",
    "annuler": "Votre rendez-vous est annulé. Appelez le centre pour en reprendre un.",
    "stop": "Vous ne recevrez plus de rappels de rendez-vous.",
}


def _link(token: str) -> PatientLink | None:
    """The link behind `token`, read once per request (the limits and the view all ask)."""
    if "patient_link" not in g:
        g.patient_link = reminders.find_link(db.session, token) if len(token) <= 64 else None
    link: PatientLink | None = g.patient_link
    return link


def _address_counted(token: str) -> str | None:
    return request.remote_addr if request.method == "POST" or _link(token) is None else None


def _link_counted(token: str) -> str | None:
    link = _link(token)
    return str(link.id) if link is not None else None


def _page(link: PatientLink, form: AnswerForm, status: int = 200):
    appointment = link.appointment
    return (
        render_template(
            "answers/appointment.html",
            appointment=appointment,
            initial=appointment.patient.last_name[:1].upper(),
            state=reminders.state(appointment, clock.now()),
            reminded=rights.may(appointment.patient, Purpose.REMINDERS),
            centre=centre.load(db.session),
            form=form,
        ),
        status,
    )


@bp.route("/rdv/<token>", methods=["GET", "POST"])
@public
@rate_limited(
    Limit("patient-link", LINK_LIMIT, WINDOW, key=_link_counted),
    Limit("patient-link-ip", ADDRESS_LIMIT, WINDOW, key=_address_counted, methods=frozenset({"GET", "POST"})),
)
def appointment(token: str):
    link = _link(token)
    if link is None:
        abort(404)
    form = AnswerForm()
    appointment = link.appointment
    if request.method == "GET":
        reminders.record_view(db.session, appointment, request.remote_addr)
        return _page(link, form)
    answer = form.answer.data
    ip = request.remote_addr

    def answered() -> None:
        if answer == "stop":
            reminders.stop_reminders(db.session, appointment.patient, ip)
        elif answer == "annuler":
            reminders.cancel(db.session, appointment, form.reason.data or "", ip, now=clock.now())
        else:
            reminders.confirm(db.session, appointment, ip, now=clock.now())

    ok, _ = submit(form, answered)
    if not ok:
        g.pop("patient_link")  # read again: the refusal rolled the session back
        link = _link(token)
        assert link is not None  # links are never deleted but with their appointment
        closed = reminders.state(link.appointment, clock.now()) != "open" and answer != "stop"
        return _page(link, form, 409 if closed else 422)
    flash(DONE[str(answer)], "success")
    return redirect(url_for("answers.appointment", token=token), 303)
