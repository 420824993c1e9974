"""Links and lists: the page number, paginating a query, links to other pages, public links."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, request, url_for
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy import select

from dalia_site.database import count_up_to, known_rows, page_count
from dalia_site.extensions import db

MAX_PAGE = 100_000


def page_number() -> int:
    """The ?page= of a list, bounded: a huge or odd value is page 1, never an overflow."""
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_PAGE))):
        return 1
    return int(raw) if 0 < int(raw) <= MAX_PAGE else 1


def paginate(query, per_page: int, total: int | None = None, known: int = 0):
    """A page of `query`; a page past the end is a 404 (page 1 of an empty list is not).
    `total`: the rows `query` finds, when the caller counted them (from an index) already — up
    to `known` rows when given (None: more than that)."""
    if total is None and not known:
        return _found(
            db.paginate(query, page=page_number(), per_page=per_page, max_per_page=per_page, error_out=False)
        )
    return _paged(CountedBefore, query, per_page, total=total, known=known)


def _paged(pagination: type[SelectPagination], query, per_page: int, **counted: Any):
    """The current page of `query`, by a `pagination` that counts as `counted` says."""
    return _found(
        pagination(
            select=query,
            session=db.session,
            page=page_number(),
            per_page=per_page,
            max_per_page=per_page,
            error_out=False,
            **counted,
        )
    )


class CountedBefore(SelectPagination):
    """A page of `select`'s entities whose total the caller counted (from an index), up to
    `known` rows when given: `total` None past them, and `pages` the pages known so far."""

    def _query_count(self) -> int | None:  # type: ignore[override]
        self.known = self._query_args["known"]
        total: int | None = self._query_args["total"]
        return total

    @property
    def pages(self) -> int:
        return page_count(self.total, self.known, self.per_page)


def _found(page):
    if page.page > 1 and not page.items:
        abort(404)
    return page


class CountedUpTo(SelectPagination):
    """A page of rows (columns, not entities) whose total is counted up to a bound only: a list
    of years (the audit log) is not read whole to show its first page. `total` is None past the
    bound, and `pages` is then the pages known so far (« Page 1 sur plus de 20 »)."""

    def _query_items(self) -> list[Any]:
        rows = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        return list(self._query_args["session"].execute(rows).all())

    def _query_count(self) -> int | None:  # type: ignore[override]
        self.known = known_rows(self._query_args["most"], self._query_offset + self.per_page)
        counted = select(count_up_to(self._query_args["select"], self.known + 1))
        total: int = self._query_args["session"].execute(counted).scalar_one()
        return total if total <= self.known else None

    @property
    def pages(self) -> int:
        return page_count(self.total, self.known, self.per_page)

    @property
    def has_next(self) -> bool:
        return self.total is None or super().has_next


def paginate_rows(query, per_page: int, most: int):
    """A page of `query`'s rows, its total counted up to `most` rows (or the page's end); a page
    past the end is a 404 (page 1 of an empty list is not)."""
    return _paged(CountedUpTo, query, per_page, most=most)


def page_url(page: int) -> str:
    """The current list's URL at another page, keeping its filters (and only real ones)."""
    args = {
        k: v for k, v in request.args.items() if k != "page" and k != "endpoint" and not k.startswith("_")
    }
    endpoint = request.endpoint
    if endpoint is None:
        raise RuntimeError("page_url is for a list's own request (one whose route matched)")
    values: dict[str, Any] = {**(request.view_args or {}), **args, "page": page}
    return url_for(endpoint, **values)


def public_url(endpoint: str, **values) -> str:
    """An absolute link to give out (a private link shown once): on the public host of
    site.toml when it has one, never the Host header the request happened to carry."""
    domain = current_app.config["SITE"]["domain"]
    if domain:
        return f"https://{domain}{url_for(endpoint, **values)}"
    return url_for(endpoint, **values, _external=True)
