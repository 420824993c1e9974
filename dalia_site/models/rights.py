"""Patients' rights: the history of what was rectified in a file (shown on it, erased with it)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from dalia_site.models.staff import StaffUser


class PatientRectification(Model):
    """One field of a patient's file changed: its values before and after, when, by whom. Patient
    data (the audit trail names the fields only): erased with the identity."""

    __tablename__ = "patient_rectification"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    field: Mapped[str] = mapped_column(String(60))
    before: Mapped[str] = mapped_column(String(400), default="")
    after: Mapped[str] = mapped_column(String(400), default="")

    actor: Mapped[StaffUser | None] = relationship(lazy="raise")
