"""Dashboard benchmark: page response times with 1,000,000 finished rows, SQLite and PostgreSQL.

    python bench/dashboard.py              # both databases (starts a throwaway PostgreSQL)
    python bench/dashboard.py --db sqlite --rows 200000 --stats analyzed
    python bench/dashboard.py --postgres-url postgresql://user@host/db   # tables in a temp schema
    python bench/dashboard.py --spread-hours 0.83   # a busy system: every row in the last 50 min

Fills a database with finished rows spread over the last 48 hours (90%
succeeded, 10% failed with a traceback; ten job names, five queues and
no queue), 10,000 live jobs, a worker and a scheduled job; serves the
dashboard with uvicorn on 127.0.0.1 and times each page over HTTP (median and
slowest of --requests requests after one warm-up).

Each database is measured in two states (--stats): "never" analyzed, as a
first bulk load leaves the tables until autovacuum's ANALYZE (the planner then
guesses), and "analyzed". Neither is vacuumed, so the recent rows the overview
counts are not yet all-visible and every count visits the heap, as in a busy
system. Next to each median: its ratio to the median of the first page of
succeeded jobs in the same run (one index page and one render, the cheapest
page that reads a finished table), and the database's bare round trip
(`SELECT 1` through the adapter) is printed, so figures from a loaded machine
can still be compared. Not a test: the figures are for docs/dashboard.md.
Every page should stay in milliseconds, the deep page (half a million rows in)
as fast as the first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bgjobs import JobRequest
from bgjobs.dashboard import create_app
from bgjobs.db import adapter_from_url
from tests.dashboard.server import serve

SPREAD = timedelta(hours=48)
TRACEBACK = "Traceback (most recent call last):\n" + '  File "app.py", line 1, in run\n' * 12


REFERENCE = "jobs: succeeded, first page"


def fill(adapter: Any, rows: int, now: datetime, *, analyze: bool) -> None:
    """Insert `rows` finished rows in bulk (plain SQL: a fixture, not the product's path)."""
    start = now - SPREAD
    succeeded = rows * 9 // 10
    sqlite = type(adapter).__name__ == "SqliteAdapter"
    if not sqlite:
        # Keep autovacuum from analyzing (or vacuuming) behind the benchmark's back.
        for table in ("jobs", "jobs_succeeded", "jobs_failed"):
            _postgres(adapter, f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    fill_table = _fill_sqlite if sqlite else _fill_postgres
    fill_table(adapter, "succeeded", succeeded, start)
    fill_table(adapter, "failed", rows - succeeded, start)
    live = [JobRequest(f"job_{i % 10}", {"n": i}).on_queue(f"queue_{i % 5}") for i in range(10_000)]
    adapter.enqueue_many(live, now=now)
    adapter.register_worker("bench-worker", hostname="bench", pid=1, now=now)
    adapter.reserve_jobs(["job_1"], queue="queue_1", limit=50, owner="bench-worker", now=now)
    adapter.insert_scheduled_job(
        "report", schedule_text="every 5 minutes", available_at=now + timedelta(minutes=5), now=now
    )
    if analyze:
        if sqlite:
            adapter._write(lambda conn: conn.execute("ANALYZE"))
        else:
            _postgres(adapter, "ANALYZE")
    elif not sqlite:
        never = adapter._fetch(
            "SELECT count(*) AS n FROM pg_class WHERE relname IN ('jobs_succeeded', 'jobs_failed')"
            " AND relnamespace = current_schema()::regnamespace AND reltuples < 0",
            {},
        )
        assert never[0]["n"] == 2, "the finished tables were analyzed during the load"


def _postgres(adapter: Any, statement: str) -> None:
    adapter._run(lambda conn: conn.execute(statement), transaction=False)


def _fill_sqlite(adapter: Any, state: str, count: int, start: datetime) -> None:
    table, column = (f"jobs_{state}", f"{state}_at")
    extra_cols, extra_vals = ("", "")
    if state == "failed":
        extra_cols, extra_vals = (", exception, traceback", ", 'ValueError: bad input', :tb")
    julian_start = (start - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400 + 2440587.5
    sql = f"""
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
        INSERT INTO {table} (id, name, payload, attempts, queue, priority, created_at,
                             available_at, {column}{extra_cols})
        SELECT printf('{state[0]}%031d', i), 'job_' || (i % 10), '{{"n": ' || i || '}}', 1,
               CASE WHEN i % 6 = 0 THEN NULL ELSE 'queue_' || (i % 5) END, 0, t, t, t{extra_vals}
        FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%f', :start + i * :step) || '000' AS t FROM n)
    """
    step = SPREAD.total_seconds() / 86400 / count  # days, as julian numbers count
    params = {"count": count, "start": julian_start, "step": step, "tb": TRACEBACK}
    adapter._write(lambda conn: conn.execute(sql, params))


def _fill_postgres(adapter: Any, state: str, count: int, start: datetime) -> None:
    table, column = (f"jobs_{state}", f"{state}_at")
    extra_cols, extra_vals = ("", "")
    if state == "failed":
        extra_cols, extra_vals = (", exception, traceback", ", 'ValueError: bad input', %(tb)s")
    sql = f"""
        INSERT INTO {table} (id, name, payload, attempts, queue, priority, created_at,
                             available_at, {column}{extra_cols})
        SELECT '{state[0]}' || lpad(i::text, 31, '0'), 'job_' || mod(i, 10),
               '{{"n": ' || i || '}}', 1,
               CASE WHEN mod(i, 6) = 0 THEN NULL ELSE 'queue_' || mod(i, 5) END,
               0, t, t, t{extra_vals}
        FROM (SELECT i, %(start)s + i * %(step)s AS t
              FROM generate_series(0, %(count)s - 1) AS i) AS s
    """
    step = SPREAD / count
    params = {"count": count, "start": start, "step": step, "tb": TRACEBACK}
    adapter._run(lambda conn: conn.execute(sql, params), transaction=True)


def middle_cursor(adapter: Any, rows: int) -> str:
    """The cursor of a page half-way down the succeeded list (found once, by OFFSET, here only)."""
    sql = "SELECT succeeded_at, id FROM jobs_succeeded ORDER BY succeeded_at DESC, id DESC "
    offset = rows * 9 // 20
    if type(adapter).__name__ == "SqliteAdapter":
        row = adapter._read(lambda conn: conn.execute(sql + f"LIMIT 1 OFFSET {offset}").fetchone())
        stamp = datetime.fromisoformat(row[0]).replace(tzinfo=UTC)
    else:
        row = adapter._run(
            lambda conn: conn.execute(sql + f"LIMIT 1 OFFSET {offset}").fetchone(),
            transaction=False,
        )
        stamp = row[0].astimezone(UTC)
    return urllib.parse.quote(f"{stamp.isoformat()}~{row[1]}")


def time_get(url: str, count: int, headers: dict[str, str] | None = None) -> list[float]:
    def once() -> float:
        began = time.perf_counter()
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            assert response.status == 200, (url, response.status)
        return (time.perf_counter() - began) * 1000

    once()  # warm-up: connections, caches, templates
    return [once() for _ in range(count)]


def pages(adapter: Any, rows: int) -> list[tuple[str, str, dict[str, str]]]:
    some_failed = f"f{rows // 20:031d}"  # a failed row half-way through jobs_failed
    fragment = {"x-bgjobs-fragment": "1"}
    return [
        ("overview", "/", {}),
        ("overview, refresh fragment", "/", fragment),
        ("queues", "/queues", {}),
        ("jobs: waiting", "/jobs?state=waiting", {}),
        ("jobs: succeeded, first page", "/jobs?state=succeeded", {}),
        (
            "jobs: succeeded, page 9,000",
            f"/jobs?state=succeeded&after={middle_cursor(adapter, rows)}",
            {},
        ),
        ("jobs: succeeded, by name", "/jobs?state=succeeded&name=job_3", {}),
        ("jobs: succeeded, by queue", "/jobs?state=succeeded&queue=queue_2", {}),
        ("jobs: succeeded, name+queue", "/jobs?state=succeeded&name=job_3&queue=queue_3", {}),
        ("failed", "/failed", {}),
        ("failed, by name", "/failed?name=job_7", {}),
        ("a failed job", f"/jobs/{some_failed}", {}),
        ("scheduled", "/scheduled", {}),
        ("workers", "/workers", {}),
        ("metrics", "/metrics", {}),
    ]


def round_trip_ms(adapter: Any, count: int = 200) -> float:
    """The median time of `SELECT 1` through the adapter: the floor under any page's queries."""
    sqlite = type(adapter).__name__ == "SqliteAdapter"

    def once() -> Any:
        if sqlite:
            return adapter._read(lambda conn: conn.execute("SELECT 1").fetchone())
        return adapter._fetch("SELECT 1", {})

    times = []
    for _ in range(count):
        began = time.perf_counter()
        once()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def measure(label: str, url: str, rows: int, requests: int, *, analyze: bool) -> dict[str, float]:
    """Fill, serve and time every page; returns page name -> median ms."""
    adapter = adapter_from_url(url)
    adapter.migrate()
    now = datetime.now(UTC)
    began = time.perf_counter()
    fill(adapter, rows, now, analyze=analyze)
    state = "analyzed" if analyze else "never analyzed"
    print(
        f"\n{label}, {state}: {rows:,} finished rows over {SPREAD.total_seconds() / 3600:g} h "
        f"+ 10,000 live jobs written in "
        f"{time.perf_counter() - began:.1f} s; SELECT 1 round trip "
        f"{round_trip_ms(adapter):.3f} ms"
    )
    medians: dict[str, float] = {}
    slowest: dict[str, float] = {}
    try:
        with serve(create_app(adapter)) as base:
            for name, path, headers in pages(adapter, rows):
                times = time_get(base + path, requests, headers)
                medians[name], slowest[name] = statistics.median(times), max(times)
    finally:
        adapter.close()
    print(f"  {'page':<34} {'median':>9} {'slowest':>10} {'x ' + 'first page':>14}")
    for name, median in medians.items():
        ratio = median / medians[REFERENCE]
        print(f"  {name:<34} {median:>6.1f} ms {slowest[name]:>7.1f} ms {ratio:>13.1f}x")
    return medians


@contextmanager
def postgres_server(given: str | None) -> Iterator[str]:
    """The URL of a database: `given`, or one on a throwaway server started here."""
    from tests.pg_server import PostgresServer

    if given is not None:
        yield given
        return
    server = PostgresServer.start_new()
    try:
        yield server.create_database("bgjobs_bench")
    finally:
        server.stop()


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """`url` with its tables in a fresh schema, dropped at the end."""
    import psycopg
    from psycopg import sql

    from tests.conftest import with_search_path

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000, help="finished rows (1,000,000)")
    parser.add_argument("--requests", type=int, default=10, help="timed requests per page (10)")
    parser.add_argument("--postgres-url", help="use this server instead of starting one")
    parser.add_argument(
        "--spread-hours",
        type=float,
        default=48.0,
        help="the finished rows' times span this many hours up to now (48)",
    )
    parser.add_argument(
        "--stats",
        choices=["never", "analyzed", "both"],
        default="both",
        help="planner statistics of the filled tables (both)",
    )
    args = parser.parse_args()
    global SPREAD
    SPREAD = timedelta(hours=args.spread_hours)
    runs: list[tuple[str, Callable[[], Any]]] = []
    if args.db in ("sqlite", "both"):
        runs.append(("SQLite", lambda: _sqlite(args)))
    if args.db in ("postgres", "both"):
        runs.append(("PostgreSQL", lambda: _on_postgres(args)))
    for _, run in runs:
        run()


def _states(args: argparse.Namespace) -> list[bool]:
    return {"never": [False], "analyzed": [True], "both": [False, True]}[args.stats]


def _sqlite(args: argparse.Namespace) -> None:
    for analyze in _states(args):
        with tempfile.TemporaryDirectory(prefix="bgjobs-bench-") as folder:
            url = f"sqlite:///{folder}/dashboard.db"
            measure("SQLite", url, args.rows, args.requests, analyze=analyze)


def _on_postgres(args: argparse.Namespace) -> None:
    with postgres_server(args.postgres_url) as server_url:
        for analyze in _states(args):
            with postgres_schema(server_url) as url:
                measure("PostgreSQL", url, args.rows, args.requests, analyze=analyze)


if __name__ == "__main__":
    main()
