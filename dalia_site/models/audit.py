"""The audit trail: who did what to which object, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from dalia_site.models.staff import StaffUser


# Audit events of reads (and of signing in or out): they change no activity figure, so a patient
# view, the agenda or the queue leaves the figures cached (domain/activity.FiguresCache).
READS = (
    "patient.view",
    "patient.list_view",
    "referral.view",
    "referral.list_view",
    "patient_link.view",
    "auth.login",
    "auth.login_failed",
    "auth.logout",
)
# Every other event: written out, as the partial index below and the query it serves must say it
# alike for the database to match them (a bound parameter would not be).
WRITES = text("action NOT IN (" + ", ".join(f"'{action}'" for action in READS) + ")")


class AuditEvent(Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_object", "object_type", "object_id"),
        # The newest write, the figures cache's key: one step back along this index, however
        # many reads follow it (migration 0023).
        Index("ix_audit_event_write", "id", sqlite_where=WRITES, postgresql_where=WRITES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Staff accounts are deactivated, never deleted, so the actor stays named.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str | None] = mapped_column(String(45))

    actor: Mapped[StaffUser | None] = relationship(lazy="raise")
