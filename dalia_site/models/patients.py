"""Patients and their referrals. Not a medical record: identity, ALD yes/no, médecin traitant,
status and the referral path only — no clinical notes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow
from dalia_site.models.vocabulary import (
    Ald,
    Channel,
    GpStatus,
    Orientation,
    PatientStatus,
    ReferralStatus,
    RefusalReason,
    ReminderChannel,
    Sex,
    VocabularyType,
    one_of,
)

# The condition of the partial index of the declined referrals (ix_referral_declined).
DECLINED_ONLY = text(f"status = '{ReferralStatus.DECLINED}'")


def full_name(last_name: str, first_names: str) -> str:
    """How a patient is named on every page: 'DUPONT Marie'."""
    return f"{last_name.upper()} {first_names}"


class IdentityMixin:
    """The identity a referral carries, and that a patient keeps: one definition for both."""

    last_name: Mapped[str] = mapped_column(String(100))
    first_names: Mapped[str] = mapped_column(String(150))
    birth_name: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(VocabularyType(Sex, 1))
    phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(5), default="")
    commune: Mapped[str] = mapped_column(String(120), default="")
    ald: Mapped[Ald] = mapped_column(VocabularyType(Ald, 10), default=Ald.UNKNOWN)
    ald_label: Mapped[str] = mapped_column(String(120), default="")
    gp_status: Mapped[GpStatus] = mapped_column(VocabularyType(GpStatus, 10), default=GpStatus.NONE)
    gp_name: Mapped[str] = mapped_column(String(150), default="")

    @property
    def full_name(self) -> str:
        return full_name(self.last_name, self.first_names)

    @property
    def sex_label(self) -> str:
        return self.sex.label

    @property
    def ald_label_text(self) -> str:
        return self.ald.label

    @property
    def has_gp(self) -> bool:
        """The patient has a médecin traitant (the DAC handover then informs them)."""
        return self.gp_status == "has"


class Patient(IdentityMixin, Model):
    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint(one_of("status", PatientStatus), name="status"),
        CheckConstraint(one_of("sex", Sex), name="sex"),
        CheckConstraint(one_of("ald", Ald), name="ald"),
        CheckConstraint(one_of("gp_status", GpStatus), name="gp_status"),
        CheckConstraint(one_of("reminder_channel", ReminderChannel), name="reminder_channel"),
        Index("ix_patient_birth_date", "birth_date"),
        # The list's order (patients.search): a page read from the index, not sorted (migration 0014).
        # The list's order, and the search text to check a common word on the index alone
        # (domain/search.py, migration 0026).
        Index(
            "ix_patient_name_order", text("lower(last_name)"), text("lower(first_names)"), "id", "search_text"
        ),
        # What retention erases next: the patients created in a window (retention.coming, migration 0016).
        Index("ix_patient_created_at", "created_at"),
        # The worklists and their counts: the patients of one status (in follow-up, on the waiting
        # list) by a range of the index, not by reading every patient (migration 0018).
        Index("ix_patient_status_created", "status", "created_at"),
        # « À recontacter » and its count: the patients of a status by the day they are due again,
        # read in order from the index alone (domain/recall.py keeps both dates, migration 0020).
        Index("ix_patient_status_recall_due", "status", "recall_due_at", "last_visit_at"),
        # The waiting list, oldest first: its page read in order from the index (migration 0021).
        Index("ix_patient_status_waiting_since", "status", "waiting_since", "id"),
        # What retention erases next, and the timer: the patients not yet erased by their last
        # activity (domain/last_active.py keeps it, migration 0024), read from the index alone —
        # erased_at in it too, as SQLite reads the row for the term its condition implies.
        Index(
            "ix_patient_last_active",
            "last_active_at",
            "status",
            "erased_at",
            sqlite_where=text("erased_at IS NULL"),
            postgresql_where=text("erased_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[PatientStatus] = mapped_column(
        VocabularyType(PatientStatus, 20), default=PatientStatus.REFERRED
    )
    # Information on the use of their data (RGPD) and their objections (domain/rights.may):
    # `objected` is the sharing with the DAC (recorded at handover since the start).
    informed_on: Mapped[date | None] = mapped_column(Date)
    objected: Mapped[bool] = mapped_column(Boolean, default=False)
    objects_to_reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    objects_to_gp_search: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the identity was erased (retention period over, or erasure on request): the row stays,
    # without identity or contact, for the activity figures of past periods.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the centre found them a médecin traitant (status gp_found): an activity figure.
    gp_found_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The médecin généraliste of the directory who became their médecin traitant (pathway).
    gp_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner_organisation.id"))
    dac_handover_on: Mapped[date | None] = mapped_column(Date)
    # How they want their reminders (issue 17): « none » is their opt-out (STOP, or told the desk).
    reminder_channel: Mapped[ReminderChannel] = mapped_column(
        VocabularyType(ReminderChannel, 5), default=ReminderChannel.NONE
    )
    # No phone, email or address of their own: the centre reaches them through the referrer.
    reachable_via_referrer: Mapped[bool] = mapped_column(Boolean, default=False)
    dac_patient_informed: Mapped[bool] = mapped_column(Boolean, default=False)
    dac_gp_informed: Mapped[bool] = mapped_column(Boolean, default=False)
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Kept by domain/recall.py after every change to the patient's visits or plan, never set by
    # hand: the start of their latest visit booked or honoured (to come or past), and the moment
    # they are due again if nothing is booked after it.
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recall_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept the same way after every change to their referrals: since when they wait (the
    # decision of their oldest referral on the waiting list, their record's creation without one).
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept the same way after every change to their visits and referrals (domain/last_active.py):
    # their last activity as retention counts it, the latest of their record's creation, any
    # visit's start (whatever became of it) and any referral's receipt.
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    referrals: Mapped[list[Referral]] = relationship(
        back_populates="patient", lazy="raise", order_by="Referral.received_at"
    )

    @property
    def status_label(self) -> str:
        return self.status.label


class Referral(IdentityMixin, Model):
    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint(one_of("status", ReferralStatus), name="status"),
        CheckConstraint(one_of("channel", Channel), name="channel"),
        CheckConstraint(f"orientation IS NULL OR {one_of('orientation', Orientation)}", name="orientation"),
        CheckConstraint(
            f"decline_code IS NULL OR {one_of('decline_code', RefusalReason)}", name="decline_code"
        ),
        CheckConstraint(f"(channel = '{Channel.DIRECT}') = (source_id IS NULL)", name="direct_has_no_source"),
        CheckConstraint(
            f"reminder_channel IS NULL OR {one_of('reminder_channel', ReminderChannel)}",
            name="reminder_channel",
        ),
        Index("ix_referral_status_received", "status", "received_at"),
        # The refusals of a period by reason (the activity figures), read from the index alone
        # (migration 0028).
        Index(
            "ix_referral_declined",
            "status",
            "received_at",
            "decline_code",
            sqlite_where=DECLINED_ONLY,
            postgresql_where=DECLINED_ONLY,
        ),
        Index("ix_referral_received_at", "received_at"),
        # The patients declined in a window (what retention erases next) from the index alone, not
        # each referral's row read for its status (migration 0024).
        Index("ix_referral_decided_status_patient", "decided_at", "status", "patient_id"),
        # A period's referrals by decision and origin, read from the index alone (the activity
        # figures, migration 0023).
        Index("ix_referral_received_status_source", "received_at", "status", "source_id"),
        # A patient's earliest referral by an index seek (activity figures, migration 0012).
        Index("ix_referral_patient_received", "patient_id", "received_at", "id", "channel"),
        # The referrals decided in a window (retention.coming, migration 0016).
        Index("ix_referral_decided_at", "decided_at"),
        # Since when each patient of the waiting list waits: the referrals of one status by patient,
        # read from the index alone (worklists.waiting, migration 0020).
        Index("ix_referral_status_patient", "status", "patient_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    channel: Mapped[Channel] = mapped_column(VocabularyType(Channel, 10))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("partner_organisation.id"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("partner_referral_link.id"))
    referrer_name: Mapped[str] = mapped_column(String(120), default="")
    referrer_profession: Mapped[str] = mapped_column(String(120), default="")
    referrer_phone: Mapped[str] = mapped_column(String(20), default="")
    referrer_email: Mapped[str] = mapped_column(String(254), default="")
    reason: Mapped[str] = mapped_column(String(1000), default="")
    # The reminder channel the patient chose at intake (issue 17), carried to them at acceptance;
    # NULL: not asked, proposed then (domain/reminders.proposed_channel).
    reminder_channel: Mapped[ReminderChannel | None] = mapped_column(VocabularyType(ReminderChannel, 5))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    status: Mapped[ReferralStatus] = mapped_column(
        VocabularyType(ReferralStatus, 20), default=ReferralStatus.NEW
    )
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why declined, from the closed list; `decline_reason` is the free text (required for « autre »).
    decline_code: Mapped[RefusalReason | None] = mapped_column(VocabularyType(RefusalReason, 12))
    decline_reason: Mapped[str] = mapped_column(String(500), default="")
    orientation: Mapped[Orientation | None] = mapped_column(VocabularyType(Orientation, 10))
    orientation_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner_organisation.id"))
    orientation_detail: Mapped[str] = mapped_column(String(300), default="")
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # identity erased (retention)

    patient: Mapped[Patient | None] = relationship(back_populates="referrals", lazy="raise")
    source = relationship("PartnerOrganisation", foreign_keys=[source_id], lazy="raise")
    orientation_partner = relationship(
        "PartnerOrganisation", foreign_keys=[orientation_partner_id], lazy="raise"
    )
    decided_by = relationship("StaffUser", foreign_keys=[decided_by_id], lazy="raise")

    @property
    def status_label(self) -> str:
        return self.status.label

    @property
    def channel_label(self) -> str:
        return self.channel.label

    @property
    def decidable(self) -> bool:
        """A decision can still be taken (or the waiting list left)."""
        return self.status.is_open

    @property
    def orientation_label(self) -> str:
        return "" if self.orientation is None else self.orientation.label
