"""Column types shared by the models, and the clock everything reads the time from."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from dalia_site import clock
from dalia_site.clock import clock_at  # noqa: F401  (re-exported for older imports)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC, gives them back aware: same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# The models' default timestamps read the one clock (dalia_site/clock.py).
utcnow = clock.now
