"""A schedule from code, paused through bg.schedules: no run until resumed, across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bgjobs
from bgjobs import FakeClock, Job, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from tests.runtime.test_runtime import builder_for

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
