"""Shared fixtures: a real PostgreSQL server for the session, fresh databases per test.

- `postgres_server_url`: the session's server (started on first use by
  tests/pg_server.py and stopped at the end), or BGJOBS_TEST_DATABASE_URL.
- `postgres_url`: a URL whose search_path is a fresh, empty schema of that
  server, dropped after the test: as good as a new database, at a fraction
  of the cost.
- `sqlite_url`: a fresh SQLite file in the test's tmp_path.
- `database_url` / `adapter`: the same test run against both databases
  (the contract suite); `adapter` is migrated and closed afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest
from hypothesis import settings

from tests.pg_server import PostgresServer

if TYPE_CHECKING:
    from bgjobs.db.base import BaseAdapter

settings.register_profile("ci", deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

TEST_DATABASE = "bgjobs_test"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a database on the session's PostgreSQL server."""
    override = os.environ.get("BGJOBS_TEST_DATABASE_URL")
    if override:
        if not override.startswith(("postgresql://", "postgres://")):
            raise pytest.UsageError(
                f"BGJOBS_TEST_DATABASE_URL must be a postgresql:// URL (got {override!r})"
            )
        yield override
        return
    server = PostgresServer.start_new()
    try:
        yield server.create_database(TEST_DATABASE)
    finally:
        server.stop()


def with_search_path(url: str, schema: str) -> str:
    """`url` with `options=-c search_path=<schema>` added (kept alongside existing options)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    option = f"-c search_path={schema}"
    query["options"] = f"{query['options']} {option}" if "options" in query else option
    # quote, not quote_plus: libpq does not read '+' as a space.
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL whose tables land in a fresh, empty schema."""
    import psycopg
    from psycopg import sql

    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield with_search_path(postgres_server_url, schema)
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """A URL for a fresh SQLite file (the path is absolute, hence four slashes)."""
    return f"sqlite:///{os.path.join(os.fspath(tmp_path), 'jobs.db')}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of each kind in turn."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def adapter(database_url: str) -> Iterator[BaseAdapter]:
    """A migrated adapter on a fresh database of each kind in turn."""
    from bgjobs.db import adapter_from_url

    db = adapter_from_url(database_url)
    db.migrate()
    yield db
    db.close()
