"""The SQLite time text, database URLs, and the lazy psycopg import."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgjobs.db import SqliteAdapter, adapter_from_url
from bgjobs.db.times import from_sqlite_time, to_sqlite_time
from bgjobs.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

aware_times = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).flatmap(
    lambda t: st.integers(-14 * 60, 14 * 60).map(
        lambda minutes: t.astimezone(timezone(timedelta(minutes=minutes)))
    )
)


@given(aware_times)
def test_sqlite_time_text_round_trips(value: datetime) -> None:
    text = to_sqlite_time(value)
    assert len(text) == 26
    assert from_sqlite_time(text) == value


@given(aware_times, aware_times)
def test_sqlite_time_text_order_is_time_order(a: datetime, b: datetime) -> None:
    assert (to_sqlite_time(a) < to_sqlite_time(b)) == (a < b)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        to_sqlite_time(datetime(2030, 1, 1))


def test_sqlite_urls(tmp_path: Path) -> None:
    absolute = adapter_from_url(f"sqlite:///{tmp_path}/jobs.db")
    assert isinstance(absolute, SqliteAdapter) and absolute.path == f"{tmp_path}/jobs.db"
    relative = adapter_from_url("sqlite:///jobs.db")
    assert isinstance(relative, SqliteAdapter) and relative.path == "jobs.db"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "sqlite://jobs.db",
        "sqlite:///",
        "mysql://localhost/db",
        "jobs.db",
        "sqlite:///a.db?mode=ro",
    ],
)
def test_bad_urls_say_what_is_allowed(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite:///|non-empty|query"):
        adapter_from_url(url)


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="in-memory"):
        SqliteAdapter(":memory:")


def test_a_bad_postgres_conninfo_is_refused() -> None:
    from bgjobs.db import PostgresAdapter

    with pytest.raises(ConfigurationError, match="conninfo"):
        PostgresAdapter("host=localhost port")
    with pytest.raises(ConfigurationError, match="max_connections"):
        PostgresAdapter("postgresql://localhost/db", min_connections=5, max_connections=2)


@pytest.mark.postgres
def test_a_server_that_refuses_us_fails_fast_with_its_reason(postgres_server_url: str) -> None:
    from bgjobs.db import PostgresAdapter
    from bgjobs.errors import ConfigurationError

    adapter = PostgresAdapter(postgres_server_url.rsplit("/", 1)[0] + "/no_such_database")
    try:
        with pytest.raises(ConfigurationError, match="no_such_database"):
            adapter.migrate()
    finally:
        adapter.close()


def test_importing_bgjobs_db_does_not_import_psycopg() -> None:
    code = (
        "import sys, bgjobs.db, bgjobs.db.sqlite; "
        "assert 'psycopg' not in sys.modules, 'psycopg was imported'; "
        "print(bgjobs.db.PostgresAdapter.__name__); "
        "assert 'psycopg' in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "PostgresAdapter"


def test_both_adapters_satisfy_the_runtime_protocol(adapter: object) -> None:
    from bgjobs.db import Adapter

    assert isinstance(adapter, Adapter)


def test_a_postgres_url_can_say_it_is_a_pooler_and_where_to_listen() -> None:
    from bgjobs.db import PostgresAdapter

    direct = "postgresql://app@db.internal:5432/app"
    adapter = adapter_from_url(
        "postgresql://app@pgbouncer.internal:6432/app?connect_timeout=5"
        f"&bgjobs_pooled=true&bgjobs_listen_url={quote(direct, safe='')}"
    )
    assert isinstance(adapter, PostgresAdapter)
    assert adapter.pooled is True and adapter.listen_url == direct
    assert adapter.supports_notify is True
    # libpq never sees bgjobs' own parameters.
    assert adapter.conninfo == "postgresql://app@pgbouncer.internal:6432/app?connect_timeout=5"
    polling = adapter_from_url("postgresql://app@pgbouncer.internal:6432/app?bgjobs_pooled=1")
    assert isinstance(polling, PostgresAdapter)
    assert polling.listen_url is None and polling.supports_notify is False
    for bad in ("bgjobs_pooled=maybe", "bgjobs_pool=true"):
        with pytest.raises(ConfigurationError, match="bgjobs_pool"):
            adapter_from_url(f"postgresql://app@pgbouncer.internal/app?{bad}")
