"""What the activity figures count of the visits starting on each UTC day (models/activity.VisitDay):
the consultations held by kind, the walk-ins held, the no-shows, and for the booked visits the
patients' answers and the visits missed or held with and without a reminder. A period's figures
are the sum of its whole UTC days and of the visits of the hours its local bounds cut off
(domain/activity.py): about one row a day, however many visits a day holds.

The session keeps them: after each flush that adds, moves, marks or deletes a visit, or adds,
sends or deletes a reminder of a visit — whoever wrote it — those visits' days are written again
from the rows, by `refresh`, in the same transaction. A write that goes past the ORM (the
benchmark's bulk seed, the demo's reminders marked sent) calls `refresh` itself; migration 0025
filled existing sites.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, attributes

from dalia_site.database import hold_until_commit
from dalia_site.domain.kept import changed
from dalia_site.models import Appointment, OutboundEmail
from dalia_site.models.activity import VisitDay
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus

PENDING = "dalia_visit_days_pending"
COLUMNS = [column.name for column in VisitDay.__table__.columns if column.name != "day"]


def counts() -> list[Any]:
    """The figures of the visits a statement reads, as VisitDay's columns (COLUMNS' order)."""
    honoured = Appointment.status == AppointmentStatus.HONOURED
    missed = Appointment.status == AppointmentStatus.NO_SHOW
    booked = Appointment.walk_in.is_(False)
    reminded = (
        select(OutboundEmail.id)
        .where(OutboundEmail.appointment_id == Appointment.id, OutboundEmail.sent_at.is_not(None))
        .exists()
    )

    def count(*conditions: Any) -> Any:
        return type_coerce(func.count(case((and_(*conditions), 1))), Integer())

    return [
        *(count(honoured, Appointment.kind == kind) for kind in AppointmentKind),
        count(honoured, Appointment.walk_in),
        count(missed),
        count(booked, Appointment.confirmed_by_patient_at.is_not(None)),
        count(booked, Appointment.cancelled_by_patient_at.is_not(None)),
        count(booked, missed, reminded),
        count(booked, honoured, reminded),
        count(booked, missed),
        count(booked, honoured),
    ]


@functools.cache
def _of_days(ranged: bool) -> Select[Any]:
    """The rows of VisitDay from the visits (of [:lo, :hi) when `ranged`), built once."""
    day = func.date(Appointment.starts_at)
    statement = select(day, *counts()).group_by(day)
    if ranged:
        lo, hi = bindparam("lo", type_=UTCDateTime()), bindparam("hi", type_=UTCDateTime())
        statement = statement.where(Appointment.starts_at >= lo, Appointment.starts_at < hi)
    return statement


def refresh(
    connection: Connection, days: Collection[date] | None = None, visits: Collection[int] = ()
) -> None:
    """Write again the rows of these UTC days and of these visits' days (every day when `days`
    is None) from the visits as the database holds them."""
    columns = ["day", *COLUMNS]
    if days is None:
        connection.execute(delete(VisitDay))
        connection.execute(insert(VisitDay).from_select(columns, _of_days(False)))
        return
    if visits:
        starts = select(type_coerce(Appointment.starts_at, UTCDateTime())).where(
            Appointment.id.in_(sorted(visits))
        )
        days = {*days, *(moment.date() for moment in connection.execute(starts).scalars())}
    hold_until_commit(connection, _DAY_LOCKS, [day.toordinal() for day in days])
    for day in sorted(days):
        lo = datetime.combine(day, time(), tzinfo=UTC)
        connection.execute(delete(VisitDay).where(VisitDay.day == day))
        connection.execute(
            insert(VisitDay).from_select(columns, _of_days(True)),
            {"lo": lo, "hi": lo + timedelta(days=1)},
        )


# A day's row is written by one transaction at a time (database.hold_until_commit): two desks
# marking visits of the same day at once would otherwise both insert it (the second failing on
# its key) or write counts that miss the other's visit.
_DAY_LOCKS = 0x7669  # the lock space of visit_day's rows, by the day's ordinal


def _day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(UTC).date()


def _touched(session: Session) -> tuple[set[date], set[int]]:
    """The UTC days this flush may change, and the visits whose reminders it changes (their day
    read once the flush has run)."""
    days: set[date | None] = set()
    visits: set[int | None] = set()
    for instance in (*session.new, *session.deleted):
        if isinstance(instance, Appointment):
            days.add(_day(instance.starts_at))
        elif isinstance(instance, OutboundEmail):
            visits.add(instance.appointment_id)
    fields = ("status", "starts_at", "kind", "walk_in", "confirmed_by_patient_at", "cancelled_by_patient_at")
    for instance in session.dirty:
        if isinstance(instance, Appointment) and changed(instance, *fields):
            days.add(_day(instance.starts_at))
            days.update(_day(moment) for moment in attributes.get_history(instance, "starts_at").deleted)
        elif isinstance(instance, OutboundEmail) and changed(instance, "sent_at", "appointment_id"):
            visits.add(instance.appointment_id)
            visits.update(attributes.get_history(instance, "appointment_id").deleted)
    return {d for d in days if d is not None}, {v for v in visits if v is not None}


@event.listens_for(Session, "after_flush")
def _note_touched(session: Session, _context: Any) -> None:
    days, visits = _touched(session)
    if days or visits:
        pending = session.info.setdefault(PENDING, (set(), set()))
        pending[0].update(days)
        pending[1].update(visits)


@event.listens_for(Session, "after_flush_postexec")
def _refresh_touched(session: Session, _context: Any) -> None:
    pending = session.info.pop(PENDING, None)
    if pending is None:
        return
    days, visits = pending
    refresh(session.connection(), days, visits)
