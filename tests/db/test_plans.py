"""The claim stays on its index with 100,000 due jobs and 1,000,000 finished ones.

A plan check, not a timing: EXPLAIN (QUERY PLAN) of the adapters' own claim
queries must walk the claim-order index and never sort the backlog.
"""

from __future__ import annotations

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

_FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO jobs_succeeded
    (id, name, payload, attempts, queue, priority, created_at, available_at, succeeded_at)
SELECT printf('done-%08d', i), 'work', 'null', 1, NULL, 0, ?, ?, ? FROM n
"""

_FILL_POSTGRES = """
INSERT INTO jobs_succeeded
    (id, name, payload, attempts, queue, priority, created_at, available_at, succeeded_at)
SELECT 'done-' || lpad(i::text, 8, '0'), 'work', 'null', 1, NULL, 0, ?, ?, ?
FROM generate_series(1, ?) AS i
"""


def _claim_params(now: Any) -> dict[str, Any]:
    return {"names": ["work"], "queue": "q", "limit": 10, "owner": "w", "now": now}


@pytest.mark.slow
def test_the_claim_walks_its_index_with_a_big_backlog(
    adapter: BaseAdapter, database_url: str
) -> None:
    for start in range(0, DUE, 20_000):
        adapter.enqueue_many([JobRequest("work", n) for n in range(start, start + 20_000)], now=T0)
    stamp = to_sqlite_time(T0)
    if is_postgres(database_url):
        raw_rows(database_url, _FILL_POSTGRES, [T0, T0, T0, FINISHED])
        raw_rows(database_url, "ANALYZE")
        plans = _postgres_plans(database_url)
    else:
        raw_rows(database_url, _FILL_SQLITE, [FINISHED, stamp, stamp, stamp])
        raw_rows(database_url, "ANALYZE")
        plans = _sqlite_plans(database_url)
    claim = plans["claim_jobs"]
    assert "jobs_claim_order" in claim, claim
    for sorting in ("TEMP B-TREE", "Sort", "Seq Scan on jobs "):
        assert sorting not in claim, claim
    for name, plan in plans.items():
        assert "SCAN jobs\n" not in plan + "\n" and "Seq Scan on jobs " not in plan, (name, plan)
    # And the claim itself still takes exactly its limit, in order.
    claimed = adapter.reserve_jobs(["work"], queue="q", limit=10, owner="w", now=T0)
    assert [job.payload for job in claimed] == list(range(10))


def _sqlite_plans(url: str) -> dict[str, str]:
    queries = load_queries("sqlite")
    conn = sqlite3.connect(sqlite_path(url))
    try:
        params = {**_claim_params(to_sqlite_time(T0)), "names": '["work"]'}
        plans = {}
        for name in ("claim_jobs", "count_claimable", "next_available_at"):
            rows = conn.execute("EXPLAIN QUERY PLAN " + queries[name], params).fetchall()
            plans[name] = "\n".join(row[-1] for row in rows)
        return plans
    finally:
        conn.close()


def _postgres_plans(url: str) -> dict[str, str]:
    import psycopg

    queries = load_queries("postgres")
    plans = {}
    with psycopg.connect(url) as conn:
        for name in ("claim_jobs", "next_available_at"):
            rows = conn.execute("EXPLAIN " + queries[name], _claim_params(T0)).fetchall()
            plans[name] = "\n".join(row[0] for row in rows)
        conn.rollback()
    return plans
