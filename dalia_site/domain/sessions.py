"""Staff sessions: one row per browser logged in, listed on « Mes sessions ».

A login opens a session with a new random token (the cookie carries it: a token fixed before the
login is never reused). A session is valid while it is not ended, younger than the site's
absolute lifetime (12 hours by default, on top of the idle timeout), and its `generation` is still
the account's session_token — logout, a password or role change, a deactivation rotate that one
and so end every session of the account at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update

from dalia_site.database import DbSession
from dalia_site.domain import audit
from dalia_site.models import StaffSession, StaffUser

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


def _valid(now: datetime, max_age: timedelta) -> tuple[ColumnElement[bool], ...]:
    return (
        StaffSession.ended_at.is_(None),
        StaffSession.generation == StaffUser.session_token,
        StaffSession.created_at > now - max_age,
        StaffUser.active.is_(True),
    )


def find(
    session: DbSession, token: str, *, now: datetime, max_age: timedelta
) -> tuple[StaffUser, StaffSession] | None:
    """The account and session of a cookie's token, if that session is still valid (one query)."""
    row = session.execute(
        select(StaffUser, StaffSession)
        .join(StaffSession, StaffSession.user_id == StaffUser.id)
        .where(StaffSession.token == token, *_valid(now, max_age))
    ).first()
    if row is None:
        return None
    user, found = row
    if now - found.last_seen_at > TOUCH_EVERY:
        found.last_seen_at = now
    return user, found


def active(session: DbSession, user: StaffUser, *, now: datetime, max_age: timedelta) -> list[StaffSession]:
    """The account's valid sessions, the most recently seen first."""
    return list(
        session.scalars(
            select(StaffSession)
            .join(StaffUser, StaffSession.user_id == StaffUser.id)
            .where(StaffSession.user_id == user.id, *_valid(now, max_age))
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


def end_others(session: DbSession, user: StaffUser, keep: StaffSession, *, now: datetime) -> int:
    """End every session of the account but `keep` (this browser)."""
    ended = session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.id != keep.id, StaffSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(ended, "rowcount", 0) or 0)
    audit.record(
        session, user, "auth.sessions_ended", "staff_user", user.id, f"Autres sessions fermées ({count})"
    )
    return count
