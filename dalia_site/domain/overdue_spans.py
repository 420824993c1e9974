"""When each patient in follow-up was overdue: the stretches of time they would have stood on
« À recontacter » as overdue, so that the report's « en retard en fin de période » is how many
stretches hold the period's last moment — a range of an index — instead of every patient's
visits worked out again on each report.

The rule is « À recontacter »'s (domain/recall.py) at any moment T, with the visits as they
stand now: a patient in follow-up is overdue at T from their record's creation on, unless a visit
booked or held keeps them — booked by T and still to come (created_at <= T < starts_at), or begun
no longer ago than their plan's cadence (starts_at <= T < starts_at + cadence). A visit thus keeps
its patient from the earlier of its booking and its start to its start plus the cadence; their
overdue spans are what those leave of [creation, ∞). At the present moment this is the list's
own count of overdue patients.

The session keeps them, as it keeps each patient's next step: after each flush that adds, moves,
cancels or marks a visit, changes a plan, or creates a patient or changes their status — whoever
wrote it — those patients' spans are written again, by `refresh`, in the same transaction. A
write that goes past the ORM (the benchmark's bulk seed) calls `refresh` itself; migration 0027
filled existing sites.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dalia_site.domain import kept
from dalia_site.domain.booking import ACTIVE
from dalia_site.domain.follow_up import DEFAULT_CADENCE_WEEKS
from dalia_site.domain.kept import changed, left
from dalia_site.models import Appointment, FollowUpPlan, Patient
from dalia_site.models.activity import OpenOverdueSpans, OverdueSpan
from dalia_site.models.vocabulary import PatientStatus

Span = tuple[datetime, datetime | None]


def spans(
    created_at: datetime, cadence_weeks: int | None, visits: Iterable[tuple[datetime, datetime]]
) -> list[Span]:
    """The rule: the spans [from, until) a patient created at `created_at` was overdue (until
    None: still is), given their active visits as (booked at, starts at)."""
    cadence = timedelta(weeks=cadence_weeks or DEFAULT_CADENCE_WEEKS)
    kept_by = sorted((min(booked, starts), starts + cadence) for booked, starts in visits)
    result: list[Span] = []
    overdue_from = created_at
    for kept_from, kept_until in kept_by:
        if kept_until <= overdue_from:
            continue
        if kept_from > overdue_from:
            result.append((overdue_from, kept_from))
        overdue_from = kept_until
    result.append((overdue_from, None))
    return result


def refresh(connection: Connection, patient_ids: Collection[int] | None = None) -> None:
    """Write again the overdue spans of these patients (all of them when None) from their record,
    plan and visits as the database holds them, and the count of open spans with them: five
    statements at most."""
    if patient_ids is not None and not patient_ids:
        return
    patients = (
        select(Patient.id, Patient.created_at, FollowUpPlan.cadence_weeks)
        .outerjoin(FollowUpPlan, FollowUpPlan.patient_id == Patient.id)
        .where(Patient.status == PatientStatus.FOLLOW_UP)
    )
    visits = select(Appointment.patient_id, Appointment.created_at, Appointment.starts_at).where(
        Appointment.status.in_(ACTIVE)
    )
    cleared = delete(OverdueSpan)
    if patient_ids is not None:
        ids = sorted(patient_ids)
        patients = patients.where(Patient.id.in_(ids))
        visits = visits.where(Appointment.patient_id.in_(ids))
        cleared = cleared.where(OverdueSpan.patient_id.in_(ids))
    ended = [end for (end,) in connection.execute(cleared.returning(OverdueSpan.ends_at))]
    followed: dict[int, tuple[datetime, int | None, list[tuple[datetime, datetime]]]] = {
        pid: (created, cadence, []) for pid, created, cadence in connection.execute(patients)
    }
    if followed:
        for pid, booked, starts in connection.execute(visits):
            if pid in followed:
                followed[pid][2].append((booked, starts))
        rows = [
            {"patient_id": pid, "starts_at": start, "ends_at": end}
            for pid, (created, cadence, theirs) in followed.items()
            for start, end in spans(created, cadence, theirs)
        ]
        connection.execute(insert(OverdueSpan), rows)
    # Each patient in follow-up has one open span: those written less those cleared.
    if patient_ids is None:
        connection.execute(update(OpenOverdueSpans).values(spans=len(followed)))
    elif opened := len(followed) - ended.count(None):
        connection.execute(update(OpenOverdueSpans).values(spans=OpenOverdueSpans.spans + opened))


def _touched(session: Session) -> set[int]:
    """The patients whose overdue spans this flush may change (the one a visit or plan was moved
    from too)."""
    ids: set[int | None] = set()
    for instance in session.new | session.deleted:
        if isinstance(instance, Appointment | FollowUpPlan):
            ids.add(instance.patient_id)
        elif isinstance(instance, Patient) and instance in session.new:
            ids.add(instance.id)
    for instance in session.dirty:
        if isinstance(instance, Appointment) and changed(
            instance, "status", "starts_at", "created_at", "patient_id"
        ):
            ids.add(instance.patient_id)
            ids.update(left(instance))
        elif isinstance(instance, FollowUpPlan) and changed(instance, "cadence_weeks", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
        elif isinstance(instance, Patient) and changed(instance, "status", "created_at"):
            ids.add(instance.id)
    return {pid for pid in ids if pid is not None}


kept.keep("overdue_spans", _touched, refresh)
