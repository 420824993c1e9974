"""Patients' rights and the data protection pages: the access document (printable and JSON), the
erasure on request, « Données personnelles » (the register for the team, what retention erases
next and its periods for the admin), and the public information notice."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from dalia_site import clock
from dalia_site.access import current_staff, public, roles
from dalia_site.domain import access, audit, patients, register, retention
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import submit
from dalia_site.models import Patient
from dalia_site.rights.forms import ErasureForm, RetentionForm

bp = Blueprint("rights", __name__, template_folder="templates")

TEAM = ("admin", "assistant", "clinician")


def _patient_or_404(patient_id: int) -> Patient:
    return patients.find(db.session, patient_id) or abort(404)


def _access_or_404(patient_id: int) -> access.Context:
    return access.load(db.session, patient_id, site_zone()) or abort(404)


@bp.route("/patients/<int:patient_id>/droit-acces")
@roles("admin")
def access_document(patient_id: int):
    """Everything the site holds about the patient, to print and hand over (audited)."""
    context = _access_or_404(patient_id)
    patient = context.patient
    audit.record(
        db.session, current_staff(), "patient.access", "patient", patient.id, "Droit d'accès : document"
    )
    return render_template(
        "rights/access.html", patient=patient, sections=access.document(context), produced_at=clock.now()
    )


@bp.route("/patients/<int:patient_id>/droit-acces.json")
@roles("admin")
def access_json(patient_id: int):
    context = _access_or_404(patient_id)
    patient = context.patient
    audit.record(db.session, current_staff(), "patient.access", "patient", patient.id, "Droit d'accès : JSON")
    body = access.as_json(access.document(context), patient, current_app.config["SITE"]["name"], clock.now())
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="droit-acces-patient-{patient.id}.json"'
    return response


@bp.route("/patients/<int:patient_id>/effacement", methods=["GET", "POST"])
@roles("admin")
def erase(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = ErasureForm()
    if request.method == "GET":
        patients.record_view(db.session, current_staff(), patient.id, "effacement")
        return render_template("rights/erase.html", patient=patient, form=form)
    ok, _ = submit(
        form,
        lambda: retention.erase_on_request(
            db.session, current_staff(), patient, form.reason.data or "", now=clock.now()
        ),
    )
    if not ok:
        return render_template("rights/erase.html", patient=patient, form=form), 422
    flash(f"Identité du patient n° {patient.id} effacée.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id), 303)


def _personal_data(form: RetentionForm | None = None, status: int = 200):
    """The page; `form`: the periods as posted (refused), else the periods as they are."""
    settings = current_app.config["SITE_SETTINGS"]
    facts = register.build(db.session, settings)
    periods = retention.Periods(facts.inactive_years, facts.declined_years)
    if form is None:
        form = RetentionForm(
            data={"inactive_years": periods.inactive_years, "declined_years": periods.declined_years}
        )
    is_admin = current_staff().role == "admin"
    coming = retention.coming(db.session, now=clock.now(), periods=periods) if is_admin else None
    return render_template(
        "rights/personal_data.html",
        register=facts,
        coming=coming,
        is_admin=is_admin,
        form=form,
    ), status


@bp.route("/donnees-personnelles")
@roles(*TEAM)
def personal_data():
    return _personal_data()


@bp.route("/donnees-personnelles/conservation", methods=["POST"])
@roles("admin")
def retention_periods():
    form = RetentionForm()
    ok, changed = submit(
        form,
        lambda: retention.update_periods(
            db.session, current_staff(), form.inactive_years.data, form.declined_years.data
        ),
    )
    if not ok:
        return _personal_data(form, 422)
    flash("Durées de conservation enregistrées." if changed else "Aucune modification.", "success")
    return redirect(url_for("rights.personal_data"), 303)


@bp.route("/informations-patients")
@public
def notice():
    """The public information notice (linked from the partner's form and the patient's page)."""
    return render_template(
        "rights/notice.html",
        register=register.build(db.session, current_app.config["SITE_SETTINGS"]),
    )
