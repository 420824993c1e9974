"""A patient's follow-up page: the plan made at the pair's first visit, the contact attempts,
the search for a médecin traitant and, once found, the printable liaison letter. Every view of
it is traced; every change is audited by the domain."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, roles
from dalia_site.domain import booking, follow_up, patients, rights
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import choices, submit
from dalia_site.models import Patient
from dalia_site.models.vocabulary import ContactOutcome, GpAnswer, PatientStatus, Purpose
from dalia_site.patients.forms import GpStepForm, PlanForm
from dalia_site.patients.routes import READERS, _patient_alone_or_404, bp


def _step_form(gps) -> GpStepForm:
    form = GpStepForm()
    form.partner_id.choices = choices([("", "— choisir —")] + [(str(gp.id), _gp_label(gp)) for gp in gps])
    return form


def _gp_label(gp) -> str:
    where = f" ({gp.commune})" if gp.commune else ""
    return f"{gp.name}{where} — nouveaux patients : {(gp.accepts_label or 'à vérifier').lower()}"


def _page(
    patient: Patient,
    status: int = 200,
    plan_form: PlanForm | None = None,
    step_form: GpStepForm | None = None,
):
    summary = follow_up.summary(db.session, patient.id)
    assert summary is not None
    objected = not rights.may(patient, Purpose.GP_SEARCH)
    searching = patient.status == PatientStatus.FOLLOW_UP and not objected
    gps = follow_up.general_practitioners(db.session) if searching else []
    if plan_form is None:
        plan_form = PlanForm(obj=summary.plan) if summary.plan else PlanForm()
        if summary.plan is not None:
            plan_form.azalee_protocols.data = [p.value for p in summary.protocols]
            plan_form.preferred_nurse.data = summary.plan.preferred_nurse.value
    if step_form is None:
        step_form = _step_form(gps)
        step_form.contacted_on.data = clock.today(site_zone())
    page = render_template(
        "patients/follow_up.html",
        patient=patient,
        summary=summary,
        plan_form=plan_form,
        step_form=step_form,
        attempts=follow_up.attempts_of(db.session, patient.id),
        steps=follow_up.steps_of(db.session, patient.id),
        searching=searching,
        objected=objected,
        followed=patient.status in follow_up.FOLLOWED,
        outcomes=ContactOutcome,
        answers=(GpAnswer.ACCEPTS, GpAnswer.DECLINES),
    )
    patients.record_view(db.session, current_staff(), patient.id, "suivi et médecin traitant")
    return page, status


@bp.route("/<int:patient_id>/suivi")
@roles(*READERS)
def follow_up_page(patient_id: int):
    return _page(_patient_alone_or_404(patient_id))


@bp.route("/<int:patient_id>/plan", methods=["POST"])
@roles(*READERS)
def save_plan(patient_id: int):
    patient = _patient_alone_or_404(patient_id)
    form = PlanForm()
    ok, changed = submit(
        form, lambda: follow_up.save_plan(db.session, current_staff(), patient, form.values())
    )
    if not ok:
        return _page(patient, 422, plan_form=form)
    flash("Plan de suivi enregistré." if changed else "Aucune modification du plan.", "success")
    return redirect(url_for("patients.follow_up_page", patient_id=patient_id), 303)


@bp.route("/<int:patient_id>/medecin-traitant", methods=["POST"])
@roles(*READERS)
def gp_step(patient_id: int):
    """A médecin généraliste contacted, and the answer (« accepte »: the search ends)."""
    patient = _patient_alone_or_404(patient_id)
    form = _step_form(follow_up.general_practitioners(db.session))
    ok, step = submit(
        form,
        lambda: follow_up.record_gp_step(
            db.session,
            current_staff(),
            patient,
            form.partner_id.data,
            form.contacted_on.data,
            form.answer.data,
            today=clock.today(site_zone()),
            now=clock.now(),
        ),
    )
    if not ok:
        return _page(patient, 422, step_form=form)
    flash(_step_message(patient, step), "success")
    return redirect(url_for("patients.follow_up_page", patient_id=patient_id), 303)


def _step_message(patient: Patient, step) -> str:
    if patient.status == PatientStatus.GP_FOUND:
        return f"Médecin traitant trouvé : {patient.gp_name}. Le courrier de liaison est prêt."
    return f"Démarche enregistrée : {step.answer_label.lower()}."


@bp.route("/<int:patient_id>/medecin-traitant/<int:step_id>", methods=["POST"])
@roles(*READERS)
def gp_answer(patient_id: int, step_id: int):
    patient = _patient_alone_or_404(patient_id)
    try:
        step = follow_up.answer_gp_step(
            db.session, current_staff(), patient, step_id, request.form.get("answer", ""), now=clock.now()
        )
    except FieldError as error:
        unit_of_work.discard()
        abort(422, description=str(error))
    flash(_step_message(patient, step), "success")
    return redirect(url_for("patients.follow_up_page", patient_id=patient_id), 303)


@bp.route("/<int:patient_id>/courrier-medecin-traitant")
@roles(*READERS)
def liaison_letter(patient_id: int):
    """The printable liaison letter to the new médecin traitant."""
    patient = _patient_alone_or_404(patient_id)
    try:
        content = follow_up.letter(db.session, patient, booking.appointments_of(db.session, patient.id))
    except FieldError as error:
        abort(409, description=str(error))
    page = render_template("patients/letter.html", letter=content, today=clock.today(site_zone()))
    patients.record_view(db.session, current_staff(), patient.id, "courrier de liaison")
    return page
