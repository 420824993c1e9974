"""Links and lists: the page number, paginating a query, links to other pages, public links."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, request, url_for

from dalia_site.extensions import db

MAX_PAGE = 100_000


def page_number() -> int:
    """The ?page= of a list, bounded: a huge or odd value is page 1, never an overflow."""
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_PAGE))):
        return 1
    return int(raw) if 0 < int(raw) <= MAX_PAGE else 1


def paginate(query, per_page: int):
    """A page of `query`; a page past the end is a 404 (page 1 of an empty list is not)."""
    page = db.paginate(query, page=page_number(), per_page=per_page, max_per_page=per_page, error_out=False)
    if page.page > 1 and not page.items:
        abort(404)
    return page


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
