"""Alembic environment of the kit, run two ways:

- by `dalia_site.database.upgrade` (provisioning, `dalia upgrade`, tests): no Flask, the caller
  passes an open connection in `config.attributes["connection"]` and owns its transaction;
- by `flask db migrate|upgrade|…` (developers, Flask-Migrate): the app's engine.
"""

import logging
from logging.config import fileConfig

from alembic import context

import dalia_site.models  # noqa: F401  (every table on db.metadata, for autogenerate)
from dalia_site.database import db

config = context.config

# Keep the app's own loggers working when migrations run inside a command or a test.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_metadata = db.metadata
# What Flask-Migrate's defaults give `flask db`, given to plain Alembic too.


def include_object(obj, name, type_, reflected, compare_to):
    """The search indexes (migration 0012) are not models: FTS5 tables on SQLite (with their
    shadow tables), trigram indexes on PostgreSQL; autogenerate leaves them alone."""
    from dalia_site.domain.search import INDEXED_TABLES, index_table

    if type_ == "table" and any(name.startswith(index_table(t)) for t in INDEXED_TABLES):
        return False
    return not (type_ == "index" and name.endswith("_search_text_trigram"))


CONFIGURE_ARGS = {
    "compare_type": True,
    "render_as_batch": True,  # SQLite alters tables by copying
    "include_object": include_object,
}


def render_item(type_, obj, autogen_context):
    """Our column types are plain SQL types underneath: migrations name those, not our classes."""
    from dalia_site.models.types import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def process_revision_directives(context, revision, directives):
    """`flask db migrate` writes no empty migration when the models did not change."""
    if getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")


def flask_migrate_args():
    """The engine and the context arguments of the app Flask-Migrate runs in."""
    from flask import current_app

    extension = current_app.extensions["migrate"]
    args = dict(CONFIGURE_ARGS, **extension.configure_args)
    return extension.db.engine, args


def run_migrations_offline():
    """`flask db upgrade --sql`: the SQL of the migrations, for the app's database URL."""
    engine, args = flask_migrate_args()
    args.setdefault("render_item", render_item)
    context.configure(
        url=engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        **args,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection, args):
    args.setdefault("render_item", render_item)
    if args.get("process_revision_directives") is None:
        args["process_revision_directives"] = process_revision_directives
    context.configure(connection=connection, target_metadata=target_metadata, **args)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection, dict(CONFIGURE_ARGS))
        return
    engine, args = flask_migrate_args()
    with engine.connect() as connection:
        run_migrations(connection, args)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
