"""A sliding-window rate limit kept in the database (stateless app processes share it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from dalia_site.database import DbSession
from dalia_site.models import RateLimitHit


def _recent(session: DbSession, key: str, window: timedelta, now: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(RateLimitHit)
            .where(RateLimitHit.key == key, RateLimitHit.at > now - window)
        )
        or 0
    )


def allow(session: DbSession, key: str, limit: int, window: timedelta, now: datetime) -> bool:
    """Count this hit against `key`; False once `limit` hits fall within `window`.

    A refused request writes nothing: once limited, a flood of requests adds no rows (each used to
    add one). Rows older than a day are pruned."""
    key = key[:100]
    if _recent(session, key, window, now) >= limit:
        return False
    session.execute(delete(RateLimitHit).where(RateLimitHit.at < now - timedelta(days=1)))
    # Written first, counted after: requests racing each other all see each other's hits.
    session.add(RateLimitHit(key=key, at=now))
    session.flush()
    return _recent(session, key, window, now) <= limit
