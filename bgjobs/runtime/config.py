"""Queue and ScheduledJob: immutable configuration values with fluent `with_` methods.

Each value checks itself when it is made, so a bad setting fails where it is
written (`Queue("q", max_concurrent_jobs=0)` raises), with a message saying
what was expected and what was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from bgjobs.db.adapter import QueueLimits
from bgjobs.errors import ConfigurationError
from bgjobs.events import Listener
from bgjobs.jobs import Worker, encode_payload
from bgjobs.misfire import DEFAULT_GRACE, DEFAULT_MISFIRE, MisfireKind, MisfirePolicy
from bgjobs.retry import Backoff, as_backoff, default_backoff
from bgjobs.schedule.policy import SchedulePolicy

DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_CONCURRENT_JOBS = 10
DEFAULT_POLL_INTERVAL = timedelta(seconds=1)
NO_LIMITS = QueueLimits()


#: How long a handler still running after its timeout gets before it is abandoned.
DEFAULT_TIMEOUT_GRACE = timedelta(seconds=5)


def _positive_timedelta(value: timedelta, what: str) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(f"{what}: expected a positive timedelta, got {value!r}")
    return value


def _non_negative_timedelta(value: timedelta, what: str) -> timedelta:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ConfigurationError(f"{what}: expected a timedelta >= 0, got {value!r}")
    return value


def _whole_number(value: int, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{what}: expected a whole number >= {minimum}, got {value!r}")
    return value


def _max_retries(value: int) -> int:
    return _whole_number(value, "max_retries", minimum=0)


def _workers(value: object, where: str) -> None:
    if not isinstance(value, tuple) or not all(isinstance(w, Worker) for w in value):
        raise ConfigurationError(f"workers of {where}: expected a tuple of Worker, got {value!r}")


def _listeners(value: object, where: str) -> None:
    if not isinstance(value, tuple) or not all(callable(item) for item in value):
        raise ConfigurationError(
            f"event listeners of {where}: expected a tuple of callables, got {value!r}"
        )


def _backoff(value: object, where: str) -> None:
    if not callable(value):
        raise ConfigurationError(
            f"retry_backoff of {where}: expected a timedelta or a callable, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class HeartbeatSettings:
    """How often this process heartbeats (and sweeps), and when a silent one counts as dead."""

    every: timedelta = timedelta(seconds=5)
    lease: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        _positive_timedelta(self.every, "heartbeat every")
        if not isinstance(self.lease, timedelta) or self.lease <= self.every:
            raise ConfigurationError(
                f"heartbeat lease: expected a timedelta longer than the heartbeat interval "
                f"({self.every}), got {self.lease!r}"
            )


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """How long finished jobs are kept; None keeps them forever."""

    succeeded: timedelta | None = timedelta(days=7)
    failed: timedelta | None = None

    def __post_init__(self) -> None:
        for label, keep in (("succeeded", self.succeeded), ("failed", self.failed)):
            if keep is not None:
                _positive_timedelta(keep, f"retention of {label} jobs")


@dataclass(frozen=True, slots=True)
class RestartTolerance:
    """How many restarts of runtime threads within `within` before the runtime gives up."""

    max_restarts: int = 3
    within: timedelta = timedelta(seconds=5)

    def __post_init__(self) -> None:
        _whole_number(self.max_restarts, "max_restarts", minimum=0)
        _positive_timedelta(self.within, "restart tolerance window")


@dataclass(frozen=True, slots=True)
class Queue:
    """A named queue: which workers it runs, how many jobs at once, and how it retries."""

    name: str
    workers: tuple[Worker, ...] = ()
    max_retries: int = DEFAULT_MAX_RETRIES
    max_concurrent_jobs: int = DEFAULT_MAX_CONCURRENT_JOBS
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL
    retry_backoff: Backoff = default_backoff
    listeners: tuple[Listener, ...] = ()
    limits: QueueLimits = NO_LIMITS
    job_timeout: timedelta | None = None
    timeout_grace: timedelta = DEFAULT_TIMEOUT_GRACE
    prefetch: int | None = None  # None: claim ahead only while jobs are quick (QueueRunner)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"queue name: expected a non-empty string, got {self.name!r}")
        where = f"queue {self.name!r}"
        _workers(self.workers, where)
        _whole_number(self.max_retries, f"max_retries of {where}", minimum=0)
        _whole_number(self.max_concurrent_jobs, f"max_concurrent_jobs of {where}", minimum=1)
        _positive_timedelta(self.poll_interval, f"poll_interval of {where}")
        _backoff(self.retry_backoff, where)
        _listeners(self.listeners, where)
        if self.job_timeout is not None:
            _positive_timedelta(self.job_timeout, f"job timeout of {where}")
        _non_negative_timedelta(self.timeout_grace, f"timeout grace of {where}")
        _limits(self.limits, where)

    def with_global_concurrency(self, n: int) -> Queue:
        """At most `n` jobs this queue could claim (its job names, routed to its name or to
        no queue) run at once, across every process and host (enforced in the claim)."""
        return replace(self, limits=replace(self.limits, concurrency=n))

    def with_rate_limit(self, n: int, per: timedelta = timedelta(seconds=1)) -> Queue:
        """At most `n` jobs of this queue name start in any window of length `per`
        (a sliding window over claim times), across every process and host."""
        return replace(self, limits=replace(self.limits, rate=n, per=per))

    def with_worker(self, worker: Worker) -> Queue:
        if not isinstance(worker, Worker):
            raise ConfigurationError(f"with_worker needs a Worker (got {worker!r})")
        return replace(self, workers=(*self.workers, worker))

    def with_max_retries(self, n: int) -> Queue:
        return replace(self, max_retries=_max_retries(n))

    def with_max_concurrent_jobs(self, n: int) -> Queue:
        return replace(self, max_concurrent_jobs=n)

    def with_job_timeout(
        self, timeout: timedelta, grace: timedelta = DEFAULT_TIMEOUT_GRACE
    ) -> Queue:
        """Fail a run with JobTimeout after `timeout` (a job's own with_timeout wins).

        At the timeout `job.stop_requested` is set (reason "timeout") and an
        async handler is cancelled; a sync handler still running `grace` later
        is abandoned and its thread replaced, so the queue keeps its capacity.
        """
        return replace(self, job_timeout=timeout, timeout_grace=grace)

    def with_poll_interval(self, interval: timedelta) -> Queue:
        return replace(self, poll_interval=_positive_timedelta(interval, "poll_interval"))

    def with_prefetch(self, n: int) -> Queue:
        """Claim up to `n` jobs ahead of free workers (held reserved, not started); 0: never.

        By default a queue claims ahead up to twice max_concurrent_jobs while its
        jobs take under 50 ms on average, and not at all with longer jobs (see
        docs/guide.md). Jobs claimed ahead and not started are given back at a
        graceful stop without charging an attempt.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigurationError(
                f"prefetch of queue {self.name!r} must be a whole number >= 0 (got {n!r})"
            )
        return replace(self, prefetch=n)

    def with_retry_backoff(self, backoff: timedelta | Backoff) -> Queue:
        try:
            return replace(self, retry_backoff=as_backoff(backoff))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(str(exc)) from None

    def with_event_listener(self, listener: Listener) -> Queue:
        if not callable(listener):
            raise ConfigurationError(f"an event listener must be callable (got {listener!r})")
        return replace(self, listeners=(*self.listeners, listener))

    @property
    def job_names(self) -> frozenset[str]:
        return frozenset(worker.job_name for worker in self.workers)


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job that runs on a schedule; one row per key at all times.

    `schedule` is any SchedulePolicy or a string that `build()` parses. `key`
    names the schedule (default: the worker's job name), so several
    ScheduledJobs may share a Worker, each with its own key and `payload`
    (any JSON value, handed to the handler as `job.payload`).
    """

    worker: Worker
    schedule: SchedulePolicy | str
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_backoff: Backoff = default_backoff
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL
    listeners: tuple[Listener, ...] = ()
    key: str = ""  # "" until __post_init__ fills in the worker's job name
    payload: Any = None
    misfire: MisfirePolicy = DEFAULT_MISFIRE
    job_timeout: timedelta | None = None
    #: The payload as JSON text (None for a null payload), checked when the value is made.
    payload_text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.worker, Worker):
            raise ConfigurationError(f"ScheduledJob worker: expected a Worker, got {self.worker!r}")
        if not isinstance(self.key, str):
            raise ConfigurationError(
                f"ScheduledJob key: expected a non-empty string, got {self.key!r}"
            )
        if not self.key:
            object.__setattr__(self, "key", self.worker.job_name)
        where = f"ScheduledJob {self.key!r}"
        text = None if self.payload is None else encode_payload(self.payload, f"payload of {where}")
        object.__setattr__(self, "payload_text", text)
        if not isinstance(self.schedule, str) and not callable(
            getattr(self.schedule, "next_after", None)
        ):
            raise ConfigurationError(
                f"schedule of {where}: expected a string or a SchedulePolicy with "
                f"next_after(t), got {self.schedule!r}"
            )
        _whole_number(self.max_retries, f"max_retries of {where}", minimum=0)
        _backoff(self.retry_backoff, where)
        _positive_timedelta(self.poll_interval, f"poll_interval of {where}")
        _listeners(self.listeners, where)
        if not isinstance(self.misfire, MisfirePolicy):
            raise ConfigurationError(
                f"misfire of {where}: expected a MisfirePolicy, got {self.misfire!r}"
            )
        if self.job_timeout is not None:
            _positive_timedelta(self.job_timeout, f"job timeout of {where}")

    @property
    def job_name(self) -> str:
        return self.worker.job_name

    def with_job_timeout(self, timeout: timedelta) -> ScheduledJob:
        """Fail a run with JobTimeout after `timeout` (retried per max_retries).

        At the timeout `job.stop_requested` is set (reason "timeout") and an async
        handler is cancelled. A sync handler that ignores the request is not
        abandoned: it keeps this schedule's thread until it returns (the next slot
        waits for it), and the run still fails with JobTimeout whatever it returns.
        """
        return replace(self, job_timeout=_positive_timedelta(timeout, "job timeout"))

    def with_max_retries(self, n: int) -> ScheduledJob:
        return replace(self, max_retries=_max_retries(n))

    def with_retry_backoff(self, backoff: timedelta | Backoff) -> ScheduledJob:
        try:
            return replace(self, retry_backoff=as_backoff(backoff))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(str(exc)) from None

    def with_poll_interval(self, interval: timedelta) -> ScheduledJob:
        return replace(self, poll_interval=_positive_timedelta(interval, "poll_interval"))

    def with_misfire(self, policy: MisfireKind, grace: timedelta = DEFAULT_GRACE) -> ScheduledJob:
        """What to do about slots missed while no worker ran (a claim later than `grace`):
        "once" (default) runs one catch-up run, "skip" runs none and waits for the next
        slot, "all" runs each missed slot in order (at most 1,000, the newest)."""
        return replace(self, misfire=MisfirePolicy(policy, grace))

    def with_event_listener(self, listener: Listener) -> ScheduledJob:
        if not callable(listener):
            raise ConfigurationError(f"an event listener must be callable (got {listener!r})")
        return replace(self, listeners=(*self.listeners, listener))


def _limits(limits: QueueLimits, where: str) -> None:
    if not isinstance(limits, QueueLimits):
        raise ConfigurationError(f"limits of {where}: expected QueueLimits, got {limits!r}")
    for what, value in (("global concurrency", limits.concurrency), ("rate limit", limits.rate)):
        if value is not None:
            _whole_number(value, f"{what} of {where}", minimum=1)
    if limits.rate is not None:
        _positive_timedelta(limits.per, f"rate limit period of {where}")  # type: ignore[arg-type]
