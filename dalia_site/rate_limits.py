"""Rate-limit policy, declared on a view beside its roles: `@rate_limited(Limit(...), ...)`.

The hits are counted in the database (stateless app processes share them) before the view runs,
and committed at once: a request that the view then refuses still counts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import abort, request
from flask.typing import ResponseReturnValue

from dalia_site import clock, unit_of_work
from dalia_site.domain import ratelimit
from dalia_site.extensions import db


def by_address(**_view_args: Any) -> str | None:
    """The client's address (the proxy's forwarded one behind nginx)."""
    return request.remote_addr or "?"


@dataclass(frozen=True)
class Limit:
    """At most `hits` requests per `window` for each key; `key` is computed from the view's
    arguments, and a request whose key is None is not counted against this limit."""

    scope: str
    hits: int
    window: timedelta
    key: Callable[..., str | None] = by_address
    methods: frozenset[str] = frozenset({"POST"})


def rate_limited(
    *limits: Limit, refused: Callable[[], ResponseReturnValue] | None = None
) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """Count the request against each limit; beyond one, answer `refused()` (default: 429)."""

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @functools.wraps(view)
        def limited(**view_args: Any) -> ResponseReturnValue:
            now = clock.now()
            counted = False
            for limit in limits:
                if request.method not in limit.methods or (key := limit.key(**view_args)) is None:
                    continue
                if not ratelimit.allow(db.session, f"{limit.scope}:{key}", limit.hits, limit.window, now):
                    unit_of_work.abandon()  # a limited request writes nothing, not even its hits
                    return refused() if refused else abort(429)
                counted = True
            if counted:
                unit_of_work.commit_now()
            return view(**view_args)

        return limited

    return decorate
