"""Staff sessions: one row per browser logged in, listed on « Mes sessions ».

A login opens a session with a new random token (the cookie carries it: a token fixed before the
login is never reused). A session is valid while it is not ended, younger than the site's
absolute lifetime (12 hours by default, on top of the idle timeout), and its `generation` is still
the account's session_token — logout, a password or role change, a deactivation rotate that one
and so end every session of the account at once.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, delete, select, update

from dalia_site.database import DbSession
from dalia_site.domain import audit
from dalia_site.models import StaffSession, StaffUser
from dalia_site.models.types import UTCDateTime

TOUCH_EVERY = timedelta(minutes=5)  # « last seen » is written at most this often
KEEP_FOR = timedelta(days=30)  # then a session's row (long over) is deleted at the next login


def open_session(
    session: DbSession, user: StaffUser, ip: str | None, user_agent: str, *, now: datetime
) -> StaffSession:
    # Old rows go: a session ended or past every lifetime for a month is no longer listed.
    session.execute(delete(StaffSession).where(StaffSession.last_seen_at < now - KEEP_FOR))
    opened = StaffSession(
        user_id=user.id,
        generation=user.session_token,
        created_at=now,
        last_seen_at=now,
        ip=(ip or "")[:45],
        user_agent=user_agent[:200],
    )
    session.add(opened)
    session.flush()
    return opened


def _valid(opened_after: datetime | BindParameter[datetime]) -> tuple[ColumnElement[bool], ...]:
    """A session is valid while not ended, opened after `opened_after` (now less the absolute
    lifetime) and of the account's current generation, the account active."""
    return (
        StaffSession.ended_at.is_(None),
        StaffSession.generation == StaffUser.session_token,
        StaffSession.created_at > opened_after,
        StaffUser.active.is_(True),
    )


def find(
    session: DbSession, token: str, *, now: datetime, max_age: timedelta
) -> tuple[StaffUser, int] | None:
    """The account of a cookie's token and the number of its session, if that session is still
    valid (one query; « last seen » written at most every TOUCH_EVERY)."""
    row = session.execute(_find_statement(), {"token": token, "since": now - max_age}).first()
    if row is None:
        return None
    user, session_id, last_seen_at = row
    if now - last_seen_at > TOUCH_EVERY:
        session.execute(
            update(StaffSession)
            .where(StaffSession.id == session_id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    return user, session_id


@functools.cache
def _find_statement() -> Select[StaffUser, int, datetime]:
    """find's query, built once (it runs on every request): the account, and of its session only
    what is needed."""
    since = bindparam("since", type_=UTCDateTime())
    return (
        select(StaffUser, StaffSession.id, StaffSession.last_seen_at)
        .join(StaffSession, StaffSession.user_id == StaffUser.id)
        .where(StaffSession.token == bindparam("token"), *_valid(since))
    )


def active(session: DbSession, user: StaffUser, *, now: datetime, max_age: timedelta) -> list[StaffSession]:
    """The account's valid sessions, the most recently seen first."""
    return list(
        session.scalars(
            select(StaffSession)
            .join(StaffUser, StaffSession.user_id == StaffUser.id)
            .where(StaffSession.user_id == user.id, *_valid(now - max_age))
            .order_by(StaffSession.last_seen_at.desc(), StaffSession.id.desc())
        ).all()
    )


def end(session: DbSession, user: StaffUser, session_id: int, *, now: datetime) -> bool:
    """End one of the account's own sessions (another browser); False if not found or over."""
    ended = session.execute(
        update(StaffSession)
        .where(
            StaffSession.id == session_id, StaffSession.user_id == user.id, StaffSession.ended_at.is_(None)
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(ended, "rowcount", 0):
        return False
    audit.record(
        session, user, "auth.session_ended", "staff_user", user.id, f"Session n° {session_id} fermée"
    )
    return True


def end_others(session: DbSession, user: StaffUser, keep: int, *, now: datetime) -> int:
    """End every session of the account but the one numbered `keep` (this browser)."""
    ended = session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.id != keep, StaffSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(ended, "rowcount", 0) or 0)
    audit.record(
        session, user, "auth.sessions_ended", "staff_user", user.id, f"Autres sessions fermées ({count})"
    )
    return count
