"""A site's database is built by the migrations alone (`dalia new-site`, `dalia upgrade`): after
them, its tables, columns, types and indexes are exactly what the models declare — an index
declared on a model but forgotten by its migration would silently leave a page scanning. The
search index (SQLite FTS5 tables, PostgreSQL trigram indexes) lives outside the models."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dalia_site import database
from dalia_site.database import Model


def _outside_the_models(difference) -> bool:
    """The search index's own tables and indexes, which migrations 0012 build by hand."""
    kind, thing = difference[0], difference[1]
    name = getattr(thing, "name", "") or ""
    return kind in ("remove_table", "remove_index") and "_search" in name or name.endswith("_trgm")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    return request.param


def test_the_migrated_schema_is_the_models_schema(site_dir):
    with database.open_site(site_dir) as site, site.engine.connect() as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy cannot reflect the expression index on names
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Model.metadata) if not _outside_the_models(d)]
    assert differences == []
