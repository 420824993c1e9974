"""What keeps a patient from falling through the cracks: the follow-up plan made at the pair's
first visit (organisational only — no clinical notes), the attempts to reach a patient, the steps
of the search for a médecin traitant, and the slots freed by a cancellation, offered to the
waiting list first."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow
from dalia_site.models.vocabulary import (
    AppointmentKind,
    ContactOutcome,
    GpAnswer,
    OfferStatus,
    PreferredNurse,
    VocabularyType,
    one_of,
)

MIN_CADENCE_WEEKS, MAX_CADENCE_WEEKS = 1, 52


class FollowUpPlan(Model):
    """The centre's side of the plan de santé: how often, with which nurse, under which Azalée
    protocols, whether ETP is proposed and the search for a médecin traitant started."""

    __tablename__ = "follow_up_plan"
    __table_args__ = (
        CheckConstraint(
            f"cadence_weeks BETWEEN {MIN_CADENCE_WEEKS} AND {MAX_CADENCE_WEEKS}", name="cadence_weeks"
        ),
        CheckConstraint(one_of("preferred_nurse", PreferredNurse), name="preferred_nurse"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    cadence_weeks: Mapped[int] = mapped_column(Integer)
    preferred_nurse: Mapped[PreferredNurse] = mapped_column(VocabularyType(PreferredNurse, 10))
    # AzaleeProtocol codes, comma-separated ("" when none applies).
    azalee_protocols: Mapped[str] = mapped_column(String(120), default="")
    etp: Mapped[bool] = mapped_column(Boolean, default=False)
    gp_search_started: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ContactAttempt(Model):
    """One attempt to reach a patient (a recall, a no-show called back): when, who, outcome."""

    __tablename__ = "contact_attempt"
    __table_args__ = (
        CheckConstraint(one_of("outcome", ContactOutcome), name="outcome"),
        Index("ix_contact_attempt_patient_at", "patient_id", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    outcome: Mapped[ContactOutcome] = mapped_column(VocabularyType(ContactOutcome, 12))

    by = relationship("StaffUser", lazy="raise")

    @property
    def outcome_label(self) -> str:
        return self.outcome.label


class GpSearchStep(Model):
    """A médecin généraliste asked to become the patient's médecin traitant, and the answer."""

    __tablename__ = "gp_search_step"
    __table_args__ = (CheckConstraint(one_of("answer", GpAnswer), name="answer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_organisation.id"))
    contacted_on: Mapped[date] = mapped_column(Date)
    answer: Mapped[GpAnswer] = mapped_column(VocabularyType(GpAnswer, 10), default=GpAnswer.PENDING)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    partner = relationship("PartnerOrganisation", lazy="raise")

    @property
    def answer_label(self) -> str:
        return self.answer.label


class SlotOffer(Model):
    """A slot freed by a cancellation (booking.cancel makes it): offered to the waiting list
    first, until it is past, withdrawn, or its clinician booked over it again."""

    __tablename__ = "slot_offer"
    __table_args__ = (
        CheckConstraint(one_of("status", OfferStatus), name="status"),
        CheckConstraint(one_of("kind", AppointmentKind), name="kind"),
        Index("ix_slot_offer_status_starts", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cancelled_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), unique=True)
    kind: Mapped[AppointmentKind] = mapped_column(VocabularyType(AppointmentKind, 10))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The clinician whose time it is (the doctor of a pair): booked again, the offer is gone.
    lead_member_id: Mapped[int] = mapped_column(ForeignKey("team_member.id"))
    # The cancelled visit's clinicians, as the picker sends them ("12,34": the doctor first).
    member_ids: Mapped[str] = mapped_column(String(60))
    status: Mapped[OfferStatus] = mapped_column(VocabularyType(OfferStatus, 10), default=OfferStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
