"""Facts stored per patient and kept by the session (domain/recall.py: each patient's next step;
domain/held_visits.py: the consultations held as the activity figures count them): after each
flush, the patients it touched have their facts written again from the rows, in the same
transaction, whoever wrote the change. This module holds what both do the same way."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from dalia_site.database import hold_until_commit


def changed(instance: Any, *keys: str) -> bool:
    """Whether this flush changes any of `keys` of a loaded object."""
    state = inspect(instance)
    return any(state.attrs[key].history.has_changes() for key in keys)


def left(instance: Any) -> Collection[int]:
    """The patient an object was given to before this flush moved it to another (none else)."""
    return inspect(instance).attrs.patient_id.history.deleted or ()


def expire_loaded(model: type[Any], keys: Collection[str]) -> Callable[[Session, set[int]], None]:
    """A `then` for `keep`: the rows of `model` already loaded read `keys` afresh on next access."""

    def expire(session: Session, ids: set[int]) -> None:
        for pk in ids:
            instance = session.identity_map.get(identity_key(model, pk))
            if instance is not None:
                session.expire(instance, keys)

    return expire


# A patient's kept facts are written by one transaction at a time (database.hold_until_commit):
# two requests changing the same patient's visits at once (a double click) would otherwise both
# write their rows, the second failing on a key or missing the first one's change.
_PATIENT_LOCKS = 0x6B65  # the lock space of the patients' kept facts


def keep(
    name: str,
    touched: Callable[[Session], set[int]],
    refresh: Callable[[Connection, Collection[int]], object],
    then: Callable[[Session, set[int]], None] | None = None,
) -> None:
    """Keep facts per patient: after every flush, `touched` says which patients it may change
    (read while the flush still knows what changed), and once its statements have run their facts
    are written again by `refresh` on the session's connection; `then` follows (to expire what is
    already loaded). `name` tells the patients pending between the two apart in session.info."""
    pending = f"dalia_{name}_pending"

    @event.listens_for(Session, "after_flush")
    def _note_touched(session: Session, _context: Any) -> None:
        ids = touched(session)
        if ids:
            session.info.setdefault(pending, set()).update(ids)

    @event.listens_for(Session, "after_flush_postexec")
    def _refresh_touched(session: Session, _context: Any) -> None:
        ids = session.info.pop(pending, None)
        if ids:
            hold_until_commit(session.connection(), _PATIENT_LOCKS, ids)
            refresh(session.connection(), ids)
            if then is not None:
                then(session, ids)
