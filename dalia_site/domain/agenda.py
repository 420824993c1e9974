"""The day's and the week's visits as plain rows (issue 22): the visits of local days, by time
(the cancelled ones aside, unless asked for), read as Core rows in one query — a week of ORM
appointments with their patient and clinicians cost four times as much to build, and the agenda
and today's desk only show them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select

from dalia_site.database import DbSession
from dalia_site.domain.booking import local_days
from dalia_site.models import Appointment, AppointmentClinician, Patient, TeamMember
from dalia_site.models.patients import full_name
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus


class PatientName(NamedTuple):
    """A visit's patient as the desk's block names them (`a.patient.full_name`, as an appointment's)."""

    last_name: str
    first_names: str

    @property
    def full_name(self) -> str:
        return full_name(self.last_name, self.first_names)


@dataclass(slots=True)
class Visit:
    """One visit of the agenda or of today's desk: what they show of it. It answers the names the
    desk reads of an appointment (`desk.actions`, `booking.marks_offered`, the block's template)."""

    id: int
    patient_id: int
    starts_at: datetime
    ends_at: datetime
    kind: AppointmentKind
    walk_in: bool
    status: AppointmentStatus
    last_name: str
    first_names: str
    arrived_at: datetime | None = None
    cancelled_by_patient_at: datetime | None = None
    clinicians: list[str] = field(default_factory=list)  # their names, in the order they were booked
    member_ids: list[int] = field(default_factory=list)  # the same, by id

    @property
    def patient(self) -> PatientName:
        return PatientName(self.last_name, self.first_names)


@functools.cache
def _visits(with_cancelled: bool) -> Select[*tuple[Any, ...]]:
    """The statement of `visits_between`, built once for each shape."""
    kept = [] if with_cancelled else [Appointment.status != AppointmentStatus.CANCELLED]
    return (
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
            Appointment.arrived_at,
            Appointment.cancelled_by_patient_at,
            AppointmentClinician.member_id,
            TeamMember.name,
        )
        .join(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(AppointmentClinician, AppointmentClinician.appointment_id == Appointment.id)
        .outerjoin(TeamMember, TeamMember.id == AppointmentClinician.member_id)
        .where(Appointment.starts_at >= bindparam("start"), Appointment.starts_at < bindparam("end"), *kept)
        .order_by(Appointment.starts_at, Appointment.id, AppointmentClinician.id)
    )


def visits_between(
    session: DbSession, first: date, last: date, zone: ZoneInfo, with_cancelled: bool = False
) -> list[Visit]:
    """The visits of the local days `first` to `last` but the cancelled ones (unless
    `with_cancelled`: the desk counts them), by time (one query)."""
    start, end = local_days(first, last, zone)
    visits: dict[int, Visit] = {}
    # Each row is a visit's columns (Visit's fields but its clinicians, in order), then one of
    # its clinicians.
    for row in session.execute(_visits(with_cancelled), {"start": start, "end": end}):
        visit = visits.get(row.id)
        if visit is None:
            visit = visits[row.id] = Visit(*row[:11])
        if row.member_id is not None:
            visit.member_ids.append(row.member_id)
            visit.clinicians.append(row.name)
    return list(visits.values())
