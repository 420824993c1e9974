import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    """Every web test runs twice: on SQLite and on the real PostgreSQL server of the session."""
    return request.param
