"""The identity of the site a database belongs to: a backup carries it, so a restore can tell."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow


class SiteIdentity(Model):
    __tablename__ = "site_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63))
    site_uid: Mapped[str] = mapped_column(String(36), unique=True)  # a UUID made at provisioning
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CentreSettings(Model):
    """What the centre's team changes in daily life, edited by its admin on the settings page:
    one row. site.toml keeps only what the server needs."""

    __tablename__ = "centre_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(150), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    access_notes: Mapped[str] = mapped_column(Text, default="")
    what_to_bring: Mapped[str] = mapped_column(Text, default="")
    # Opening hours: the open weekdays ("lundi,mardi,…") and the two half-days' hours.
    open_days: Mapped[str] = mapped_column(String(80), default="lundi,mardi,mercredi,jeudi,vendredi")
    morning: Mapped[str] = mapped_column(String(11), default="08:30-12:30")
    afternoon: Mapped[str] = mapped_column(String(11), default="13:30-17:30")
    first_minutes: Mapped[int] = mapped_column(Integer, default=60)
    doctor_minutes: Mapped[int] = mapped_column(Integer, default=30)
    nurse_minutes: Mapped[int] = mapped_column(Integer, default=30)
    # « Non venus »: a patient missing this many visits is flagged on the list and their file.
    no_show_flag_after: Mapped[int] = mapped_column(Integer, default=3)
    # Retention (RGPD): a patient with no appointment and no referral for this many years, and a
    # declined referral this many years after its decision, have their identity erased.
    retention_inactive_years: Mapped[int] = mapped_column(Integer, default=3)
    retention_declined_years: Mapped[int] = mapped_column(Integer, default=1)
    # Appointment reminders (issue 17): sent two days and/or one day before the visit.
    remind_two_days_before: Mapped[bool] = mapped_column(Boolean, default=False)
    remind_day_before: Mapped[bool] = mapped_column(Boolean, default=True)
    # Opening per half-day (issue 18): "lundi-matin,lundi-apres-midi,…"; empty = both halves of
    # every open day (a site set up before half-days could differ).
    open_half_days: Mapped[str] = mapped_column(String(250), default="")
    # A volunteer may give back a half-day taken from the open half-days board up to this many
    # days before it.
    give_back_days: Mapped[int] = mapped_column(Integer, default=7)
    # The site's département as site.toml says (copied at new-site and each upgrade, never edited
    # here): which public holidays apply (Alsace-Moselle has two more).
    departement: Mapped[str] = mapped_column(String(3), default="")
    closures: Mapped[list[Closure]] = relationship(
        lazy="raise", order_by="Closure.first_day", cascade="all, delete-orphan"
    )
    # Set once site.toml's former [hours]/[visits] and [site] name were copied here.
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Closure(Model):
    """Days the centre is closed, entered by its admin (« fermeture estivale », a training day):
    no sessions, no slots, no coverage alert."""

    __tablename__ = "closure"
    __table_args__ = (CheckConstraint("first_day <= last_day", name="days_in_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settings_id: Mapped[int] = mapped_column(ForeignKey("centre_settings.id", ondelete="CASCADE"), default=1)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
