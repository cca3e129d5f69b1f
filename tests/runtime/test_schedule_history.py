"""The history of runs per schedule key, and the list of schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bgjobs import FakeClock, Job, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from bgjobs.errors import BgJobsError
from tests.runtime.test_runtime import builder_for

START = datetime(2030, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_history_after_successes_and_failures(adapter: Adapter) -> None:
    clock = FakeClock(START)
    calls: list[Job] = []

    def report(job: Job) -> None:
        calls.append(job)
        clock.advance(timedelta(seconds=3))  # the run takes a while
        if len(calls) == 2:
            raise RuntimeError("disk full")

    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_scheduled_job(
            ScheduledJob(Worker("report", report), "*/10 * * * *", key="eu").with_max_retries(0)
        )
        .build(start=False)
    )
    try:
        assert bg.schedules is adapter.schedules
        assert bg.schedules.history("eu") == []
        for _ in range(3):
            clock.advance(10 * MINUTE)
            assert bg.drain() == 1
        history = bg.schedules.history("eu")
        assert [(r.slot, r.outcome, r.error) for r in history] == [
            (START + 30 * MINUTE, "succeeded", None),
            (START + 20 * MINUTE, "failed", "RuntimeError: disk full"),
            (START + 10 * MINUTE, "succeeded", None),
        ]
        assert [r.id for r in history] == [j.id for j in reversed(calls)]
        newest = history[0]
        assert newest.key == "eu" and newest.note is None
        assert newest.started_at is not None
        assert newest.finished_at - newest.started_at == timedelta(seconds=3)
        assert [r.slot for r in bg.schedules.history("eu", limit=1)] == [START + 30 * MINUTE]
        assert bg.schedules.history("other") == []
        with pytest.raises(BgJobsError, match="history limit"):
            bg.schedules.history("eu", limit=0)
    finally:
        bg.stop()


def test_misfire_decisions_are_in_the_history(adapter: Adapter) -> None:
    clock = FakeClock(START)
    runs: list[Job] = []
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_scheduled_job(
            ScheduledJob(Worker("tick", runs.append), "*/10 * * * *", key="skipper").with_misfire(
                "skip", grace=MINUTE
            )
        )
        .with_scheduled_job(ScheduledJob(Worker("tick", runs.append), "*/10 * * * *", key="once"))
        .build(start=False)
    )
    try:
        clock.advance(35 * MINUTE)
        assert bg.drain() == 1  # "once" catches up, "skipper" skips
        [skipped] = bg.schedules.history("skipper")
        assert (skipped.outcome, skipped.slot, skipped.started_at) == (
            "skipped",
            START + 10 * MINUTE,
            None,
        )
        assert skipped.note == "misfire (skip): 3 slots missed, skip"
        [caught_up] = bg.schedules.history("once")
        assert caught_up.outcome == "succeeded"
        assert caught_up.note == "misfire (once): 3 slots missed, run once"
    finally:
        bg.stop()


def test_the_list_shows_text_description_last_run_and_next_fire(adapter: Adapter) -> None:
    clock = FakeClock(START)
    report = Worker("report", lambda job: None)
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_scheduled_job(ScheduledJob(report, "*/10 * * * *"))
        .with_scheduled_job(ScheduledJob(report, "every 2 hours", key="slow"))
        .build(start=False)
    )
    try:
        clock.advance(10 * MINUTE)
        assert bg.drain() == 1
        listed = adapter.schedules.list()
        assert [(s.key, s.job_name, s.schedule_text, s.next_fire, s.running) for s in listed] == [
            ("report", "report", "second 0 minute */10", START + 20 * MINUTE, False),
            ("slow", "report", "every 2 hours", START + timedelta(hours=2), False),
        ]
        assert listed[0].description is not None and "10 minutes" in listed[0].description
        assert listed[0].last_run is not None and listed[0].last_run.outcome == "succeeded"
        assert listed[1].last_run is None
    finally:
        bg.stop()
