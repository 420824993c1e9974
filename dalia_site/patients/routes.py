"""Patients: search, the patient page (every view audited), identity, status, DAC handover."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dalia_site.access import may_access, roles
from dalia_site.domain import patients
from dalia_site.domain.text import contains_all_words
from dalia_site.extensions import db
from dalia_site.forms import choices, submit
from dalia_site.htmx import render_page
from dalia_site.listing import paginate
from dalia_site.models import Patient, Referral
from dalia_site.models.patients import PATIENT_STATUSES
from dalia_site.referrals.forms import DacHandoverForm, PatientForm, StatusForm

bp = Blueprint("patients", __name__, url_prefix="/patients", template_folder="templates")

READERS = ("admin", "assistant", "clinician")
EDITORS = ("admin", "assistant")
PAGE_SIZE = 25


@bp.route("")
@roles(*READERS)
def index():
    q = request.args.get("q", "").strip()[:100]
    status = request.args.get("statut", "")
    query = select(Patient).where(*contains_all_words(Patient.search_text, q))
    if status in PATIENT_STATUSES:
        query = query.where(Patient.status == status)
    query = query.order_by(func.lower(Patient.last_name), func.lower(Patient.first_names),
                           Patient.id)
    page = paginate(query, PAGE_SIZE)
    return render_page("patients/index.html", "results", page=page, q=q, status=status,
                       statuses=PATIENT_STATUSES)


def _patient_or_404(patient_id: int) -> Patient:
    patient = db.session.scalar(select(Patient).where(Patient.id == patient_id).options(
        selectinload(Patient.referrals).selectinload(Referral.source)))
    if patient is None:
        abort(404)
    return patient


def _status_form(patient: Patient) -> StatusForm:
    form = StatusForm()
    form.status.choices = choices((s, PATIENT_STATUSES[s]) for s in patients.MANUAL_STATUSES
                                  if s != patient.status)
    return form


def _show(patient: Patient, status: int = 200, status_form=None, dac_form=None):
    return render_template(
        "patients/show.html", patient=patient, timeline=patients.timeline(db.session, patient),
        dac=patients.territory_dac(db.session), status_form=status_form or _status_form(patient),
        dac_form=dac_form or DacHandoverForm(), can_edit=may_access(current_user, "patients.edit"),
    ), status


@bp.route("/<int:patient_id>")
@roles(*READERS)
def show(patient_id: int):
    patient = _patient_or_404(patient_id)
    patients.record_view(db.session, current_user, patient)
    db.session.commit()
    return _show(patient)


@bp.route("/<int:patient_id>/modifier", methods=["GET", "POST"])
@roles(*EDITORS)
def edit(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = PatientForm(obj=patient)
    if request.method == "GET":
        patients.record_view(db.session, current_user, patient, "formulaire de modification")
        db.session.commit()
        return render_template("patients/form.html", form=form, patient=patient)
    ok, changed = submit(form, lambda: patients.update_identity(
        db.session, current_user, patient, form.identity(), form.informed_on.data,
        form.objected.data))
    if not ok:
        return render_template("patients/form.html", form=form, patient=patient), 422
    flash("Dossier mis à jour." if changed else "Aucune modification.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


@bp.route("/<int:patient_id>/statut", methods=["POST"])
@roles(*READERS)
def set_status(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = _status_form(patient)
    ok, _ = submit(form, lambda: patients.set_status(db.session, current_user, patient,
                                                     form.status.data))
    if not ok:
        return _show(patient, 422, status_form=form)
    flash(f"Statut : {patient.status_label}.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


@bp.route("/<int:patient_id>/dac", methods=["POST"])
@roles(*READERS)
def dac_handover(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = DacHandoverForm()
    ok, _ = submit(form, lambda: patients.record_dac_handover(
        db.session, current_user, patient, form.handover_on.data, form.patient_informed.data,
        form.gp_informed.data))
    if not ok:
        return _show(patient, 422, dac_form=form)
    flash("Transmission au DAC enregistrée.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)
