"""Pruning the schedules' history reads its partial index, however big the history is.

The monitor runs the two prune statements every heartbeat in every process; on a
history of many keys with nothing old enough to delete, a scan of the table
each time would be the cost of the whole feature. A plan check, not a timing,
on tables never analyzed (no planner statistics) and analyzed.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

import pytest

from bgjobs.db.base import BaseAdapter
from bgjobs.db.queries import load_queries
from bgjobs.db.times import to_sqlite_time
from tests.db.support import T0, is_postgres, raw_rows, sqlite_path

ENTRIES = 200_000

_FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO jobs_schedule_runs (id, key, slot, started_at, finished_at, outcome)
SELECT printf('run-%08d', i), printf('key-%d', i % 500), ?, ?, ?,
       CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END
FROM n
"""

_FILL_POSTGRES = """
INSERT INTO jobs_schedule_runs (id, key, slot, started_at, finished_at, outcome)
SELECT 'run-' || lpad(i::text, 8, '0'), 'key-' || mod(i, 500), ?, ?, ?,
       CASE WHEN mod(i, 10) = 0 THEN 'failed' ELSE 'succeeded' END
FROM generate_series(1, ?) AS i
"""

_NEWER_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 499)
INSERT INTO jobs_schedule_runs (id, key, slot, started_at, finished_at, outcome)
SELECT printf('newer-%d', i), printf('key-%d', i), ?, ?, ?, 'succeeded' FROM n
"""

_NEWER_POSTGRES = """
INSERT INTO jobs_schedule_runs (id, key, slot, started_at, finished_at, outcome)
SELECT 'newer-' || i, 'key-' || i, ?, ?, ?, 'succeeded' FROM generate_series(0, 499) AS i
"""

STATEMENTS = {
    "prune_schedule_runs_succeeded": "jobs_schedule_runs_kept_time",
    "prune_schedule_runs_failed": "jobs_schedule_runs_failed_time",
}


@pytest.mark.slow
@pytest.mark.parametrize("analyzed", [False, True], ids=["never-analyzed", "analyzed"])
def test_the_history_prunes_walk_their_partial_indexes(
    adapter: BaseAdapter, database_url: str, analyzed: bool
) -> None:
    postgres = is_postgres(database_url)
    older_than = T0 - timedelta(days=30)  # nothing is that old: the prune deletes nothing
    if postgres:
        raw_rows(database_url, "ALTER TABLE jobs_schedule_runs SET (autovacuum_enabled = false)")
        raw_rows(database_url, _FILL_POSTGRES, [T0, T0, T0, ENTRIES])
    else:
        stamp = to_sqlite_time(T0)
        raw_rows(database_url, _FILL_SQLITE, [ENTRIES, stamp, stamp, stamp])
    # A newer run for every key: the old entries are not the keys' newest, so they may go.
    newer = T0 + timedelta(hours=1)
    if postgres:
        raw_rows(database_url, _NEWER_POSTGRES, [newer, newer, newer])
    else:
        stamp = to_sqlite_time(newer)
        raw_rows(database_url, _NEWER_SQLITE, [stamp, stamp, stamp])
    if analyzed:
        raw_rows(database_url, "ANALYZE")
    for name, index in STATEMENTS.items():
        plan = (
            _postgres_plan(database_url, name, older_than)
            if postgres
            else _sqlite_plan(database_url, name, older_than)
        )
        assert index in plan, (name, plan)
        for bad in ("Seq Scan", "Sort", "Bitmap", "TEMP B-TREE", "SCAN jobs_schedule_runs\n"):
            assert bad not in plan + "\n", (name, plan)
    assert adapter.prune_schedule_runs("succeeded", older_than=older_than) == 0
    assert adapter.prune_schedule_runs("failed", older_than=T0 + timedelta(seconds=1)) == 500


def _sqlite_plan(url: str, name: str, older_than: object) -> str:
    query = load_queries("sqlite")[name]
    conn = sqlite3.connect(sqlite_path(url))
    try:
        bound = {"older_than": to_sqlite_time(older_than), "batch_size": 500}  # type: ignore[arg-type]
        assert set(re.findall(r":(\w+)", query)) <= set(bound)
        rows = conn.execute("EXPLAIN QUERY PLAN " + query, bound).fetchall()
        return "\n".join(str(row[-1]) for row in rows)
    finally:
        conn.close()


def _postgres_plan(url: str, name: str, older_than: object) -> str:
    import psycopg

    from bgjobs.db.postgres_connections import PIN_PLANS

    query = load_queries("postgres")[name]
    with psycopg.connect(url, autocommit=True) as conn, psycopg.ClientCursor(conn) as cursor:
        # Bound client-side and sent with the plan pins, as the adapter sends it.
        params = {"older_than": older_than, "batch_size": 500}
        cursor.execute(PIN_PLANS + "EXPLAIN " + query, params)
        cursor.nextset()
        return "\n".join(str(row[0]) for row in cursor.fetchall())
