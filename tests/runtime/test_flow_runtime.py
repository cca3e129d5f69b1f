"""Flow control inside one runtime: a held-back queue waits instead of spinning, pause and
resume through the BgJobs handle, limits obeyed by drain()."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

import bgjobs
from bgjobs import Job, JobRequest, Queue, Worker
from bgjobs.db import adapter_from_url
from bgjobs.db.base import BaseAdapter
from bgjobs.errors import ConfigurationError


class CountingClaims:
    """Counts the limited claims a real adapter answers; the adapter does all the work."""

    def __init__(self, adapter: BaseAdapter) -> None:
        self.limited_claims = 0
        original = adapter.reserve_limited_jobs

        def counting(*args: Any, **kwargs: Any) -> list[Job]:
            self.limited_claims += 1
            return original(*args, **kwargs)

        adapter.reserve_limited_jobs = counting  # type: ignore[method-assign]


@pytest.fixture
def counted(database_url: str) -> Iterator[tuple[BaseAdapter, CountingClaims]]:
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    yield adapter, CountingClaims(adapter)
    adapter.close()


def test_a_queue_at_its_global_limit_waits_instead_of_spinning(
    counted: tuple[BaseAdapter, CountingClaims],
) -> None:
    adapter, counter = counted
    release = threading.Event()
    started: list[int] = []

    def hold(job: Job) -> None:
        started.append(job.payload)
        release.wait(30)

    queue = (
        Queue("api")
        .with_worker(Worker("call", hold))
        .with_max_concurrent_jobs(5)
        .with_global_concurrency(1)
        .with_poll_interval(timedelta(milliseconds=200))
    )
    with bgjobs.new(adapter).with_queue(queue).build() as bg:
        bg.enqueue_many([JobRequest("call", n) for n in range(4)])
        deadline = time.monotonic() + 30
        while not started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started == [0]
        before = counter.limited_claims
        time.sleep(1.0)
        # Held back for a second with 3 jobs due: a claim per poll interval (200 ms)
        # plus wake-ups, not a busy loop (which would make thousands).
        assert counter.limited_claims - before <= 20
        assert started == [0]
        release.set()
        deadline = time.monotonic() + 30
        while len(started) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(started) == [0, 1, 2, 3]


def test_pause_and_resume_through_the_runtime(database_url: str) -> None:
    adapter = adapter_from_url(database_url)
    ran: list[int] = []
    queue = (
        Queue("mail")
        .with_worker(Worker("send", lambda job: ran.append(job.payload)))
        .with_poll_interval(timedelta(milliseconds=100))
    )
    with bgjobs.new(adapter).with_queue(queue).build() as bg:
        bg.pause_queue("mail")
        assert bg.paused_queues() == ["mail"]
        bg.enqueue_many([JobRequest("send", n) for n in range(3)])  # enqueueing still works
        time.sleep(0.5)
        assert ran == []
        assert bg.resume_queue("mail") is True
        deadline = time.monotonic() + 30
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(ran) == [0, 1, 2]
        assert [row.name for row in adapter.list_queues()] == ["mail"]
        [worker] = adapter.list_workers()
        assert (worker.queues, worker.job_names) == (("mail",), ("send",))


def test_drain_obeys_the_rate_limit(database_url: str) -> None:
    adapter = adapter_from_url(database_url)
    ran: list[int] = []
    queue = (
        Queue("api")
        .with_worker(Worker("call", lambda job: ran.append(job.payload)))
        .with_rate_limit(3, per=timedelta(hours=1))
    )
    bg = bgjobs.new(adapter).with_queue(queue).build(start=False)
    try:
        bg.enqueue_many([JobRequest("call", n) for n in range(5)])
        assert bg.drain() == 3
        assert bg.drain() == 0
        assert len(adapter.list_jobs("jobs")) == 2  # held back, not lost
    finally:
        bg.stop()
        adapter.close()


@pytest.mark.parametrize(
    ("configure", "mentions"),
    [
        (lambda q: q.with_global_concurrency(0), "global concurrency of queue 'api'"),
        (lambda q: q.with_global_concurrency(True), "global concurrency"),
        (lambda q: q.with_rate_limit(0), "rate limit of queue 'api'"),
        (lambda q: q.with_rate_limit(5, per=timedelta(0)), "rate limit period"),
        (lambda q: q.with_rate_limit(5, per=3), "rate limit period"),  # type: ignore[arg-type]
    ],
)
def test_bad_limits_are_refused_when_configured(configure: Any, mentions: str) -> None:
    queue = Queue("api").with_worker(Worker("call", lambda job: None))
    with pytest.raises(ConfigurationError, match=mentions):
        configure(queue)
    assert queue.limits == Queue("api").limits  # the original is unchanged
