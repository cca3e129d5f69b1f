"""A PostgreSQL restart in the middle of a run: the adapter recovers, nothing is lost or doubled.

This test gets a server of its own, so the restart disturbs no other test.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from bgjobs.db import Succeeded, lease_of
from bgjobs.jobs import JobRequest
from tests.db.support import T0, ids_by_table
from tests.pg_server import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BATCHES = 150


def batch_size(number: int) -> int:
    """Small batches take the INSERT path, big ones COPY: both must survive the restart."""
    return 80 if number % 2 else 20


@pytest.fixture
def private_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start_new(max_connections=50)
    try:
        yield server
    finally:
        server.stop()


def test_a_restart_mid_run_loses_and_duplicates_nothing(private_server: PostgresServer) -> None:
    from bgjobs.db import PostgresAdapter

    url = private_server.url()
    adapter = PostgresAdapter(url, max_connections=6)
    adapter.migrate()
    notices: list[frozenset[str] | None] = []
    subscription = adapter.listen(notices.append)
    assert subscription is not None

    enqueued: list[str] = []
    claimed: Counter[str] = Counter()
    lost_leases: list[str] = []
    errors: list[BaseException] = []
    produced = threading.Event()
    halfway = threading.Event()
    lock = threading.Lock()

    def produce() -> None:
        try:
            for number in range(BATCHES):
                jobs = adapter.enqueue_many(
                    [JobRequest("work", [number, n]) for n in range(batch_size(number))], now=T0
                )
                enqueued.extend(job.id for job in jobs)
                if number == BATCHES // 4:
                    halfway.set()
        except BaseException as exc:
            errors.append(exc)
        finally:
            produced.set()
            halfway.set()

    def consume(number: int) -> None:
        try:
            while True:
                batch = adapter.reserve_jobs(
                    ["work"], queue="q", limit=10, owner=f"c{number}", now=T0
                )
                if not batch:
                    if produced.is_set() and adapter.count_jobs(now=T0).waiting == 0:
                        return
                    continue
                with lock:
                    claimed.update(job.id for job in batch)
                results = adapter.finish_jobs([Succeeded(lease_of(job)) for job in batch], now=T0)
                lost_leases.extend(job.id for job, ok in zip(batch, results, strict=True) if not ok)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce)] + [
        threading.Thread(target=consume, args=(n,)) for n in range(3)
    ]
    for thread in threads:
        thread.start()
    halfway.wait()
    private_server.restart()  # every session is cut while producers and consumers run
    for thread in threads:
        thread.join(timeout=300)
    subscription.close()  # type: ignore[attr-defined]
    adapter.close()

    assert errors == []
    assert lost_leases == []
    assert len(enqueued) == sum(map(batch_size, range(BATCHES))) == len(set(enqueued))
    assert set(claimed) == set(enqueued)
    assert max(claimed.values()) == 1
    tables = ids_by_table(url)
    assert tables["jobs"] == [] and tables["jobs_failed"] == []
    assert sorted(tables["jobs_succeeded"]) == sorted(enqueued)
    assert None in notices  # the listener reconnected and asked for a poll
