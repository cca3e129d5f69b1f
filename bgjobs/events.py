"""Events: frozen past-tense records handed to listeners, which are plain callables.

Events carry job ids and names, never payloads, so logging them cannot leak
user data. Each listener is called in isolation: one that raises is logged
and never stops another listener or a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    """build() checked the schema: it is at `version`; `applied` lists the versions it
    applied just now (empty when the schema was already up to date)."""

    version: int
    applied: tuple[int, ...] = ()


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
    """Log events under the "bgjobs" logger: ids and names, never payloads.

    One INFO line when a job starts and one when it ends (with a readable
    duration); failures at WARNING (ERROR once no retry is left); claims,
    releases and polling at DEBUG.
    """
    level, message = describe_event(event)
    if logger.isEnabledFor(level):
        logger.log(level, "%s", message)


def describe_event(event: Event) -> tuple[int, str]:
    """The log level and the one-line text `logger_event_listener` writes for an event."""
    if isinstance(event, JobStarted):
        return logging.INFO, f"{_job(event)} started (attempt {event.attempts})"
    if isinstance(event, JobSucceeded):
        took = format_duration(event.duration_seconds)
        return logging.INFO, f"{_job(event)} succeeded in {took}{_attempt_note(event.attempts)}"
    if isinstance(event, JobRetried):
        return logging.WARNING, (
            f"{_job(event)} failed on attempt {event.attempts}, retrying at "
            f"{_time(event.available_at)}: {event.error}"
        )
    if isinstance(event, JobFailed):
        return logging.ERROR, (
            f"{_job(event)} failed for good after {event.attempts} "
            f"attempt{'s' if event.attempts != 1 else ''}: {event.error}"
        )
    if isinstance(event, JobSnoozed):
        return logging.INFO, (
            f"{_job(event)} snoozed on attempt {event.attempts}, due again at "
            f"{_time(event.available_at)}"
        )
    if isinstance(event, JobTimedOut):
        return logging.WARNING, (
            f"{_job(event)} timed out after {format_duration(event.timeout_seconds)} "
            f"on attempt {event.attempts}; asked to stop"
        )
    if isinstance(event, JobCancelled):
        when = "while running" if event.while_running else "before it started"
        return logging.WARNING, f"{_job(event)} cancelled {when}"
    if isinstance(event, JobRescued):
        return logging.WARNING, (
            f"{_job(event)} rescued from a worker that stopped heartbeating "
            f"(attempt {event.attempts} counted); it runs again"
        )
    if isinstance(event, JobEnqueued):
        queue = f" for queue {event.queue!r}" if event.queue is not None else ""
        return logging.INFO, f"{_job(event)} enqueued{queue}, due {_time(event.available_at)}"
    if isinstance(event, JobReserved):
        return logging.DEBUG, f"{_job(event)} claimed by queue {event.queue!r}"
    if isinstance(event, JobReleased):
        return logging.DEBUG, f"{_job(event)} given back unstarted"
    if isinstance(event, JobScheduled):
        # The worker's banner describes each schedule; a changed one is worth its text here.
        level = logging.DEBUG if event.reason == "next run" else logging.INFO
        changed = f": {event.schedule}" if event.reason == "schedule changed" else ""
        return level, (
            f"scheduled job {event.name!r}: next run at {_time(event.available_at)} "
            f"({event.reason}{changed})"
        )
    if isinstance(event, (PollingStarted, PollingStopped)):
        verb = "started" if isinstance(event, PollingStarted) else "stopped"
        return logging.DEBUG, f"queue {event.queue!r} {verb} claiming"
    if isinstance(event, QueueErrored):
        return logging.ERROR, f"thread {event.queue!r} died and is restarted: {event.error}"
    if isinstance(event, DbErrored):
        return logging.WARNING, f"database call {event.operation} failed, retrying: {event.error}"
    if isinstance(event, SetupErrored):
        return logging.ERROR, f"setup failed: {event.error}"
    if isinstance(event, Migrated):
        if event.applied:
            applied = ", ".join(str(version) for version in event.applied)
            return (
                logging.INFO,
                f"migrated the schema to version {event.version} (applied {applied})",
            )
        return logging.DEBUG, f"schema is up to date at version {event.version}"
    if isinstance(event, RuntimeStopped):
        if event.reason == "stopped":
            return logging.INFO, "runtime stopped"
        return logging.ERROR, f"runtime stopped: {event.reason}"
    # Events added later log their fields; events never hold payloads.
    fields = " ".join(f"{k}={getattr(event, k)}" for k in event.__dataclass_fields__)
    return logging.INFO, f"{type(event).__name__} {fields}"


def format_duration(seconds: float) -> str:
    """A duration for people: "80 µs", "12.3 ms", "1.52 s", "2 min 5 s"."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _job(event: Any) -> str:
    """ "job NAME ID" for an event about one job."""
    return f"job {event.name} {event.job_id}"


def _attempt_note(attempts: int) -> str:
    return f" (attempt {attempts})" if attempts > 1 else ""


def _time(moment: datetime) -> str:
    """UTC to the second (to the millisecond when it has them), as ISO 8601."""
    utc = moment.astimezone(UTC)
    spec = "milliseconds" if utc.microsecond >= 1000 else "seconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")
