"""Helpers for the adapter contract suite: a fixed clock origin and raw looks at the tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import Job, JobRequest

#: Every test's "now" starts here, so no test depends on the real clock.
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

TABLES = ("jobs", "jobs_succeeded", "jobs_failed")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> str:
    return url[len("sqlite:///") :]


def raw_rows(url: str, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection of our own (`?` placeholders) and commit."""
    if is_postgres(url):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(query.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    try:
        cursor = conn.execute(query, params)
        return cursor.fetchall()
    finally:
        conn.close()


def ids_by_table(url: str) -> dict[str, list[str]]:
    """Every job id in each of the three job tables."""
    return {table: [row[0] for row in raw_rows(url, f"SELECT id FROM {table}")] for table in TABLES}


def enqueue_plain(
    adapter: BaseAdapter, count: int, name: str = "work", **options: Any
) -> list[Job]:
    """Enqueue `count` jobs named `name`, due at T0."""
    requests = [JobRequest(name, {"n": n}) for n in range(count)]
    if "queue" in options:
        requests = [r.on_queue(options["queue"]) for r in requests]
    return adapter.enqueue_many(requests, now=T0)
