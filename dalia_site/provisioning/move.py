"""Move a SQLite site to an empty PostgreSQL database, in one maintenance window.

While it runs, the command holds SQLite's write lock: a site left running serves read-only (its
writes wait, then fail), and the copy is one consistent snapshot. In one PostgreSQL transaction
it creates the schema (the migrations, up to the site's revision), copies every table, sets the
sequences and compares each table's row count and checksum with SQLite's. Only then is it
committed, the SQLite file kept in backups/ and site.toml switched. Any failure before the switch
rolls the transaction back: PostgreSQL is left empty and the site on SQLite, as it was.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import sqlite3
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Table, create_engine, func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from dalia_site import clock, database
from dalia_site.config import SITE_FILE
from dalia_site.database import open_site
from dalia_site.domain.search import INDEXED_TABLES, index_table

BATCH = 5000
# Tables of the machinery, not of the site: alembic_version is written by the migrations.
NOT_COPIED = {"alembic_version", "sqlite_sequence"}
# SQLite's search indexes (FTS5 tables and their shadow tables): PostgreSQL has its own, made by
# the migrations from the copied rows.
SEARCH_INDEX_TABLES = tuple(index_table(name) for name in INDEXED_TABLES)


class MoveError(Exception):
    """The move did not happen; the message is one French line. The site is still on SQLite."""


@dataclass(frozen=True)
class TableCheck:
    name: str
    rows: int
    checksum: str  # sha256 of the rows in primary-key order, the same on both sides


@dataclass(frozen=True)
class MoveResult:
    tables: list[TableCheck]
    sqlite_backup: Path
    url: str  # without its password

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def _canonical(value: object) -> object:
    """One text form per value, whichever database it was read from (through the same types)."""
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def table_check(connection: Connection, table: Table) -> TableCheck:
    """Row count and checksum of `table` read through `connection`, in primary-key order."""
    digest = hashlib.sha256()
    rows = 0
    result = connection.execution_options(yield_per=BATCH).execute(
        select(table).order_by(*table.primary_key.columns)
    )
    for row in result:
        digest.update(json.dumps([_canonical(v) for v in row], ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
        rows += 1
    count = connection.scalar(select(func.count()).select_from(table))
    if count != rows:
        raise MoveError(f"table {table.name} : {count} lignes comptées, {rows} lues")
    return TableCheck(table.name, rows, digest.hexdigest())


def _copy(source: Connection, target: Connection, table: Table) -> None:
    """The table's rows, replacing the ones the migrations seeded (e.g. the centre's settings)."""
    target.execute(table.delete())
    result = source.execution_options(yield_per=BATCH).execute(select(table))
    for rows in result.mappings().partitions(BATCH):
        target.execute(table.insert(), [dict(r) for r in rows])


def _set_sequences(target: Connection, table: Table) -> None:
    """The next id PostgreSQL gives is after the copied ones (ids were copied, not generated)."""
    for column in table.primary_key.columns:
        sequence = target.scalar(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
        )
        if sequence:
            highest = target.scalar(select(func.max(column)))
            target.execute(
                text("SELECT setval(:s, :v, :called)"),
                {"s": sequence, "v": highest or 1, "called": highest is not None},
            )


def _switch_site_toml(folder: Path, url: str) -> None:
    """[database] url = the new URL, the rest of the file (comments included) unchanged."""
    path = folder / SITE_FILE
    before = path.read_text(encoding="utf-8")
    section = re.search(r"(?ms)^\[database\]\s*$(.*?)(?=^\[|\Z)", before)
    if not section or not re.search(r"(?m)^url\s*=.*$", section.group(1)):
        raise MoveError(f"{path} : pas de clé url dans [database] à remplacer")
    body = re.sub(r"(?m)^url\s*=.*$", lambda _: f"url = {json.dumps(url)}", section.group(1), count=1)
    after = before[: section.start(1)] + body + before[section.end(1) :]
    if tomllib.loads(after).get("database", {}).get("url") != url:
        raise MoveError(f"{path} : réécriture de [database] url impossible")
    partial = path.with_name(f".{SITE_FILE}.partial")
    partial.write_text(after, encoding="utf-8")
    os.chmod(partial, path.stat().st_mode & 0o777)
    partial.replace(path)


def _keep_sqlite(source_path: Path, backup: Path) -> None:
    """A copy of the SQLite database as it was moved, made with SQLite's backup API (it reads
    through the lock this command holds), 0600 from its first byte."""
    os.close(os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(source_path)
    destination = sqlite3.connect(backup)
    try:
        with destination:
            source.backup(destination)
    finally:
        destination.close()
        source.close()


def move_to_postgresql(
    folder: Path, url: str, progress: Callable[[str], None] = lambda step: None
) -> MoveResult:
    """Move the SQLite site in `folder` to the empty PostgreSQL database at `url`."""
    import dalia_site.models  # noqa: F401 - every table in the metadata

    try:
        target_url = make_url(url)
    except ArgumentError as error:
        raise MoveError(f"URL de base invalide : {url!r}") from error
    if not target_url.get_backend_name() == "postgresql":
        raise MoveError(f"{target_url.render_as_string()} n'est pas une base PostgreSQL")
    shown = target_url.render_as_string(hide_password=True)
    with open_site(folder) as site:
        if not site.is_sqlite:
            raise MoveError(f"le site {folder.name} est déjà sur {site.engine.url.get_backend_name()}")
        revision = database.current_revision(site.engine)
        if revision != database.head_revision():
            raise MoveError(f"schéma en version {revision} : lancez d'abord `dalia upgrade {folder.name}`")
        tables = database.db.metadata.sorted_tables
        found = {
            name
            for name in inspect(site.engine).get_table_names()
            if name not in NOT_COPIED and not name.startswith(SEARCH_INDEX_TABLES)
        }
        unknown = found - {t.name for t in tables}
        if unknown:
            raise MoveError(f"table inconnue dans la base SQLite : {sorted(unknown)[0]} (rien n'a été copié)")
        sqlite_path = Path(site.engine.url.database or "")
        stamp = f"{clock.now():%Y%m%d-%H%M%S}"
        backup = folder / "backups" / f"{site.site['slug']}-avant-postgresql-{stamp}.sqlite3"

        target = create_engine(target_url)
        checks: list[TableCheck] = []
        try:
            with site.engine.connect() as source:
                # The maintenance window: SQLite's write lock, held until the switch is done.
                try:
                    source.exec_driver_sql("BEGIN IMMEDIATE")
                except SQLAlchemyError as error:
                    raise MoveError(
                        "la base SQLite est en cours d'écriture : arrêtez le site "
                        f"(systemctl stop dalia@{folder.name}) puis relancez"
                    ) from error
                try:
                    with target.begin() as pg:
                        existing = inspect(pg).get_table_names()
                        if existing:
                            raise MoveError(
                                f"la base {shown} n'est pas vide ({len(existing)} tables) : "
                                "rien n'a été copié"
                            )
                        progress(f"schéma PostgreSQL (révision {revision})")
                        _migrate(pg, revision)
                        for table in tables:
                            progress(f"copie de {table.name}")
                            _copy(source, pg, table)
                            _set_sequences(pg, table)
                        progress("comparaison des lignes et des sommes de contrôle")
                        for table in tables:
                            before, after = table_check(source, table), table_check(pg, table)
                            if before != after:
                                raise MoveError(
                                    f"table {table.name} : {before.rows} lignes dans SQLite, {after.rows} "
                                    "dans PostgreSQL, ou sommes de contrôle différentes : rien n'a été changé"
                                )
                            checks.append(after)
                        progress(f"copie de la base SQLite : {backup.name}")
                        _keep_sqlite(sqlite_path, backup)
                    # Committed: now the site may point at PostgreSQL.
                    try:
                        _switch_site_toml(folder, url)
                    except BaseException:
                        _empty(target)
                        raise
                finally:
                    source.rollback()
        except BaseException as error:
            backup.unlink(missing_ok=True)  # site.toml was not switched: the site is on SQLite
            if isinstance(error, SQLAlchemyError):
                first = str(error).strip().splitlines()[0]
                raise MoveError(
                    f"copie vers {shown} impossible : {first} (le site reste sur SQLite)"
                ) from error
            raise
        finally:
            target.dispose()
    # The site now reads PostgreSQL; the SQLite file lives on as the backup copy above.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    return MoveResult(checks, backup, shown)


def _migrate(connection: Connection, revision: str | None) -> None:
    from alembic import command

    command.upgrade(database.alembic_config(connection), revision or "head")


def _empty(target) -> None:
    """Undo a committed copy whose site.toml could not be switched: the database empty again."""
    with target.begin() as pg:
        database.db.metadata.drop_all(pg)
        pg.execute(text("DROP TABLE IF EXISTS alembic_version"))
