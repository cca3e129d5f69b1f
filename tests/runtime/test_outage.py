"""An outage longer than the lease, with live workers holding running jobs.

When the database is back, no process may take a live process's job for a
dead one's: every process first gets a full lease to beat again. On
PostgreSQL the server is stopped (a server of the test's own, so no other
test is disturbed); on SQLite another program holds the write lock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from bgjobs import JobRequest, SystemClock
from bgjobs.db import adapter_from_url
from tests.pg_server import PostgresServer
from tests.runtime.test_processes import Workers, read_log, wait_until, workers_factory

__all__ = ["workers_factory"]  # the fixture, shared with the process tests

pytestmark = pytest.mark.slow

PROCESSES = 3
SLOTS = 4
LEASE_SECONDS = 3
OUTAGE_SECONDS = 8
ITERATIONS = 3


@pytest.fixture
def private_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start_new(max_connections=100)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
def test_no_live_job_is_rescued_after_an_outage_longer_than_the_lease(
    private_server: PostgresServer, workers_factory: Callable[..., Workers], tmp_path: Path
) -> None:
    url = private_server.url()
    adapter = adapter_from_url(url)
    adapter.migrate()
    adapter.close()
    workers = workers_factory(
        url,
        CONCURRENCY=str(SLOTS),
        LEASE_MS=str(LEASE_SECONDS * 1000),
        HEARTBEAT_MS="500",
        POLL_MS="200",
    )
    workers.start(PROCESSES)
    doubled: list[str] = []
    try:
        for iteration in range(ITERATIONS):
            adapter = adapter_from_url(url)
            # Each job outlives the outage by a few leases, so a premature rescue would
            # run it a second time while its first run is still going.
            jobs = adapter.enqueue_many(
                [
                    JobRequest("slow", {"seconds": OUTAGE_SECONDS + 4 * LEASE_SECONDS})
                    for _ in range(PROCESSES * SLOTS)
                ]
            )
            ids = {job.id for job in jobs}
            adapter.close()

            wait_until(
                partial(all_logged, workers, "start", ids),
                60,
                "every job to start",
            )
            private_server.shut_down()
            time.sleep(OUTAGE_SECONDS)
            private_server.start_again()
            wait_until(
                partial(all_logged, workers, "end", ids),
                120,
                f"iteration {iteration}'s jobs to end",
            )
            time.sleep(1)
            starts = Counter(r.job_id for r in read_log(workers.log) if r.event == "start")
            doubled += [job_id for job_id in ids if starts[job_id] > 1]
            assert len(workers.alive()) == PROCESSES, workers.stderr_text()[-3000:]
        adapter = adapter_from_url(url)
        counts = adapter.count_jobs(now=SystemClock().now())
        adapter.close()
    finally:
        workers.stop_all()
    assert doubled == [], (
        f"{len(doubled)} of {ITERATIONS * PROCESSES * SLOTS} jobs of live processes ran twice"
    )
    assert counts.succeeded == ITERATIONS * PROCESSES * SLOTS
    assert (counts.waiting, counts.running, counts.failed) == (0, 0, 0)
    check_outage_log(workers)


def check_outage_log(workers: Workers) -> None:
    """Each process says once per outage that the server is away and once that it is back."""
    for index in range(PROCESSES):
        text = (workers.tmp / f"worker-{index}.err").read_text()
        assert "bgjobs: bgjobs:" not in text, text[-2000:]
        pool_warnings = [line for line in text.splitlines() if "psycopg.pool:" in line]
        assert len(pool_warnings) <= ITERATIONS, "\n".join(pool_warnings)
        assert text.count("retrying until it is back") <= ITERATIONS, text[-3000:]
        assert text.count("is reachable again") <= ITERATIONS, text[-3000:]
        # The heartbeat retries every second or two through the outage; it says so once.
        assert text.count("DbErrored operation=heartbeat_worker") <= ITERATIONS, text[-3000:]
        assert "Traceback" not in text, text[-3000:]


def all_logged(workers: Workers, event: str, ids: set[str]) -> bool:
    """Whether every job of `ids` has logged `event` at least once."""
    return ids <= {r.job_id for r in read_log(workers.log) if r.event == event}


def test_no_live_job_is_rescued_after_sqlite_was_locked_longer_than_the_lease(
    sqlite_url: str, workers_factory: Callable[..., Workers]
) -> None:
    """SQLite's outage: another program holds the write lock for longer than the lease."""
    import sqlite3

    adapter = adapter_from_url(sqlite_url)
    adapter.migrate()
    workers = workers_factory(
        sqlite_url,
        CONCURRENCY=str(SLOTS),
        LEASE_MS=str(LEASE_SECONDS * 1000),
        HEARTBEAT_MS="500",
        POLL_MS="200",
    )
    workers.start(2)
    try:
        jobs = adapter.enqueue_many(
            [JobRequest("slow", {"seconds": OUTAGE_SECONDS + 4 * LEASE_SECONDS}) for _ in range(8)]
        )
        ids = {job.id for job in jobs}
        wait_until(partial(all_logged, workers, "start", ids), 60, "every job to start")
        blocker = sqlite3.connect(sqlite_url[len("sqlite:///") :], isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # every writer, heartbeats included, now waits
        time.sleep(OUTAGE_SECONDS)
        blocker.execute("ROLLBACK")
        blocker.close()
        wait_until(partial(all_logged, workers, "end", ids), 120, "the jobs to end")
        time.sleep(1)
        starts = Counter(r.job_id for r in read_log(workers.log) if r.event == "start")
        counts = adapter.count_jobs(now=SystemClock().now())
    finally:
        workers.stop_all()
        adapter.close()
    assert [job_id for job_id in ids if starts[job_id] > 1] == [], "a live process's job ran twice"
    assert counts.succeeded == len(ids)
