"""Each patient's last activity as retention counts it (domain/retention.py): the latest of their
record's creation, any of their visits' start (booked, held, missed or cancelled alike) and any
of their referrals' receipt. Stored in `patient.last_active_at`, it gives « Données
personnelles » the patients whose time runs out next by a range of an index, and the timer those
past their time, instead of every patient's visits and referrals searched on each page.

The session keeps it, as it keeps each patient's next step (domain/recall.py): after each flush
that adds, moves, re-dates or deletes a visit or a referral, or creates a patient — whoever wrote
it — those patients' last activity is written again, by `refresh`, in the same transaction. A
write that goes past the ORM (the benchmark's bulk seed) calls `refresh` itself; migration 0024
filled existing sites.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dalia_site.domain import kept
from dalia_site.domain.kept import changed, left
from dalia_site.models import Appointment, Patient, Referral

KEPT = ("last_active_at",)


def refresh(connection: Connection, patient_ids: Collection[int] | None = None) -> None:
    """Write again the last activity of these patients (all of them when None) from their record,
    visits and referrals as the database holds them: one statement."""
    if patient_ids is not None and not patient_ids:
        return
    created = Patient.created_at
    visit = select(func.max(Appointment.starts_at)).where(Appointment.patient_id == Patient.id)
    referral = select(func.max(Referral.received_at)).where(Referral.patient_id == Patient.id)
    # The latest of the three (SQLite's max of several values, PostgreSQL's greatest).
    latest = func.greatest if connection.dialect.name == "postgresql" else func.max
    statement = update(Patient).values(
        last_active_at=latest(
            created,
            func.coalesce(visit.scalar_subquery(), created),
            func.coalesce(referral.scalar_subquery(), created),
        ),
        updated_at=Patient.updated_at,  # not a change of the patient's record
    )
    if patient_ids is not None:
        statement = statement.where(Patient.id.in_(sorted(patient_ids)))
    connection.execute(statement)


def _touched(session: Session) -> set[int]:
    """The patients whose last activity this flush may change (the one a visit or referral was
    moved from too)."""
    ids: set[int | None] = set()  # None: a referral not yet given its patient
    for instance in session.new | session.deleted:
        if isinstance(instance, Appointment | Referral):
            ids.add(instance.patient_id)
        elif isinstance(instance, Patient):
            ids.add(instance.id)
    for instance in session.dirty:
        if isinstance(instance, Appointment) and changed(instance, "starts_at", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
        elif isinstance(instance, Referral) and changed(instance, "received_at", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
        elif isinstance(instance, Patient) and changed(instance, "created_at"):
            ids.add(instance.id)
    return {pid for pid in ids if pid is not None}


kept.keep("last_active", _touched, refresh, then=kept.expire_loaded(Patient, KEPT))
