"""A patient's next steps: the follow-up plan made at the pair's first visit (organisational
only, never clinical notes), the attempts to reach them, and the search for a médecin traitant
up to the liaison letter. Every change is audited with its author."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median
from typing import Any, NamedTuple

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import joinedload

from dalia_site.database import DbSession
from dalia_site.domain import audit, patients, rights
from dalia_site.domain.booking import FileVisit
from dalia_site.domain.text import Collector, FieldError, choice
from dalia_site.models import (
    Appointment,
    CentreSettings,
    ContactAttempt,
    FollowUpPlan,
    GpSearchStep,
    PartnerOrganisation,
    Patient,
    StaffUser,
)
from dalia_site.models.follow_up import MAX_CADENCE_WEEKS, MIN_CADENCE_WEEKS
from dalia_site.models.vocabulary import (
    AcceptsPatients,
    AppointmentStatus,
    AzaleeProtocol,
    ContactOutcome,
    GpAnswer,
    GpStatus,
    PartnerCategory,
    PatientStatus,
    PreferredNurse,
    Purpose,
)

# A patient in follow-up without a plan yet is due again this many weeks after their last visit.
DEFAULT_CADENCE_WEEKS = 8
# Whom a plan, a recall or the pathway applies to: the patients the centre follows.
FOLLOWED = (PatientStatus.FOLLOW_UP, PatientStatus.GP_FOUND)


# --- The follow-up plan -------------------------------------------------------------------------


def plan_of(session: DbSession, patient_id: int) -> FollowUpPlan | None:
    return session.scalar(select(FollowUpPlan).where(FollowUpPlan.patient_id == patient_id))


def protocols(plan: FollowUpPlan | Plan | None) -> list[AzaleeProtocol]:
    """The plan's Azalée protocols, in the list's order."""
    codes = set((plan.azalee_protocols if plan else "").split(","))
    return [protocol for protocol in AzaleeProtocol if protocol.value in codes]


def _cadence(value: object) -> int:
    try:
        weeks = int(str(value).strip())
    except ValueError:
        raise FieldError("cadence_weeks", "Indiquez un nombre de semaines (ex. 6).") from None
    if not MIN_CADENCE_WEEKS <= weeks <= MAX_CADENCE_WEEKS:
        raise FieldError(
            "cadence_weeks", f"Entre {MIN_CADENCE_WEEKS} et {MAX_CADENCE_WEEKS} semaines entre deux visites."
        )
    return weeks


def clean_plan(values: Mapping[str, object]) -> dict[str, object]:
    """The plan as the form sent it, validated: FieldErrors names every field at fault."""
    raw_protocols = values.get("azalee_protocols") or []
    chosen = [raw_protocols] if isinstance(raw_protocols, str) else list(raw_protocols)  # type: ignore[call-overload]
    with Collector() as check:
        cadence = check("cadence_weeks", _cadence, values.get("cadence_weeks"))
        nurse = check(
            "preferred_nurse",
            choice,
            "preferred_nurse",
            values.get("preferred_nurse"),
            PreferredNurse,
            "Choisissez l'infirmière du suivi.",
        )
        if not all(AzaleeProtocol.has(code) for code in chosen):
            check.errors["azalee_protocols"] = "Choisissez les protocoles dans la liste."
        elif chosen and nurse not in (None, PreferredNurse.AZALEE):
            check.errors["azalee_protocols"] = (
                "Les protocoles Azalée vont avec un suivi par l'infirmière Azalée."
            )
    return {
        "cadence_weeks": cadence,
        "preferred_nurse": nurse,
        "azalee_protocols": ",".join(p.value for p in AzaleeProtocol if p.value in chosen),
        "etp": bool(values.get("etp")),
        "gp_search_started": bool(values.get("gp_search_started")),
    }


PLAN_LABELS = {
    "cadence_weeks": "semaines entre deux visites",
    "preferred_nurse": "infirmière",
    "azalee_protocols": "protocoles Azalée",
    "etp": "ETP proposée",
    "gp_search_started": "recherche d'un médecin traitant engagée",
}


def _plan_shown(field: str, value: object) -> object:
    if field == "preferred_nurse" and PreferredNurse.has(value):
        return PreferredNurse(str(value)).label
    if field == "azalee_protocols":
        codes = str(value or "").split(",")
        return ", ".join(p.label for p in AzaleeProtocol if p.value in codes)
    return value


def save_plan(
    session: DbSession, actor: StaffUser | None, patient: Patient, values: Mapping[str, object]
) -> bool:
    """Record or change the patient's plan (audited with what changed); False when nothing did."""
    if patient.status not in FOLLOWED:
        raise FieldError("cadence_weeks", "Le plan de suivi concerne les patients suivis par le centre.")
    cleaned = clean_plan(values)
    plan = plan_of(session, patient.id)
    before = {} if plan is None else {PLAN_LABELS[f]: _plan_shown(f, getattr(plan, f)) for f in cleaned}
    after = {PLAN_LABELS[f]: _plan_shown(f, v) for f, v in cleaned.items()}
    changes = audit.describe_changes(before, after)
    if plan is not None and not changes:
        return False
    if plan is None:
        plan = FollowUpPlan(patient_id=patient.id)
        session.add(plan)
    for field, value in cleaned.items():
        setattr(plan, field, value)
    plan.updated_by_id = actor.id if actor else None
    audit.record(session, actor, "patient.plan", "patient", patient.id, f"Plan de suivi : {changes}")
    return True


# --- Contact attempts ---------------------------------------------------------------------------


def record_contact(
    session: DbSession, actor: StaffUser | None, patient: Patient, outcome: object, *, now: datetime
) -> ContactAttempt:
    """One attempt to reach the patient. « Ne souhaite plus venir » ends their follow-up
    (status « Sorti »): they leave the lists."""
    result = choice("outcome", outcome, ContactOutcome, "Choisissez le résultat de l'appel.")
    if patient.status not in FOLLOWED:
        raise FieldError("outcome", "Ce patient n'est plus suivi par le centre.")
    attempt = ContactAttempt(
        patient_id=patient.id, attempted_at=now, by_id=actor.id if actor else None, outcome=result
    )
    session.add(attempt)
    audit.record(session, actor, "patient.contact", "patient", patient.id, f"Appel : {result.label}")
    if result == ContactOutcome.STOPS:
        patients.change_status(session, actor, patient, PatientStatus.DISCHARGED, "ne souhaite plus venir")
    return attempt


# Built once: the attempts as plain columns, `by_name` None for an attempt without an author.
_ATTEMPTS = (
    select(ContactAttempt.attempted_at, ContactAttempt.outcome, StaffUser.name.label("by_name"))
    .outerjoin(StaffUser, StaffUser.id == ContactAttempt.by_id)
    .where(ContactAttempt.patient_id == bindparam("patient_id"))
    .order_by(ContactAttempt.attempted_at.desc(), ContactAttempt.id.desc())
)


def attempts_of(session: DbSession, patient_id: int) -> list[Row[*tuple[Any, ...]]]:
    """The patient's contact attempts, latest first: (attempted_at, outcome, by_name) rows (one
    query)."""
    return list(session.execute(_ATTEMPTS, {"patient_id": patient_id}))


# --- The médecin traitant pathway ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneralPractitioner:
    """A médecin généraliste of the directory, as the search offers them."""

    id: int
    name: str
    commune: str
    accepts_new_patients: AcceptsPatients | None
    accepts_label = PartnerOrganisation.accepts_label  # the directory's own wording


_GENERAL_PRACTITIONERS = select(  # built once
    PartnerOrganisation.id,
    PartnerOrganisation.name,
    PartnerOrganisation.commune,
    PartnerOrganisation.accepts_new_patients,
).where(
    PartnerOrganisation.category == PartnerCategory.MEDECIN_GENERALISTE,
    PartnerOrganisation.active.is_(True),
)


def general_practitioners(session: DbSession) -> list[GeneralPractitioner]:
    """The directory's active médecins généralistes, those taking new patients first."""
    order = {"yes": 0, "to_check": 1, None: 2, "no": 3}
    rows = [GeneralPractitioner(*row) for row in session.execute(_GENERAL_PRACTITIONERS)]
    return sorted(rows, key=lambda p: (order.get(p.accepts_new_patients, 2), p.name.lower()))


# Built once: the steps as plain columns, with the name of the GP asked.
_STEPS = (
    select(
        GpSearchStep.id,
        GpSearchStep.contacted_on,
        GpSearchStep.answer,
        PartnerOrganisation.name.label("partner_name"),
    )
    .outerjoin(PartnerOrganisation, PartnerOrganisation.id == GpSearchStep.partner_id)
    .where(GpSearchStep.patient_id == bindparam("patient_id"))
    .order_by(GpSearchStep.contacted_on, GpSearchStep.id)
)


def steps_of(session: DbSession, patient_id: int) -> list[Row[*tuple[Any, ...]]]:
    """The search's steps, oldest first: (id, contacted_on, answer, partner_name) rows (one
    query)."""
    return list(session.execute(_STEPS, {"patient_id": patient_id}))


def _gp(session: DbSession, partner_id: object) -> PartnerOrganisation:
    raw = str(partner_id or "").strip()
    partner = session.get(PartnerOrganisation, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if partner is None or not partner.active or partner.category != PartnerCategory.MEDECIN_GENERALISTE:
        raise FieldError("partner_id", "Choisissez un médecin généraliste de l'annuaire.")
    return partner


def record_gp_step(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    partner_id: object,
    contacted_on: date | None,
    answer: object,
    *,
    today: date,
    now: datetime,
) -> GpSearchStep:
    """A GP contacted for the patient, on a day, and their answer; a GP who accepts becomes the
    patient's médecin traitant (status « Médecin traitant trouvé »)."""
    if patient.status != PatientStatus.FOLLOW_UP:
        raise FieldError("partner_id", "La recherche concerne un patient en suivi sans médecin traitant.")
    if not rights.may(patient, Purpose.GP_SEARCH):
        raise FieldError(
            "partner_id", "Le patient s'est opposé à la recherche d'un médecin traitant en son nom."
        )
    with Collector() as check:
        partner = check("partner_id", _gp, session, partner_id)
        if contacted_on is None:
            check.errors["contacted_on"] = "Indiquez la date de la démarche (jj/mm/aaaa)."
        elif contacted_on > today:
            check.errors["contacted_on"] = "La date de la démarche ne peut pas être dans le futur."
        result = check("answer", choice, "answer", answer, GpAnswer, "Choisissez la réponse du médecin.")
    assert partner is not None and contacted_on is not None and result is not None
    step = GpSearchStep(
        patient_id=patient.id,
        partner_id=partner.id,
        contacted_on=contacted_on,
        answer=result,
        by_id=actor.id if actor else None,
    )
    session.add(step)
    session.flush()
    audit.record(
        session,
        actor,
        "patient.gp_search",
        "patient",
        patient.id,
        f"Recherche d'un médecin traitant : {partner.name} contacté le "
        f"{contacted_on:%d/%m/%Y} — {result.label}",
    )
    if result == GpAnswer.ACCEPTS:
        _found(session, actor, patient, partner, now)
    return step


def answer_gp_step(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    step_id: int,
    answer: object,
    *,
    now: datetime,
) -> GpSearchStep:
    """The answer to a step still waiting for one."""
    step = session.scalar(
        select(GpSearchStep)
        .where(GpSearchStep.id == step_id, GpSearchStep.patient_id == patient.id)
        .options(joinedload(GpSearchStep.partner))
    )
    if step is None:
        raise FieldError("answer", "Démarche introuvable pour ce patient.")
    result = choice("answer", answer, GpAnswer, "Choisissez la réponse du médecin.")
    if step.answer != GpAnswer.PENDING:
        raise FieldError("answer", f"Réponse déjà notée : « {step.answer_label} ».")
    if result == GpAnswer.PENDING:
        raise FieldError("answer", "Choisissez « accepte » ou « refuse ».")
    if result == GpAnswer.ACCEPTS and patient.status != PatientStatus.FOLLOW_UP:
        raise FieldError("answer", "Le patient n'est plus en suivi sans médecin traitant.")
    step.answer = result
    audit.record(
        session,
        actor,
        "patient.gp_search",
        "patient",
        patient.id,
        f"Recherche d'un médecin traitant : {step.partner.name} — {result.label}",
    )
    if result == GpAnswer.ACCEPTS:
        _found(session, actor, patient, step.partner, now)
    return step


def _found(
    session: DbSession, actor: StaffUser | None, patient: Patient, partner: PartnerOrganisation, now: datetime
) -> None:
    patients.change_status(session, actor, patient, PatientStatus.GP_FOUND, partner.name)
    patient.gp_found_at = now
    patient.gp_partner_id = partner.id
    patient.gp_status = GpStatus.HAS
    patient.gp_name = partner.name[:150]
    plan = plan_of(session, patient.id)
    if plan is not None:
        plan.gp_search_started = True


def days_to_gp(first_visits: Iterable[tuple[datetime, datetime]]) -> float | None:
    """Median days from the first visit to the médecin traitant found, over (first, found) pairs."""
    days = [(found - first).total_seconds() / 86400 for first, found in first_visits if found >= first]
    return median(days) if days else None


# --- The liaison letter -------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    at: datetime
    kind: str
    seen_by: str


@dataclass(frozen=True)
class Letter:
    """What the centre tells the new médecin traitant: visits held and who saw the patient, the
    follow-up plan. Nothing beyond what the centre records (no clinical notes)."""

    patient: Patient
    gp: PartnerOrganisation | None
    visits: list[Visit]
    plan: FollowUpPlan | None
    protocols: list[AzaleeProtocol]


def letter(session: DbSession, patient: Patient, appointments: Iterable[FileVisit]) -> Letter:
    """The liaison letter's content, for a patient whose médecin traitant was found."""
    if patient.status != PatientStatus.GP_FOUND:
        raise FieldError("patient", "Le courrier de liaison suit un médecin traitant trouvé.")
    visits = [
        Visit(
            a.starts_at,
            a.kind.label,
            ", ".join(f"{name} ({profession.in_sentence})" for name, profession in a.clinicians),
        )
        for a in sorted(appointments, key=lambda a: a.starts_at)
        if a.status == AppointmentStatus.HONOURED
    ]
    gp = session.get(PartnerOrganisation, patient.gp_partner_id) if patient.gp_partner_id else None
    plan = plan_of(session, patient.id)
    return Letter(patient, gp, visits, plan, protocols(plan))


# --- What the patient's pages show --------------------------------------------------------------


class Plan(NamedTuple):
    """The plan as the patient's pages show it (and fill the plan's form with)."""

    cadence_weeks: int
    preferred_nurse: PreferredNurse
    azalee_protocols: str
    etp: bool
    gp_search_started: bool


@dataclass(frozen=True)
class Summary:
    """The follow-up side of a patient's file: their plan, their missed visits and whether that
    flags them (the centre's setting), read in one query."""

    plan: Plan | None
    protocols: list[AzaleeProtocol]
    missed: int
    flag_after: int

    @property
    def flagged(self) -> bool:
        return self.missed >= self.flag_after


_MISSED = (
    select(func.count())
    .where(Appointment.patient_id == Patient.id, Appointment.status == AppointmentStatus.NO_SHOW)
    .correlate(Patient)
    .scalar_subquery()
)
_FLAG_AFTER = select(CentreSettings.no_show_flag_after).where(CentreSettings.id == 1).scalar_subquery()
# Built once: the plan's columns (all None without a plan), the missed visits, the threshold.
_SUMMARY = (
    select(FollowUpPlan.id, *(getattr(FollowUpPlan, f) for f in Plan._fields), _MISSED, _FLAG_AFTER)
    .select_from(Patient)
    .outerjoin(FollowUpPlan, FollowUpPlan.patient_id == Patient.id)
    .where(Patient.id == bindparam("patient_id"))
)


def summary(session: DbSession, patient_id: int) -> Summary | None:
    """The patient's plan, missed visits and the flag threshold (one query); None: no patient."""
    row = session.execute(_SUMMARY, {"patient_id": patient_id}).first()
    if row is None:
        return None
    plan_id, *values, missed_count, threshold = row
    plan = None if plan_id is None else Plan(*values)
    return Summary(plan, protocols(plan), int(missed_count or 0), int(threshold or 3))
