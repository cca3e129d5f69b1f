"""The schema: migrations that are idempotent and race-safe, and refuse tables that are not ours."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bgjobs.db import adapter_from_url
from bgjobs.db.migrations import (
    TABLE_COLUMNS,
    latest_version,
    load_migrations,
    split_statements,
)
from bgjobs.db.times import to_sqlite_time
from bgjobs.errors import SchemaError
from bgjobs.jobs import JobRequest
from tests.db.support import T0, is_postgres, raw_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _tables(url: str) -> set[str]:
    if is_postgres(url):
        query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {row[0] for row in raw_rows(url, query)}


def test_migrate_creates_every_table_and_is_idempotent(database_url: str) -> None:
    adapter = adapter_from_url(database_url)
    try:
        assert adapter.migrate() == latest_version("sqlite") == latest_version("postgres")
        assert adapter.migrate() == latest_version("sqlite")
    finally:
        adapter.close()
    assert set(TABLE_COLUMNS) <= _tables(database_url)
    versions = sorted(raw_rows(database_url, "SELECT version FROM jobs_schema"))
    assert versions == [(v,) for v in range(1, latest_version("sqlite") + 1)]


def test_migrate_report_says_what_this_call_applied(database_url: str) -> None:
    adapter = adapter_from_url(database_url)
    try:
        first = adapter.migrate_report()
        again = adapter.migrate_report()
    finally:
        adapter.close()
    latest = latest_version("sqlite")
    assert (first.version, first.applied) == (latest, tuple(range(1, latest + 1)))
    assert (again.version, again.applied) == (latest, ())


def test_a_version_1_database_with_rows_upgrades_and_keeps_them(database_url: str) -> None:
    dialect = "postgres" if is_postgres(database_url) else "sqlite"
    first = load_migrations(dialect)[0]
    for statement in first.statements:
        raw_rows(database_url, statement)
    raw_rows(database_url, "INSERT INTO jobs_schema (version) VALUES (1)")
    started = to_sqlite_time(T0) if dialect == "sqlite" else T0
    raw_rows(
        database_url,
        "INSERT INTO jobs_workers (id, hostname, pid, started_at, heartbeat_at) "
        "VALUES ('old', 'host', 1, ?, ?)",
        (started, started),
    )
    adapter = adapter_from_url(database_url)
    try:
        report = adapter.migrate_report()
        (old,) = adapter.list_workers()
    finally:
        adapter.close()
    assert report.applied == tuple(range(2, latest_version(dialect) + 1))
    assert (old.id, old.queues, old.job_names) == ("old", None, None)


@pytest.mark.parametrize(
    "foreign",
    [
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT)",
        "CREATE TABLE jobs_failed (id TEXT)",
        "CREATE VIEW jobs AS SELECT 1 AS id",
        "CREATE TABLE jobs_schema (name TEXT)",
    ],
    ids=["jobs", "jobs_failed", "view", "jobs_schema"],
)
def test_a_foreign_table_of_the_same_name_is_refused(database_url: str, foreign: str) -> None:
    raw_rows(database_url, foreign)
    before = _tables(database_url)
    adapter = adapter_from_url(database_url)
    try:
        with pytest.raises(SchemaError, match="not created by bgjobs"):
            adapter.migrate()
    finally:
        adapter.close()
    assert _tables(database_url) == before  # nothing half-created


def test_a_table_missing_columns_is_refused(database_url: str) -> None:
    raw_rows(database_url, "CREATE TABLE jobs_schema (version INTEGER)")
    raw_rows(database_url, "INSERT INTO jobs_schema (version) VALUES (1)")
    raw_rows(database_url, "CREATE TABLE jobs (id TEXT, name TEXT)")
    adapter = adapter_from_url(database_url)
    try:
        with pytest.raises(SchemaError, match=r"missing|lacks"):
            adapter.migrate()
    finally:
        adapter.close()


def test_a_schema_from_a_newer_bgjobs_is_refused(database_url: str) -> None:
    adapter = adapter_from_url(database_url)
    try:
        adapter.migrate()
        raw_rows(database_url, "INSERT INTO jobs_schema (version) VALUES (99)")
        with pytest.raises(SchemaError, match="newer"):
            adapter.migrate()
    finally:
        adapter.close()


def test_sqlite_stores_times_as_fixed_width_utc_text(sqlite_url: str) -> None:
    from datetime import timedelta, timezone

    adapter = adapter_from_url(sqlite_url)
    adapter.migrate()
    stockholm = timezone(timedelta(hours=1))
    try:
        adapter.enqueue(
            JobRequest("x").available_at(T0.astimezone(stockholm)), now=T0.replace(microsecond=5)
        )
    finally:
        adapter.close()
    [(created, available)] = raw_rows(sqlite_url, "SELECT created_at, available_at FROM jobs")
    assert created == "2030-01-01 12:00:00.000005"
    assert available == "2030-01-01 12:00:00.000000"
    pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"
    assert re.fullmatch(pattern, created) and re.fullmatch(pattern, available)


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    adapter = adapter_from_url(sqlite_url)
    adapter.migrate()
    adapter.close()
    assert raw_rows(sqlite_url, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.postgres
def test_postgres_stores_times_as_timestamptz(postgres_url: str) -> None:
    adapter = adapter_from_url(postgres_url)
    adapter.migrate()
    adapter.close()
    rows = raw_rows(
        postgres_url,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type = 'timestamp with time zone'",
    )
    time_columns = {f"{table}.{column}" for table, column in rows}
    assert {"jobs.created_at", "jobs.available_at", "jobs.reserved_at"} <= time_columns
    assert {"jobs_succeeded.succeeded_at", "jobs_failed.failed_at"} <= time_columns


def test_split_statements_keeps_multi_line_statements_whole() -> None:
    text = "-- a comment\nCREATE TABLE a (\n  x INT\n);\n\nCREATE INDEX i ON a (x);\n"
    assert split_statements(text) == ("CREATE TABLE a (\n  x INT\n)", "CREATE INDEX i ON a (x)")


@pytest.mark.slow
def test_four_processes_migrating_an_empty_database_at_once(database_url: str) -> None:
    start_at = str(time.time() + 2)  # a rendezvous after the imports, not a timing check
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.db.worker_process", "migrate", database_url, start_at],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert out.strip() == str(latest_version("sqlite"))
    versions = raw_rows(database_url, "SELECT version FROM jobs_schema ORDER BY version")
    assert versions == [(v,) for v in range(1, latest_version("sqlite") + 1)]
    assert set(TABLE_COLUMNS) <= _tables(database_url)
