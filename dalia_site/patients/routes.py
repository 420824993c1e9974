"""Patients: search, the patient page (every view audited), identity, status, DAC handover."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from dalia_site import clock
from dalia_site.access import current_staff, may_access, roles
from dalia_site.domain import booking, follow_up, patients, reminders, rights
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import choices, submit
from dalia_site.htmx import render_page
from dalia_site.listing import page_number, paginate
from dalia_site.models import Patient
from dalia_site.models.vocabulary import AppointmentKind, PatientStatus, Purpose
from dalia_site.referrals.forms import DacHandoverForm, PatientForm, ReminderChannelForm, StatusForm

bp = Blueprint("patients", __name__, url_prefix="/patients", template_folder="templates")

READERS = ("admin", "assistant", "clinician")
EDITORS = ("admin", "assistant")
PAGE_SIZE = 25


@bp.route("")
@roles(*READERS)
def index():
    q = request.args.get("q", "").strip()[:100]
    status = request.args.get("statut", "")
    statuses = [status] if PatientStatus.has(status) else []
    query, found = patients.listed(db.session, q, statuses, page_number() * PAGE_SIZE)
    page = paginate(query, PAGE_SIZE, found.total, found.known)
    response = render_page(
        "patients/index.html", "results", page=page, q=q, status=status, statuses=PatientStatus
    )
    patients.record_list_view(
        db.session, current_staff(), [p.id for p in page.items], "recherche de patients"
    )
    return response


def _patient_or_404(patient_id: int) -> Patient:
    """The patient with the referrals their page shows."""
    return patients.find(db.session, patient_id) or abort(404)


def _patient_alone_or_404(patient_id: int) -> Patient:
    """The patient without their referrals (the identity form, the follow-up page)."""
    return db.session.get(Patient, patient_id) or abort(404)


def _status_form(patient: Patient) -> StatusForm:
    """The status control shows the patient's current status selected, then the ones staff may
    set by hand (a status that follows from triage is listed first, as it is)."""
    form = StatusForm()
    current = [] if patient.status in patients.MANUAL_STATUSES else [patient.status]
    form.status.choices = choices(PatientStatus.choices([*current, *patients.MANUAL_STATUSES]))
    form.status.label.text = "Statut du patient"
    if not form.status.data:
        form.status.data = patient.status.value
    return form


def _show(patient: Patient, status: int = 200, **forms):
    """The patient page (traced: every reading of a file is, whatever the outcome shown)."""
    appointments = booking.appointments_of(db.session, patient.id)
    now = clock.now()
    upcoming, past = booking.split_upcoming(appointments, now)
    page = render_template(
        "patients/show.html",
        patient=patient,
        timeline=patients.timeline(patient, appointments, now, site_zone()),
        objections=rights.objections(patient),
        rectifications=rights.rectifications(db.session, patient.id),
        follow=follow_up.summary(db.session, patient.id),
        dac=patients.territory_dac(db.session),
        status_form=forms.get("status_form") or _status_form(patient),
        dac_form=forms.get("dac_form") or DacHandoverForm(),
        reminder_form=forms.get("reminder_form")
        or ReminderChannelForm(reminder_channel=patient.reminder_channel.value),
        can_edit=may_access(current_staff(), "patients.edit"),
        may_book=booking.may_book(patient),
        upcoming=upcoming,
        past=past,
        past_lines={a.id: patients.visit_line(a) for a in past},
        marks={a.id: booking.marks_offered(a, now) for a in appointments},
        clinicians=patients.clinicians(db.session),
        kinds=AppointmentKind,
        zone=site_zone(),
        proposed=booking.next_kind(appointments),
        # The slot picker's choices (booking/_slots.html), before any choice is made.
        slot_message="",
        override_reason="",
        reschedule=None,
    )
    patients.record_view(db.session, current_staff(), patient.id)
    return page, status


@bp.route("/<int:patient_id>")
@roles(*READERS)
def show(patient_id: int):
    return _show(_patient_or_404(patient_id))


@bp.route("/<int:patient_id>/modifier", methods=["GET", "POST"])
@roles(*EDITORS)
def edit(patient_id: int):
    patient = _patient_alone_or_404(patient_id)
    form = PatientForm(obj=patient)
    # The labels agree with the patient's sex (« Informée », « S'est opposé »).
    form.informed_on.label.text = f"{patient.sex.agree('Informé')} de l'usage de ses données le"
    form.objected.label.text = f"S'est {patient.sex.agree('opposé')} au partage de ses données avec le DAC"
    form.objects_to_gp_search.label.text = (
        f"Refuse d'être {patient.sex.agree('contacté')} pour la recherche d'un médecin traitant"
    )
    if request.method == "GET":
        patients.record_view(db.session, current_staff(), patient.id, "formulaire de modification")
        return render_template("patients/form.html", form=form, patient=patient)
    duplicates: list = []

    def update() -> bool:
        try:
            return patients.update_identity(
                db.session,
                current_staff(),
                patient,
                form.identity(),
                form.informed_on.data,
                form.objected.data,
                today=clock.today(site_zone()),
                not_duplicate=form.not_duplicate.data,
                objections={
                    Purpose.REMINDERS: form.objects_to_reminders.data,
                    Purpose.GP_SEARCH: form.objects_to_gp_search.data,
                },
            )
        except patients.PossibleDuplicate as error:
            duplicates.extend(error.others)  # shown to the assistant, who decides
            raise

    ok, changed = submit(form, update)
    if not ok:
        patients.record_view(db.session, current_staff(), patient.id, "formulaire de modification")
        if duplicates:
            patients.record_list_view(
                db.session, current_staff(), [other.id for other in duplicates], "doublons possibles"
            )
        return render_template("patients/form.html", form=form, patient=patient, duplicates=duplicates), 422
    flash("Dossier mis à jour." if changed else "Aucune modification.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


@bp.route("/<int:patient_id>/statut", methods=["POST"])
@roles(*READERS)
def set_status(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = _status_form(patient)
    ok, _ = submit(
        form,
        lambda: patients.set_status(db.session, current_staff(), patient, form.status.data, now=clock.now()),
    )
    if not ok:
        return _show(_patient_or_404(patient_id), 422, status_form=form)
    flash(f"Statut : {patient.status_label}.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


@bp.route("/<int:patient_id>/dac", methods=["POST"])
@roles(*READERS)
def dac_handover(patient_id: int):
    patient = _patient_or_404(patient_id)
    form = DacHandoverForm()
    ok, _ = submit(
        form,
        lambda: patients.record_dac_handover(
            db.session,
            current_staff(),
            patient,
            form.handover_on.data,
            form.patient_informed.data,
            form.gp_informed.data,
            today=clock.today(site_zone()),
        ),
    )
    if not ok:
        return _show(_patient_or_404(patient_id), 422, dac_form=form)
    flash("Transmission au DAC enregistrée.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


@bp.route("/<int:patient_id>/rappels", methods=["POST"])
@roles(*EDITORS)
def reminder_channel(patient_id: int):
    """How the patient wants their reminders (SMS, email, none: their opt-out), on the file."""
    patient = _patient_or_404(patient_id)
    form = ReminderChannelForm()
    ok, changed = submit(
        form, lambda: reminders.set_channel(db.session, current_staff(), patient, form.reminder_channel.data)
    )
    if not ok:
        return _show(_patient_or_404(patient_id), 422, reminder_form=form)
    flash(f"Rappels : {patient.reminder_channel.label}." if changed else "Aucune modification.", "success")
    return redirect(url_for("patients.show", patient_id=patient_id), 303)


from dalia_site.patients import follow_up as _follow_up_routes  # noqa: E402,F401  (its routes join this blueprint)
