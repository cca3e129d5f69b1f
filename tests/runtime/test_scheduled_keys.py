"""Several schedules per handler: ScheduledJob keys and payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bgjobs import FakeClock, Job, JobRequest, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from bgjobs.errors import ConfigurationError, PayloadError, UnknownJobError
from tests.runtime.test_runtime import builder_for, quick_queue


def waiting_rows(adapter: Adapter) -> list[Job]:
    return sorted(
        (j for j in adapter.list_jobs("jobs") if isinstance(j, Job)),
        key=lambda job: job.scheduled_job or "",
    )


def test_schedules_sharing_a_worker_run_with_their_own_payloads(adapter: Adapter) -> None:
    clock = FakeClock()
    runs: list[Job] = []
    report = Worker("report", runs.append)
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_scheduled_job(ScheduledJob(report, "every 10 minutes", key="eu", payload="eu-1"))
        .with_scheduled_job(
            ScheduledJob(report, "every 15 minutes", key="us", payload={"region": "us"})
        )
        .build(start=False)
    )
    try:
        rows = waiting_rows(adapter)
        assert [(j.scheduled_job, j.name, j.payload) for j in rows] == [
            ("eu", "report", "eu-1"),
            ("us", "report", {"region": "us"}),
        ]
        clock.advance(timedelta(minutes=10))
        assert bg.drain() == 1
        clock.advance(timedelta(minutes=5))
        assert bg.drain() == 1
        clock.advance(timedelta(minutes=5))
        assert bg.drain() == 1
        assert [(j.name, j.scheduled_job, j.payload) for j in runs] == [
            ("report", "eu", "eu-1"),
            ("report", "us", {"region": "us"}),
            ("report", "eu", "eu-1"),
        ]
        # The next rows, inserted with each run's outcome, keep name and payload.
        rows = waiting_rows(adapter)
        assert [(j.scheduled_job, j.name, j.payload) for j in rows] == [
            ("eu", "report", "eu-1"),
            ("us", "report", {"region": "us"}),
        ]
        with pytest.raises(UnknownJobError, match="ScheduledJob"):
            bg.enqueue(JobRequest("report"))
    finally:
        bg.stop()


def test_the_key_defaults_to_the_job_name() -> None:
    scheduled = ScheduledJob(Worker("cleanup", lambda job: None), "at 03:00")
    assert (scheduled.key, scheduled.job_name, scheduled.payload_text) == (
        "cleanup",
        "cleanup",
        None,
    )
    keyed = scheduled.with_max_retries(1)
    assert keyed.key == "cleanup"


def test_a_payload_that_is_not_json_fails_where_it_is_written() -> None:
    with pytest.raises(PayloadError, match="payload of ScheduledJob 'nightly'"):
        ScheduledJob(Worker("cleanup", lambda job: None), "at 03:00", key="nightly", payload={1})
    with pytest.raises(ConfigurationError, match="ScheduledJob key"):
        ScheduledJob(Worker("cleanup", lambda job: None), "at 03:00", key=3)  # type: ignore[arg-type]


def test_build_refuses_duplicate_keys_and_shared_names_with_other_handlers(
    adapter: Adapter,
) -> None:
    report = Worker("report", lambda job: None)
    duplicate = (
        builder_for(adapter)
        .with_scheduled_job(ScheduledJob(report, "every 1 hour", key="eu"))
        .with_scheduled_job(ScheduledJob(report, "every 2 hours", key="eu"))
    )
    with pytest.raises(ConfigurationError, match="two ScheduledJobs have the key 'eu'"):
        duplicate.build(start=False)
    other_handler = (
        builder_for(adapter)
        .with_scheduled_job(ScheduledJob(report, "every 1 hour", key="eu"))
        .with_scheduled_job(ScheduledJob(Worker("report", lambda job: 1), "every 1 hour", key="us"))
    )
    with pytest.raises(ConfigurationError, match="different handlers"):
        other_handler.build(start=False)
    with_queue = (
        builder_for(adapter)
        .with_queue(quick_queue(report=lambda job: None))
        .with_scheduled_job(ScheduledJob(report, "every 1 hour", key="eu"))
    )
    with pytest.raises(ConfigurationError, match="a Queue handles"):
        with_queue.build(start=False)
    assert adapter.list_jobs("jobs") == []  # nothing was written


def test_a_changed_payload_is_taken_over_at_build(adapter: Adapter) -> None:
    report = Worker("report", lambda job: None)

    def deploy(payload: object) -> None:
        builder_for(adapter).with_scheduled_job(
            ScheduledJob(report, "every 1 hour", key="eu", payload=payload)
        ).build(start=False).stop()

    deploy({"v": 1})
    deploy({"v": 2})
    assert [(j.scheduled_job, j.payload) for j in waiting_rows(adapter)] == [("eu", {"v": 2})]


def test_a_retried_run_of_a_keyed_schedule_runs_with_its_payload(adapter: Adapter) -> None:
    clock = FakeClock()
    runs: list[Job] = []

    def report(job: Job) -> None:
        runs.append(job)
        if len(runs) == 1:
            raise RuntimeError("disk full")

    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_scheduled_job(
            ScheduledJob(
                Worker("report", report), "every 1 hour", key="eu", payload=[1, 2]
            ).with_max_retries(0)
        )
        .build(start=False)
    )
    try:
        clock.advance(timedelta(hours=1))
        assert bg.drain() == 1
        [failed] = adapter.list_jobs("failed")
        retried = adapter.retry_failed_job(failed.id, now=clock.now())
        assert bg.drain() == 1
        assert runs[-1].id == retried.id and runs[-1].payload == [1, 2]
        assert runs[-1].name == "report"
    finally:
        bg.stop()
