"""Execution across real processes: solo runs that end at commit, cancel from another process."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from bgjobs import JobRequest
from bgjobs.db import adapter_from_url
from tests.db.support import raw_rows
from tests.runtime.test_processes import Workers, read_log, wait_until, workers_factory

pytestmark = pytest.mark.slow

__all__ = ["workers_factory"]  # the fixture, imported for this module's tests

LOST = "WorkerLost: worker process x stopped heartbeating while holding the job"


def test_innocent_solo_run_commits_before_the_next_solo_job_crashes_the_process(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    """Two rescued jobs on their last allowed run: an innocent one first, then one that
    kills its process. The innocent run ends only once its success is committed, so
    the crash that follows cannot throw it away."""
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    try:
        for round_ in range(3):
            innocent = adapter.enqueue(JobRequest("noop", round_).with_priority(10))
            killer = adapter.enqueue(JobRequest("crash", round_))
            # As a rescue after their first run's crash leaves them: attempt 1 kept (the
            # next claim makes it 2, the last allowed with max_retries=1) and last_error
            # naming the lost worker.
            raw_rows(
                database_url,
                "UPDATE jobs SET attempts = 1, last_error = ? WHERE id IN (?, ?)",
                (LOST, innocent.id, killer.id),
            )
            workers = workers_factory(database_url, MAX_RETRIES="1", POLL_MS="50")
            workers.start(1)
            proc = workers.procs[0]
            proc.wait(timeout=120)
            assert proc.returncode == 17, workers.stderr_text()
            done = adapter.get_job(innocent.id)
            assert done is not None and done.state == "succeeded", (round_, done)
            assert [r.job_id for r in read_log(workers.log) if r.name == "noop"].count(
                innocent.id
            ) == 1
            adapter.delete_job(killer.id)
            workers.log.unlink()
    finally:
        adapter.close()


def test_cancel_reaches_a_job_running_in_another_process_within_a_second(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    workers = workers_factory(database_url, POLL_MS="100")
    workers.start(1)
    try:
        waiting = adapter.enqueue(JobRequest("noop").available_in(timedelta(hours=1)))
        assert adapter.cancel(waiting.id) == "cancelled"
        gone = adapter.get_job(waiting.id)
        assert gone is not None and gone.state == "failed"
        assert (gone.exception or "").startswith("Cancelled")  # type: ignore[union-attr]

        job = adapter.enqueue(JobRequest("until_stopped"))
        wait_until(
            lambda: any(r.event == "start" for r in read_log(workers.log)), 60, "the job to start"
        )
        asked = time.monotonic()
        assert adapter.cancel(job.id) == "requested"
        wait_until(
            lambda: getattr(adapter.get_job(job.id), "state", None) == "failed", 30, "the cancel"
        )
        print(f"cancel took {time.monotonic() - asked:.2f} s")
        failed = adapter.get_job(job.id)
        assert failed is not None
        assert (failed.exception or "").startswith("Cancelled")  # type: ignore[union-attr]
        assert [r.event for r in read_log(workers.log) if r.job_id == job.id] == [
            "start",
            "stopped-cancelled",
        ]
        assert adapter.cancel(job.id) == "not_found"  # finished jobs cannot be cancelled
    finally:
        codes = workers.stop_all()
        adapter.close()
    assert codes == [0], workers.stderr_text()


def test_a_worker_process_runs_async_handlers_and_stores_their_results(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    workers = workers_factory(database_url, POLL_MS="100", CONCURRENCY="3")
    workers.start(1)
    try:
        jobs = adapter.enqueue_many([JobRequest("async_noop", n) for n in range(30)])
        wait_until(
            lambda: all(getattr(adapter.get_job(j.id), "state", "") == "succeeded" for j in jobs),
            60,
            "the async jobs to succeed",
        )
        assert [getattr(adapter.get_job(j.id), "result", None) for j in jobs] == [
            {"n": n} for n in range(30)
        ]
    finally:
        codes = workers.stop_all()
        adapter.close()
    assert codes == [0], workers.stderr_text()
