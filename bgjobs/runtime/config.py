"""Queue and ScheduledJob: immutable configuration values with fluent `with_` methods."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from bgjobs.db.adapter import QueueLimits
from bgjobs.errors import ConfigurationError
from bgjobs.events import Listener
from bgjobs.jobs import Worker
from bgjobs.retry import Backoff, as_backoff, default_backoff
from bgjobs.schedule.policy import SchedulePolicy

DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_CONCURRENT_JOBS = 10
DEFAULT_POLL_INTERVAL = timedelta(seconds=1)
NO_LIMITS = QueueLimits()


def _positive_timedelta(value: timedelta, what: str) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(f"{what} must be a positive timedelta (got {value!r})")
    return value


def _max_retries(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"max_retries must be a whole number >= 0 (got {value!r})")
    return value


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

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"queue name must be a non-empty string (got {self.name!r})")

    def with_global_concurrency(self, n: int) -> Queue:
        """At most `n` jobs claimed by queues of this name run at once, across every
        process and host (enforced by the database in the claim)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigurationError(
                f"global concurrency of queue {self.name!r} must be a whole number >= 1 (got {n!r})"
            )
        return replace(self, limits=replace(self.limits, concurrency=n))

    def with_rate_limit(self, n: int, per: timedelta = timedelta(seconds=1)) -> Queue:
        """At most `n` jobs of this queue name start in any window of length `per`
        (a sliding window over claim times), across every process and host."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigurationError(
                f"rate limit of queue {self.name!r} must be a whole number >= 1 (got {n!r})"
            )
        period = _positive_timedelta(per, "rate limit period")
        return replace(self, limits=replace(self.limits, rate=n, per=period))

    def with_worker(self, worker: Worker) -> Queue:
        if not isinstance(worker, Worker):
            raise ConfigurationError(f"with_worker needs a Worker (got {worker!r})")
        return replace(self, workers=(*self.workers, worker))

    def with_max_retries(self, n: int) -> Queue:
        return replace(self, max_retries=_max_retries(n))

    def with_max_concurrent_jobs(self, n: int) -> Queue:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigurationError(
                f"max_concurrent_jobs of queue {self.name!r} must be a whole number >= 1 "
                f"(got {n!r})"
            )
        return replace(self, max_concurrent_jobs=n)

    def with_poll_interval(self, interval: timedelta) -> Queue:
        return replace(self, poll_interval=_positive_timedelta(interval, "poll_interval"))

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
    """A job that runs on a schedule; keyed by its worker's job name, one row at all times.

    `schedule` is any SchedulePolicy or a string that `build()` parses.
    """

    worker: Worker
    schedule: SchedulePolicy | str
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_backoff: Backoff = default_backoff
    poll_interval: timedelta = DEFAULT_POLL_INTERVAL
    listeners: tuple[Listener, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.worker, Worker):
            raise ConfigurationError(f"ScheduledJob needs a Worker (got {self.worker!r})")

    @property
    def key(self) -> str:
        return self.worker.job_name

    def with_max_retries(self, n: int) -> ScheduledJob:
        return replace(self, max_retries=_max_retries(n))

    def with_retry_backoff(self, backoff: timedelta | Backoff) -> ScheduledJob:
        try:
            return replace(self, retry_backoff=as_backoff(backoff))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(str(exc)) from None

    def with_poll_interval(self, interval: timedelta) -> ScheduledJob:
        return replace(self, poll_interval=_positive_timedelta(interval, "poll_interval"))

    def with_event_listener(self, listener: Listener) -> ScheduledJob:
        if not callable(listener):
            raise ConfigurationError(f"an event listener must be callable (got {listener!r})")
        return replace(self, listeners=(*self.listeners, listener))
