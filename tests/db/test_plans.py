"""Hot statements keep their index plans with 100,000 due jobs and 1,000,000 finished ones.

A plan check, not a timing: EXPLAIN of the adapters' own statements, run the
way the adapters run them, must walk an index and never sort the backlog or
scan a whole table. Checked twice: on tables that were just bulk-filled and
never analyzed (no planner statistics: pg_class.reltuples is -1, the state a
first big load leaves for up to a minute) and after ANALYZE.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest

from bgjobs.db.base import BaseAdapter
from bgjobs.db.queries import load_queries
from bgjobs.db.times import to_sqlite_time
from bgjobs.jobs import JobRequest
from tests.db.support import T0, is_postgres, raw_rows, sqlite_path

DUE = 100_000
FINISHED = 1_000_000
BATCH = 500  # outcomes per completion statement: the completer's biggest batch

_FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO {table}
    (id, name, payload, attempts, queue, priority, created_at, available_at, {finished_at}
     {failure_columns})
SELECT printf('{prefix}-%08d', i), 'work', 'null', 1, NULL, 0, ?, ?, ? {failure_values} FROM n
"""

_FILL_POSTGRES = """
INSERT INTO {table}
    (id, name, payload, attempts, queue, priority, created_at, available_at, {finished_at}
     {failure_columns})
SELECT '{prefix}-' || lpad(i::text, 8, '0'), 'work', 'null', 1, NULL, 0, ?, ?, ? {failure_values}
FROM generate_series(1, ?) AS i
"""

#: The statements a running system executes all the time, checked on both databases.
HOT = {
    "sqlite": (
        "claim_jobs",
        "count_claimable",
        "next_available_at",
        "claim_scheduled_job",
        "replace_scheduled_job",
        "copy_to_succeeded",
        "copy_to_failed",
        "delete_reserved_job",
        "retry_job",
        "release_job",
        "was_succeeded",
        "was_failed",
        "was_retried",
        "was_released",
        "rescue_jobs",
        "release_untracked_jobs",
        "cancel_requests",
    ),
    "postgres": (
        "claim_jobs",
        "next_available_at",
        "claim_scheduled_job",
        "succeed_jobs",
        "fail_jobs",
        "retry_jobs",
        "release_jobs",
        "rescue_jobs",
        "release_untracked_jobs",
        "cancel_requests",
    ),
}

#: PostgreSQL statements the adapter runs without the plan pins: a lookup by a
#: unique key has no other plan.
UNPINNED_POSTGRES = (
    "replace_scheduled_job",
    "insert_scheduled_jobs",
    "get_scheduled_job",
    "heartbeat_worker",
)


def _fill(url: str, table: str, prefix: str, count: int) -> None:
    failure = table == "jobs_failed"
    parts = {
        "table": table,
        "prefix": prefix,
        "finished_at": "failed_at" if failure else "succeeded_at",
        "failure_columns": ", exception, traceback" if failure else "",
        "failure_values": ", 'E: e', 't'" if failure else "",
    }
    if is_postgres(url):
        raw_rows(url, _FILL_POSTGRES.format(**parts), [T0, T0, T0, count])
    else:
        stamp = to_sqlite_time(T0)
        raw_rows(url, _FILL_SQLITE.format(**parts), [count, stamp, stamp, stamp])


@pytest.mark.slow
@pytest.mark.parametrize("analyzed", [False, True], ids=["never-analyzed", "analyzed"])
def test_hot_statements_walk_their_indexes_with_a_big_backlog(
    adapter: BaseAdapter, database_url: str, analyzed: bool
) -> None:
    postgres = is_postgres(database_url)
    if postgres:
        # Keep autovacuum from analyzing the tables behind the test's back.
        for table in ("jobs", "jobs_succeeded", "jobs_failed"):
            raw_rows(database_url, f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    for start in range(0, DUE, 20_000):
        adapter.enqueue_many([JobRequest("work", n) for n in range(start, start + 20_000)], now=T0)
    # A few reserved ones, as a running system has.
    adapter.reserve_jobs(["work"], queue="q", limit=50, owner="busy", now=T0)
    _fill(database_url, "jobs_succeeded", "done", FINISHED)
    _fill(database_url, "jobs_failed", "failed", FINISHED // 10)
    if analyzed:
        raw_rows(database_url, "ANALYZE")
    elif postgres:
        never = raw_rows(
            database_url,
            "SELECT relname FROM pg_class WHERE relname IN ('jobs', 'jobs_succeeded') "
            "AND relnamespace = current_schema()::regnamespace AND reltuples < 0",
        )
        assert len(never) == 2, "the tables were analyzed: the test would prove nothing"
    plans = _postgres_plans(database_url) if postgres else _sqlite_plans(database_url)
    claim = plans["claim_jobs"]
    assert "jobs_claim_order" in claim, claim
    assert "jobs_due" in plans["next_available_at"], plans["next_available_at"]
    for name, plan in plans.items():
        # jobs_workers holds a row per process: scanning it is fine.
        plan = plan.replace("on jobs_workers", "").replace("SCAN jobs_workers", "")
        for bad in ("TEMP B-TREE", "Sort", "Seq Scan on jobs", "Bitmap", "Hash", "SCAN jobs"):
            # SQLite's full scan reads "SCAN jobs"; "SCAN json_each" is the batch itself.
            assert bad not in plan.replace("SCAN jobs USING", "walk"), (name, plan)
    # And the claim itself still takes exactly its limit, in order.
    claimed = adapter.reserve_jobs(["work"], queue="q", limit=10, owner="w", now=T0)
    assert [job.payload for job in claimed] == list(range(50, 60))


def _params(now: Any, batch: Any) -> dict[str, Any]:
    return {
        "names": ["work"],
        "queue": "q",
        "limit": 10,
        "owner": "w",
        "now": now,
        "cutoff": now,
        "before": now,
        "key": "k",
        "schedule": "every minute",
        "available_at": now,
        "id": "x",
        "attempts": 1,
        "exception": "E: e",
        "traceback": "t",
        "last_error": "E: e",
        **batch,
    }


def _sqlite_plans(url: str) -> dict[str, str]:
    queries = load_queries("sqlite")
    conn = sqlite3.connect(sqlite_path(url))
    try:
        stamp = to_sqlite_time(T0)
        params = {**_params(stamp, {}), "names": '["work"]', "keep": '["a", "b"]'}
        plans = {}
        for name in HOT["sqlite"]:
            query = queries[name]
            bound = {**dict.fromkeys(re.findall(r":(\w+)", query)), **params}
            rows = conn.execute("EXPLAIN QUERY PLAN " + query, bound).fetchall()
            plans[name] = "\n".join(row[-1] for row in rows)
        return plans
    finally:
        conn.close()


def _postgres_plans(url: str) -> dict[str, str]:
    import psycopg

    from bgjobs.db.postgres_connections import pinned_rows

    queries = load_queries("postgres")
    ids = [f"job-{n:08d}" for n in range(BATCH)]
    batch = {
        "ids": ids,
        "owners": ["w"] * BATCH,
        "attempts": [1] * BATCH,
        "exceptions": ["E: e"] * BATCH,
        "tracebacks": ["t"] * BATCH,
        "available_ats": [T0] * BATCH,
        "errors": ["E: e"] * BATCH,
        "keys": [f"k{n}" for n in range(BATCH)],
        "schedules": ["every minute"] * BATCH,
        "keep": ids,
    }
    plans = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name in HOT["postgres"]:
            # The way the adapter runs them: with the plan pins, in one message.
            query = queries[name]
            bound = {**dict.fromkeys(re.findall(r"%\((\w+)\)s", query)), **_params(T0, batch)}
            rows = pinned_rows(conn, "EXPLAIN " + query, bound)
            plans[name] = "\n".join(row["QUERY PLAN"] for row in rows)
        for name in UNPINNED_POSTGRES:
            query = queries[name]
            bound = {**dict.fromkeys(re.findall(r"%\((\w+)\)s", query)), **_params(T0, batch)}
            explained = conn.execute("EXPLAIN " + query, bound)
            plans[name] = "\n".join(row[0] for row in explained.fetchall())
    return plans
