"""The history of schedules is pruned like the finished tables, outcome by outcome."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from bgjobs import FakeClock, Job, Queue, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from tests.runtime.test_runtime import builder_for

START = datetime(2030, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
WAIT_SECONDS = 30.0


def test_the_adapter_prunes_old_entries_of_one_outcome(adapter: Adapter) -> None:
    clock = FakeClock(START)
    calls: list[int] = []

    def flaky(job: Job) -> None:
        calls.append(1)
        if len(calls) % 2 == 0:
            raise RuntimeError("every second run fails")

    scheduled = ScheduledJob(Worker("hourly", flaky), "every 1 hour").with_max_retries(0)
    bg = builder_for(adapter).with_clock(clock).with_scheduled_job(scheduled).build(start=False)
    try:
        for _ in range(4):
            clock.advance(HOUR)
            assert bg.drain() == 1
    finally:
        bg.stop()
    outcomes = [run.outcome for run in adapter.schedules.history("hourly")]
    assert outcomes == ["failed", "succeeded", "failed", "succeeded"]  # newest first
    cutoff = START + 3 * HOUR + timedelta(minutes=30)  # the first three runs are older
    assert adapter.prune_schedule_runs("succeeded", older_than=cutoff, batch_size=1) == 1
    assert adapter.prune_schedule_runs("succeeded", older_than=cutoff, batch_size=1) == 1
    assert adapter.prune_schedule_runs("succeeded", older_than=cutoff) == 0
    assert [run.outcome for run in adapter.schedules.history("hourly")] == ["failed", "failed"]
    assert adapter.prune_schedule_runs("failed", older_than=cutoff) == 1
    assert [run.outcome for run in adapter.schedules.history("hourly")] == ["failed"]
    # However old, a schedule's newest entry stays: it is what `list()` shows as the last run.
    much_later = START + timedelta(days=30)
    assert adapter.prune_schedule_runs("failed", older_than=much_later) == 0
    [row] = adapter.schedules.list()
    assert row.last_run is not None and row.last_run.outcome == "failed"
    with pytest.raises(ValueError, match="state"):
        adapter.prune_schedule_runs("skipped", older_than=cutoff)  # type: ignore[arg-type]


def test_a_removed_schedule_s_last_entry_is_pruned_too(adapter: Adapter) -> None:
    clock = FakeClock(START)
    adapter.schedules.add("eu", "every 1 hour", "report", now=START)
    queue = Queue("default").with_worker(Worker("report", lambda job: None))
    bg = builder_for(adapter).with_clock(clock).with_queue(queue).build(start=False)
    try:
        clock.advance(HOUR)
        assert bg.drain() == 1
    finally:
        bg.stop()
    later = START + timedelta(days=30)
    assert adapter.prune_schedule_runs("succeeded", older_than=later) == 0  # its last run
    assert adapter.schedules.remove("eu")
    assert adapter.prune_schedule_runs("succeeded", older_than=later) == 1  # gone with it
    assert adapter.schedules.history("eu") == []


def test_a_running_worker_prunes_history_past_the_retention(adapter: Adapter) -> None:
    runs: list[Job] = []
    scheduled = ScheduledJob(Worker("tick", runs.append), "every 1 second")
    bg = (
        builder_for(adapter)
        .with_retention(succeeded=timedelta(milliseconds=500))
        .with_scheduled_job(scheduled)
        .build()
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            # Runs of one key never overlap, so without pruning the history lacks at
            # most the run going now; with it, entries older than the retention go.
            ran = len(runs)
            kept = len(adapter.schedules.history("tick", limit=1000))
            if ran >= 5 and kept <= ran - 3:
                break
            assert time.monotonic() < deadline, f"{ran} runs, {kept} in the history"
            time.sleep(0.1)
    finally:
        bg.stop()
