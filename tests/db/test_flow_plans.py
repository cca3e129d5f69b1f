"""The limited claim keeps its plans on a big backlog in tables that were never analyzed.

SQLite: EXPLAIN QUERY PLAN of the statements the limited claim runs. PostgreSQL:
the plans the function jobs_claim_limited really runs, captured with
auto_explain (its statements cannot be EXPLAINed from outside).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from bgjobs.db import QueueLimits
from bgjobs.db.base import BaseAdapter
from bgjobs.db.queries import load_queries
from bgjobs.db.times import to_sqlite_time
from bgjobs.jobs import JobRequest
from tests.db.support import T0, is_postgres, sqlite_path

DUE = 100_000
LIMITS = QueueLimits(concurrency=50, rate=1_000, per=timedelta(seconds=1))


@pytest.mark.slow
def test_the_limited_claim_keeps_its_plans_on_a_fresh_big_backlog(
    adapter: BaseAdapter, database_url: str
) -> None:
    for start in range(0, DUE, 20_000):
        adapter.enqueue_many([JobRequest("work", n) for n in range(start, start + 20_000)], now=T0)
    claim = {"queue": "q", "limit": 10, "owner": "w", "limits": LIMITS}
    held = adapter.reserve_limited_jobs(["work"], now=T0, **claim)  # type: ignore[arg-type]
    assert [job.payload for job in held] == list(range(10))
    plans = (
        _postgres_plans(database_url) if is_postgres(database_url) else _sqlite_plans(database_url)
    )
    for name, plan in plans.items():
        for bad in ("SCAN jobs\n", "Seq Scan on jobs ", "TEMP B-TREE", "Sort "):
            assert bad not in plan + "\n", (name, plan)


def _sqlite_plans(url: str) -> dict[str, str]:
    queries = load_queries("sqlite")
    params = {
        "names": '["work"]',
        "queue": "q",
        "limit": 10,
        "owner": "w",
        "now": to_sqlite_time(T0),
        "window_start": to_sqlite_time(T0 - timedelta(seconds=1)),
        "margin_start": to_sqlite_time(T0 - timedelta(seconds=2)),
    }
    conn = sqlite3.connect(sqlite_path(url))
    try:
        plans = {}
        for name in (
            "count_limited_running",
            "rate_window",
            "forget_old_starts",
            "count_claimable",
            "claim_jobs",
        ):
            rows = conn.execute("EXPLAIN QUERY PLAN " + queries[name], params).fetchall()
            plans[name] = "\n".join(row[-1] for row in rows)
        return plans
    finally:
        conn.close()


def _postgres_plans(url: str) -> dict[str, str]:
    import psycopg

    notices: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        for setting in (
            "SET client_min_messages = log",
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
        ):
            conn.execute(setting)
        with conn.transaction():
            conn.execute(
                load_queries("postgres")["claim_limited_jobs"],
                {
                    "names": ["work"],
                    "queue": "q",
                    "limit": 10,
                    "owner": "w2",
                    "now": T0 + timedelta(milliseconds=2),
                    "concurrency": 50,
                    "rate": 1_000,
                    "per": timedelta(seconds=1),
                    "look_first": True,
                },
            ).fetchall()
    plans = {f"statement {n}": text for n, text in enumerate(notices) if "Query Text" in text}
    assert len(plans) >= 4, notices  # the look, the lock, the forgetting, the claim
    return plans
