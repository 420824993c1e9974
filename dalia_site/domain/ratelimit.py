"""A sliding-window rate limit kept in the database (stateless app processes share it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dalia_site.models import RateLimitHit
from dalia_site.models.types import utcnow


def allow(session: Session, key: str, limit: int, window: timedelta,
          now: datetime | None = None) -> bool:
    """Count this hit against `key`; False once `limit` hits fall within `window`."""
    now = now or utcnow()
    session.execute(delete(RateLimitHit).where(RateLimitHit.at < now - timedelta(days=1)))
    recent = session.scalar(select(func.count()).select_from(RateLimitHit).where(
        RateLimitHit.key == key, RateLimitHit.at > now - window))
    if recent >= limit:
        return False
    session.add(RateLimitHit(key=key[:100], at=now))
    return True
