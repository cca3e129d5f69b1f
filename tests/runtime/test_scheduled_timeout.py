"""A scheduled run times out like a queue job: stop requested, JobTimeout, next slot kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from bgjobs import Job, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from bgjobs.errors import ConfigurationError
from bgjobs.events import Event, JobTimedOut
from tests.runtime.test_runtime import builder_for, quick_queue

WAIT_SECONDS = 30.0


def _wait(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT_SECONDS} s for {what}"
        time.sleep(0.05)


def _stubborn(reasons: list[str | None]) -> Callable[[Job], str]:
    def handler(job: Job) -> str:
        # Cooperates: returns as soon as it is asked to stop, and claims success.
        job.stop_requested.wait(WAIT_SECONDS)
        reasons.append(job.stop_reason)
        return "done anyway"

    return handler


def test_a_scheduled_job_times_out_and_keeps_its_schedule(adapter: Adapter) -> None:
    reasons: list[str | None] = []
    events: list[Event] = []
    scheduled = (
        ScheduledJob(Worker("nightly", _stubborn(reasons)), "every 1 second")
        .with_max_retries(0)
        .with_job_timeout(timedelta(milliseconds=300))
    )
    bg = (
        builder_for(adapter)
        .with_scheduled_job(scheduled)
        .with_event_listener(events.append)
        .build()
    )
    try:
        _wait(lambda: adapter.schedules.history("nightly"), "the first run to end")
    finally:
        bg.stop()
    first = adapter.schedules.history("nightly")[-1]
    assert first.outcome == "failed"
    assert first.error is not None and first.error.startswith("JobTimeout")
    assert reasons[0] == "timeout"
    assert any(isinstance(event, JobTimedOut) for event in events)
    assert [row.key for row in adapter.schedules.list()] == ["nightly"]  # the next slot waits


def test_a_runtime_schedule_takes_the_timeout_of_its_queue(adapter: Adapter) -> None:
    reasons: list[str | None] = []
    adapter.schedules.add("export", "every 1 second", "export")
    queue = (
        quick_queue(export=_stubborn(reasons))
        .with_max_retries(0)
        .with_job_timeout(timedelta(milliseconds=300))
    )
    bg = builder_for(adapter).with_queue(queue).build()
    try:
        _wait(lambda: adapter.schedules.history("export"), "the first run to end")
    finally:
        bg.stop()
    first = adapter.schedules.history("export")[-1]
    assert first.outcome == "failed" and (first.error or "").startswith("JobTimeout")
    assert reasons[0] == "timeout"


def test_a_scheduled_job_timeout_must_be_positive() -> None:
    worker = Worker("nightly", lambda job: None)
    with pytest.raises(ConfigurationError, match="job timeout"):
        ScheduledJob(worker, "every 1 minute").with_job_timeout(timedelta(0))
    with pytest.raises(ConfigurationError, match="job timeout"):
        ScheduledJob(worker, "every 1 minute", job_timeout=timedelta(seconds=-1))
