"""Events: frozen past-tense records handed to listeners, which are plain callables.

Events carry job ids and names, never payloads, so logging them cannot leak
user data. Each listener is called in isolation: one that raises is logged
and never stops another listener or a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger("bgjobs")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event."""


@dataclass(frozen=True, slots=True)
class JobEnqueued(Event):
    job_id: str
    name: str
    available_at: datetime
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class JobReserved(Event):
    job_id: str
    name: str
    attempts: int
    queue: str


@dataclass(frozen=True, slots=True)
class JobStarted(Event):
    job_id: str
    name: str
    attempts: int


@dataclass(frozen=True, slots=True)
class JobSucceeded(Event):
    job_id: str
    name: str
    attempts: int
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class JobRetried(Event):
    job_id: str
    name: str
    attempts: int
    available_at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class JobFailed(Event):
    job_id: str
    name: str
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class JobSnoozed(Event):
    """The handler raised Snooze: the job is back, due at `available_at`, its attempt given back."""

    job_id: str
    name: str
    attempts: int
    available_at: datetime


@dataclass(frozen=True, slots=True)
class JobCancelled(Event):
    """The job was cancelled and moved to jobs_failed; `while_running` says if it had started."""

    job_id: str
    name: str
    attempts: int
    while_running: bool


@dataclass(frozen=True, slots=True)
class JobTimedOut(Event):
    """A run outlived its timeout: the handler was asked to stop (an async one is cancelled)."""

    job_id: str
    name: str
    attempts: int
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class JobReleased(Event):
    job_id: str
    name: str


@dataclass(frozen=True, slots=True)
class JobRescued(Event):
    """A job held by a dead process was released to run again (its attempt still counts)."""

    job_id: str
    name: str
    attempts: int


@dataclass(frozen=True, slots=True)
class JobScheduled(Event):
    """A scheduled job's row was created, or updated because its schedule changed."""

    name: str
    available_at: datetime
    schedule: str
    reason: str  # "created", "recreated", "schedule changed", "next run"


@dataclass(frozen=True, slots=True)
class PollingStarted(Event):
    queue: str


@dataclass(frozen=True, slots=True)
class PollingStopped(Event):
    queue: str


@dataclass(frozen=True, slots=True)
class QueueErrored(Event):
    """A queue or scheduler thread died with an unexpected error (it is restarted)."""

    queue: str
    error: str


@dataclass(frozen=True, slots=True)
class DbErrored(Event):
    """A database call failed; the runtime retries it."""

    operation: str
    error: str


@dataclass(frozen=True, slots=True)
class SetupErrored(Event):
    error: str


@dataclass(frozen=True, slots=True)
class Migrated(Event):
    version: int


@dataclass(frozen=True, slots=True)
class RuntimeStopped(Event):
    reason: str


Listener = Callable[[Event], object]


def emit(listeners: Iterable[Listener], event: Event) -> None:
    """Call every listener with `event`; a listener that raises is logged and skipped."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            logger.exception("event listener %r raised on %s", listener, type(event).__name__)


def logger_event_listener(event: Event) -> None:
    """Log events under the "bgjobs" logger: ids and names, never payloads."""
    level = logging.INFO
    if isinstance(event, RuntimeStopped):
        level = logging.INFO if event.reason == "stopped" else logging.ERROR
    elif isinstance(event, (JobFailed, QueueErrored, DbErrored, SetupErrored)):
        level = logging.WARNING if isinstance(event, DbErrored) else logging.ERROR
    elif isinstance(event, (JobRetried, JobRescued, JobTimedOut, JobCancelled)):
        level = logging.WARNING
    elif isinstance(event, (JobReserved, JobStarted, PollingStarted, PollingStopped)):
        level = logging.DEBUG
    if logger.isEnabledFor(level):
        fields = " ".join(f"{k}={getattr(event, k)}" for k in event.__dataclass_fields__)
        logger.log(level, "%s %s", type(event).__name__, fields)
