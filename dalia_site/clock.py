"""The one clock of the kit: `now()` in UTC, `today(zone)` in the site's timezone.

The domain never reads a clock: views, commands and the demo read it here and pass `now` or
`today` down. `clock_at` freezes it (the demo builds a past year through the domain; tests fix
the day), and it is frozen for everything that reads it here, the models' timestamps included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, tzinfo

_frozen_now: ContextVar[datetime | None] = ContextVar("frozen_now", default=None)


def now() -> datetime:
    """This moment, aware, in UTC."""
    frozen = _frozen_now.get()
    return frozen if frozen is not None else datetime.now(UTC)


def today(zone: tzinfo) -> date:
    """Today's date in `zone` (the site's timezone), never the server's."""
    return now().astimezone(zone).date()


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Within the block, `now()` answers `moment` (an aware datetime)."""
    if moment.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _frozen_now.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _frozen_now.reset(token)


# The dates the kit works with, in one form: a date outside is refused (or ignored in a URL).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)


def within_range(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY
