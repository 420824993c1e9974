"""The outbox: emails are written in the transaction that causes them, then sent (and retried)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow
from dalia_site.models.vocabulary import MessageChannel, VocabularyType, one_of


class OutboundEmail(Model):
    __tablename__ = "outbound_email"
    __table_args__ = (
        Index("ix_outbound_email_pending", "sent_at", "attempts"),
        CheckConstraint(one_of("channel", MessageChannel), name="channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Taken by one sender at a time: two runs (or two hosts) never send the same email.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A reminder belongs to its appointment: dropped if that is cancelled or past before sending.
    # Indexed (migration 0022): an appointment's messages are read by it (the access document,
    # an erasure), and SQLite checks the key on every appointment deleted.
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # Email, or SMS through the site's provider ([sms] of site.toml): `to` is then an E.164 number.
    channel: Mapped[MessageChannel] = mapped_column(
        VocabularyType(MessageChannel, 5), default=MessageChannel.EMAIL
    )
    # After a failure, not before this (backoff doubling at each attempt).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
