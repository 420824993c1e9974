"""Counting the SQL statements each page runs: the benchmark reports them for ten years of data,
and tests/web/test_query_counts.py holds them to at most 8 whatever the data size. The pages are
bench/pages.py's list."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event

from bench.pages import Page
from dalia_site.extensions import db


def page_queries(app, client, pages: Iterable[Page]) -> dict[str, int]:
    """{label: statements} for each page, fetched once by `client` (its first request)."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    counts = {}
    event.listen(engine, "before_cursor_execute", count)
    try:
        for page in pages:
            statements.clear()
            response = client.get(page.path, headers={"HX-Request": "true"} if page.partial else {})
            assert response.status_code == page.status, (page.label, page.path, response.status_code)
            counts[page.label] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counts
