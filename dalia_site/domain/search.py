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

from typing import Any

from sqlalchemy import Select, literal, literal_column, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

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


def all_words(id_column: Any, column: Any, query: str) -> list[Any]:
    """SQL conditions: every word of `query`, folded, is in `column` (a folded search text of
    one of INDEXED_TABLES, whose primary key is `id_column`)."""
    conditions = []
    for word in fold(query).split():
        if len(word) < SHORTEST_INDEXED:
            conditions.append(column.contains(word, autoescape=True))
        else:
            # A quoted FTS5 phrase: fold() leaves letters, digits and "_" only, never a quote.
            conditions.append(_HasWord(id_column, column, literal(f'"{word}"'), literal(_like_pattern(word))))
    return conditions
