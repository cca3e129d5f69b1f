"""Upgrading a database that holds version-1 rows in every table, from several processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bgjobs.db import adapter_from_url
from bgjobs.db.migrations import latest_version, load_migrations
from bgjobs.jobs import Job
from tests.db.support import is_postgres, raw_rows

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

V1_ROWS = [
    "INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, queue, priority) "
    "VALUES ('w1', 'send', '{\"to\": 1}', 0, {t}, {t}, NULL, 0)",
    "INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, reserved_at, "
    "reserved_by, priority) VALUES ('r1', 'send', 'null', 1, {t}, {t}, {t}, 'owner-1', 0)",
    "INSERT INTO jobs_succeeded (id, name, payload, attempts, queue, priority, created_at, "
    "available_at, succeeded_at) VALUES ('s1', 'send', '[1]', 1, NULL, 0, {t}, {t}, {t})",
    "INSERT INTO jobs_failed (id, name, payload, attempts, queue, priority, created_at, "
    "available_at, exception, traceback, failed_at) "
    "VALUES ('f1', 'send', '2', 4, NULL, 0, {t}, {t}, 'ValueError: x', 'tb', {t})",
    "INSERT INTO jobs_workers (id, hostname, pid, started_at, heartbeat_at) "
    "VALUES ('owner-1', 'h', 1, {t}, {t})",
]


def build_version_1(url: str) -> None:
    dialect = "postgres" if is_postgres(url) else "sqlite"
    (first,) = [m for m in load_migrations(dialect) if m.version == 1]
    stamp = "'2030-01-01 00:00:00.000000'" if dialect == "sqlite" else "'2030-01-01T00:00:00Z'"
    for statement in first.statements:
        raw_rows(url, statement)
    raw_rows(url, "INSERT INTO jobs_schema (version) VALUES (1)")
    for statement in V1_ROWS:
        raw_rows(url, statement.replace("{t}", stamp))


def test_several_processes_upgrade_a_version_1_database_holding_rows(database_url: str) -> None:
    build_version_1(database_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bgjobs", "migrate", "--db", database_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    latest = latest_version("postgres" if is_postgres(database_url) else "sqlite")
    assert all(f"version {latest}" in out for out, _ in outputs)
    versions = raw_rows(database_url, "SELECT version FROM jobs_schema ORDER BY version")
    assert versions == [(v,) for v in range(1, latest + 1)]
    adapter = adapter_from_url(database_url)
    try:
        waiting = adapter.get_job("w1")
        assert isinstance(waiting, Job) and waiting.payload == {"to": 1}
        assert waiting.timeout is None and not waiting.cancel_requested
        running = adapter.get_job("r1")
        assert running is not None and running.state == "running"
        done = adapter.get_job("s1")
        assert done is not None and done.state == "succeeded" and done.result is None
        failed = adapter.get_job("f1")
        assert failed is not None and failed.state == "failed"
        [worker] = adapter.list_workers()
        assert worker.abandoned_threads == 0
        # The upgraded schema works: cancel the running row, enqueue with a timeout.
        assert adapter.cancel("r1") == "requested"
        assert adapter.cancel("w1") == "cancelled"
    finally:
        adapter.close()
