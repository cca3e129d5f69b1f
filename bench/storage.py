"""Storage benchmark: the adapters' raw rates and claim latency, for SQLite and PostgreSQL.

    python bench/storage.py                      # both databases (starts a throwaway PostgreSQL)
    python bench/storage.py --db sqlite
    python bench/storage.py --postgres-url postgresql://user@host/db   # tables go in a temp schema

Prints, per database: enqueue_many and single enqueue rates; claim+complete
rates with 1 and 4 threads, batched and unbatched; and claim latency with
10,000 vs 1,000,000 finished rows, with a 100,000-job due backlog, and with
100,000 jobs waiting for later. Latency should not grow with the tables.
The peer figures are the reference rates given for this machine in issue 3
(pgqueuer and procrastinate batch enqueue into PostgreSQL), not re-measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bgjobs.db import QueueLimits, Succeeded, adapter_from_url, lease_of
from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import Job, JobRequest

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PEERS = {"pgqueuer batch enqueue": 55_000, "procrastinate batch enqueue": 19_000}

#: Limits that are on but never bind: what enforcing them costs a claim. The
#: rate limit's cost grows with the starts inside one window (they are counted):
#: 2,000 per 100 ms keeps above what these runs reach while its window stays short.
LIMITS_ON = {
    "global concurrency 1,000": QueueLimits(concurrency=1_000),
    "rate 2,000 per 100 ms": QueueLimits(rate=2_000, per=timedelta(milliseconds=100)),
    "both": QueueLimits(concurrency=1_000, rate=2_000, per=timedelta(milliseconds=100)),
}


# -- databases -------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[Callable[[], str]]:
    """Yields a factory of fresh SQLite URLs."""
    with tempfile.TemporaryDirectory(prefix="bgjobs-bench-") as folder:
        yield lambda: f"sqlite:///{folder}/{uuid.uuid4().hex}.db"


@contextmanager
def postgres_database(url: str | None) -> Iterator[Callable[[], str]]:
    """Yields a factory of URLs, each with a fresh schema on its search_path."""
    import psycopg
    from psycopg import sql

    from tests.conftest import with_search_path
    from tests.pg_server import PostgresServer

    server = None
    if url is None:
        server = PostgresServer.start_new()
        url = server.create_database("bgjobs_bench")
    schemas: list[str] = []

    def fresh() -> str:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        schemas.append(schema)
        return with_search_path(url, schema)

    try:
        yield fresh
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        if server is not None:
            server.stop()


@contextmanager
def adapter_at(url: str) -> Iterator[BaseAdapter]:
    adapter = adapter_from_url(url)
    adapter.migrate()
    try:
        yield adapter
    finally:
        adapter.close()


def requests(count: int, name: str = "work") -> list[JobRequest]:
    return [JobRequest(name, {"n": n, "to": "someone@example.com"}) for n in range(count)]


# -- measurements ------------------------------------------------------------------------------


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} jobs/s"


def enqueue_many_rate(adapter: BaseAdapter, batch: int, total: int) -> float:
    batches = [requests(batch) for _ in range(total // batch)]
    start = time.perf_counter()
    for chunk in batches:
        adapter.enqueue_many(chunk, now=NOW)
    return total / (time.perf_counter() - start)


def single_enqueue_rate(adapter: BaseAdapter, total: int) -> float:
    items = requests(total)
    start = time.perf_counter()
    for request in items:
        adapter.enqueue(request, now=NOW)
    return total / (time.perf_counter() - start)


def claim_complete_rate(
    adapter: BaseAdapter,
    total: int,
    threads: int,
    batch: int,
    limits: QueueLimits | None = None,
) -> float:
    """Jobs claimed and completed per second; through the limited claim with `limits`.

    Time moves on from NOW with the wall clock, so a rate limit's window slides.
    """
    for start in range(0, total, 10_000):
        adapter.enqueue_many(requests(min(10_000, total - start)), now=NOW)
    barrier = threading.Barrier(threads + 1)
    origin = time.perf_counter()

    def claim(owner: str) -> list[Job]:
        now = NOW + timedelta(seconds=time.perf_counter() - origin)
        if limits is None:
            return adapter.reserve_jobs(["work"], queue="q", limit=batch, owner=owner, now=now)
        return adapter.reserve_limited_jobs(
            ["work"], queue="q", limit=batch, owner=owner, now=now, limits=limits
        )

    def work(number: int) -> None:
        barrier.wait()
        while True:
            jobs = claim(f"w{number}")
            if not jobs:
                # Other threads' claims, or a limit that bound, may have left
                # jobs behind: only an empty table ends the run.
                if limits is None or adapter.count_listed("jobs") == 0:
                    return
                time.sleep(0.001)
                continue
            adapter.finish_jobs([Succeeded(lease_of(job)) for job in jobs], now=NOW)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    assert adapter.count_jobs(now=NOW).succeeded >= total
    return total / elapsed


def claim_latency_ms(
    adapter: BaseAdapter, claims: int = 300, limit: int = 10
) -> tuple[float, float]:
    """Median and 95th percentile of one claim of `limit` jobs, in milliseconds."""
    samples = []
    for _ in range(claims):
        start = time.perf_counter()
        adapter.reserve_jobs(["work"], queue="q", limit=limit, owner="w", now=NOW)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]


def add_finished_rows(url: str, count: int, offset: int) -> None:
    """Insert `count` rows into jobs_succeeded straight through SQL (fast set-up)."""
    stamp = "2029-12-31 00:00:00.000000"
    if url.startswith("sqlite:"):
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        conn.execute(
            """WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
               INSERT INTO jobs_succeeded (id, name, payload, attempts, queue, priority,
                   created_at, available_at, succeeded_at)
               SELECT printf('done-%010d', i), 'work', 'null', 1, NULL, 0, ?, ?, ? FROM n""",
            [offset + 1, offset + count, stamp, stamp, stamp],
        )
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO jobs_succeeded (id, name, payload, attempts, queue, priority,
                   created_at, available_at, succeeded_at)
               SELECT 'done-' || lpad(i::text, 10, '0'), 'work', 'null', 1, NULL, 0,
                      %(t)s, %(t)s, %(t)s
               FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i""",
            {"t": NOW - timedelta(days=1), "first": offset + 1, "last": offset + count},
        )
        conn.execute("ANALYZE")


def latency_report(fresh_url: Callable[[], str]) -> list[tuple[str, float, float]]:
    results = []
    url = fresh_url()
    with adapter_at(url) as adapter:
        # 5,000 due jobs: enough for every measured claim to find its ten.
        adapter.enqueue_many(requests(5_000), now=NOW)
        add_finished_rows(url, 10_000, 0)
        results.append(("claim 10, 10,000 finished rows", *claim_latency_ms(adapter)))
        add_finished_rows(url, 990_000, 10_000)
        adapter.enqueue_many(requests(5_000), now=NOW)
        results.append(("claim 10, 1,000,000 finished rows", *claim_latency_ms(adapter)))
        for _ in range(5):
            adapter.enqueue_many(requests(20_000), now=NOW)
        results.append(("claim 10, 100,000-job due backlog", *claim_latency_ms(adapter)))
    url = fresh_url()
    with adapter_at(url) as adapter:
        later = [r.available_in(timedelta(hours=1)) for r in requests(100_000)]
        for start in range(0, 100_000, 20_000):
            adapter.enqueue_many(later[start : start + 20_000], now=NOW)
        results.append(("idle claim, 100,000 jobs due later", *claim_latency_ms(adapter)))
    return results


def limits_report(fresh_url: Callable[[], str], total: int, rounds: int = 3) -> None:
    """The claim with limits on beside the claim without, and what the limits cost.

    Each figure is the median of `rounds`, the variants taking turns, so that
    load from elsewhere on the machine falls on all of them alike.
    """
    variants: dict[str, QueueLimits | None] = {"no limits": None, **LIMITS_ON}
    for threads in (1, 4):
        for batch in (50, 1):
            jobs = total if batch > 1 else total // 2
            samples: dict[str, list[float]] = {label: [] for label in variants}
            for _ in range(rounds):
                for label, limits in variants.items():
                    with adapter_at(fresh_url()) as adapter:
                        samples[label].append(
                            claim_complete_rate(adapter, jobs, threads, batch, limits)
                        )
            plain = statistics.median(samples["no limits"])
            print(f"claim+complete, {threads} thread(s), {batch} per claim:")
            for label, rates in samples.items():
                value = statistics.median(rates)
                cost = "" if label == "no limits" else f"  ({(1 - value / plain) * 100:+.0f}% cost)"
                print(f"  {label:<44}{value:>10,.0f} jobs/s{cost}")


def run(kind: str, fresh_url: Callable[[], str], total: int, only_limits: bool) -> None:
    print(f"\n== {kind} ==")
    if only_limits:
        limits_report(fresh_url, total)
        return
    with adapter_at(fresh_url()) as adapter:
        many_1k = enqueue_many_rate(adapter, 1_000, max(total, 10_000))
    with adapter_at(fresh_url()) as adapter:
        many_10k = enqueue_many_rate(adapter, 10_000, max(total, 10_000) * 2)
    with adapter_at(fresh_url()) as adapter:
        single = single_enqueue_rate(adapter, min(total, 2_000))
    print(f"enqueue_many, batches of 1,000   {many_1k:>10,.0f} jobs/s")
    print(f"enqueue_many, batches of 10,000  {many_10k:>10,.0f} jobs/s")
    print(f"enqueue, one job per call        {single:>10,.0f} jobs/s")
    if kind == "postgresql":
        best = max(many_1k, many_10k)
        for peer, figure in PEERS.items():
            print(f"  vs {peer} (reference {figure:,}/s): {best / figure:.2f}x")
    for threads in (1, 4):
        for batch, label in ((50, "batched, 50 per claim"), (1, "unbatched, 1 per claim")):
            jobs = total if batch > 1 else total // 2
            with adapter_at(fresh_url()) as adapter:
                value = claim_complete_rate(adapter, jobs, threads, batch)
            print(f"claim+complete, {threads} thread(s), {label:<23}{value:>10,.0f} jobs/s")
    for label, median, p95 in latency_report(fresh_url):
        print(f"{label:<38} median {median:6.2f} ms   p95 {p95:6.2f} ms")
    limits_report(fresh_url, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BGJOBS_BENCH_DATABASE_URL"),
        help="an existing database (default: start a throwaway server)",
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per rate measurement")
    parser.add_argument(
        "--limits", action="store_true", help="only the claim with limits beside the claim without"
    )
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with sqlite_database() as fresh:
            run("sqlite", fresh, args.jobs, args.limits)
    if args.db in ("postgres", "both"):
        with postgres_database(args.postgres_url) as fresh:
            run("postgresql", fresh, args.jobs, args.limits)


if __name__ == "__main__":
    main()
