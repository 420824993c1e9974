"""Appointments: the pair's first visit, then follow-ups alternating doctor and nurse."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus, VocabularyType, one_of

# The longest a visit lasts (site.toml's visit lengths are bounded by it): a query for what
# overlaps a moment looks no further back than this, so it stays an index range scan.
MAX_VISIT_MINUTES = 240
LONGEST_VISIT = timedelta(minutes=MAX_VISIT_MINUTES)


class Appointment(Model):
    __tablename__ = "appointment"
    __table_args__ = (
        CheckConstraint(one_of("kind", AppointmentKind), name="kind"),
        CheckConstraint(one_of("status", AppointmentStatus), name="status"),
        CheckConstraint("starts_at < ends_at", name="times_in_order"),
        Index("ix_appointment_span", "starts_at", "ends_at"),
        # The activity figures (migration 0012): a period's appointments from the index alone, and
        # a patient's first visit held by a seek.
        Index("ix_appointment_period", "starts_at", "status", "kind", "walk_in", "patient_id"),
        Index("ix_appointment_patient_status_start", "patient_id", "status", "starts_at"),
        # « Non venus » and « À recontacter »: the missed visits of the last weeks, the visits
        # booked ahead, read by a range on one status (migration 0018).
        Index("ix_appointment_status_start", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[AppointmentKind] = mapped_column(VocabularyType(AppointmentKind, 10))
    walk_in: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[AppointmentStatus] = mapped_column(
        VocabularyType(AppointmentStatus, 10), default=AppointmentStatus.BOOKED
    )
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")
    # Set when staff chose another kind than the alternation proposed, and why.
    override_reason: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # « Arrivé » on today's desk: when the patient was at the front desk (undone: None).
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last reminder queued (J-2, then J-1): one per day before the visit, never twice.
    reminder_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The patient's answer from their private page « Votre rendez-vous » (issue 17).
    confirmed_by_patient_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_patient_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    patient = relationship("Patient", lazy="raise")
    clinicians: Mapped[list[AppointmentClinician]] = relationship(
        back_populates="appointment", cascade="all, delete-orphan", lazy="raise"
    )

    @property
    def kind_label(self) -> str:
        return self.kind.label

    @property
    def status_label(self) -> str:
        return self.status.label


class AppointmentClinician(Model):
    """Who sees the patient: one clinician, or the doctor and the nurse of a first visit."""

    __tablename__ = "appointment_clinician"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("team_member.id"), index=True)

    appointment: Mapped[Appointment] = relationship(back_populates="clinicians", lazy="raise")
    member = relationship("TeamMember", lazy="raise")


class PatientLink(Model):
    """A private link to one appointment, given to its patient in a reminder or the convocation:
    stored as its SHA-256 only, valid until the visit starts."""

    __tablename__ = "patient_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    appointment: Mapped[Appointment] = relationship(lazy="raise")
