"""Misfire policies after every worker was down for several slots (FakeClock + drain())."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bgjobs import FakeClock, Job, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from bgjobs.errors import ConfigurationError
from bgjobs.events import ScheduledRunSkipped, ScheduleMisfired
from bgjobs.misfire import MAX_CATCH_UP, MisfirePolicy, count_slots, decide
from bgjobs.schedule import Interval, parse
from tests.runtime.test_runtime import Recorder, builder_for

START = datetime(2030, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def build(adapter: Adapter, scheduled: ScheduledJob, clock: FakeClock, recorder: Recorder):  # type: ignore[no-untyped-def]
    return (
        builder_for(adapter)
        .with_clock(clock)
        .with_event_listener(recorder)
        .with_scheduled_job(scheduled)
        .build(start=False)
    )


def the_row(adapter: Adapter) -> Job:
    [row] = [j for j in adapter.list_jobs("jobs") if isinstance(j, Job)]
    return row


@pytest.mark.parametrize("policy", ["once", "skip", "all"])
def test_on_time_runs_are_no_misfires(adapter: Adapter, policy: str) -> None:
    clock, recorder, runs = FakeClock(START), Recorder(), []
    scheduled = ScheduledJob(Worker("tick", runs.append), "*/10 * * * *").with_misfire(policy)  # type: ignore[arg-type]
    bg = build(adapter, scheduled, clock, recorder)
    try:
        for _ in range(3):
            clock.advance(10 * MINUTE)
            assert bg.drain() == 1
        assert recorder.of(ScheduleMisfired) == [] and recorder.of(ScheduledRunSkipped) == []
    finally:
        bg.stop()


def test_once_runs_one_catch_up_run_after_a_long_stop(adapter: Adapter) -> None:
    clock, recorder, runs = FakeClock(START), Recorder(), []
    bg = build(adapter, ScheduledJob(Worker("tick", runs.append), "*/10 * * * *"), clock, recorder)
    try:
        clock.advance(65 * MINUTE)  # slots :10 .. 1:00 passed while nothing ran
        assert bg.drain() == 1
        assert bg.drain() == 0
        [misfire] = recorder.of(ScheduleMisfired)
        assert (misfire.key, misfire.slot, misfire.missed, misfire.policy, misfire.decision) == (
            "tick",
            START + 10 * MINUTE,
            6,
            "once",
            "run once",
        )
        assert the_row(adapter).available_at == START + 70 * MINUTE
    finally:
        bg.stop()


def test_skip_runs_nothing_and_waits_for_the_next_slot(adapter: Adapter) -> None:
    clock, recorder, runs = FakeClock(START), Recorder(), []
    scheduled = ScheduledJob(Worker("tick", runs.append), "*/10 * * * *").with_misfire(
        "skip", grace=MINUTE
    )
    bg = build(adapter, scheduled, clock, recorder)
    try:
        clock.advance(65 * MINUTE)
        assert bg.drain() == 0
        assert runs == []
        [misfire] = recorder.of(ScheduleMisfired)
        assert (misfire.missed, misfire.decision) == (6, "skip")
        [skipped] = recorder.of(ScheduledRunSkipped)
        assert (skipped.slot, skipped.resumes_at) == (START + 10 * MINUTE, START + 70 * MINUTE)
        row = the_row(adapter)
        assert (row.available_at, row.attempts, row.reserved_by) == (
            START + 70 * MINUTE,
            0,
            None,
        )
        clock.advance(5 * MINUTE)
        assert bg.drain() == 1  # the next slot runs on time
        assert runs[0].available_at == START + 70 * MINUTE
    finally:
        bg.stop()


def test_skip_still_runs_a_missed_slot_within_the_grace(adapter: Adapter) -> None:
    clock, recorder, runs = FakeClock(START), Recorder(), []
    scheduled = ScheduledJob(Worker("tick", runs.append), "*/10 * * * *").with_misfire(
        "skip", grace=10 * MINUTE
    )
    bg = build(adapter, scheduled, clock, recorder)
    try:
        clock.advance(65 * MINUTE)
        assert bg.drain() == 1
        assert [r.available_at for r in runs] == [START + 60 * MINUTE]  # 5 minutes late
        [skipped] = recorder.of(ScheduledRunSkipped)
        assert skipped.resumes_at == START + 60 * MINUTE
        assert the_row(adapter).available_at == START + 70 * MINUTE
    finally:
        bg.stop()


def test_all_runs_each_missed_slot_in_order(adapter: Adapter) -> None:
    clock, recorder, runs = FakeClock(START), Recorder(), []
    scheduled = ScheduledJob(Worker("tick", runs.append), "*/10 * * * *").with_misfire("all")
    bg = build(adapter, scheduled, clock, recorder)
    try:
        clock.advance(65 * MINUTE)
        assert bg.drain() == 6
        assert [r.available_at for r in runs] == [START + k * 10 * MINUTE for k in range(1, 7)]
        assert [m.missed for m in recorder.of(ScheduleMisfired)] == [6, 5, 4, 3, 2, 1]
        assert {m.decision for m in recorder.of(ScheduleMisfired)} == {"run all"}
        assert the_row(adapter).available_at == START + 70 * MINUTE
        assert bg.drain() == 0
    finally:
        bg.stop()


def test_a_failed_retry_is_not_a_misfire(adapter: Adapter) -> None:
    clock, recorder = FakeClock(START), Recorder()
    attempts: list[int] = []

    def flaky(job: Job) -> None:
        attempts.append(job.attempts)
        if job.attempts == 1:
            raise RuntimeError("first try fails")

    scheduled = (
        ScheduledJob(Worker("tick", flaky), "*/10 * * * *")
        .with_misfire("skip", grace=MINUTE)
        .with_retry_backoff(MINUTE)
    )
    bg = build(adapter, scheduled, clock, recorder)
    try:
        clock.advance(10 * MINUTE)
        assert bg.drain() == 1
        clock.advance(30 * MINUTE)  # the retry is claimed long after it was due
        assert bg.drain() == 1
        assert attempts == [1, 2]
        assert recorder.of(ScheduledRunSkipped) == [] and recorder.of(ScheduleMisfired) == []
    finally:
        bg.stop()


def test_misfire_policy_is_checked_where_it_is_written() -> None:
    scheduled = ScheduledJob(Worker("tick", lambda job: None), "*/10 * * * *")
    with pytest.raises(ConfigurationError, match=r"'once', 'skip', 'all'.*'never'"):
        scheduled.with_misfire("never")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="misfire grace"):
        scheduled.with_misfire("skip", grace=-MINUTE)
    assert scheduled.misfire == MisfirePolicy("once")


def test_all_keeps_only_the_newest_thousand_slots() -> None:
    every_minute = parse("* * * * *")
    slot = START + MINUTE
    now = START + 5000 * MINUTE
    decision = decide(every_minute, MisfirePolicy("all"), slot=slot, now=now)
    assert decision is not None and decision.decision == "skip oldest"
    assert decision.missed == MAX_CATCH_UP + 1
    assert decision.skip_to == now - (MAX_CATCH_UP - 1) * MINUTE
    assert decision.skip_to is not None
    assert count_slots(every_minute, decision.skip_to, now, limit=10_000) == MAX_CATCH_UP
    after = decide(every_minute, MisfirePolicy("all"), slot=decision.skip_to, now=now)
    assert after is not None and after.decision == "run all" and after.skip_to is None


def test_interval_slots_follow_the_row() -> None:
    hourly = Interval.hours(1)
    slot = START
    decision = decide(hourly, MisfirePolicy("skip", MINUTE), slot=slot, now=START + 150 * MINUTE)
    assert decision is not None and decision.missed == 3
    assert decision.skip_to == START + 150 * MINUTE - MINUTE + timedelta(hours=1)
    assert decide(hourly, MisfirePolicy("once", MINUTE), slot=slot, now=slot + MINUTE) is None
