"""The one place that runs a claimed job, for queue runners, scheduled runners and drain().

Callers claim a job and hand it over; `Executor.run` calls the handler (a
sync one on the calling thread, an async one on the runtime's event loop
while the calling thread waits), applies the timeout, a cancel request and
Snooze, turns what happened into an Outcome, and returns it with the events
to emit once the completer has committed it. Nothing here writes to the
database.

A run can end three ways: the handler returns or raises (the usual way);
it is asked to stop (a timeout or a cancel) and then returns or raises, when
the outcome is decided by why it was stopped, whatever it returned; or it is
still running `grace` after being asked, when it is abandoned: its outcome is
handed to the caller's `on_abandon` at once (so the caller frees the slot and
replaces the thread), and whatever the handler does later changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bgjobs.db.adapter import Failed, Outcome, Released, RetryLater, ScheduledNext, Succeeded
from bgjobs.errors import Cancelled, JobTimeout, PayloadError, Snooze
from bgjobs.events import (
    Event,
    JobCancelled,
    JobFailed,
    JobRetried,
    JobScheduled,
    JobSnoozed,
    JobStarted,
    JobSucceeded,
    JobTimedOut,
    Listener,
)
from bgjobs.jobs import Handler, Job, encode_payload
from bgjobs.retry import Backoff
from bgjobs.runtime.async_loop import AsyncLoop, Spawn
from bgjobs.runtime.context import RuntimeContext, describe_exception
from bgjobs.runtime.handlers import is_async_handler
from bgjobs.runtime.outcomes import (
    after_error,
    lease_of,
    log_handler_error,
    lost_worker_failure,
    safe_outcome,
)
from bgjobs.runtime.watchdog import Watchdog

logger = logging.getLogger("bgjobs")

#: How long a handler asked to stop (timeout or cancel) has before it is abandoned.
DEFAULT_GRACE = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class RunPolicy:
    """How the jobs of one queue (or one scheduled job) are run and retried."""

    source: str  # the queue name, or "scheduled:<key>"
    max_retries: int
    retry_backoff: Backoff
    listeners: tuple[Listener, ...] = ()
    job_timeout: timedelta | None = None
    grace: timedelta = DEFAULT_GRACE
    #: For scheduled jobs: the next row to insert when a run ends for good.
    next_row: Callable[[Job], ScheduledNext | None] | None = None

    def timeout_of(self, job: Job) -> timedelta | None:
        """The job's own timeout wins over the queue's."""
        return job.timeout if job.timeout is not None else self.job_timeout


@dataclass(frozen=True, slots=True)
class Ran:
    """What a run came to: the outcome to commit and the events to emit once it is committed."""

    job: Job
    outcome: Outcome
    events: tuple[Event, ...]
    listeners: tuple[Listener, ...]
    #: How long the handler ran (seconds); None when it did not run to an end.
    duration: float | None = None


@dataclass(eq=False)
class _Run:
    job: Job
    policy: RunPolicy
    started: float
    on_abandon: Callable[[Ran], None] | None
    cancel_task: Callable[[], None] | None = None
    timeout_at: float | None = None  # clock.monotonic() when the timeout passes
    abandon_at: float | None = None  # ... and when the run is abandoned (once asked to stop)
    timed_out: bool = False
    cancelled: bool = False
    finished: bool = False
    abandoned: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Executor:
    """Runs claimed jobs and knows which ones are running, so they can be stopped."""

    def __init__(self, context: RuntimeContext, loop: AsyncLoop) -> None:
        self._context = context
        self._loop = loop
        self._watchdog = Watchdog(context.clock, self._check_deadlines)
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._cancel_requested: frozenset[str] = frozenset()
        self._abandoned = 0
        self._async: dict[int, tuple[Handler, bool]] = {}  # keeps the handler: ids stay unique

    # -- running -------------------------------------------------------------------
    def refuse(self, job: Job, policy: RunPolicy) -> Ran | None:
        """The outcome of a claimed job that must not run, or None if it may run.

        It must not if it crashed its worker on every allowed attempt, or if a
        cancel was requested for it (it then fails as Cancelled without starting).
        """
        lost = lost_worker_failure(job, max_retries=policy.max_retries)
        if lost is not None:
            failed = Failed(
                lease=lost.lease,
                exception=lost.exception,
                traceback=lost.traceback,
                next_scheduled=_next_row(policy, job),
            )
            return self._ran(job, policy, failed, 0.0)
        if job.cancel_requested or job.id in self._cancel_requested:
            return self._cancelled(job, policy, while_running=False)
        return None

    def run(
        self,
        job: Job,
        handler: Handler,
        policy: RunPolicy,
        on_abandon: Callable[[Ran], None] | None = None,
    ) -> Ran | None:
        """Run the handler on this thread; None if the run was abandoned meanwhile.

        An async handler runs on the event loop while this thread waits.
        `on_abandon` (queue runners) receives the outcome of a run abandoned
        after its grace; without it a run is never abandoned.
        """
        begun = self._begin(job, policy, on_abandon)
        if isinstance(begun, Ran):
            return begun
        value: Any = None
        error: BaseException | None = None
        try:
            value = self._call(begun, handler)
        except BaseException as exc:  # a handler's failure of any kind is the job's failure
            error = exc
        return self._end(begun, value, error)

    def start_async(
        self,
        jobs: list[Job],
        handler_of: Callable[[Job], Handler],
        policy: RunPolicy,
        on_done: Callable[[Ran], None],
    ) -> None:
        """Start async handlers on the event loop and return at once, without a thread each.

        `on_done` receives each run's outcome on the loop thread (or, for a
        run abandoned after its grace, on the deadline thread).
        """
        spawns: list[Spawn] = []
        for job in jobs:
            begun = self._begin(job, policy, on_done)
            if isinstance(begun, Ran):
                on_done(begun)
                continue
            spawns.append(
                Spawn(
                    make=functools.partial(handler_of(job), job),
                    finished=functools.partial(self._async_finished, begun, on_done),
                    started=functools.partial(self._async_started, begun),
                )
            )
        if spawns:
            self._loop.spawn(spawns)

    def _async_started(self, run: _Run, task: asyncio.Task[Any]) -> None:
        with run.lock:
            run.cancel_task = lambda: self._loop.call_soon(task.cancel)
            stopped = run.timed_out or run.cancelled
        if stopped:  # asked to stop before the task existed
            task.cancel()

    def _async_finished(
        self, run: _Run, on_done: Callable[[Ran], None], value: Any, error: BaseException | None
    ) -> None:
        ran = self._end(run, value, error)
        if ran is not None:
            on_done(ran)

    def _begin(
        self, job: Job, policy: RunPolicy, on_abandon: Callable[[Ran], None] | None
    ) -> _Run | Ran:
        """Register the run and start its timeout; or the outcome of a job that must not run."""
        refused = self.refuse(job, policy)
        if refused is not None:
            return refused
        clock = self._context.clock
        run = _Run(job=job, policy=policy, started=clock.monotonic(), on_abandon=on_abandon)
        with self._lock:
            self._runs[job.id] = run
        self._context.emit(
            JobStarted(job_id=job.id, name=job.name, attempts=job.attempts), policy.listeners
        )
        timeout = policy.timeout_of(job)
        if timeout is not None:
            run.timeout_at = run.started + timeout.total_seconds()
            self._watchdog.poke(run.timeout_at)
        return run

    def _end(self, run: _Run, value: Any, error: BaseException | None) -> Ran | None:
        """The outcome of a run whose handler returned or raised; None if it was abandoned."""
        duration = self._context.clock.monotonic() - run.started
        with self._lock:
            self._runs.pop(run.job.id, None)
        with run.lock:
            run.finished = True
            if run.abandoned:
                return None
        if error is not None and not isinstance(error, Snooze):
            log_handler_error(run.job, error)
        return self._decide(run, value, error, duration)

    def _call(self, run: _Run, handler: Handler) -> Any:
        job = run.job
        if self._is_async(handler):
            task = self._loop.run(handler(job))  # type: ignore[arg-type]
            with run.lock:
                run.cancel_task = task.cancel
                stopped = run.timed_out or run.cancelled
            if stopped:  # asked to stop before the task existed
                task.cancel()
            return task.result()
        value = handler(job)
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()  # never awaited: close it so Python does not warn
            raise TypeError(
                f"the handler of {job.name!r} returned an awaitable but is not an async "
                "function: make it `async def` (or give it an `async def __call__`)"
            )
        return value

    def is_async(self, handler: Handler) -> bool:
        """True for handlers that run on the event loop (see runtime/handlers.py)."""
        return self._is_async(handler)

    def _is_async(self, handler: Handler) -> bool:
        found = self._async.get(id(handler))
        if found is None:
            found = self._async[id(handler)] = (handler, is_async_handler(handler))
        return found[1]

    # -- deciding the outcome ----------------------------------------------------------
    def _decide(self, run: _Run, value: Any, error: BaseException | None, duration: float) -> Ran:
        job, policy = run.job, run.policy
        if run.cancelled:
            return self._cancelled(job, policy, while_running=True)
        if run.timed_out:
            timeout = policy.timeout_of(job)
            error = JobTimeout(f"{job.name!r} ran longer than its timeout of {_seconds(timeout)} s")
        elif isinstance(error, Snooze):
            available_at = self._context.clock.now() + error.delay
            released = Released(lease=lease_of(job), available_at=available_at)
            snoozed = JobSnoozed(
                job_id=job.id, name=job.name, attempts=job.attempts, available_at=available_at
            )
            return Ran(job, released, (snoozed,), policy.listeners, duration)
        result: str | None = None
        if error is None and value is not None:
            try:
                result = encode_payload(value, "result")
            except PayloadError as exc:
                error = exc
        failed_with = error
        outcome = safe_outcome(
            job,
            lambda: (
                Succeeded(lease=lease_of(job), next_scheduled=_next_row(policy, job), result=result)
                if failed_with is None
                else after_error(
                    job,
                    failed_with,
                    max_retries=policy.max_retries,
                    backoff=policy.retry_backoff,
                    now=self._context.clock.now(),
                    next_scheduled=_next_row(policy, job),
                )
            ),
        )
        return self._ran(job, policy, outcome, duration)

    def _cancelled(self, job: Job, policy: RunPolicy, *, while_running: bool) -> Ran:
        when = "while it ran" if while_running else "before it started"
        error = Cancelled(f"{job.name!r} was cancelled {when}")
        failed = Failed(
            lease=lease_of(job),
            exception=describe_exception(error),
            traceback="",
            next_scheduled=_next_row(policy, job),
        )
        event = JobCancelled(
            job_id=job.id, name=job.name, attempts=job.attempts, while_running=while_running
        )
        return Ran(job, failed, (event, *_scheduled_events(failed)), policy.listeners)

    def _ran(self, job: Job, policy: RunPolicy, outcome: Outcome, duration: float) -> Ran:
        events: list[Event] = []
        if isinstance(outcome, Succeeded):
            events.append(
                JobSucceeded(
                    job_id=job.id, name=job.name, attempts=job.attempts, duration_seconds=duration
                )
            )
        elif isinstance(outcome, RetryLater):
            events.append(
                JobRetried(
                    job_id=job.id,
                    name=job.name,
                    attempts=job.attempts,
                    available_at=outcome.available_at,
                    error=outcome.last_error,
                )
            )
        elif isinstance(outcome, Failed):
            events.append(
                JobFailed(
                    job_id=job.id, name=job.name, attempts=job.attempts, error=outcome.exception
                )
            )
        events.extend(_scheduled_events(outcome))
        return Ran(job, outcome, tuple(events), policy.listeners, duration)

    def report(self, ran: Ran, applied: bool) -> None:
        """Emit a run's events once its outcome is committed (not if the lease was lost)."""
        if applied:
            for event in ran.events:
                self._context.emit(event, ran.listeners)

    # -- stopping runs -------------------------------------------------------------------
    def stop_running(self, job_id: str, reason: str) -> bool:
        """Ask the handler running `job_id` to stop: "cancelled" or "shutdown"."""
        with self._lock:
            run = self._runs.get(job_id)
        if run is None:
            return False
        if reason == "cancelled":
            with run.lock:
                if run.finished or run.cancelled:
                    return True
                run.cancelled = True
                cancel_task = run.cancel_task
            run.job.stop_requested.set("cancelled")
            if cancel_task is not None:
                cancel_task()
            self._abandon_after_grace(run)
        else:
            run.job.stop_requested.set("shutdown")
        return True

    def note_cancel_requests(self, job_ids: Collection[str]) -> None:
        """The jobs of this process whose cancel was requested: stop them, refuse to start them."""
        self._cancel_requested = frozenset(job_ids)
        for job_id in job_ids:
            self.stop_running(job_id, "cancelled")

    @property
    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    @property
    def abandoned_threads(self) -> int:
        """How many handler threads were given up on since the runtime started."""
        return self._abandoned

    def _time_out(self, run: _Run) -> None:
        with run.lock:
            if run.finished or run.timed_out or run.cancelled:
                return
            run.timed_out = True
            cancel_task = run.cancel_task
        job = run.job
        job.stop_requested.set("timeout")
        timeout = run.policy.timeout_of(job)
        self._context.emit(
            JobTimedOut(
                job_id=job.id,
                name=job.name,
                attempts=job.attempts,
                timeout_seconds=timeout.total_seconds() if timeout is not None else 0.0,
            ),
            run.policy.listeners,
        )
        if cancel_task is not None:
            cancel_task()
        self._abandon_after_grace(run)

    def _abandon_after_grace(self, run: _Run) -> None:
        if run.on_abandon is None:
            return
        when = self._context.clock.monotonic() + run.policy.grace.total_seconds()
        with run.lock:
            if run.abandon_at is None or when < run.abandon_at:
                run.abandon_at = when
        self._watchdog.poke(when)

    def _check_deadlines(self, now: float) -> float | None:
        """The watchdog's check: time out and abandon what is due; the next deadline."""
        with self._lock:
            runs = list(self._runs.values())
        upcoming: float | None = None
        for run in runs:
            if run.timeout_at is not None and not run.timed_out:
                if run.timeout_at <= now:
                    self._time_out(run)
                else:
                    upcoming = _earlier(upcoming, run.timeout_at)
            if run.abandon_at is not None and not run.abandoned:
                if run.abandon_at <= now:
                    self._abandon(run)
                else:
                    upcoming = _earlier(upcoming, run.abandon_at)
        return upcoming

    def close(self) -> None:
        """Stop the watchdog (at the end of stop())."""
        self._watchdog.close()

    def _abandon(self, run: _Run) -> None:
        on_abandon = run.on_abandon
        with run.lock:
            if run.finished or run.abandoned or on_abandon is None:
                return
            run.abandoned = True
        with self._lock:
            self._runs.pop(run.job.id, None)
            self._abandoned += 1
            total = self._abandoned
        job = run.job
        logger.error(
            "abandoned the handler thread of job %s (%s): still running %.1f s after it was "
            "asked to stop; its slot is freed and its thread replaced (%d abandoned so far)",
            job.id,
            job.name,
            run.policy.grace.total_seconds(),
            total,
        )
        duration = self._context.clock.monotonic() - run.started
        on_abandon(self._decide(run, None, None, duration))


def _earlier(first: float | None, second: float) -> float:
    return second if first is None else min(first, second)


def _next_row(policy: RunPolicy, job: Job) -> ScheduledNext | None:
    return None if policy.next_row is None else policy.next_row(job)


def _scheduled_events(outcome: Outcome) -> tuple[Event, ...]:
    next_row = getattr(outcome, "next_scheduled", None)
    if not isinstance(next_row, ScheduledNext) or next_row.available_at is None:
        return ()
    return (
        JobScheduled(
            name=next_row.key,
            available_at=next_row.available_at,
            schedule=next_row.schedule_text,
            reason="next run",
        ),
    )


def _seconds(value: timedelta | None) -> str:
    return "?" if value is None else f"{value.total_seconds():g}"
