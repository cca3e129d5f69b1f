"""Schedules added at runtime run side by side: a long run of one never delays another's slot."""

from __future__ import annotations

import threading
import time

from bgjobs import Job
from bgjobs.db.adapter import Adapter
from tests.runtime.test_runtime import builder_for, quick_queue

WAIT_SECONDS = 30.0


def test_a_long_run_of_one_schedule_does_not_hold_up_another(adapter: Adapter) -> None:
    release = threading.Event()
    long_started = threading.Event()
    quick_runs: list[float] = []

    def long_report(job: Job) -> None:
        long_started.set()
        assert release.wait(WAIT_SECONDS), "the test never released the long run"

    def heartbeat_ping(job: Job) -> None:
        quick_runs.append(time.monotonic())

    adapter.schedules.add("long", "every 1 second", "long_report")
    adapter.schedules.add("ping", "every 1 second", "heartbeat_ping")
    bg = (
        builder_for(adapter)
        .with_queue(quick_queue(long_report=long_report, heartbeat_ping=heartbeat_ping))
        .build()
    )
    try:
        assert long_started.wait(WAIT_SECONDS), "the long schedule never started"
        seen_while_blocked = len(quick_runs)
        deadline = time.monotonic() + WAIT_SECONDS
        while len(quick_runs) < seen_while_blocked + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Both runs of "ping" happened while "long" was still inside its handler.
        assert not release.is_set()
        assert len(quick_runs) >= seen_while_blocked + 2, (
            f"ping ran {len(quick_runs) - seen_while_blocked} times while long was running"
        )
    finally:
        release.set()
        bg.stop()
    [last_long, *_] = adapter.schedules.history("long")
    assert last_long.outcome == "succeeded"


def test_runtime_schedule_runs_keep_to_their_queue_s_concurrency(adapter: Adapter) -> None:
    lock = threading.Lock()
    going = [0]
    peak = [0]
    runs: list[str] = []

    def exclusive(job: Job) -> None:
        # Something that must not run twice at once in a process: its queue says so.
        with lock:
            going[0] += 1
            peak[0] = max(peak[0], going[0])
        time.sleep(0.3)
        with lock:
            going[0] -= 1
            runs.append(str(job.scheduled_job))

    # Two job names of one queue share its limit.
    for key, name in (("a", "exclusive"), ("b", "also_exclusive"), ("c", "exclusive")):
        adapter.schedules.add(key, "every 1 second", name)
    queue = quick_queue(exclusive=exclusive, also_exclusive=exclusive).with_max_concurrent_jobs(1)
    bg = builder_for(adapter).with_queue(queue).build()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while len(set(runs)) < 3 or len(runs) < 6:
            assert time.monotonic() < deadline, f"runs so far: {runs}"
            time.sleep(0.05)
    finally:
        bg.stop()
    assert peak[0] == 1, f"{peak[0]} runs of the queue's jobs went at once"
