"""The BgJobs builder (`bgjobs.new(adapter)`) and the running handle it builds."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import TracebackType
from typing import Any

from bgjobs.clock import SYSTEM_CLOCK, Clock, CorrectedClock, SystemClock, complete_clock
from bgjobs.db.adapter import Adapter, CancelResult, FinishedJob, Subscription
from bgjobs.db.schedules import Schedules
from bgjobs.errors import (
    BgJobsError,
    ConfigurationError,
    ForkedRuntimeError,
    RuntimeStopped,
    ScheduleValidationError,
    UnknownJobError,
)
from bgjobs.events import JobEnqueued, Listener, Migrated, SetupErrored
from bgjobs.events import RuntimeStopped as RuntimeStoppedEvent
from bgjobs.ids import new_job_id
from bgjobs.jobs import Job, JobRequest, Worker
from bgjobs.runtime.added_schedules import AddedSchedules, Handling
from bgjobs.runtime.async_loop import AsyncLoop
from bgjobs.runtime.canceller import Canceller
from bgjobs.runtime.completer import Completer
from bgjobs.runtime.config import (
    HeartbeatSettings,
    Queue,
    RestartTolerance,
    RetentionSettings,
    ScheduledJob,
)
from bgjobs.runtime.context import RuntimeContext, seconds
from bgjobs.runtime.executor import Executor
from bgjobs.runtime.handlers import check_handler
from bgjobs.runtime.left_reserved import log_left_reserved
from bgjobs.runtime.monitor import Monitor
from bgjobs.runtime.queue_runner import QueueRunner
from bgjobs.runtime.scheduler import ResolvedScheduledJob, ScheduledRunner
from bgjobs.runtime.supervisor import Supervisor
from bgjobs.schedule import parse
from bgjobs.schedule.policy import SchedulePolicy

DEFAULT_STOP_TIMEOUT = 30.0
#: A host clock this far off the database's is broken, not skewed: build() refuses.
MAX_CLOCK_OFFSET = timedelta(seconds=60)
DEFAULT_HEARTBEAT = HeartbeatSettings()
DEFAULT_RESTART_TOLERANCE = RestartTolerance()
DEFAULT_RETENTION = RetentionSettings()


def new(adapter: Adapter) -> BgJobsBuilder:
    """Start configuring a runtime on `adapter` (SqliteAdapter or PostgresAdapter)."""
    return BgJobsBuilder(adapter=adapter)


@dataclass(frozen=True, slots=True)
class BgJobsBuilder:
    """Immutable: every `with_` call returns a new builder. `build()` validates and starts."""

    adapter: Adapter
    queues: tuple[Queue, ...] = ()
    scheduled_jobs: tuple[ScheduledJob, ...] = ()
    listeners: tuple[Listener, ...] = ()
    heartbeat: HeartbeatSettings = DEFAULT_HEARTBEAT
    restart_tolerance: RestartTolerance = DEFAULT_RESTART_TOLERANCE
    retention: RetentionSettings = DEFAULT_RETENTION
    clock: Clock = SYSTEM_CLOCK
    migrate: bool = True

    def with_queue(self, queue: Queue) -> BgJobsBuilder:
        if not isinstance(queue, Queue):
            raise ConfigurationError(f"with_queue needs a Queue (got {queue!r})")
        return replace(self, queues=(*self.queues, queue))

    def with_scheduled_job(self, scheduled: ScheduledJob) -> BgJobsBuilder:
        if not isinstance(scheduled, ScheduledJob):
            raise ConfigurationError(f"with_scheduled_job needs a ScheduledJob (got {scheduled!r})")
        return replace(self, scheduled_jobs=(*self.scheduled_jobs, scheduled))

    def with_event_listener(self, listener: Listener) -> BgJobsBuilder:
        if not callable(listener):
            raise ConfigurationError(f"an event listener must be callable (got {listener!r})")
        return replace(self, listeners=(*self.listeners, listener))

    def with_heartbeat(
        self,
        every: timedelta = timedelta(seconds=5),
        lease: timedelta = timedelta(seconds=30),
    ) -> BgJobsBuilder:
        return replace(self, heartbeat=HeartbeatSettings(every=every, lease=lease))

    def with_restart_tolerance(
        self, max_restarts: int = 3, within: timedelta = timedelta(seconds=5)
    ) -> BgJobsBuilder:
        return replace(
            self, restart_tolerance=RestartTolerance(max_restarts=max_restarts, within=within)
        )

    def with_retention(
        self,
        succeeded: timedelta | None = timedelta(days=7),
        failed: timedelta | None = None,
    ) -> BgJobsBuilder:
        return replace(self, retention=RetentionSettings(succeeded=succeeded, failed=failed))

    def with_clock(self, clock: Clock) -> BgJobsBuilder:
        if not callable(getattr(clock, "now", None)):
            raise ConfigurationError(f"a clock needs a now() method (got {clock!r})")
        return replace(self, clock=clock)

    def with_migrate(self, enabled: bool) -> BgJobsBuilder:
        """Turn off (or on) the migration build() runs before starting."""
        return replace(self, migrate=bool(enabled))

    def build(self, *, start: bool = True) -> BgJobs:
        """Validate everything, migrate, register this process and start the threads.

        With start=False nothing runs in the background: call `drain()` to run
        due jobs on the calling thread (for tests).
        """
        scheduled = self._validate()
        runtime = BgJobs(self, scheduled)
        runtime._setup()
        if start:
            runtime.start()
        return runtime

    # -- validation ------------------------------------------------------
    def _validate(self) -> tuple[ResolvedScheduledJob, ...]:
        if not isinstance(self.adapter, Adapter):
            raise ConfigurationError(
                "bgjobs.new() needs a database adapter such as SqliteAdapter "
                f"(got {self.adapter!r})"
            )
        queue_names: set[str] = set()
        for queue in self.queues:
            if queue.name in queue_names:
                raise ConfigurationError(f"two queues are named {queue.name!r}")
            queue_names.add(queue.name)
            if not queue.workers:
                raise ConfigurationError(f"queue {queue.name!r} has no worker")
            seen: set[str] = set()
            for worker in queue.workers:
                check_handler(worker.job_name, worker.handler)
                if worker.job_name in seen:
                    raise ConfigurationError(
                        f"job {worker.job_name!r} is handled twice in queue {queue.name!r}"
                    )
                seen.add(worker.job_name)
        queue_job_names = {name for queue in self.queues for name in queue.job_names}
        resolved: list[ResolvedScheduledJob] = []
        keys: set[str] = set()
        workers: dict[str, Worker] = {}
        for item in self.scheduled_jobs:
            if item.key in keys:
                raise ConfigurationError(f"two ScheduledJobs have the key {item.key!r}")
            keys.add(item.key)
            name = item.job_name
            check_handler(name, item.worker.handler)
            # Retried runs are plain jobs of this name: one handler must own it.
            if workers.setdefault(name, item.worker) != item.worker:
                raise ConfigurationError(
                    f"ScheduledJobs with job name {name!r} have different handlers; "
                    "schedules may share a Worker, not a name"
                )
            if name in queue_job_names:
                raise ConfigurationError(
                    f"{name!r} is both a ScheduledJob's job name and a job a Queue handles; "
                    "a scheduled job's name must be its own"
                )
            resolved.append(_resolve(item))
        return tuple(resolved)


def _resolve(item: ScheduledJob) -> ResolvedScheduledJob:
    policy: SchedulePolicy
    if isinstance(item.schedule, str):
        try:
            policy = parse(item.schedule)
        except ScheduleValidationError as exc:
            exc.add_note(f"in the schedule of ScheduledJob {item.key!r}")
            raise
    elif callable(getattr(item.schedule, "next_after", None)):
        policy = item.schedule
    else:
        raise ConfigurationError(
            f"the schedule of ScheduledJob {item.key!r} must be a string or have "
            f"next_after(t) (got {item.schedule!r})"
        )
    return ResolvedScheduledJob(
        key=item.key,
        worker=item.worker,
        policy=policy,
        payload_text=item.payload_text,
        misfire=item.misfire,
        max_retries=item.max_retries,
        retry_backoff=item.retry_backoff,
        poll_interval_seconds=item.poll_interval.total_seconds(),
        listeners=item.listeners,
        job_timeout=item.job_timeout,
    )


def _handling(
    builder: BgJobsBuilder, scheduled: tuple[ResolvedScheduledJob, ...]
) -> dict[str, Handling]:
    """The job names this process can run for runtime schedules, and how: the first Queue
    (or ScheduledJob) with a worker for a name decides its retries."""
    handling: dict[str, Handling] = {}
    for queue in builder.queues:
        for worker in queue.workers:
            handling.setdefault(
                worker.job_name,
                Handling(
                    worker,
                    queue.max_retries,
                    queue.retry_backoff,
                    queue.listeners,
                    queue.job_timeout,
                    queue.max_concurrent_jobs,
                    f"queue:{queue.name}",
                ),
            )
    for item in scheduled:
        handling.setdefault(
            item.job_name,
            Handling(
                item.worker,
                item.max_retries,
                item.retry_backoff,
                item.listeners,
                item.job_timeout,
                limit_group=f"scheduled:{item.key}",
            ),
        )
    return handling


@dataclass
class _StopState:
    requested: bool = False
    reason: str | None = None  # set when the supervisor gave up
    done: threading.Event = field(default_factory=threading.Event)


class BgJobs:
    """A running runtime: enqueue jobs, stop it, wait for it. Use as a context manager."""

    def __init__(self, builder: BgJobsBuilder, scheduled: tuple[ResolvedScheduledJob, ...]):
        self._builder = builder
        self._pid = os.getpid()
        self._context = RuntimeContext(
            adapter=builder.adapter,
            clock=complete_clock(builder.clock),
            owner=new_job_id(),
            listeners=builder.listeners,
        )
        self._completer = Completer(self._context)
        self._loop = AsyncLoop()
        self._executor = Executor(self._context, self._loop)
        self._queues = [
            QueueRunner(q, self._context, self._completer, self._executor) for q in builder.queues
        ]
        self._scheduled = [
            ScheduledRunner(s, self._context, self._completer, self._executor) for s in scheduled
        ]
        self._added = AddedSchedules(
            self._context, self._completer, self._executor, _handling(builder, scheduled)
        )
        self._monitor = Monitor(
            self._context,
            builder.heartbeat,
            builder.retention,
            self._on_rescued,
            held_job_ids=self._held_job_ids,
            abandoned_threads=lambda: self._executor.abandoned_threads,
            queues=tuple(queue.name for queue in builder.queues),
            job_names=tuple(sorted({n for queue in builder.queues for n in queue.job_names})),
        )
        self._canceller = Canceller(self._context, self._executor)
        self._supervisor = Supervisor(self._context, builder.restart_tolerance, self._give_up)
        self._runners_by_name: dict[str, list[QueueRunner]] = {}
        for runner in self._queues:
            for name in runner.queue.job_names:
                self._runners_by_name.setdefault(name, []).append(runner)
        self._started = False
        self._stop = _StopState()
        self._stop_lock = threading.Lock()
        self._subscription: Subscription | None = None

    # -- setup -------------------------------------------------------------
    def _setup(self) -> None:
        context = self._context
        try:
            if self._builder.migrate:
                report = context.adapter.migrate_report()
                context.emit(Migrated(version=report.version, applied=report.applied))
            self._use_database_clock()
            self._monitor.register()
            if self._queues:
                # A row per configured queue, so `bgjobs queues list` shows it.
                context.adapter.register_queues(
                    [runner.name for runner in self._queues], now=context.clock.now()
                )
            for scheduled in self._scheduled:
                # Every scheduled job has its row once build() returns, with this
                # deploy's schedule: the last process to start wins.
                scheduled.ensure_row(take_over=True)
        except BgJobsError as exc:
            context.emit(SetupErrored(error=f"{type(exc).__name__}: {exc}"))
            raise
        context.retry_db = True  # from now on an outage is waited out, not raised

    def start(self) -> None:
        """Start the threads of a runtime built with `build(start=False)`.

        `bgjobs worker` builds without starting, logs what it will run, then
        starts, so that its banner comes before the first job.
        """
        self._check_usable()
        if self._started:
            raise BgJobsError("this runtime is already started")
        context = self._context
        self._started = True
        self._completer.start()
        for runner in self._queues:
            runner.start_handlers()
            self._supervisor.start(runner)
        for scheduled in self._scheduled:
            self._supervisor.start(scheduled)
        self._supervisor.start(self._added)
        self._supervisor.start(self._monitor)
        self._supervisor.start(self._canceller)
        if context.adapter.supports_notify and self._queues:
            self._subscription = context.adapter.listen(self._on_notification)

    def _use_database_clock(self) -> None:
        """On a database shared by several hosts, judge every time by the database's clock.

        Heartbeats, claim times and due times written by one host are compared
        by the others: the offset of this host's clock is measured once at
        start-up and corrected. An offset beyond MAX_CLOCK_OFFSET means a clock
        that is simply wrong: refuse to start rather than guess. An injected
        clock (tests, drain()) is kept as it is.
        """
        context = self._context
        measure = getattr(context.adapter, "clock_offset", None)
        if type(context.clock) is not SystemClock or measure is None:
            return
        offset: timedelta = measure()
        if abs(offset) > MAX_CLOCK_OFFSET:
            raise ConfigurationError(
                f"this host's clock is {-offset.total_seconds():+.1f} s off the database's "
                f"(more than {MAX_CLOCK_OFFSET.total_seconds():.0f} s): fix its time "
                "synchronisation (NTP) before starting workers"
            )
        context.clock = CorrectedClock(offset)

    def _held_job_ids(self) -> set[str]:
        """Every job this process holds, for the monitor's release of untracked ones.

        Runners are read before the completer: a job moves from one to the
        other, so a job moving while we look is still seen.
        """
        held: set[str] = set()
        for runner in self._queues:
            held.update(runner.held_job_ids())
        for scheduled in self._scheduled:
            held.update(scheduled.held_job_ids())
        held.update(self._added.held_job_ids())
        return held | self._completer.held_job_ids()

    @property
    def worker_id(self) -> str:
        """This process start's jobs_workers.id (the reserved_by of its jobs)."""
        return self._context.owner

    # -- enqueue -----------------------------------------------------------
    def enqueue(self, request: JobRequest, *, connection: Any = None) -> Job:
        """Enqueue one job for a worker of this runtime; returns the stored Job."""
        self._check_usable()
        self._check_known(request)
        job = self._context.adapter.enqueue(
            request, connection=connection, now=self._context.clock.now()
        )
        self._after_enqueue([job], uncommitted=connection is not None)
        return job

    def enqueue_many(self, requests: Sequence[JobRequest], *, connection: Any = None) -> list[Job]:
        """Enqueue jobs in one round trip; returns them in input order."""
        self._check_usable()
        for request in requests:
            self._check_known(request)
        jobs = self._context.adapter.enqueue_many(
            list(requests), connection=connection, now=self._context.clock.now()
        )
        self._after_enqueue(jobs, uncommitted=connection is not None)
        return jobs

    async def enqueue_async(self, request: JobRequest, *, connection: Any = None) -> Job:
        """`enqueue` for async code: never blocks the event loop.

        `connection` may be a psycopg.AsyncConnection (PostgreSQL): the insert
        then runs on it and commits or rolls back with the caller's transaction.
        """
        (job,) = await self.enqueue_many_async([request], connection=connection)
        return job

    async def enqueue_many_async(
        self, requests: Sequence[JobRequest], *, connection: Any = None
    ) -> list[Job]:
        """`enqueue_many` for async code: never blocks the event loop."""
        self._check_usable()
        for request in requests:
            self._check_known(request)
        jobs = await self._context.adapter.enqueue_many_async(
            list(requests), connection=connection, now=self._context.clock.now()
        )
        self._after_enqueue(jobs, uncommitted=connection is not None)
        return jobs

    # -- jobs by id ------------------------------------------------------------------
    @property
    def schedules(self) -> Schedules:
        """The schedules in this runtime's database: the same object as `adapter.schedules`."""
        return self._context.adapter.schedules

    def get_job(self, job_id: str) -> Job | FinishedJob | None:
        """The job with this id wherever it is (`.state`, and `.result` once succeeded)."""
        self._check_not_forked()
        return self._context.adapter.get_job(job_id)

    def cancel(self, job_id: str) -> CancelResult:
        """Cancel a job: "cancelled" (it was waiting), "requested" (it is running; the process
        running it stops it within a second), or "not_found" (no such job, or it finished)."""
        self._check_not_forked()
        result = self._context.adapter.cancel(job_id, now=self._context.clock.now())
        if result == "requested":
            # Ours? Then there is no need to wait for the next poll.
            with contextlib.suppress(BgJobsError):
                self._canceller.tick()
        return result

    # -- queues --------------------------------------------------------------
    def pause_queue(self, name: str) -> None:
        """Stop every process claiming jobs for queue `name` (running jobs finish).

        Stored in the database: it holds for every process, now and after
        restarts, until `resume_queue`. Enqueueing into a paused queue works.
        """
        self._check_usable()
        self._context.adapter.pause_queue(name, now=self._context.clock.now())

    def resume_queue(self, name: str) -> bool:
        """Let every process claim jobs for queue `name` again; False if it was not paused."""
        self._check_usable()
        resumed = self._context.adapter.resume_queue(name, now=self._context.clock.now())
        for runner in self._queues:
            if runner.name == name:
                runner.wake()
        return resumed

    def paused_queues(self) -> list[str]:
        """The names of the paused queues (of any process), sorted."""
        return self._context.adapter.paused_queues()

    def _check_known(self, request: JobRequest) -> None:
        if not isinstance(request, JobRequest):
            raise TypeError(f"enqueue needs a JobRequest (got {request!r})")
        if request.name not in self._runners_by_name:
            scheduled = {s.scheduled.job_name for s in self._scheduled}
            hint = (
                " (it is a ScheduledJob: the schedule enqueues it)"
                if request.name in scheduled
                else f"; known jobs: {', '.join(sorted(self._runners_by_name)) or 'none'}"
            )
            raise UnknownJobError(f"no worker of this runtime handles {request.name!r}{hint}")
        if request.queue is not None and not any(
            runner.name == request.queue for runner in self._runners_by_name[request.name]
        ):
            raise UnknownJobError(f"queue {request.queue!r} has no worker for {request.name!r}")

    def _after_enqueue(self, jobs: list[Job], *, uncommitted: bool) -> None:
        for job in jobs:
            self._context.emit(
                JobEnqueued(
                    job_id=job.id, name=job.name, available_at=job.available_at, queue=job.queue
                )
            )
        if not self._started:
            return
        for job in jobs:
            for runner in self._runners_by_name.get(job.name, ()):
                if job.queue is None or job.queue == runner.name:
                    runner.wake(job.available_at, uncommitted=uncommitted)

    def _on_notification(self, names: frozenset[str] | None) -> None:
        for runner in self._queues:
            if names is None or not names.isdisjoint(runner.queue.job_names):
                runner.notify()

    def _on_rescued(self, jobs: list[Job]) -> None:
        names = frozenset(job.name for job in jobs)
        self._on_notification(names)
        for scheduled in self._scheduled:
            if scheduled.scheduled.job_name in names:
                scheduled.wake()

    # -- running without threads ------------------------------------------
    def drain(self) -> int:
        """Run every due job on the calling thread; returns how many ran (build(start=False))."""
        self._check_usable()
        if self._started:
            raise BgJobsError("drain() is for runtimes built with build(start=False)")
        ran = 0
        while True:
            progress = sum(runner.drain_once() for runner in self._queues)
            progress += sum(scheduled.drain_once() for scheduled in self._scheduled)
            progress += self._added.run_due(draining=True)
            if not progress:
                return ran
            ran += progress

    # -- stopping ----------------------------------------------------------
    def stop(self, timeout: float | timedelta = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop claiming, release unstarted jobs, ask running ones to stop, wait up to `timeout`.

        Jobs still running after the timeout stay reserved; any live process
        rescues them once this process's heartbeat row is gone.
        """
        self._check_not_forked()
        self._shutdown(seconds(timeout), reason=None)

    def wait(self, timeout: float | timedelta | None = None) -> bool:
        """Block until the runtime stops; raise RuntimeStopped if the supervisor gave up.

        Returns False if `timeout` passed first.
        """
        self._check_not_forked()
        finished = self._stop.done.wait(None if timeout is None else seconds(timeout))
        if finished and self._stop.reason is not None:
            raise RuntimeStopped(self._stop.reason)
        return finished

    @property
    def stopped(self) -> bool:
        return self._stop.done.is_set()

    def __enter__(self) -> BgJobs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _give_up(self, reason: str) -> None:
        threading.Thread(
            target=self._shutdown,
            args=(DEFAULT_STOP_TIMEOUT,),
            kwargs={"reason": reason},
            name="bgjobs-give-up",
            daemon=True,
        ).start()

    def _shutdown(self, timeout: float, *, reason: str | None) -> None:
        with self._stop_lock:
            if self._stop.requested:
                already = True
            else:
                already = False
                self._stop.requested = True
                self._stop.reason = reason
        if already:
            self._stop.done.wait(timeout + 5)
            return
        context = self._context
        deadline = time.monotonic() + max(timeout, 0.0)
        context.stopping.set()
        if self._subscription is not None:
            self._subscription.close()
        for runner in self._queues:
            runner.wake()
            runner.request_stop_of_running()
        for scheduled in self._scheduled:
            scheduled.wake()
            scheduled.request_stop_of_running()
        self._added.wake()
        self._added.request_stop_of_running()
        # Claim loops end within one database call; give them a moment beyond the deadline
        # so that no claim lands after the release below. The monitor goes on
        # heartbeating while jobs finish, or another process would rescue them.
        services = [r.name for r in self._queues] + [s.name for s in self._scheduled]
        services.append(self._added.name)
        self._supervisor.join(max(deadline, time.monotonic() + 1.0), only=services)
        # Runs of runtime schedules have threads of their own, which the service's
        # end does not cover if it died: wait for them before closing what they use.
        self._added.wait_runs(deadline)
        for runner in self._queues:
            _quietly(runner.release_unstarted, deadline)
            runner.request_stop_of_running()
        for runner in self._queues:
            runner.wait_idle(deadline)
        left = [job for runner in self._queues for job in runner.running_jobs]
        left += [s.running_job for s in self._scheduled if s.running_job is not None]
        left += self._added.running_jobs()
        log_left_reserved(
            left, self._builder.heartbeat, timeout=timeout, stopped_at=context.clock.now()
        )
        if self._started:
            self._completer.close(max(0.5, deadline - time.monotonic()))
        for runner in self._queues:
            runner.end_handlers()
        self._executor.close()
        self._loop.close()
        self._monitor.stopped.set()
        self._supervisor.join(time.monotonic() + 5.0, only=[self._monitor.name])
        _quietly(lambda: context.adapter.remove_worker(context.owner), deadline + 1.0)
        context.emit(RuntimeStoppedEvent(reason=reason or "stopped"))
        self._stop.done.set()

    def _check_usable(self) -> None:
        self._check_not_forked()
        if self._stop.requested:
            raise RuntimeStopped(self._stop.reason or "the runtime was stopped")

    def _check_not_forked(self) -> None:
        # The child shares the parent's owner id and rows: stopping or running
        # here would release or delete what the parent still holds.
        if os.getpid() != self._pid:
            raise ForkedRuntimeError(
                "this BgJobs runtime was built before os.fork() and cannot run in the child "
                "process: build it after the fork (for gunicorn, don't use --preload with it, "
                "or build it in a post_fork hook)"
            )


def _quietly(call: Callable[[], object], deadline: float) -> None:
    """Best effort during shutdown, bounded by the stop deadline.

    A database that is down must neither fail the stop nor stretch it past
    its timeout; what is not done here is done by another process's sweep.
    """

    def attempt() -> None:
        with contextlib.suppress(BgJobsError):
            call()

    worker = threading.Thread(target=attempt, name="bgjobs-stop", daemon=True)
    worker.start()
    worker.join(max(0.5, deadline - time.monotonic()))
