"""When each patient is due again: the next step « À recontacter » and the navigation's count
read from an index, instead of working it out from every patient's visits on every page.

Two columns of the patient hold it: `last_visit_at`, the start of their latest visit booked or
honoured (to come or past), and `recall_due_at`, the moment they are due again if nothing is
booked after it — the plan's cadence after that visit (DEFAULT_CADENCE_WEEKS without a plan), or
their record's creation when they have had none. A patient in follow-up is on the list when
their latest visit is not to come, and overdue from `recall_due_at`. A third, `waiting_since`,
is since when they wait, the order of the waiting list: the decision that put their oldest
referral still on the waiting list there, or their record's creation without one.

The session keeps them: after each flush that adds, moves, cancels or marks a visit, changes a
plan, changes a referral's status or creates a patient — whoever wrote it (booking, the desk,
triage, the demo, a test) — those patients are worked out again, by `refresh`, in the same
transaction. A write that goes past the ORM (the benchmark's bulk seed) calls `refresh` itself;
migrations 0020 and 0021 filled existing sites.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, select, type_coerce, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dalia_site.domain import kept
from dalia_site.domain.booking import ACTIVE
from dalia_site.domain.follow_up import DEFAULT_CADENCE_WEEKS
from dalia_site.domain.kept import changed, left
from dalia_site.models import Appointment, FollowUpPlan, Patient, Referral
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import ReferralStatus

KEPT = ("last_visit_at", "recall_due_at", "waiting_since")


def due_at(last_visit: datetime | None, cadence_weeks: int | None, created_at: datetime) -> datetime:
    """The rule: due again the plan's cadence after the last visit, or at once if never seen."""
    if last_visit is None:
        return created_at
    return last_visit + timedelta(weeks=cadence_weeks or DEFAULT_CADENCE_WEEKS)


def refresh(connection: Connection, patient_ids: Collection[int] | None = None) -> int:
    """Work out again the stored next step of these patients (all of them when None), from
    their visits, plan and referrals as the database holds them: two statements. Returns how many."""
    waiting_from = (
        select(func.min(Referral.decided_at))
        .where(Referral.patient_id == Patient.id, Referral.status == ReferralStatus.WAITING_LIST)
        .scalar_subquery()
    )
    query = (
        select(
            Patient.id,
            Patient.created_at,
            type_coerce(func.max(Appointment.starts_at), UTCDateTime()),
            FollowUpPlan.cadence_weeks,
            type_coerce(waiting_from, UTCDateTime()),
        )
        .select_from(Patient)
        .outerjoin(Appointment, and_(Appointment.patient_id == Patient.id, Appointment.status.in_(ACTIVE)))
        .outerjoin(FollowUpPlan, FollowUpPlan.patient_id == Patient.id)
        .group_by(Patient.id, Patient.created_at, FollowUpPlan.cadence_weeks)
    )
    if patient_ids is not None:
        if not patient_ids:
            return 0
        query = query.where(Patient.id.in_(sorted(patient_ids)))
    rows = [
        {"pid": pid, "last": last, "due": due_at(last, cadence, created), "waiting": waiting or created}
        for pid, created, last, cadence, waiting in connection.execute(query)
    ]
    if rows:
        connection.execute(
            update(Patient)
            .where(Patient.id == bindparam("pid"))
            .values(
                last_visit_at=bindparam("last", type_=UTCDateTime()),
                recall_due_at=bindparam("due", type_=UTCDateTime()),
                waiting_since=bindparam("waiting", type_=UTCDateTime()),
                updated_at=Patient.updated_at,  # not a change of the patient's record
            ),
            rows,
        )
    return len(rows)


def _touched(session: Session) -> set[int]:
    """The patients whose next step this flush may change (the one a visit, plan or referral was
    moved from too)."""
    ids: set[int | None] = set()  # None: a referral not yet given its patient
    for instance in session.new:
        if isinstance(instance, Appointment | FollowUpPlan | Referral):
            ids.add(instance.patient_id)
        elif isinstance(instance, Patient):
            ids.add(instance.id)
    for instance in session.dirty:
        if isinstance(instance, Appointment) and changed(instance, "status", "starts_at", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
        elif isinstance(instance, FollowUpPlan) and changed(instance, "cadence_weeks", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
        elif isinstance(instance, Referral) and changed(instance, "status", "decided_at", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
        elif isinstance(instance, Patient) and changed(instance, "created_at"):
            ids.add(instance.id)
    for instance in session.deleted:
        if isinstance(instance, Appointment | FollowUpPlan | Referral):
            ids.add(instance.patient_id)
    return {pid for pid in ids if pid is not None}


# The patients already loaded read their new next step on next access.
kept.keep("recall", _touched, refresh, then=kept.expire_loaded(Patient, KEPT))
