"""Patients' rights (RGPD): what a patient objected to, checked by everything that would act
against it — one function, `may(patient, purpose)`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, bindparam, select

from dalia_site.database import DbSession
from dalia_site.models import Patient, PatientRectification, StaffUser
from dalia_site.models.vocabulary import Purpose

# The file's field that records each refusal (`objected`: the sharing with the DAC, since the start).
OBJECTION_FIELDS = {
    Purpose.DAC: "objected",
    Purpose.REMINDERS: "objects_to_reminders",
    Purpose.GP_SEARCH: "objects_to_gp_search",
}


def may(patient: Patient, purpose: Purpose | str) -> bool:
    """The centre may use the patient's data for `purpose`: they did not object to it, and their
    identity was not erased. Every place that shares, reminds or contacts asks this first."""
    if patient.erased_at is not None:
        return False
    return not getattr(patient, OBJECTION_FIELDS[Purpose(purpose)])


def objections(patient: Patient) -> list[Purpose]:
    """What the patient refused, in the vocabulary's order (the file and the access document)."""
    return [purpose for purpose in Purpose if getattr(patient, OBJECTION_FIELDS[purpose])]


# How the rectification history and the audit trail name each objection.
OBJECTION_LABELS = {
    "objected": "opposition au partage avec le DAC",
    "objects_to_reminders": "opposition aux rappels (SMS, e-mail)",
    "objects_to_gp_search": "opposition à être contacté pour un médecin traitant",
}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "oui" if value else "non"
    return "" if value is None else str(value)


def record_rectifications(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    changes: Mapping[str, tuple[object, object]],
) -> None:
    """Keep what changed in the file (field label → (before, after), as the page shows them)."""
    for field, (before, after) in changes.items():
        session.add(
            PatientRectification(
                patient_id=patient.id,
                actor_id=actor.id if actor is not None else None,
                field=field[:60],
                before=_text(before)[:400],
                after=_text(after)[:400],
            )
        )


# Built once: the history as plain columns, `actor_name` None for a change made on the command line.
_RECTIFICATIONS = (
    select(
        PatientRectification.at,
        StaffUser.name.label("actor_name"),
        PatientRectification.field,
        PatientRectification.before,
        PatientRectification.after,
    )
    .outerjoin(StaffUser, StaffUser.id == PatientRectification.actor_id)
    .where(PatientRectification.patient_id == bindparam("patient_id"))
    .order_by(PatientRectification.at.desc(), PatientRectification.id.desc())
)


def rectifications(session: DbSession, patient_id: int) -> list[Row[*tuple[Any, ...]]]:
    """The file's rectification history, newest first: (at, actor_name, field, before, after)
    rows (one query)."""
    return list(session.execute(_RECTIFICATIONS, {"patient_id": patient_id}))
