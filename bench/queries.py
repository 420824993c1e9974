"""Counting the SQL statements each page runs: the benchmark reports them for ten years of data,
and tests/web/test_query_counts.py holds them to at most 8 whatever the data size."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import event

from dalia_site.extensions import db


def page_queries(
    app,
    client,
    pages: Iterable[tuple[str, str, bool]],
    expected_status: Callable[[str], int] = lambda label: 200,
) -> dict[str, int]:
    """{label: statements} for each (label, path, htmx partial), fetched once by `client`."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    counts = {}
    event.listen(engine, "before_cursor_execute", count)
    try:
        for label, path, partial in pages:
            statements.clear()
            response = client.get(path, headers={"HX-Request": "true"} if partial else {})
            assert response.status_code == expected_status(label), (label, path, response.status_code)
            counts[label] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counts
