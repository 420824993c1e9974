"""The agenda's visits as plain rows (issue 22): the same visits as
`booking.appointments_between` (the local days, the cancelled ones aside, by time), read as Core
rows in one query: a week of ORM appointments with their patient and clinicians cost four times
as much to build, and the agenda only shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select

from dalia_site.database import DbSession
from dalia_site.domain.booking import local_days
from dalia_site.models import Appointment, AppointmentClinician, Patient, TeamMember
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus


@dataclass(slots=True)
class Visit:
    """One visit of the agenda: what the day and the week show of it."""

    id: int
    patient_id: int
    starts_at: datetime
    ends_at: datetime
    kind: AppointmentKind
    walk_in: bool
    status: AppointmentStatus
    last_name: str
    first_names: str
    clinicians: list[str]  # their names, in the order they were booked
    member_ids: list[int]  # the same, by id


_VISITS = (  # built once
    select(
        Appointment.id,
        Appointment.patient_id,
        Appointment.starts_at,
        Appointment.ends_at,
        Appointment.kind,
        Appointment.walk_in,
        Appointment.status,
        Patient.last_name,
        Patient.first_names,
        AppointmentClinician.member_id,
        TeamMember.name,
    )
    .join(Patient, Patient.id == Appointment.patient_id)
    .outerjoin(AppointmentClinician, AppointmentClinician.appointment_id == Appointment.id)
    .outerjoin(TeamMember, TeamMember.id == AppointmentClinician.member_id)
    .where(
        Appointment.starts_at >= bindparam("start"),
        Appointment.starts_at < bindparam("end"),
        Appointment.status != AppointmentStatus.CANCELLED,
    )
    .order_by(Appointment.starts_at, Appointment.id, AppointmentClinician.id)
)


def visits_between(session: DbSession, first: date, last: date, zone: ZoneInfo) -> list[Visit]:
    """The visits of the local days `first` to `last` but the cancelled ones, by time (one query)."""
    start, end = local_days(first, last, zone)
    visits: dict[int, Visit] = {}
    # Each row is a visit's columns (Visit's fields, in order), then one of its clinicians.
    for row in session.execute(_VISITS, {"start": start, "end": end}):
        visit = visits.get(row.id)
        if visit is None:
            visit = visits[row.id] = Visit(*row[:9], clinicians=[], member_ids=[])
        if row.member_id is not None:
            visit.member_ids.append(row.member_id)
            visit.clinicians.append(row.name)
    return list(visits.values())
