"""One site's database without the web app: its engine, a session, its migrations.

Provisioning, maintenance, the demo builder and the CLI need a session and Alembic, not nine
blueprints, a login manager and CSRF. They open a site folder here; `create_app` binds the same
`db` to its own engine for the web. Both read the folder through `config.flask_config` (one
validation) and get the same SQLite pragmas (the listener below is on every engine).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    CursorResult,
    Executable,
    MetaData,
    Select,
    Update,
    create_engine,
    event,
    func,
    literal,
    select,
)
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from dalia_site import MIGRATIONS_DIR

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported by the functions that migrate: the models import this module, and a
# command that only lists templates or serves pages should not pay for it. The config module
# too (it imports the models: a cycle at import time).

# Named constraints so that Alembic migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The models' declarative base. It is Flask-SQLAlchemy's so that create_app can bind it; the
# models work just as well with a plain Session bound to an engine (SiteDatabase.session).
# The web app's request session: one unit of work per request (unit_of_work.py) commits after the
# page is rendered, and objects are not expired by that commit, so nothing is read again after it.
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    session_options={"expire_on_commit": False},
)

# What the domain's functions take: a Session (the CLI's, provisioning's) or the web app's
# request-scoped proxy of one (`db.session`), which offers the same methods.
DbSession: TypeAlias = Session | scoped_session[Any]


def claim(session: DbSession, statement: Update) -> bool:
    """Run a conditional UPDATE of one row — its WHERE says the row is still free to take (a code
    step not used yet, an email or a reminder not claimed yet): True when this transaction took
    it. Of two requests racing for the row, one only gets True."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount == 1


def hold_until_commit(connection: Connection, space: int, keys: Iterable[int]) -> None:
    """PostgreSQL: wait for any other transaction holding these `keys` of the lock `space`, then
    hold them until this transaction ends (pg_advisory_xact_lock) — for rows that several
    transactions rewrite from what they read (kept facts): the second then reads what the first
    committed. Taken in order: two holders never wait on each other. SQLite's writers are one at
    a time already."""
    if connection.dialect.name == "postgresql":
        for key in sorted(keys):
            connection.execute(select(func.pg_advisory_xact_lock(space, key)))


# --- Long lists counted up to a bound ---------------------------------------------------------
# A list of years (the audit log, « À recontacter » at a busy centre) is not read whole to show
# its first page: its rows are counted up to a bound — `most`, or the end of the page shown when
# further — and past it the list says « plus de » that many.


def known_rows(most: int, shown_until: int) -> int:
    """How far a list's rows are counted: `most`, or to `shown_until` (the page's last row)."""
    return max(most, shown_until)


def page_count(total: int | None, known: int, per_page: int) -> int:
    """How many pages a list says it has: all of them, or when counted up to `known` rows only
    (`total` None), those known so far (« Page 1 sur plus de 40 »)."""
    if total is None:
        return known // per_page
    return -(-total // per_page)  # none for an empty list


def column_rows(
    session: DbSession, statement: Executable, values: Mapping[str, Any] | None = None
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The rows of a statement that selects plain columns (no ORM entity), through the session's
    connection: the ORM's layer over such a statement costs more than SQLite takes to run it, and
    a page runs several. Pending changes are flushed first, as session.execute does."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, values).all()


def count_up_to(rows: Select[Any], limit: Any) -> Any:
    """How many rows `rows` finds, counted up to `limit` (an int, or a bound parameter): a scalar
    subquery, its rows never read beyond `limit`. Past known_rows, ask one more than it."""
    matching = rows.with_only_columns(literal(1), maintain_column_froms=True).order_by(None).limit(limit)
    return select(func.count()).select_from(matching.subquery()).scalar_subquery()


def moment_function(
    name: str, type_: TypeEngine[Any], sqlite: str, postgresql: str
) -> type[FunctionElement[Any]]:
    """A SQL function of stored moments (naive UTC), written for each database: `sqlite` and
    `postgresql` are its text with {0}, {1}… for its arguments (SQLite keeps a moment as the text
    'YYYY-MM-DD HH:MM:SS.ffffff', PostgreSQL as a timestamp)."""
    function: type[FunctionElement[Any]] = type(
        name, (FunctionElement,), {"name": name, "type": type_, "inherit_cache": True}
    )

    def written(template: str) -> Any:
        def compile_it(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
            return template.format(*(compiler.process(clause, **kw) for clause in element.clauses))

        return compile_it

    compiles(function)(written(sqlite))
    compiles(function, "postgresql")(written(postgresql))
    return function


# What the models subclass. Flask-SQLAlchemy builds `db.Model` at run time, which a type checker
# cannot follow; to it, the base is the plain declarative base that `db.Model` is at heart.
if TYPE_CHECKING:

    class Model(DeclarativeBase):
        pass

else:
    Model = db.Model


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL lets readers work while a write commits; foreign keys are off in SQLite unless asked.
    synchronous=FULL: with WAL, NORMAL survives a killed process but may lose the last commits on
    a power cut; FULL syncs the WAL at each commit (no throughput change measured here)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


@dataclass
class SiteDatabase:
    """An open site: its validated configuration, its engine and one session."""

    folder: Path
    config: dict  # config.flask_config(folder): the same keys the app's config gets
    engine: Engine
    session: Session

    @property
    def site(self) -> dict:
        return self.config["SITE"]

    @property
    def settings(self) -> dict:
        return self.config["SITE_SETTINGS"]

    @property
    def mail(self) -> dict:
        return self.config["MAIL"]

    @property
    def sms(self) -> dict:
        return self.config["SMS"]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.url.get_backend_name() == "sqlite"


def engine_for(config: dict) -> Engine:
    return create_engine(config["SQLALCHEMY_DATABASE_URI"], **config["SQLALCHEMY_ENGINE_OPTIONS"])


@contextmanager
def open_site(folder: Path, *, new: bool = False) -> Iterator[SiteDatabase]:
    """The site's database; the session is closed and the connections released on the way out.
    A SQLite site whose database file is missing is an error, never silently recreated, unless
    `new` (provisioning creates it)."""
    from dalia_site.config import SiteConfigError, flask_config

    config = flask_config(folder)
    url = make_url(str(config["SQLALCHEMY_DATABASE_URI"]))
    if not new and url.get_backend_name() == "sqlite" and not Path(str(url.database)).is_file():
        raise SiteConfigError(
            f"{url.database} : base de données introuvable (restaurez une sauvegarde avec `dalia restore`)"
        )
    engine = engine_for(config)
    session = Session(engine)
    try:
        yield SiteDatabase(Path(str(config["SITE_DIR"])), config, engine, session)
    finally:
        session.close()
        engine.dispose()


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for our migrations, run on `connection` (see migrations/env.py)."""
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection for a migration run, in one transaction. SQLite alters a table by copying it
    (batch mode): with foreign keys enforced, dropping the old copy of a table other rows point
    to (a partner, a patient) fails on a site with data. They are off for the run — set outside
    its transaction, where SQLite takes the pragma — and checked before it commits."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"la migration casse des clés étrangères : {broken[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision`, in one transaction where the database allows it."""
    from alembic import command

    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)
        analyse(connection)


def analyse(connection: Connection) -> None:
    """Planner statistics of every table and index (`ANALYZE`, on SQLite and PostgreSQL alike).
    Without them SQLite picks an index by its shape alone: the roster's `member_id IN (…)` went
    through the member index and read every session of ten years instead of one week's through
    the date index. Run after the migrations (new-site, upgrade) and nightly (`dalia optimize`)."""
    connection.exec_driver_sql("ANALYZE")


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"{MIGRATIONS_DIR} : aucune migration")
    return head
