"""The identity of the site a database belongs to: a backup carries it, so a restore can tell."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow


class SiteIdentity(Model):
    __tablename__ = "site_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63))
    site_uid: Mapped[str] = mapped_column(String(36), unique=True)  # a UUID made at provisioning
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
