"""The WorkerLost failure says what is known: the process holding the job was lost."""

from __future__ import annotations

from bgjobs.clock import FakeClock
from bgjobs.jobs import Job
from bgjobs.runtime.outcomes import lost_worker_failure


def claimed(attempts: int, last_error: str | None) -> Job:
    now = FakeClock().now()
    return Job(
        id="j1",
        name="report",
        payload=None,
        attempts=attempts,
        created_at=now,
        available_at=now,
        reserved_at=now,
        reserved_by="w1",
        last_error=last_error,
    )


def test_a_job_within_its_runs_is_not_failed() -> None:
    assert lost_worker_failure(claimed(3, None), max_retries=2) is None


def test_the_message_does_not_claim_the_job_ran_on_every_attempt() -> None:
    lost = "WorkerLost: worker process w9 stopped heartbeating while holding the job"
    failure = lost_worker_failure(claimed(4, lost), max_retries=2)
    assert failure is not None
    assert "on each of" not in failure.exception
    assert failure.exception == (
        "WorkerLost: attempt 3 of 'report', its last allowed run (max_retries=2), "
        "recorded no outcome: the worker process holding it stopped heartbeating, "
        "whether while running it or before it started (last error: worker process w9 "
        "stopped heartbeating while holding the job)"
    )
