"""Search by words in a folded search text (patients, partners) through an index, not a scan.

Each searchable table keeps a `search_text` column (folded: lowercase, no accents, see text.fold)
and an index over it that finds a word anywhere in it (migration 0012): on SQLite an FTS5 table
with the trigram tokenizer, `<table>_search`, kept in step by triggers; on PostgreSQL a pg_trgm GIN
index on the column itself, which `LIKE '%word%'` uses. A word of one or two letters has no
trigram: it is compared row by row, but only on the rows the longer words found.

A later migration that makes SQLite copy `patient` or `partner_organisation` (batch mode
recreating the table) drops the triggers with the old table: it must create them again
(migration 0012 has their text); tests/web/test_search_index.py fails on the migrated schema
if an insert, a rename or a deletion no longer reaches the index.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Select, func, literal, literal_column, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from dalia_site.database import DbSession
from dalia_site.domain.text import fold

# Tables whose search text has an index of its own (the FTS5 tables are named after them).
INDEXED_TABLES = ("patient", "partner_organisation")
SHORTEST_INDEXED = 3  # a trigram index finds words of three letters or more


def index_table(table_name: str) -> str:
    return f"{table_name}_search"


class _HasWord(FunctionElement[bool]):
    """`search_text` holds `word` (folded): (id column, search_text column, FTS5 phrase, LIKE
    pattern); each database reads the argument its index needs."""

    name = "has_word"
    inherit_cache = True  # no Boolean type: SQLite would compare the condition with 1, off the index


@compiles(_HasWord)
def _has_word_like(element: _HasWord, compiler: Any, **kw: Any) -> str:
    _, column, _, pattern = element.clauses
    sql: str = compiler.process(column.like(pattern, escape="/"), **kw)
    return sql


@compiles(_HasWord, "sqlite")
def _has_word_fts5(element: _HasWord, compiler: Any, **kw: Any) -> str:
    id_column, column, phrase, _ = element.clauses
    fts = index_table(column.table.name)
    rowids: Select[Any] = (
        select(literal_column("rowid")).select_from(table(fts)).where(literal_column(fts).op("MATCH")(phrase))
    )
    sql: str = compiler.process(id_column.in_(rowids), **kw)
    return sql


def _like_pattern(word: str) -> str:
    escaped = word.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def all_words(id_column: Any, column: Any, query: str, in_order: bool = False) -> list[Any]:
    """SQL conditions: every word of `query`, folded, is in `column` (a folded search text of
    one of INDEXED_TABLES, whose primary key is `id_column`). `in_order`: the words match so many
    rows that reading the rows in the query's order and keeping the matches is cheaper
    (worth_reading_in_order)."""
    conditions = []
    for word in fold(query).split():
        if len(word) < SHORTEST_INDEXED:
            conditions.append(column.contains(word, autoescape=True))
        elif in_order:
            # Checked on each row as the rows are read in order; the patient list's name index
            # holds the search text (migration 0026): its own entries, not every match gathered
            # from the search index first (which grow with the rows).
            conditions.append(column.like(_like_pattern(word), escape="/"))
        else:
            conditions.append(
                _HasWord(id_column, column, literal(_phrase(word)), literal(_like_pattern(word)))
            )
    return conditions


def _phrase(word: str) -> str:
    # A quoted FTS5 phrase: fold() leaves letters, digits and "_" only, never a quote.
    return f'"{word}"'


# The index counts the matches of a search up to this many times the page's last row: beyond
# that, the list says « plus de … » (a search narrows, nobody pages through it), and counting
# costs the same whatever the number of rows.
COUNTED_PER_ROW_SHOWN = 20


class Matches(NamedTuple):
    """How a search's page is best read: `total`, the matches counted from the index (None: more
    than `known`, or the rows are counted as usual when `known` is 0), and `in_order` for
    all_words."""

    total: int | None
    in_order: bool
    known: int = 0


def matches(session: DbSession, table_name: str, query: str, last: int) -> Matches:
    """The rows of `table_name` whose search text holds every word of `query`, counted from the
    index alone (not from the rows) on SQLite when every word is long enough for it — up to
    COUNTED_PER_ROW_SHOWN × `last` — and whether the page ending at row `last` is better read in
    the list's order (worth_reading_in_order; always past the count: so many matches that the
    page is met within some rows / COUNTED_PER_ROW_SHOWN of the list's order). PostgreSQL's index
    is on the rows themselves: they are counted as usual there."""
    words = fold(query).split()
    if session.get_bind().dialect.name != "sqlite" or not words or min(map(len, words)) < SHORTEST_INDEXED:
        return Matches(None, in_order=False)
    fts = index_table(table_name)
    known = COUNTED_PER_ROW_SHOWN * last
    found: Select[Any] = (
        select(literal_column("rowid"))
        .select_from(table(fts))
        .where(literal_column(fts).op("MATCH")(" AND ".join(map(_phrase, words))))
        .limit(known + 1)
    )
    largest: Select[Any] = select(func.coalesce(func.max(literal_column("rowid")), 0)).select_from(
        table(table_name)
    )
    total, rows = session.execute(
        select(
            select(func.count()).select_from(found.subquery()).scalar_subquery(), largest.scalar_subquery()
        )
    ).one()
    if total > known:
        return Matches(None, in_order=True, known=known)
    return Matches(total, worth_reading_in_order(total, rows, last), known)


def worth_reading_in_order(matches: int, rows: int, last: int) -> bool:
    """Whether to read the rows in order (their index) up to the page's `last` row rather than
    every match then sort them: the first takes some last × rows / matches steps of the index and
    `last` rows, the second `matches` rows, a row read costing about three steps (measured on
    SQLite, 30,000 patients: 0.5 ms against 2 ms for the first page of a common name)."""
    return last * rows < 3 * matches * (matches - last)
