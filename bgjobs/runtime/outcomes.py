"""What happens to a job after a run: pure functions of the job, the error and the policy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bgjobs.db.adapter import Failed, Lease, Outcome, RetryLater, ScheduledNext
from bgjobs.errors import WorkerLost
from bgjobs.jobs import Job
from bgjobs.retry import Backoff, default_backoff
from bgjobs.runtime.context import describe_exception, format_traceback

logger = logging.getLogger("bgjobs")


def lease_of(job: Job) -> Lease:
    """The fence for a reserved job."""
    assert job.reserved_by is not None, "only reserved jobs have a lease"
    return Lease(job_id=job.id, owner=job.reserved_by, attempts=job.attempts)


def runs_allowed(max_retries: int) -> int:
    """max_retries retries after the first run."""
    return max_retries + 1


def after_error(
    job: Job,
    error: BaseException,
    *,
    max_retries: int,
    backoff: Backoff,
    now: datetime,
    next_scheduled: ScheduledNext | None = None,
) -> RetryLater | Failed:
    """Retry after the backoff while runs remain, else fail with exception and traceback."""
    if job.attempts < runs_allowed(max_retries):
        return RetryLater(
            lease=lease_of(job),
            available_at=now + checked_delay(backoff, job.attempts),
            last_error=describe_exception(error),
        )
    return Failed(
        lease=lease_of(job),
        exception=describe_exception(error),
        traceback=format_traceback(error),
        next_scheduled=next_scheduled,
    )


def log_handler_error(job: Job, error: BaseException) -> None:
    """The handler's traceback at DEBUG; the failure itself is logged from its event."""
    logger.debug("job %s %s raised on attempt %d", job.name, job.id, job.attempts, exc_info=error)


def checked_delay(backoff: Backoff, attempts: int) -> timedelta:
    """The user's backoff, or the default one if it raised or returned something unusable.

    A broken backoff callable must not leave its job reserved forever.
    """
    try:
        delay = backoff(attempts)
        if isinstance(delay, timedelta) and delay >= timedelta(0):
            return delay
        problem = f"returned {delay!r}, not a non-negative timedelta"
    except Exception as exc:
        problem = f"raised {describe_exception(exc)}"
    logger.error("retry backoff %r %s; using the default backoff", backoff, problem)
    return default_backoff(attempts)


def safe_outcome(job: Job, build: Callable[[], Outcome]) -> Outcome:
    """`build()`, or a plain Failed if building the outcome itself went wrong."""
    try:
        return build()
    except Exception as exc:
        logger.exception("could not record the outcome of job %s (%s)", job.id, job.name)
        return Failed(
            lease=lease_of(job),
            exception=f"OutcomeError: {describe_exception(exc)}",
            traceback="",
        )


def lost_worker_failure(
    job: Job, *, max_retries: int, next_scheduled: ScheduledNext | None = None
) -> Failed | None:
    """A claimed job whose attempts exceed the allowed runs crashed its worker every time.

    Each crash left the attempt counted (a rescue keeps it), so the claim that
    pushes attempts past max_retries + 1 fails the job instead of running it again.
    """
    if job.attempts <= runs_allowed(max_retries):
        return None
    # Only the last run is known to have ended without an outcome, and not even
    # that it started: a job claimed beside the one that crashed its process is
    # rescued just the same. Earlier attempts may have failed in the usual way.
    last = (job.last_error or "").removeprefix(f"{WORKER_LOST_PREFIX}: ")
    error = WorkerLost(
        f"attempt {job.attempts - 1} of {job.name!r}, its last allowed run "
        f"(max_retries={max_retries}), recorded no outcome: the worker process holding it "
        "stopped heartbeating, whether while running it or before it started"
        + (f" (last error: {last})" if last else "")
    )
    return Failed(
        lease=lease_of(job),
        exception=describe_exception(error),
        traceback="",
        next_scheduled=next_scheduled,
    )


#: rescue_jobs stores last_error with this prefix on every job it takes back from a dead owner.
WORKER_LOST_PREFIX = "WorkerLost"


def needs_solo_run(job: Job, *, max_retries: int) -> bool:
    """A job that was rescued from a dead process and is on its last allowed run runs alone.

    Every job a crashed process held is rescued with its attempt counted, the
    innocent ones beside the job that crashed it too. Running the last
    attempt alone means that, if the process dies again, the job that killed
    it is the only one charged; the others were given back and run later.
    """
    return job.attempts == runs_allowed(max_retries) and (job.last_error or "").startswith(
        WORKER_LOST_PREFIX
    )
