"""Async jobs claimed ahead: started by the claim loop as slots free, whatever ended the last
run (a refusal, an abandoned run), each with its own timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from bgjobs import Job, JobRequest
from bgjobs.db.adapter import Adapter, FinishedJob
from tests.runtime.test_runtime import builder_for, quick_queue, wait_until


def state(adapter: Adapter, job_id: str) -> str:
    found = adapter.get_job(job_id)
    return getattr(found, "state", "")


def test_many_claimed_ahead_jobs_cancelled_while_waiting_all_end(adapter: Adapter) -> None:
    # Each cancelled job is refused when its turn comes; hundreds in a row must not
    # pile up into one deep chain of calls (it overflowed the stack and stranded a job).
    release = threading.Event()

    async def blocker(job: Job) -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    async def quick(job: Job) -> None:
        return None

    queue = quick_queue(blocker=blocker, quick=quick).with_max_concurrent_jobs(1).with_prefetch(500)
    with builder_for(adapter).with_queue(queue).build() as bg:
        first = bg.enqueue(JobRequest("blocker", None))
        wait_until(lambda: state(adapter, first.id) == "running")
        waiting = bg.enqueue_many([JobRequest("quick", n) for n in range(400)])
        wait_until(lambda: all(state(adapter, job.id) == "running" for job in waiting))
        # All claimed ahead (reserved, not started): a cancel is a request to the process.
        assert {bg.cancel(job.id) for job in waiting} == {"requested"}
        time.sleep(2.0)  # the process looks for cancel requests about twice a second
        release.set()
        wait_until(lambda: all(state(adapter, job.id) == "failed" for job in waiting), 60.0)
    assert state(adapter, first.id) == "succeeded"
    found = adapter.get_job(waiting[0].id)
    assert isinstance(found, FinishedJob) and (found.exception or "").startswith("Cancelled")


def test_an_async_job_started_after_an_abandoned_one_still_times_out(adapter: Adapter) -> None:
    async def stubborn(job: Job) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(2)  # ignores the cancel past its grace: abandoned

    async def hang(job: Job) -> None:
        await asyncio.sleep(30)

    queue = (
        quick_queue(stubborn=stubborn, hang=hang)
        .with_max_concurrent_jobs(1)
        .with_prefetch(1)
        .with_max_retries(0)
        .with_job_timeout(timedelta(milliseconds=200), grace=timedelta(milliseconds=200))
    )
    with builder_for(adapter).with_queue(queue).build() as bg:
        first = bg.enqueue(JobRequest("stubborn", None))
        second = bg.enqueue(JobRequest("hang", None))
        wait_until(lambda: state(adapter, second.id) == "failed", timeout=20.0)
        wait_until(lambda: state(adapter, first.id) == "failed", timeout=20.0)
    found = adapter.get_job(second.id)
    assert isinstance(found, FinishedJob) and (found.exception or "").startswith("JobTimeout")
