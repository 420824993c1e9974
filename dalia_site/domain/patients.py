"""Patients: identity changes, status, DAC handover, and the trail of who saw and changed what."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import joinedload

from dalia_site import clock
from dalia_site.database import DbSession
from dalia_site.domain import audit
from dalia_site.domain.referrals import (
    FIELD_LABELS,
    clean_identity,
    patient_search_text,
)
from dalia_site.domain.text import FieldError
from dalia_site.models import AuditEvent, PartnerOrganisation, Patient, Referral, StaffUser
from dalia_site.models.vocabulary import PatientStatus, Vocabulary

# Statuses staff set by hand; the others follow from triage decisions.
MANUAL_STATUSES = (PatientStatus.FOLLOW_UP, PatientStatus.GP_FOUND, PatientStatus.DISCHARGED)


def find(session: DbSession, patient_id: int) -> Patient | None:
    """The patient with the referrals their page shows (one query), or None."""
    return (
        session.execute(
            select(Patient)
            .where(Patient.id == patient_id)
            .options(joinedload(Patient.referrals).joinedload(Referral.source))
        )
        .unique()
        .scalar_one_or_none()
    )


def record_view(session: DbSession, actor: StaffUser | None, patient_id: int, what: str = "fiche") -> None:
    """Every read of a patient's identity leaves a trace with the reader's name."""
    audit.record(session, actor, "patient.view", "patient", patient_id, f"Consultation : {what}")


def record_list_view(
    session: DbSession, actor: StaffUser | None, patient_ids: Iterable[int], what: str
) -> None:
    """A list that shows identities (search results, agenda, queue) is traced too: one event
    naming the patients' numbers, never their names."""
    ids = sorted(set(patient_ids))
    if ids:
        audit.record(
            session,
            actor,
            "patient.list_view",
            "patient",
            None,
            f"{what} : patients n° {', '.join(map(str, ids))}",
        )


def _shown(field: str, value: object) -> object:
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Vocabulary):
        return value.label
    return value


def update_identity(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    values: Mapping[str, object],
    informed_on: date | None,
    objected: bool,
    today: date,
) -> bool:
    cleaned = clean_identity(values, today)
    if informed_on is not None and informed_on > today:
        raise FieldError("informed_on", "La date d'information ne peut pas être dans le futur.")
    cleaned |= {"informed_on": informed_on, "objected": objected}
    labels = FIELD_LABELS | {"informed_on": "informé le", "objected": "opposition"}
    before = {labels[f]: _shown(f, getattr(patient, f)) for f in cleaned}
    after = {labels[f]: _shown(f, v) for f, v in cleaned.items()}
    changes = audit.describe_changes(before, after)
    if not changes:
        return False
    for field, value in cleaned.items():
        setattr(patient, field, value)
    patient.search_text = patient_search_text(patient)
    # The trail names the fields, not their values: identity stays in the patient's record.
    changed = [f for f in before if before[f] != after[f]]
    audit.record(session, actor, "patient.update", "patient", patient.id, f"Modifié : {', '.join(changed)}")
    return True


def set_status(session: DbSession, actor: StaffUser | None, patient: Patient, status: str) -> None:
    if status not in MANUAL_STATUSES:
        raise FieldError("status", "Ce statut ne se choisit pas à la main.")
    status = PatientStatus(status)
    if status == patient.status:
        return
    audit.record(
        session,
        actor,
        "patient.status",
        "patient",
        patient.id,
        f"statut : {patient.status_label} → {status.label}",
    )
    patient.status = status
    if status == PatientStatus.GP_FOUND:
        patient.gp_found_at = clock.now()
    elif status == PatientStatus.FOLLOW_UP:  # set back by hand: the médecin traitant was not found after all
        patient.gp_found_at = None


def territory_dac(session: DbSession) -> PartnerOrganisation | None:
    """The DAC of the site's territory, from the partner directory."""
    return session.scalar(
        select(PartnerOrganisation)
        .where(PartnerOrganisation.category == "dac", PartnerOrganisation.active.is_(True))
        .order_by(PartnerOrganisation.id)
        .limit(1)
    )


def record_dac_handover(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    on: date | None,
    patient_informed: bool,
    gp_informed: bool,
    today: date,
) -> None:
    """Handover of a complex situation to the DAC: the patient must have been told (they may
    object), and the médecin traitant too when there is one."""
    if patient.dac_handover_on is not None:
        raise FieldError(
            "handover_on", f"Transmission déjà enregistrée le {patient.dac_handover_on:%d/%m/%Y}."
        )
    if on is None:
        raise FieldError("handover_on", "Indiquez la date de la transmission (jj/mm/aaaa).")
    if on > today:
        raise FieldError("handover_on", "La date de transmission ne peut pas être dans le futur.")
    if not patient_informed:
        raise FieldError(
            "patient_informed",
            "Le patient doit être informé de la transmission au DAC (il peut s'y opposer).",
        )
    if patient.has_gp and not gp_informed:
        raise FieldError("gp_informed", "Le médecin traitant doit être informé de la transmission.")
    if patient.objected:
        raise FieldError(
            "patient_informed",
            "Le patient s'est opposé au partage de ses données : pas de transmission au DAC.",
        )
    patient.dac_handover_on = on
    patient.dac_patient_informed = True
    patient.dac_gp_informed = gp_informed
    audit.record(
        session,
        actor,
        "patient.dac_handover",
        "patient",
        patient.id,
        f"Transmission au DAC le {on:%d/%m/%Y} (patient informé"
        + (", médecin traitant informé)" if gp_informed else ")"),
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    action: str
    summary: str
    actor: str


def timeline(session: DbSession, patient: Patient) -> list[TimelineEntry]:
    """Referrals, decisions and status changes of a patient, oldest first (views left out)."""
    referral_ids = select(cast(Referral.id, String)).where(Referral.patient_id == patient.id)
    events = session.execute(
        select(AuditEvent.at, AuditEvent.action, AuditEvent.summary, StaffUser.name)
        .outerjoin(StaffUser, StaffUser.id == AuditEvent.actor_id)
        .where(
            or_(
                and_(AuditEvent.object_type == "patient", AuditEvent.object_id == str(patient.id)),
                and_(AuditEvent.object_type == "referral", AuditEvent.object_id.in_(referral_ids)),
            ),
            AuditEvent.action.not_in(("patient.view", "referral.view")),
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [
        TimelineEntry(at, action, summary, name or "partenaire / système")
        for at, action, summary, name in events
    ]
