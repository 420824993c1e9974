"""The partner directory of a territory: organisations and the people to reach there."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow
from dalia_site.models.vocabulary import AcceptsPatients, PartnerCategory, VocabularyType, one_of


class PartnerOrganisation(Model):
    __tablename__ = "partner_organisation"
    __table_args__ = (
        CheckConstraint(one_of("category", PartnerCategory), name="category"),
        CheckConstraint("finess IS NULL OR length(finess) = 9", name="finess_length"),
        CheckConstraint(
            f"accepts_new_patients IS NULL OR {one_of('accepts_new_patients', AcceptsPatients)}",
            name="accepts_new_patients",
        ),
        Index("ix_partner_organisation_category_active", "category", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[PartnerCategory] = mapped_column(VocabularyType(PartnerCategory, 30))
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(5), default="")
    commune: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")  # digits only, e.g. 0565367387
    email: Mapped[str] = mapped_column(String(254), default="")
    website: Mapped[str] = mapped_column(String(300), default="")
    opening_hours: Mapped[str] = mapped_column(String(200), default="")
    finess: Mapped[str | None] = mapped_column(String(9))
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A médecin généraliste: whether they take new patients, and when that was last checked.
    accepts_new_patients: Mapped[AcceptsPatients | None] = mapped_column(VocabularyType(AcceptsPatients, 10))
    accepts_checked_on: Mapped[date | None] = mapped_column(Date)
    # Accent- and case-free text of name, commune, category and people, kept by the domain.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contacts: Mapped[list[PartnerContact]] = relationship(
        back_populates="organisation",
        cascade="all, delete-orphan",
        lazy="raise",
        order_by="PartnerContact.name",
    )

    @property
    def category_label(self) -> str:
        return self.category.label

    @property
    def accepts_label(self) -> str:
        return "" if self.accepts_new_patients is None else self.accepts_new_patients.label


class PartnerContact(Model):
    __tablename__ = "partner_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("partner_organisation.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")

    organisation: Mapped[PartnerOrganisation] = relationship(back_populates="contacts", lazy="raise")


class PartnerReferralLink(Model):
    """A private link that lets a partner send referrals without an account.

    Only the SHA-256 of the token is stored: the link is shown once, at creation.
    """

    __tablename__ = "partner_referral_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("partner_organisation.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A link stops working at this moment (12 months after creation or renewal); NULL: never
    # (links made before expiry existed are given one by the migration).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[PartnerOrganisation] = relationship(lazy="raise")
    created_by = relationship("StaffUser", lazy="raise")

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class PartnerImport(Model):
    """A CSV upload waiting for the admin's confirmation (kept in the database, not in a worker)."""

    __tablename__ = "partner_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    content: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64), default="")  # of the plan the admin saw
