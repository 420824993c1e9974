"""What the activity figures keep of each consultation held, so that a period's patients
received, those who came directly and the new ones are counted along an index of the period's
visits, not worked out per patient from their whole history on each report."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime

FIRST_ONLY = text("previous_at IS NULL")  # a patient's first visit held
NOT_FIRST = text("previous_at IS NOT NULL")


class HeldVisit(Model):
    """A consultation held (an appointment honoured), kept by domain/held_visits.py after every
    change of the patient's visits or referrals, never written by hand."""

    __tablename__ = "held_visit"
    __table_args__ = (
        # A period's visits with what the figures count of them, read from the index alone.
        Index("ix_held_visit_period", "starts_at", "previous_at", "direct", "referred_at"),
        # The visits whose visit before falls in a stretch of time (the start of a period's month);
        # without the first visits, whose index is the next one.
        Index(
            "ix_held_visit_previous",
            "previous_at",
            "starts_at",
            "direct",
            sqlite_where=NOT_FIRST,
            postgresql_where=NOT_FIRST,
        ),
        # The patients' first visits alone, with their referral and delay (the index alone).
        Index(
            "ix_held_visit_first",
            "starts_at",
            "previous_at",
            "referred_at",
            "referral_days",
            sqlite_where=FIRST_ONLY,
            postgresql_where=FIRST_ONLY,
        ),
    )

    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointment.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The patient's consultation held before this one (by start, then id); none: their first.
    previous_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The patient's earliest referral, and whether it came by « accès direct ».
    referred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    direct: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whole days from that referral's UTC date to this visit's (0: referred after it): a new
    # patient's delay in local dates unless one of the two moments is near a local midnight.
    referral_days: Mapped[int | None] = mapped_column(Integer)


class HeldMonth(Model):
    """How many consultations held in one UTC month had the patient's visit before in another
    (its first day; NONE_BEFORE: their first visit), and how many of them by patients who came
    directly, kept by domain/held_visits.py with the held visits (never written by hand): a
    period's patients received are then its whole UTC months' visits whose visit before came
    before its start's month, and the visits of the days its bounds cut off, read from the index
    of the held visits — a row per month before (about a hundred a month at three times the
    bench's patients, 540 visits), not every visit of the period."""

    __tablename__ = "held_month"
    # SQLite: the rows kept in their key's order, read without a second lookup.
    __table_args__ = {"sqlite_with_rowid": False}

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    previous_month: Mapped[date] = mapped_column(Date, primary_key=True)
    visits: Mapped[int] = mapped_column(Integer)
    direct: Mapped[int] = mapped_column(Integer)


NONE_BEFORE = date(1, 1, 1)  # HeldMonth.previous_month of a patient's first visit


class RosterVersion(Model):
    """One row: a number drawn again by domain/roster_version.py whenever the roster changes
    (sessions, weekly patterns, absences, members), so that a worker keeps a day's roster
    figures only as long as the roster they came from."""

    __tablename__ = "roster_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class VisitDay(Model):
    """What the activity figures count of the visits that start on one UTC day, kept by
    domain/visit_days.py after every change of a visit or of a reminder sent for it (never
    written by hand): a period's consultations and reminders are then the sum of its whole UTC
    days, and the visits of the few hours its local bounds cut off, read from the visits."""

    __tablename__ = "visit_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # Held, by kind (AppointmentKind's order), walk-ins held, and every no-show.
    held_first: Mapped[int] = mapped_column(Integer)
    held_doctor: Mapped[int] = mapped_column(Integer)
    held_nurse: Mapped[int] = mapped_column(Integer)
    walk_ins_held: Mapped[int] = mapped_column(Integer)
    no_shows: Mapped[int] = mapped_column(Integer)
    # Booked visits (walk-ins left out): the patients' answers, missed or held with a reminder
    # sent, missed or held (domain/reminders.figures_row's order).
    confirmed_by_patient: Mapped[int] = mapped_column(Integer)
    cancelled_by_patient: Mapped[int] = mapped_column(Integer)
    missed_reminded: Mapped[int] = mapped_column(Integer)
    held_reminded: Mapped[int] = mapped_column(Integer)
    missed: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer)


class OverdueSpan(Model):
    """A stretch of time during which a patient now in follow-up was overdue (« À recontacter »,
    nothing booked, their visit due), kept by domain/overdue_spans.py after every change of
    their visits, plan, status or record's creation, never written by hand: a period's « en
    retard en fin de période » is then how many spans hold its last moment, read from an index."""

    __tablename__ = "overdue_span"
    __table_args__ = (
        # The spans that hold a moment: those still open, or ending after it, begun by then.
        Index("ix_overdue_span_moment", "ends_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # none: from then on


class OpenOverdueSpans(Model):
    """One row: how many overdue spans are open (one per patient in follow-up: from their last
    visit's cadence on, or their record's creation), kept with the spans — a period's count is
    then this number less those begun after its end, and plus those closed since: a range of
    the index as long as the time since, not as long as the patients."""

    __tablename__ = "open_overdue_spans"

    id: Mapped[int] = mapped_column(primary_key=True)
    spans: Mapped[int] = mapped_column(Integer)


class ReferralMonth(Model):
    """How many referrals were received in one UTC month from each kind of origin (the category
    of the partner who sent them, or « direct ») with each decision, kept by
    domain/referral_months.py after every change of a referral or of a partner's category, never
    written by hand: a period's referrals by origin and decision are then the sum of its whole
    UTC months, and the referrals of the days its bounds cut off, read from the referrals."""

    __tablename__ = "referral_month"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    category: Mapped[str] = mapped_column(String(30), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    referrals: Mapped[int] = mapped_column(Integer)
