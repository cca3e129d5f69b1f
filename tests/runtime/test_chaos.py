"""Chaos: worker processes killed with SIGKILL every 1-2 s and replaced, while 1,500 jobs run.

Every job must end in jobs_succeeded exactly once, none lost, none stuck in
`jobs`. A job whose process was killed mid-run runs again (delivery is at
least once): such re-runs are counted and reported. What must never happen
is a job started a second time while the process running it was still alive.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable

import pytest

from bgjobs import JobRequest, SystemClock
from bgjobs.db import adapter_from_url
from tests.runtime.test_processes import Run, Workers, read_log, wait_until, workers_factory

__all__ = ["workers_factory"]  # the fixture, shared with the process tests

pytestmark = pytest.mark.slow

PROCESSES = 3
JOBS = 1500
DEADLINE_SECONDS = 120


def test_random_kill_9_every_second_or_two_loses_and_strands_nothing(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    chaos = random.Random(os.getpid())
    workers = workers_factory(
        database_url,
        CONCURRENCY="4",
        LEASE_MS="1500",
        HEARTBEAT_MS="250",
        POLL_MS="100",
        MAX_RETRIES="50",  # kills charge attempts; none of these jobs may end failed
    )
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    workers.start(PROCESSES)
    killed_at: dict[int, float] = {}
    try:
        wait_until(lambda: len(adapter.list_workers()) >= PROCESSES, 120, "workers to register")
        jobs = adapter.enqueue_many(
            [JobRequest("slow", {"seconds": chaos.uniform(0.05, 0.25)}) for _ in range(JOBS)]
        )
        deadline = time.monotonic() + DEADLINE_SECONDS
        while adapter.count_jobs(now=SystemClock().now()).succeeded < JOBS:
            counts = adapter.count_jobs(now=SystemClock().now())
            assert time.monotonic() < deadline, f"not done after {DEADLINE_SECONDS} s: {counts}"
            time.sleep(chaos.uniform(1.0, 2.0))
            alive = workers.alive()
            if alive:
                victim = chaos.choice(alive)
                victim.send_signal(signal.SIGKILL)
                killed_at[victim.pid] = time.time()
            workers.start(PROCESSES - len(workers.alive()))
        time.sleep(0.5)  # let the last handlers' log lines land
        counts = adapter.count_jobs(now=SystemClock().now())
        ids = {job.id for job in jobs}
        succeeded = [job.id for job in adapter.list_jobs("succeeded", limit=JOBS * 2)]
    finally:
        workers.stop_all()
        adapter.close()
    runs = read_log(workers.log)
    reruns, live_reruns = count_reruns(runs, killed_at)
    report = (
        f"{len(killed_at)} processes killed; {reruns} jobs ran more than once after a kill, "
        f"{live_reruns} were started again while the process running them was alive"
    )
    print(report)
    assert sorted(succeeded) == sorted(ids), report
    assert (counts.waiting, counts.running, counts.failed) == (0, 0, 0), report
    assert live_reruns == 0, report


def count_reruns(runs: list[Run], killed_at: dict[int, float]) -> tuple[int, int]:
    """Jobs started more than once; and how many restarts began while an earlier run's
    process was still alive (a double run, not a re-run after a kill)."""
    starts: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.event == "start":
            starts[run.job_id].append(run)
    reruns = sum(1 for job_runs in starts.values() if len(job_runs) > 1)
    live = 0
    for job_runs in starts.values():
        job_runs.sort(key=lambda run: run.at)
        for earlier, later in itertools.pairwise(job_runs):
            if killed_at.get(earlier.pid, float("inf")) > later.at:
                live += 1
    return reruns, live
