"""The week agenda's visits as plain rows (issue 22): the same visits as
`booking.appointments_between` (the local days, the cancelled ones aside, by time), read as Core
rows in one query — a week of ORM appointments with their patient and clinicians cost four times
as much to build, and the week only shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dalia_site.database import DbSession
from dalia_site.domain.booking import local_days
from dalia_site.models import Appointment, AppointmentClinician, Patient, TeamMember
from dalia_site.models.patients import IdentityMixin
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus


@dataclass(slots=True)
class Visit:
    """One visit of the agenda: what the week shows of it."""

    id: int
    patient_id: int
    starts_at: datetime
    kind: AppointmentKind
    status: AppointmentStatus
    last_name: str
    first_names: str
    clinicians: list[str]  # their names, in the order they were booked

    # Written as everywhere else: the patient's name, the labels of the kind and the status.
    full_name = IdentityMixin.full_name
    kind_label = Appointment.kind_label
    status_label = Appointment.status_label


def visits_between(session: DbSession, first: date, last: date, zone: ZoneInfo) -> list[Visit]:
    """The visits of the local days `first` to `last` but the cancelled ones, by time (one query)."""
    start, end = local_days(first, last, zone)
    rows = session.execute(
        select(
            Appointment.id,
            Appointment.patient_id,
            Appointment.starts_at,
            Appointment.kind,
            Appointment.status,
            Patient.last_name,
            Patient.first_names,
            TeamMember.name,
        )
        .join(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(AppointmentClinician, AppointmentClinician.appointment_id == Appointment.id)
        .outerjoin(TeamMember, TeamMember.id == AppointmentClinician.member_id)
        .where(
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
            Appointment.status != AppointmentStatus.CANCELLED,
        )
        .order_by(Appointment.starts_at, Appointment.id, AppointmentClinician.id)
    )
    visits: dict[int, Visit] = {}
    for appointment_id, patient_id, starts_at, kind, status, last_name, first_names, clinician in rows:
        visit = visits.get(appointment_id)
        if visit is None:
            visit = visits[appointment_id] = Visit(
                appointment_id, patient_id, starts_at, kind, status, last_name, first_names, []
            )
        if clinician is not None:
            visit.clinicians.append(clinician)
    return list(visits.values())
