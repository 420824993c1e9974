"""One unit of work per request: what a view changes is committed once, after its response is
built, or rolled back once. No view commits or rolls back itself.

- A response below 400 commits what the request wrote (the change, and the audit trace of what
  the page shows: rendered first, so the commit comes after everything the page read).
- An exception, a 5xx or a 4xx rolls back, so a refused or failed request writes nothing.
- A change refused by a rule (`discard`) is rolled back at once, so the page that says why reads
  the data as it was; what the request writes afterwards (the trace of that page) is then kept,
  although the response is a 4xx. `keep` does the same without a rollback, for a refusal that is
  itself a record (a failed login counted against its account).
- `commit_now` is for the rate-limit decorator only: a hit is counted before the view runs, in its
  own transaction, so a request refused afterwards still counts.

The session does not expire objects on commit, so nothing is read again after the commit.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from dalia_site.extensions import db

_KEEP = "_unit_of_work_keep"


def discard() -> None:
    """Roll back what the request changed so far (a refused change: nothing of it is written);
    what it writes afterwards is committed with the 4xx response that tells the refusal."""
    db.session.rollback()
    keep()


def keep() -> None:
    """Commit what the request wrote even if its response is a 4xx (never a 5xx)."""
    setattr(g, _KEEP, True)


def commit_now() -> None:
    """Commit before the view runs (rate-limit hits): nothing of the view is pending yet."""
    db.session.commit()


def abandon() -> None:
    """Roll back everything, keeping nothing: an error page is about to be shown."""
    db.session.rollback()
    setattr(g, _KEEP, False)


def _finish(response: Response) -> Response:
    """after_request: commit or roll back, once. A commit that fails is answered as the error it
    is (503 when the database does not answer, 500 otherwise): nothing is acknowledged unsaved."""
    status = response.status_code
    if status < 400 or (status < 500 and g.get(_KEEP, False)):
        try:
            db.session.commit()
        except SQLAlchemyError as error:
            db.session.rollback()
            current_app.logger.exception("commit failed")
            from dalia_site.errors import database_unavailable, server_error

            if isinstance(error, OperationalError):
                response, status = database_unavailable(error)
            else:
                response, status = server_error(error)
            response.status_code = status
        return response
    db.session.rollback()
    return response


def _discard_on_error(error: BaseException | None) -> None:
    """teardown_request: an exception that escaped the handlers leaves nothing half-written."""
    if error is not None:
        db.session.rollback()


def init_app(app: Flask) -> None:
    app.after_request(_finish)
    app.teardown_request(_discard_on_error)
