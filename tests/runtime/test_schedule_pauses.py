"""A schedule from code, paused through bg.schedules: no run until resumed, across restarts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

import bgjobs
from bgjobs import FakeClock, Job, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from tests.runtime.test_runtime import builder_for, wait_until

START = datetime(2030, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def start(adapter: Adapter, clock: FakeClock, runs: list[Job]) -> bgjobs.BgJobs:
    """A process whose code defines the schedule "nightly" (build() syncs its row)."""
    scheduled = ScheduledJob(Worker("report", runs.append), "*/10 * * * *", key="nightly")
    return builder_for(adapter).with_clock(clock).with_scheduled_job(scheduled).build(start=False)


def test_a_paused_schedule_from_code_does_not_run_until_resumed(adapter: Adapter) -> None:
    clock = FakeClock(START)
    runs: list[Job] = []
    bg = start(adapter, clock, runs)
    try:
        clock.advance(10 * MINUTE)
        assert bg.drain() == 1
        assert bg.schedules.pause("nightly", now=clock.now())
        clock.advance(30 * MINUTE)
        assert bg.drain() == 0  # three slots passed: none ran
    finally:
        bg.stop()
    # A restart syncs the schedules from code again; the pause stays.
    bg = start(adapter, clock, runs)
    try:
        clock.advance(30 * MINUTE)
        assert bg.drain() == 0 and len(runs) == 1
        [row] = bg.schedules.list()
        assert row.paused
        assert bg.schedules.resume("nightly", now=clock.now())  # 01:10
        [row] = bg.schedules.list()
        assert not row.paused and row.next_fire == START + 80 * MINUTE  # no catch-up
        assert bg.drain() == 0
        clock.advance(10 * MINUTE)
        assert bg.drain() == 1
        assert [job.available_at for job in runs] == [START + 10 * MINUTE, START + 80 * MINUTE]
        assert [run.outcome for run in bg.schedules.history("nightly")] == ["succeeded"] * 2
    finally:
        bg.stop()


@pytest.mark.slow
def test_a_running_worker_stops_and_restarts_a_paused_schedule_from_code(
    adapter: Adapter,
) -> None:
    runs: list[Job] = []
    scheduled = ScheduledJob(Worker("tick", runs.append), "every 1 second", key="tick")
    bg = builder_for(adapter).with_scheduled_job(scheduled).build()  # started: real threads
    try:
        wait_until(lambda: len(runs) >= 1)
        assert bg.schedules.pause("tick")

        def waiting_row() -> Job | None:
            found = adapter.get_scheduled_job("tick")
            return found[0] if found is not None and found[0].reserved_by is None else None

        # A run already going when it was paused finishes (its handler has run by then).
        wait_until(lambda: waiting_row() is not None)
        settled = len(runs)
        row = waiting_row()
        assert row is not None
        # The row falls due (it is every second) and stays unclaimed well past its time.
        while datetime.now(UTC) < row.available_at + timedelta(seconds=2):
            time.sleep(0.1)
        assert len(runs) == settled and waiting_row() == row
        assert bg.schedules.resume("tick")
        wait_until(lambda: len(runs) > settled)
    finally:
        bg.stop()
