"""The consultations held, as the activity figures count them (models/activity.HeldVisit): each
with the patient's held visit before it and their earliest referral. A period's patients received
are then its visits with none held earlier in the period, those who came directly the same with
a direct earliest referral, and the new patients its visits with none before: counts along one
index, not a search of each patient's history (domain/activity.py).

Each also keeps the whole days from that referral's UTC date to its own, 0 when referred after it
(`referral_days`): a new patient's delay to their first visit in local dates, read as a number,
unless one of the two moments falls near a local midnight (domain/activity.py reads those two
moments instead).

The session keeps them, as it keeps each patient's next step (domain/recall.py): after each flush
that adds, moves, marks or deletes a visit, or adds, moves, re-dates or deletes a referral —
whoever wrote it — those patients' held visits are written again, by `refresh`, in the same
transaction. A write that goes past the ORM (the benchmark's bulk seed) calls `refresh` itself;
migration 0023 filled existing sites.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Integer, delete, false, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from dalia_site.domain import kept
from dalia_site.domain.kept import changed, left
from dalia_site.models import Appointment, HeldVisit, Referral
from dalia_site.models.vocabulary import AppointmentStatus, Channel


def refresh(connection: Connection, patient_ids: Collection[int] | None = None) -> None:
    """Write again the held visits of these patients (all of them when None) from their visits
    and referrals as the database holds them: two statements."""
    if patient_ids is not None and not patient_ids:
        return
    theirs = Referral.patient_id == Appointment.patient_id
    earliest = select(Referral.channel).where(theirs).order_by(Referral.received_at, Referral.id).limit(1)
    held = select(
        Appointment.id,
        Appointment.patient_id,
        Appointment.starts_at,
        func.lag(Appointment.starts_at)
        .over(partition_by=Appointment.patient_id, order_by=(Appointment.starts_at, Appointment.id))
        .label("previous_at"),
        select(func.min(Referral.received_at)).where(theirs).scalar_subquery().label("referred_at"),
        func.coalesce(earliest.scalar_subquery() == Channel.DIRECT, false()).label("direct"),
    ).where(Appointment.status == AppointmentStatus.HONOURED)
    cleared = delete(HeldVisit)
    if patient_ids is not None:
        ids = sorted(patient_ids)
        held = held.where(Appointment.patient_id.in_(ids))
        cleared = cleared.where(HeldVisit.patient_id.in_(ids))
    connection.execute(cleared)
    rows = held.subquery()
    columns = [
        "appointment_id",
        "patient_id",
        "starts_at",
        "previous_at",
        "referred_at",
        "direct",
        "referral_days",
    ]
    kept_rows = select(*rows.c, UTCDaysBetween(rows.c.referred_at, rows.c.starts_at))
    connection.execute(insert(HeldVisit).from_select(columns, kept_rows))


class UTCDaysBetween(FunctionElement[int]):
    """The whole days from the UTC date of a stored moment (naive UTC) to that of another; 0
    when the other is earlier (a delay: referred after the visit counts as none)."""

    name = "utc_days_between"
    type = Integer()
    inherit_cache = True


@compiles(UTCDaysBetween)
def _days_between_sqlite(element: UTCDaysBetween, compiler: Any, **kw: Any) -> str:
    early, late = (compiler.process(moment, **kw) for moment in element.clauses)
    return f"max(0, CAST(julianday(date({late})) - julianday(date({early})) AS INTEGER))"


@compiles(UTCDaysBetween, "postgresql")
def _days_between_postgresql(element: UTCDaysBetween, compiler: Any, **kw: Any) -> str:
    early, late = (compiler.process(moment, **kw) for moment in element.clauses)
    # GREATEST leaves out a NULL: none without a referral, as on SQLite.
    return f"CASE WHEN {early} IS NOT NULL THEN GREATEST(0, CAST({late} AS DATE) - CAST({early} AS DATE)) END"


def _touched(session: Session) -> set[int]:
    """The patients whose held visits this flush may change."""
    ids: set[int | None] = set()  # None: a referral not yet given its patient
    for instance in session.new | session.deleted:
        if isinstance(instance, Appointment | Referral):
            ids.add(instance.patient_id)
    for instance in session.dirty:
        if isinstance(instance, Appointment) and changed(instance, "status", "starts_at", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))  # the one it left
        elif isinstance(instance, Referral) and changed(instance, "received_at", "channel", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
    return {pid for pid in ids if pid is not None}


kept.keep("held_visits", _touched, refresh)
