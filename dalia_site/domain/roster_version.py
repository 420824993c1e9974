"""The roster's version, what a day's roster figures are kept against (domain/roster_figures.py):
drawn again, in the same transaction, after each flush that adds, changes or deletes a session,
a weekly pattern, an absence or a team member — whoever wrote it. A write that goes past the ORM
(the benchmark's bulk seed) calls `bump` itself. The centre's opening and closures are not in it:
the figures are kept for each opening.

A random number, not a counter: a version seen in a transaction rolled back is never drawn again
for other data."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dalia_site.models import PatternException, Shift, TeamMember, WeeklyPattern
from dalia_site.models.activity import RosterVersion

ROSTER = (Shift, WeeklyPattern, PatternException, TeamMember)
PENDING = "dalia_roster_changed"

# The version as a column of another statement (the activity figures read it with their second).
CURRENT = select(RosterVersion.version).where(RosterVersion.id == 1).scalar_subquery()


def bump(connection: Connection) -> None:
    """A new version: the figures kept for the roster as it was are no longer used."""
    connection.execute(
        update(RosterVersion).where(RosterVersion.id == 1).values(version=secrets.randbits(62))
    )


@event.listens_for(Session, "after_flush")
def _note_changed(session: Session, _context: Any) -> None:
    if any(isinstance(instance, ROSTER) for instance in (*session.new, *session.dirty, *session.deleted)):
        session.info[PENDING] = True


@event.listens_for(Session, "after_flush_postexec")
def _bump_changed(session: Session, _context: Any) -> None:
    if session.info.pop(PENDING, False):
        bump(session.connection())
