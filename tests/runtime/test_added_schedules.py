"""Schedules added at runtime through adapter.schedules, run by any process with a worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bgjobs import FakeClock, Job, ScheduledJob, Worker
from bgjobs.db import ScheduledNext, Succeeded, lease_of
from bgjobs.db.adapter import Adapter
from bgjobs.errors import BgJobsError, ConfigurationError, PayloadError
from bgjobs.schedule import ScheduleValidationError
from tests.runtime.test_runtime import builder_for, quick_queue

START = datetime(2030, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_add_pause_resume_remove(adapter: Adapter) -> None:
    clock = FakeClock(START)
    runs: list[Job] = []
    # A process without a runtime adds the schedule...
    stored = adapter.schedules.add(
        "eu-report", "*/10 * * * *", "report", payload={"region": "eu"}, now=clock.now()
    )
    assert stored.next_fire == START + 10 * MINUTE
    # ...and a worker process that handles "report" runs it.
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(report=runs.append))
        .build(start=False)
    )
    try:
        assert bg.schedules is adapter.schedules
        clock.advance(10 * MINUTE)
        assert bg.drain() == 1
        assert [(j.name, j.scheduled_job, j.payload) for j in runs] == [
            ("report", "eu-report", {"region": "eu"})
        ]
        [run] = bg.schedules.history("eu-report")
        assert run.outcome == "succeeded" and run.slot == START + 10 * MINUTE
        [listed] = bg.schedules.list()
        assert (listed.key, listed.next_fire) == ("eu-report", START + 20 * MINUTE)

        assert bg.schedules.pause("eu-report")
        clock.advance(30 * MINUTE)
        assert bg.drain() == 0  # paused: never claimed
        [added] = bg.schedules.added()
        assert added.paused and added.next_fire == START + 20 * MINUTE
        assert bg.schedules.resume("eu-report", now=clock.now())
        [added] = bg.schedules.added()
        assert not added.paused and added.next_fire == START + 50 * MINUTE  # no catch-up
        assert bg.drain() == 0
        clock.advance(10 * MINUTE)
        assert bg.drain() == 1

        assert bg.schedules.remove("eu-report")
        assert not bg.schedules.remove("eu-report")
        assert bg.schedules.added() == [] and bg.schedules.list() == []
        clock.advance(60 * MINUTE)
        assert bg.drain() == 0
        assert len(runs) == 2
        # The key may be used again, for another job even.
        bg.schedules.add("eu-report", "every 5 minutes", "report", now=clock.now())
        clock.advance(5 * MINUTE)
        assert bg.drain() == 1 and runs[-1].payload is None
    finally:
        bg.stop()


def test_only_a_process_with_a_worker_for_the_job_runs_it(adapter: Adapter) -> None:
    clock = FakeClock(START)
    adapter.schedules.add("nightly", "every 1 hour", "export", now=clock.now())
    other = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(report=lambda job: None))
        .build(start=False)
    )
    try:
        clock.advance(2 * timedelta(hours=1))
        assert other.drain() == 0
        [row] = [j for j in adapter.list_jobs("jobs") if isinstance(j, Job)]
        assert row.scheduled_job == "nightly" and row.reserved_by is None
    finally:
        other.stop()


def test_bad_additions_change_nothing(adapter: Adapter) -> None:
    schedules = adapter.schedules
    schedules.add("a", "every 1 minute", "report", now=START)
    with pytest.raises(BgJobsError, match="a schedule with key 'a' exists"):
        schedules.add("a", "every 2 minutes", "report", now=START)
    with pytest.raises(ScheduleValidationError):
        schedules.add("b", "every blue moon", "report", now=START)
    with pytest.raises(ConfigurationError, match="misfire"):
        schedules.add("b", "every 1 minute", "report", misfire="never", now=START)  # type: ignore[arg-type]
    with pytest.raises(PayloadError):
        schedules.add("b", "every 1 minute", "report", payload={1}, now=START)
    with pytest.raises(ConfigurationError, match="job name"):
        schedules.add("b", "every 1 minute", "", now=START)
    assert [s.key for s in schedules.added()] == ["a"]
    assert [s.schedule_text for s in schedules.added()] == ["every 1 minute"]


def test_a_key_of_a_schedule_from_code_is_refused(adapter: Adapter) -> None:
    bg = (
        builder_for(adapter)
        .with_scheduled_job(ScheduledJob(Worker("cleanup", lambda job: None), "at 03:00"))
        .build(start=False)
    )
    try:
        with pytest.raises(BgJobsError, match="exists"):
            adapter.schedules.add("cleanup", "every 1 minute", "cleanup")
        assert not adapter.schedules.remove("cleanup")  # code schedules change with code
        assert [s.key for s in adapter.schedules.list()] == ["cleanup"]
    finally:
        bg.stop()


def test_a_run_going_when_its_schedule_is_removed_inserts_no_next_row(adapter: Adapter) -> None:
    adapter.schedules.add("tick", "every 1 minute", "tick", now=START)
    adapter.register_worker("w1", hostname="h", pid=1, now=START)
    run = adapter.reserve_scheduled_job("tick", owner="w1", now=START + MINUTE)
    assert run is not None
    assert adapter.schedules.remove("tick")
    assert adapter.get_scheduled_job("tick") is not None  # the running row stays
    following = ScheduledNext(
        "tick", "every 1 minute", START + 2 * MINUTE, name="tick", slot=run.available_at
    )
    assert adapter.finish_jobs([Succeeded(lease_of(run), following)], now=START + MINUTE) == [True]
    assert adapter.get_scheduled_job("tick") is None
    assert [r.outcome for r in adapter.schedules.history("tick")] == ["succeeded"]


def test_the_claim_itself_refuses_a_paused_schedule(adapter: Adapter) -> None:
    adapter.schedules.add("tick", "every 1 minute", "tick", now=START)
    assert adapter.schedules.pause("tick")
    assert adapter.reserve_scheduled_job("tick", owner="w1", now=START + 5 * MINUTE) is None
    assert adapter.schedules.resume("tick", now=START + 5 * MINUTE)
    run = adapter.reserve_scheduled_job("tick", owner="w1", now=START + 6 * MINUTE)
    assert run is not None and run.available_at == START + 6 * MINUTE
    assert not adapter.schedules.pause("missing") and not adapter.schedules.resume("missing")
