"""A sliding-window rate limit kept in the database (stateless app processes share it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from dalia_site.database import DbSession
from dalia_site.models import RateLimitHit


def allow(session: DbSession, key: str, limit: int, window: timedelta, now: datetime) -> bool:
    """Count this hit against `key`; False once `limit` hits fall within `window`."""
    session.execute(delete(RateLimitHit).where(RateLimitHit.at < now - timedelta(days=1)))
    # Written first, counted after: requests racing each other all see each other's hits.
    session.add(RateLimitHit(key=key[:100], at=now))
    session.flush()
    recent = session.scalar(
        select(func.count())
        .select_from(RateLimitHit)
        .where(RateLimitHit.key == key[:100], RateLimitHit.at > now - window)
    )
    return (recent or 0) <= limit
