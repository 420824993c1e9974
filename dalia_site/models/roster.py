"""The team and its sessions: weekly patterns (stable team) with exceptions, one-off sessions
(volunteer doctors' half-days)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow
from dalia_site.models.vocabulary import DoctorStatus, Profession, Team, VocabularyType, one_of

# A one-off session starts and ends on the same day: overlap queries look back no further.
LONGEST_SESSION = timedelta(days=1)
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def is_junior_doctor(profession: Profession, doctor_status: DoctorStatus | None) -> bool:
    """An intern or SASPAS (a member's, or columns read as such)."""
    return profession.is_doctor and doctor_status is not None and doctor_status.is_junior


class TeamMember(Model):
    __tablename__ = "team_member"
    __table_args__ = (
        CheckConstraint(one_of("profession", Profession), name="profession"),
        CheckConstraint(one_of("team", Team), name="team"),
        CheckConstraint(
            f"doctor_status IS NULL OR {one_of('doctor_status', DoctorStatus)}", name="doctor_status"
        ),
        CheckConstraint("rpps IS NULL OR length(rpps) = 11", name="rpps_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    profession: Mapped[Profession] = mapped_column(VocabularyType(Profession, 20))
    team: Mapped[Team] = mapped_column(VocabularyType(Team, 10))
    doctor_status: Mapped[DoctorStatus | None] = mapped_column(VocabularyType(DoctorStatus, 12))
    rpps: Mapped[str | None] = mapped_column(String(11), unique=True)
    phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The private calendar feed: only the SHA-256 of its token is stored.
    ics_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Opt-in: the weekly email listing the open half-days (flexible team).
    board_email: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def profession_label(self) -> str:
        return self.profession.label

    @property
    def doctor_status_label(self) -> str:
        return "" if self.doctor_status is None else self.doctor_status.label

    @property
    def team_label(self) -> str:
        return self.team.label

    @property
    def is_doctor(self) -> bool:
        return self.profession.is_doctor

    @property
    def is_nurse(self) -> bool:
        return self.profession.is_nurse

    @property
    def is_junior_doctor(self) -> bool:
        """An intern or SASPAS: needs a senior doctor on the same half-day."""
        return is_junior_doctor(self.profession, self.doctor_status)


class WeeklyPattern(Model):
    """'Every Tuesday 8h30–12h30 from 2 March': times are local (Europe/Paris) wall-clock times."""

    __tablename__ = "weekly_pattern"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="times_in_order"),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("team_member.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)

    member: Mapped[TeamMember] = relationship(lazy="raise")
    exceptions: Mapped[list[PatternException]] = relationship(
        back_populates="pattern", cascade="all, delete-orphan", lazy="raise", order_by="PatternException.day"
    )


class PatternException(Model):
    """A day a weekly pattern does not happen (holiday, absence)."""

    __tablename__ = "pattern_exception"
    __table_args__ = (UniqueConstraint("pattern_id", "day", name="uq_pattern_exception_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pattern_id: Mapped[int] = mapped_column(ForeignKey("weekly_pattern.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(120), default="")

    pattern: Mapped[WeeklyPattern] = relationship(back_populates="exceptions", lazy="raise")


class Shift(Model):
    """A one-off session, e.g. a half-day a volunteer doctor offers."""

    __tablename__ = "roster_session"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="times_in_order"),
        Index("ix_roster_session_span", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("team_member.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(200), default="")
    # « Ouverture exceptionnelle »: allowed on a closed day or outside opening hours, and opens it.
    exceptional: Mapped[bool] = mapped_column(Boolean, default=False)
    # Taken by a volunteer from the open half-days board (the activity report counts them).
    from_board: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))

    member: Mapped[TeamMember] = relationship(lazy="raise")
