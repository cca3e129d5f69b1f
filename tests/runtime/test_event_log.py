"""The text and level of each log line, migrations reported only when they changed something,
and the start a worker makes after its banner."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import bgjobs
from bgjobs import Job, JobRequest, Queue, Worker
from bgjobs.db import SqliteAdapter
from bgjobs.errors import BgJobsError
from bgjobs.events import (
    Event,
    JobFailed,
    JobStarted,
    JobSucceeded,
    Migrated,
    describe_event,
    format_duration,
)
from bgjobs.runtime.config import HeartbeatSettings
from bgjobs.runtime.left_reserved import rescue_after

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (7.95e-05, "80 µs"),
        (0.0123, "12.3 ms"),
        (0.5, "500 ms"),
        (1.523, "1.52 s"),
        (59.4, "59.4 s"),
        (125.2, "2 min 5 s"),
    ],
)
def test_durations_read_like_a_person_would_write_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_job_logs_its_start_and_its_end_at_info() -> None:
    assert describe_event(JobStarted(job_id="j1", name="send", attempts=2)) == (
        logging.INFO,
        "job send j1 started (attempt 2)",
    )
    assert describe_event(
        JobSucceeded(job_id="j1", name="send", attempts=1, duration_seconds=0.0123)
    ) == (logging.INFO, "job send j1 succeeded in 12.3 ms")
    level, text = describe_event(JobFailed(job_id="j1", name="send", attempts=4, error="E: x"))
    assert (level, text) == (logging.ERROR, "job send j1 failed for good after 4 attempts: E: x")


def _send(job: Job) -> None:
    pass


def test_migrated_is_info_only_when_a_migration_was_applied(tmp_path: Path) -> None:
    seen: list[Event] = []
    builder = (
        bgjobs.new(SqliteAdapter(str(tmp_path / "jobs.db")))
        .with_queue(Queue("default").with_worker(Worker("send", _send)))
        .with_event_listener(seen.append)
    )
    builder.build(start=False).stop()
    builder.build(start=False).stop()
    first, again = [event for event in seen if isinstance(event, Migrated)]
    assert first.applied == tuple(range(1, first.version + 1))
    assert again.applied == () and again.version == first.version
    assert describe_event(first)[0] == logging.INFO
    assert describe_event(again) == (
        logging.DEBUG,
        f"schema is up to date at version {again.version}",
    )


def test_start_runs_a_runtime_built_without_starting(tmp_path: Path) -> None:
    ran: list[str] = []
    runtime = (
        bgjobs.new(SqliteAdapter(str(tmp_path / "jobs.db")))
        .with_queue(Queue("default").with_worker(Worker("send", lambda job: ran.append(job.id))))
        .build(start=False)
    )
    try:
        job = runtime.enqueue(JobRequest("send"))
        runtime.start()
        with pytest.raises(BgJobsError, match="already started"):
            runtime.start()
        with pytest.raises(BgJobsError, match="drain"):
            runtime.drain()
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while not ran and datetime.now(UTC) < deadline:
            runtime.wait(timeout=0.05)
        assert ran == [job.id]
    finally:
        runtime.stop()


def test_a_job_left_reserved_is_rescued_a_lease_after_its_claim() -> None:
    heartbeat = HeartbeatSettings(every=timedelta(seconds=5), lease=timedelta(seconds=30))
    claimed = Job(
        id="j1",
        name="long",
        payload=None,
        attempts=1,
        created_at=T0,
        available_at=T0,
        reserved_at=T0,
        reserved_by="w1",
    )
    # Stopped 3 s after the claim: a sweep may take it back from claim + lease on.
    assert rescue_after(claimed, heartbeat, T0 + timedelta(seconds=3)) == T0 + timedelta(seconds=30)
    # Ran longer than the lease already: from the stop on.
    late_stop = T0 + timedelta(seconds=45)
    assert rescue_after(claimed, heartbeat, late_stop) == late_stop
