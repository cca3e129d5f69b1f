"""What both adapters share: argument checks and the single-job helpers over the batch methods."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from bgjobs.clock import SYSTEM_CLOCK
from bgjobs.db.adapter import (
    Failed,
    JobState,
    Lease,
    Outcome,
    QueueLimits,
    Released,
    RetryLater,
    ScheduledNext,
    Succeeded,
    WorkerRow,
)
from bgjobs.db.records import unreadable_failures
from bgjobs.db.schedules import Schedules
from bgjobs.db.times import require_aware
from bgjobs.errors import DatabaseError, LeaseLost
from bgjobs.jobs import Job, JobRequest

log = logging.getLogger("bgjobs")


def lease_of(job: Job) -> Lease:
    """The lease a reserved job was claimed under: the fence for its outcome."""
    if job.reserved_by is None:
        raise ValueError(f"job {job.id} is not reserved, so it has no lease")
    return Lease(job_id=job.id, owner=job.reserved_by, attempts=job.attempts)


class BaseAdapter(ABC):
    """Helpers built on `enqueue_many` and `finish_jobs`, identical for every database."""

    supports_notify: bool = False

    @functools.cached_property
    def schedules(self) -> Schedules:
        """The schedules stored in this database (`bg.schedules` is this same object)."""
        return Schedules(self)  # type: ignore[arg-type]  # BaseAdapter implements Adapter

    @abstractmethod
    def enqueue_many(
        self,
        requests: Sequence[JobRequest],
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> list[Job]: ...

    @abstractmethod
    def finish_jobs(self, outcomes: Sequence[Outcome], *, now: datetime) -> list[bool]: ...

    @abstractmethod
    def list_workers(self) -> list[WorkerRow]:
        """Every row of jobs_workers, oldest first (for `bgjobs stats`)."""

    def enqueue(
        self,
        request: JobRequest,
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> Job:
        """Insert one job (or return the existing one with the same unique key)."""
        if not isinstance(request, JobRequest):
            raise TypeError(f"enqueue takes a JobRequest (got {type(request).__name__})")
        return self.enqueue_many([request], connection=connection, now=now, notify=notify)[0]

    async def enqueue_async(
        self,
        request: JobRequest,
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> Job:
        """`enqueue` for async code: the insert runs off the event loop."""
        if not isinstance(request, JobRequest):
            raise TypeError(f"enqueue takes a JobRequest (got {type(request).__name__})")
        jobs = await self.enqueue_many_async(
            [request], connection=connection, now=now, notify=notify
        )
        return jobs[0]

    async def enqueue_many_async(
        self,
        requests: Sequence[JobRequest],
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> list[Job]:
        """`enqueue_many` for async code: the insert runs on a worker thread, never on the loop.

        With the caller's own (sync) connection the insert runs on the calling
        thread: the connection may belong to it (sqlite3 checks that).
        """
        if connection is not None:
            return self.enqueue_many(requests, connection=connection, now=now, notify=notify)
        return await asyncio.to_thread(
            functools.partial(self.enqueue_many, requests, now=now, notify=notify)
        )

    # -- single-job outcomes: raise LeaseLost instead of returning False --------

    def complete_job(
        self, lease: Lease, *, now: datetime, next_scheduled: ScheduledNext | None = None
    ) -> None:
        """Move the job to jobs_succeeded; LeaseLost if this lease no longer holds it."""
        self._finish_one(Succeeded(lease, next_scheduled), now)

    def fail_job(
        self,
        lease: Lease,
        *,
        exception: str,
        traceback: str,
        now: datetime,
        next_scheduled: ScheduledNext | None = None,
    ) -> None:
        """Move the job to jobs_failed; LeaseLost if this lease no longer holds it."""
        self._finish_one(Failed(lease, exception, traceback, next_scheduled), now)

    def retry_job(
        self, lease: Lease, *, available_at: datetime, last_error: str, now: datetime
    ) -> None:
        """Unreserve the job, available again at `available_at`; LeaseLost if not held."""
        self._finish_one(RetryLater(lease, available_at, last_error), now)

    def release_job(self, lease: Lease, *, now: datetime) -> None:
        """Unreserve a job that never started and give its attempt back; LeaseLost if not held."""
        self._finish_one(Released(lease), now)

    def _fail_unreadable(self, jobs: list[Job], now: datetime) -> list[Job]:
        """The claimed jobs a handler can run; those whose payload cannot be decoded fail now.

        Decoding happens here, after the claim committed, never inside it: a
        row that cannot be decoded must not roll back its batch-mates' claim.
        If recording the failure fails too, the row stays reserved by this
        process and is released like any other reservation it lost track of.
        """
        runnable, failures = unreadable_failures(jobs)
        if failures:
            try:
                self.finish_jobs(failures, now=now)
            except DatabaseError as exc:
                log.error("could not fail %d unreadable jobs: %s", len(failures), exc)
        return runnable

    def _finish_one(self, outcome: Outcome, now: datetime) -> None:
        if not self.finish_jobs([outcome], now=now)[0]:
            lease = outcome.lease
            raise LeaseLost(
                f"job {lease.job_id} is no longer reserved by {lease.owner} for attempt "
                f"{lease.attempts}; nothing was changed"
            )


def now_or_system(now: datetime | None) -> datetime:
    """`now` checked and in UTC, or the system clock when the caller passed none."""
    return SYSTEM_CLOCK.now() if now is None else require_aware(now, "now")


def names_param(names: Collection[str]) -> list[str]:
    """The job names of a claim as a sorted list, with a clear error for a bare string."""
    if isinstance(names, str):
        raise TypeError(f"names must be a collection of job names, not the string {names!r}")
    checked = sorted(set(names))
    for name in checked:
        if not isinstance(name, str) or not name:
            raise ValueError(f"job names must be non-empty strings (got {name!r})")
    return checked


def names_json(names: Collection[str]) -> str:
    """The job names as one JSON array: a single bound parameter however many there are.

    A queue claims with the same tuple of names every time: that text is made once.
    """
    if isinstance(names, (tuple, frozenset)):
        try:
            return _names_json_of(names)
        except TypeError:  # unhashable items: let names_param say what is wrong
            pass
    return json.dumps(names_param(names))


@functools.lru_cache(maxsize=256)
def _names_json_of(names: tuple[str, ...] | frozenset[str]) -> str:
    return json.dumps(names_param(names))


def check_text(value: object, what: str) -> None:
    """Keys, owners and queue names are non-empty strings."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string (got {value!r})")


def check_claim(queue: str, limit: int, owner: str) -> None:
    """Refuse claim arguments that could never be right."""
    check_text(queue, "queue")
    check_limit(limit)
    check_text(owner, "owner")


def check_batch_size(batch_size: int) -> None:
    """Prune batches are positive ints."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int (got {batch_size!r})")


def check_limit(limit: int) -> None:
    """List limits are positive ints."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int (got {limit!r})")


def check_scheduled_claim(key: str, owner: str) -> None:
    """Refuse arguments of a scheduled-job claim that could never be right."""
    check_text(key, "scheduled job key")
    check_text(owner, "owner")


def check_limits(limits: QueueLimits) -> None:
    """Limits are positive whole numbers, and a rate has its positive period."""
    if not isinstance(limits, QueueLimits) or not limits.any:
        raise ValueError(f"a limited claim needs QueueLimits with a limit (got {limits!r})")
    for what, value in (("concurrency", limits.concurrency), ("rate", limits.rate)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"the {what} limit must be a whole number >= 1 (got {value!r})")
    if limits.rate is not None and (
        not isinstance(limits.per, timedelta) or limits.per <= timedelta(0)
    ):
        raise ValueError(f"a rate limit needs a positive period (got {limits.per!r})")


def check_queue_name(name: object) -> str:
    """Queue names given to pause/resume: non-empty strings without NUL."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"queue name must be a non-empty string (got {name!r})")
    return name


def check_filter(name: str | None, queue: str | None) -> dict[str, str | None]:
    """The name/queue filter of a listing as query parameters."""
    for what, value in (("job name", name), ("queue", queue)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"the {what} filter must be a non-empty string (got {value!r})")
    return {"name": name, "queue": queue}


def count_query(state: JobState) -> str:
    """The name of the query that counts what `listing_query(state)` lists."""
    return {"jobs": "count_listed_waiting"}.get(state) or f"count_listed_{state}"


def rescue_window(now: datetime, lease_seconds: float) -> tuple[datetime, datetime]:
    """`now` in UTC and the heartbeat cutoff: owners silent since before it count as dead."""
    if not lease_seconds > 0:
        raise ValueError(f"lease_seconds must be positive (got {lease_seconds})")
    stamp = require_aware(now, "now")
    return stamp, stamp - timedelta(seconds=lease_seconds)


#: The named query that prunes each finished table.
_PRUNE_QUERIES: Final = {"succeeded": "prune_succeeded", "failed": "prune_failed"}
_PRUNE_RUNS_QUERIES: Final = {
    "succeeded": "prune_schedule_runs_succeeded",
    "failed": "prune_schedule_runs_failed",
}


def prune_query(state: str, *, schedule_runs: bool = False) -> str:
    """The name of the query that prunes `state`'s table (or, with `schedule_runs`, the
    schedule history entries of that outcome); a clear error for any other state."""
    query = (_PRUNE_RUNS_QUERIES if schedule_runs else _PRUNE_QUERIES).get(state)
    if query is None:
        raise ValueError(f"state must be 'succeeded' or 'failed' (got {state!r})")
    return query


def listing_query(state: JobState) -> str:
    """The name of the query that lists `state`'s table; a clear error for any other state."""
    if state == "jobs":
        return "list_waiting"
    if state in ("succeeded", "failed"):
        return f"list_{state}"
    raise ValueError(f"state must be 'jobs', 'succeeded' or 'failed' (got {state!r})")
