"""The consultations held, as the activity figures count them (models/activity.HeldVisit): each
with the patient's held visit before it and their earliest referral. A period's patients received
are then its visits with none held earlier in the period, those who came directly the same with
a direct earliest referral, and the new patients its visits with none before: counts along one
index, not a search of each patient's history (domain/activity.py).

Each also keeps the whole days from that referral's UTC date to its own, 0 when referred after it
(`referral_days`): a new patient's delay to their first visit in local dates, read as a number,
unless one of the two moments falls near a local midnight (domain/activity.py reads those two
moments instead).

And each UTC month keeps how many of its held visits had the one before in each earlier month
(models/activity.HeldMonth): a period's whole months are then counted from a few rows each, and
only the visits of the days its bounds cut off are read one by one.

The session keeps them, as it keeps each patient's next step (domain/recall.py): after each flush
that adds, moves, marks or deletes a visit, or adds, moves, re-dates or deletes a referral —
whoever wrote it — those patients' held visits are written again, by `refresh`, in the same
transaction, and the months whose held visits that changed (or that lost a visit deleted) are
counted again. A write that goes past the ORM (the benchmark's bulk seed) calls `refresh` itself;
migrations 0023 and 0029 filled existing sites.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Row,
    Select,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dalia_site.database import hold_until_commit, moment_function
from dalia_site.domain import kept
from dalia_site.domain.kept import changed, left
from dalia_site.domain.referral_months import month_of, next_month
from dalia_site.models import Appointment, HeldVisit, Referral
from dalia_site.models.activity import NONE_BEFORE, HeldMonth
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import AppointmentStatus, Channel


def refresh(connection: Connection, patient_ids: Collection[int] | None = None) -> None:
    """Write again the held visits of these patients (all of them when None) from their visits
    and referrals as the database holds them, and the months whose visits that changed
    (models/activity.HeldMonth)."""
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
    counted: set[Row[*tuple[Any, ...]]] = set()
    if patient_ids is not None:
        ids = sorted(patient_ids)
        held = held.where(Appointment.patient_id.in_(ids))
        cleared = cleared.where(HeldVisit.patient_id.in_(ids))
        counted = set(connection.execute(_counted(), {"ids": ids}).all())
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
    if patient_ids is None:
        connection.execute(delete(HeldMonth))
        connection.execute(insert(HeldMonth).from_select(MONTH_COLUMNS, _of_months(False)))
        return
    changed_rows = counted ^ set(connection.execute(_counted(), {"ids": ids}).all())
    refresh_months(connection, {month_of(starts_at) for starts_at, _, _ in changed_rows})


MONTH_COLUMNS = ["month", "previous_month", "visits", "direct"]


@functools.cache
def _counted() -> Select[*tuple[Any, ...]]:
    """What HeldMonth counts of these patients' held visits (:ids), built once."""
    return select(HeldVisit.starts_at, HeldVisit.previous_at, HeldVisit.direct).where(
        HeldVisit.patient_id.in_(bindparam("ids", expanding=True))
    )


@functools.cache
def _of_months(ranged: bool) -> Select[*tuple[Any, ...]]:
    """HeldMonth's rows from the held visits (of [:lo, :hi) when `ranged`), built once."""
    month = _UTCMonth(HeldVisit.starts_at)
    before = func.coalesce(_UTCMonth(HeldVisit.previous_at), literal_column(f"'{NONE_BEFORE.isoformat()}'"))
    statement = select(month, before, func.count(), func.count().filter(HeldVisit.direct)).group_by(
        literal_column("1"), literal_column("2")
    )
    if ranged:
        lo, hi = bindparam("lo", type_=UTCDateTime()), bindparam("hi", type_=UTCDateTime())
        statement = statement.where(HeldVisit.starts_at >= lo, HeldVisit.starts_at < hi)
    return statement


def refresh_months(connection: Connection, months: Collection[date]) -> None:
    """Write again HeldMonth's rows of these UTC months (their first days) from the held visits."""
    hold_until_commit(connection, _MONTH_LOCKS, [month.toordinal() for month in months])
    for month in sorted(months):
        lo = datetime.combine(month, time(), tzinfo=UTC)
        connection.execute(delete(HeldMonth).where(HeldMonth.month == month))
        connection.execute(
            insert(HeldMonth).from_select(MONTH_COLUMNS, _of_months(True)),
            {"lo": lo, "hi": datetime.combine(next_month(month), time(), tzinfo=UTC)},
        )


# A month's rows are written by one transaction at a time (database.hold_until_commit): two desks
# changing visits of the same month at once would otherwise both write them (the second failing
# on their key) or write counts that miss the other's change.
_MONTH_LOCKS = 0x686D  # the lock space of held_month's rows, by the month's ordinal


# The first day of a stored moment's month; the whole days from one moment's UTC date to
# another's, 0 when the other is earlier (a delay: referred after the visit counts as none; NULL
# without a referral, which PostgreSQL's GREATEST would leave out).
_UTCMonth = moment_function(
    "utc_month", Date(), "date({0}, 'start of month')", "CAST(date_trunc('month', {0}) AS DATE)"
)
UTCDaysBetween = moment_function(
    "utc_days_between",
    Integer(),
    "max(0, CAST(julianday(date({1})) - julianday(date({0})) AS INTEGER))",
    "CASE WHEN {0} IS NOT NULL THEN GREATEST(0, CAST({1} AS DATE) - CAST({0} AS DATE)) END",
)


def _touched(session: Session) -> set[int]:
    """The patients whose held visits this flush may change; and the months of the visits it
    deletes (their held visits go with them before `refresh` reads what it replaces)."""
    ids: set[int | None] = set()  # None: a referral not yet given its patient
    for instance in session.new | session.deleted:
        if isinstance(instance, Appointment | Referral):
            ids.add(instance.patient_id)
    for instance in session.deleted:
        if isinstance(instance, Appointment) and instance.starts_at is not None:
            session.info.setdefault(GONE, set()).add(month_of(instance.starts_at))
    for instance in session.dirty:
        if isinstance(instance, Appointment) and changed(instance, "status", "starts_at", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))  # the one it left
        elif isinstance(instance, Referral) and changed(instance, "received_at", "channel", "patient_id"):
            ids.add(instance.patient_id)
            ids.update(left(instance))
    return {pid for pid in ids if pid is not None}


GONE = "dalia_held_months_gone"


def _months_of_deleted_visits(session: Session, _ids: set[int]) -> None:
    months = session.info.pop(GONE, None)
    if months:
        refresh_months(session.connection(), months)


kept.keep("held_visits", _touched, refresh, then=_months_of_deleted_visits)
