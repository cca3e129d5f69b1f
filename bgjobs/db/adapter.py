"""The storage seam: the Protocol the runtime sees, and the values that cross it.

The runtime depends only on this module, never on a concrete adapter. Every
method takes a `now` from the runtime's clock (SQL never reads the database's
own clock), and every write that changes a job's state commits in one
transaction. Write paths take batches so the runtime can claim and complete
many jobs per round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from bgjobs.db.migrations import MigrationReport
from bgjobs.db.schedule_records import ScheduleRow, ScheduleRun, StoredSchedule
from bgjobs.db.schedules import Schedules
from bgjobs.jobs import Job, JobRequest

#: The tables a job can be in.
JobState = Literal["jobs", "succeeded", "failed"]

#: What cancel() did: moved a waiting job to jobs_failed, asked the process running it
#: to stop, or found no waiting or running job with that id (finished ones included).
CancelResult = Literal["cancelled", "requested", "not_found"]


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a reserved job: the fence every outcome is checked against."""

    job_id: str
    owner: str  # jobs_workers.id of the reserving process
    attempts: int  # the attempt number the claim set


@dataclass(frozen=True, slots=True)
class ScheduledNext:
    """What the transaction that finishes a scheduled run also writes: the schedule's next
    row (unless available_at is None: the schedule has ended) and, when `slot` is given,
    the run's entry in the schedule's history."""

    key: str  # the ScheduledJob key (by default its worker's job name)
    schedule_text: str  # the canonical schedule text, stored in the row
    available_at: datetime | None
    name: str | None = None  # the job name the row runs as; None: the key
    payload: str | None = None  # the schedule's payload as JSON text, stored on every row
    slot: datetime | None = None  # the finished run's fire time; None: no history entry
    started_at: datetime | None = None  # when the finished run was claimed
    note: str | None = None  # the misfire decision that let the finished run run, if any


@dataclass(frozen=True, slots=True)
class Succeeded:
    """Move the job to jobs_succeeded, with the handler's result as JSON text (or None)."""

    lease: Lease
    next_scheduled: ScheduledNext | None = None
    result: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """Move the job to jobs_failed with `exception` ("Type: message") and `traceback`."""

    lease: Lease
    exception: str
    traceback: str
    next_scheduled: ScheduledNext | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Keep the job in `jobs`, unreserved, available at `available_at`, with `last_error`."""

    lease: Lease
    available_at: datetime
    last_error: str


@dataclass(frozen=True, slots=True)
class Released:
    """Unreserve the job and give its attempt back (attempts - 1).

    For a job that never started, or one whose handler snoozed it: then
    `available_at` is when it becomes due again (None keeps it as it was).
    """

    lease: Lease
    available_at: datetime | None = None


Outcome = Succeeded | Failed | RetryLater | Released


@dataclass(frozen=True, slots=True)
class FinishedJob:
    """A row of jobs_succeeded or jobs_failed, for the CLI."""

    id: str
    name: str
    payload: Any
    attempts: int
    queue: str | None
    priority: int
    created_at: datetime
    available_at: datetime
    finished_at: datetime
    state: JobState
    exception: str | None = None
    traceback: str | None = None
    result: Any = None  # the handler's return value, for succeeded jobs

    @property
    def stop_reason(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """A live (or not yet swept) process in jobs_workers."""

    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    abandoned_threads: int = 0  # handler threads given up on after a timeout
    #: The process's queue names and the job names it runs; None when the row was
    #: written by a bgjobs that did not record them (it may handle anything).
    queues: tuple[str, ...] | None = None
    job_names: tuple[str, ...] | None = None
    #: How often it beats and its lease; None when written by a bgjobs that did not
    #: record them.
    heartbeat_every: timedelta | None = None
    lease: timedelta | None = None


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """What a queue's claims obey across every process and host (None: no such limit).

    `concurrency`: at most this many jobs the queue could claim (its job names,
    routed to it or to no queue) are reserved at once, by any process.
    `rate` per `per`: at most `rate` jobs are claimed in any window of
    length `per` (a sliding window over claim times).
    """

    concurrency: int | None = None
    rate: int | None = None
    per: timedelta | None = None

    @property
    def any(self) -> bool:
        return self.concurrency is not None or self.rate is not None


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A row of jobs_queues: a queue name some process configured, paused or limited."""

    name: str
    paused_at: datetime | None
    updated_at: datetime

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


@dataclass(frozen=True, slots=True)
class WaitingGroup:
    """How many unreserved jobs wait under one job name and target queue (None: any queue)."""

    name: str
    queue: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Counts:
    """How many jobs each table holds, in total and by job name."""

    waiting: int  # in jobs, not reserved
    running: int  # in jobs, reserved
    succeeded: int
    failed: int
    by_name: dict[str, dict[str, int]]  # name -> {"waiting": n, "running": n, ...}


class Subscription(Protocol):
    """A live LISTEN; close() stops it."""

    def close(self) -> None: ...


#: Called with the job names a notification announced, or None for "look at everything"
#: (after a reconnect, when notifications may have been missed).
NotifyCallback = Callable[[frozenset[str] | None], None]


@runtime_checkable
class Adapter(Protocol):
    """What the runtime needs from a database."""

    #: True when other processes' enqueues wake this one (PostgreSQL LISTEN/NOTIFY).
    supports_notify: bool

    # -- schema -----------------------------------------------------------
    def migrate(self) -> int:
        """Create or upgrade the schema; returns the schema version. Idempotent and race-safe."""
        ...

    def migrate_report(self) -> MigrationReport:
        """migrate(), also saying which versions this call applied (none when up to date)."""
        ...

    # -- producing --------------------------------------------------------
    def enqueue(
        self,
        request: JobRequest,
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> Job:
        """Insert one job (or return the existing one with the same unique key)."""
        ...

    def enqueue_many(
        self,
        requests: Sequence[JobRequest],
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> list[Job]:
        """Insert jobs in one round trip; returns them in input order."""
        ...

    async def enqueue_async(
        self,
        request: JobRequest,
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> Job:
        """`enqueue` for async code; never blocks the event loop."""
        ...

    async def enqueue_many_async(
        self,
        requests: Sequence[JobRequest],
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> list[Job]:
        """`enqueue_many` for async code; never blocks the event loop."""
        ...

    # -- consuming --------------------------------------------------------
    def reserve_jobs(
        self,
        names: Collection[str],
        *,
        queue: str,
        limit: int,
        owner: str,
        now: datetime,
    ) -> list[Job]:
        """Atomically claim up to `limit` due, unreserved, unscheduled jobs with these names
        whose queue is NULL or `queue`, in claim order; attempts += 1 on each."""
        ...

    def reserve_limited_jobs(
        self,
        names: Collection[str],
        *,
        queue: str,
        limit: int,
        owner: str,
        now: datetime,
        limits: QueueLimits,
    ) -> list[Job]:
        """`reserve_jobs` for a queue with limits: claims no more than its global
        concurrency and rate limit allow, counted race-free across processes."""
        ...

    def reserve_scheduled_job(self, key: str, *, owner: str, now: datetime) -> Job | None:
        """Claim the row of scheduled job `key` if it is due and unreserved."""
        ...

    # -- queues -----------------------------------------------------------
    def pause_queue(self, name: str, *, now: datetime | None = None) -> None:
        """Stop every process claiming for queue `name` (running jobs finish). Persistent."""
        ...

    def resume_queue(self, name: str, *, now: datetime | None = None) -> bool:
        """Let queue `name` be claimed again; False if it was not paused."""
        ...

    def paused_queues(self) -> list[str]:
        """The names of the paused queues, sorted."""
        ...

    def list_queues(self) -> list[QueueRow]:
        """Every row of jobs_queues, by name."""
        ...

    def register_queues(self, names: Collection[str], *, now: datetime) -> None:
        """Add a jobs_queues row (unpaused) for each name that has none."""
        ...

    def finish_jobs(self, outcomes: Sequence[Outcome], *, now: datetime) -> list[bool]:
        """Apply outcomes in one transaction, each fenced by its lease.

        Returns, per outcome, True if it was applied (or the job is already in
        the target table), False if the lease was lost and nothing changed.
        """
        ...

    def next_available_at(self, names: Collection[str], *, queue: str) -> datetime | None:
        """The earliest available_at of unreserved jobs this queue could claim."""
        ...

    # -- processes and rescue --------------------------------------------
    def register_worker(
        self,
        worker_id: str,
        *,
        hostname: str,
        pid: int,
        now: datetime,
        queues: Sequence[str] = (),
        job_names: Sequence[str] = (),
        heartbeat_every: timedelta | None = None,
        lease: timedelta | None = None,
    ) -> None:
        """Insert this process's jobs_workers row (before its first claim)."""
        ...

    def heartbeat_worker(
        self, worker_id: str, *, now: datetime, abandoned_threads: int | None = None
    ) -> bool:
        """Refresh the heartbeat (and the count of abandoned handler threads, if given);
        False if the row was gone (the caller re-registers)."""
        ...

    def remove_worker(self, worker_id: str) -> None:
        """Delete the row at a graceful stop."""
        ...

    def list_workers(self) -> list[WorkerRow]:
        """The rows of jobs_workers (live processes, and dead ones not yet swept)."""
        ...

    def rescue_jobs(self, *, now: datetime, lease_seconds: float) -> list[Job]:
        """Unreserve jobs whose owner's heartbeat is older than the lease or whose owner row is
        gone (attempts kept, available now), and delete dead owners' rows. Returns the jobs."""
        ...

    def release_untracked_jobs(
        self, owner: str, *, keep: Collection[str], claimed_before: datetime
    ) -> list[Job]:
        """Give back jobs reserved by `owner` before `claimed_before` whose ids are not in
        `keep` (attempt given back, as a release). Returns the jobs released.

        A running process calls it with the ids its threads hold: a claim whose
        answer was lost leaves reservations nobody tracks, and nothing else would
        free them while the process goes on heartbeating.
        """
        ...

    # -- scheduled jobs ---------------------------------------------------
    def insert_scheduled_job(
        self,
        key: str,
        *,
        schedule_text: str,
        available_at: datetime,
        now: datetime,
        name: str | None = None,
        payload: str | None = None,
    ) -> bool:
        """Insert the row for `key` unless one exists; True if inserted.

        The row runs as job `name` (default: the key) with `payload` (JSON text or None).
        """
        ...

    def get_scheduled_job(self, key: str) -> tuple[Job, str] | None:
        """The row of `key` and its stored schedule text, if any."""
        ...

    def replace_scheduled_job(
        self,
        key: str,
        *,
        schedule_text: str,
        available_at: datetime,
        name: str | None = None,
        payload: str | None = None,
    ) -> bool:
        """Update the unreserved row's schedule text, available_at, job name (default: the
        key) and payload; False if reserved/absent."""
        ...

    def skip_scheduled_slot(
        self, lease: Lease, *, key: str, resume_at: datetime, note: str, now: datetime
    ) -> bool:
        """Give back the claim on a schedule's row without running it, moved to `resume_at`,
        and record the skipped slot in its history, in one transaction; False if the lease
        was lost (nothing changed)."""
        ...

    @property
    def schedules(self) -> Schedules:
        """The schedules stored in this database; one object per adapter."""
        ...

    def add_schedule(
        self, schedule: StoredSchedule, *, first_fire: datetime, now: datetime
    ) -> bool:
        """Store a runtime schedule and insert its row (due at `first_fire`) in one
        transaction; False (nothing changed) if the key is in use."""
        ...

    def remove_schedule(self, key: str) -> bool:
        """Remove a runtime schedule and its waiting row; False if there is none."""
        ...

    def pause_schedule(
        self, key: str, *, paused: bool, resume_at: datetime | None, now: datetime
    ) -> bool:
        """Pause or resume a schedule, from code or added at runtime, in one transaction
        (a resumed one that was paused has its waiting row moved to `resume_at`, unless
        None); False if there is no such schedule."""
        ...

    def stored_schedules(self) -> list[StoredSchedule]:
        """The runtime schedules (not removed), by key, with their rows' state."""
        ...

    def schedule_history(self, key: str, *, limit: int = 20) -> list[ScheduleRun]:
        """The history of schedule `key`, newest first."""
        ...

    def list_schedules(self) -> list[ScheduleRow]:
        """Every schedule with a row in `jobs`, by key, with its last history entry."""
        ...

    # -- housekeeping and reads ------------------------------------------
    def prune_finished(
        self, state: Literal["succeeded", "failed"], *, older_than: datetime, batch_size: int = 500
    ) -> int:
        """Delete up to `batch_size` finished rows older than `older_than`; returns how many."""
        ...

    def prune_schedule_runs(
        self, state: Literal["succeeded", "failed"], *, older_than: datetime, batch_size: int = 500
    ) -> int:
        """Delete up to `batch_size` schedule history entries of `state` ("succeeded" covers
        skipped slots too) finished before `older_than`; returns how many."""
        ...

    def list_jobs(
        self,
        state: JobState,
        *,
        limit: int = 100,
        name: str | None = None,
        queue: str | None = None,
    ) -> list[Job] | list[FinishedJob]:
        """Rows of one table, newest first for finished ones, claim order for `jobs`;
        only those with this job name and/or queue when given."""
        ...

    def count_listed(
        self, state: JobState, *, name: str | None = None, queue: str | None = None
    ) -> int:
        """How many rows `list_jobs` would list without a limit."""
        ...

    def retry_failed_jobs(
        self, *, limit: int, now: datetime, name: str | None = None, queue: str | None = None
    ) -> list[Job]:
        """Move up to `limit` failed jobs (oldest failure first, filtered by name and/or
        queue) back to `jobs` as plain jobs, in one transaction."""
        ...

    def running_by_owner(self) -> dict[str, int]:
        """How many jobs each process (jobs_workers.id) holds reserved."""
        ...

    def get_job(self, job_id: str) -> Job | FinishedJob | None:
        """The job with this id, wherever it is."""
        ...

    def cancel(self, job_id: str, *, now: datetime | None = None) -> CancelResult:
        """Cancel a job: a waiting one moves to jobs_failed (Cancelled) in one transaction;
        a running one gets cancel_requested set, for the process running it to act on."""
        ...

    def cancel_requests(self, owner: str) -> list[str]:
        """Ids of jobs reserved by `owner` whose cancel was requested."""
        ...

    def retry_failed_job(self, job_id: str, *, now: datetime) -> Job:
        """Move a failed job back to `jobs` as a plain job (attempts 0, available now)."""
        ...

    def delete_job(self, job_id: str) -> JobState:
        """Delete a job from whichever table holds it; returns the table. JobNotFound if none."""
        ...

    def count_jobs(self, *, now: datetime) -> Counts:
        """Counts by state and job name."""
        ...

    def count_waiting_groups(self) -> list[WaitingGroup]:
        """Unreserved jobs counted by job name and target queue (due or not)."""
        ...

    def listen(self, callback: NotifyCallback) -> Subscription | None:
        """Start delivering enqueue notifications from other processes; None if unsupported."""
        ...

    def close(self) -> None:
        """Close every connection this adapter opened."""
        ...
