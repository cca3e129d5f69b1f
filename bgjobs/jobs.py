"""Job values: what callers enqueue (JobRequest), what handlers receive (Job), and Worker."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from bgjobs.errors import ConfigurationError, PayloadError

#: The largest payload accepted, measured as its UTF-8 JSON encoding.
MAX_PAYLOAD_BYTES: Final = 1024 * 1024

# One encoder for every payload: json.dumps with options builds a new one per call.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job to enqueue: a name, a JSON payload and options set by the fluent methods.

    Every method returns a new request; the original is unchanged.
    """

    name: str
    payload: Any = None
    at: datetime | None = None
    delay: timedelta | None = None
    queue: str | None = None
    priority: int = 0
    unique_key: str | None = None
    unique_for: timedelta | None = None  # a success with the key blocks for this long
    timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"job name must be a non-empty string (got {self.name!r})")

    def available_at(self, when: datetime) -> JobRequest:
        """Run no earlier than `when` (an aware datetime)."""
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise ValueError(f"available_at needs an aware datetime (got {when!r})")
        return replace(self, at=when, delay=None)

    def available_in(self, delay: timedelta) -> JobRequest:
        """Run no earlier than `delay` after it is enqueued."""
        if not isinstance(delay, timedelta) or delay < timedelta(0):
            raise ValueError(f"available_in needs a non-negative timedelta (got {delay!r})")
        return replace(self, delay=delay, at=None)

    def on_queue(self, name: str) -> JobRequest:
        """Only the queue with this name may claim the job."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"queue name must be a non-empty string (got {name!r})")
        return replace(self, queue=name)

    def with_priority(self, priority: int) -> JobRequest:
        """Higher priorities are claimed first (default 0)."""
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValueError(f"priority must be an int (got {priority!r})")
        if not -(2**31) <= priority < 2**31:
            raise ValueError(f"priority must fit in 32 bits (got {priority})")
        return replace(self, priority=priority)

    def with_unique_key(self, key: str, for_: timedelta | None = None) -> JobRequest:
        """While a job with this key is waiting or running, enqueueing another inserts nothing.

        With `for_`, a job with this key that succeeded less than `for_` ago
        blocks a new one too; the enqueue returns that succeeded job.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"unique key must be a non-empty string (got {key!r})")
        if for_ is not None and (not isinstance(for_, timedelta) or for_ <= timedelta(0)):
            raise ValueError(f"for_ must be a positive timedelta or None (got {for_!r})")
        return replace(self, unique_key=key, unique_for=for_)

    def with_timeout(self, timeout: timedelta) -> JobRequest:
        """Fail a run of this job with JobTimeout after `timeout` (overrides the queue's)."""
        if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
            raise ValueError(f"timeout must be a positive timedelta (got {timeout!r})")
        return replace(self, timeout=timeout)

    def due_at(self, now: datetime) -> datetime:
        """When this request becomes available, given the enqueue time `now`."""
        if self.at is not None:
            return self.at
        if self.delay is not None:
            return now + self.delay
        return now


#: Why a running handler is asked to stop: the runtime is stopping, the job's
#: timeout passed, or someone cancelled it.
StopReason = Literal["shutdown", "timeout", "cancelled"]

#: Where a job is: in `jobs` unreserved or reserved, or in one of the finished tables.
State = Literal["waiting", "running", "succeeded", "failed"]


class StopRequest(threading.Event):
    """`job.stop_requested`: set when the runtime asks the handler to finish early.

    `reason` says why ("shutdown", "timeout" or "cancelled"). A more specific
    reason replaces "shutdown", and "cancelled" is never replaced: a job
    cancelled and then caught by a shutdown or its timeout still reads
    "cancelled".
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason: StopReason | None = None

    def set(self, reason: StopReason = "shutdown") -> None:
        if self.reason in (None, "shutdown") or reason == "cancelled":
            self.reason = reason
        super().set()


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored, handed to a handler.

    `stop_requested` is set when the runtime asks the handler to finish early;
    `stop_reason` then says why. `timeout` is the job's own timeout (None: the
    queue's), `cancel_requested` whether a cancel reached it while it ran.
    """

    id: str
    name: str
    payload: Any
    attempts: int
    created_at: datetime
    available_at: datetime
    reserved_at: datetime | None = None
    reserved_by: str | None = None
    queue: str | None = None
    priority: int = 0
    unique_key: str | None = None
    scheduled_job: str | None = None
    last_error: str | None = None
    timeout: timedelta | None = None
    cancel_requested: bool = False
    stop_requested: StopRequest = field(default_factory=StopRequest, compare=False, repr=False)

    @property
    def stop_reason(self) -> StopReason | None:
        """Why stop_requested was set: "shutdown", "timeout", "cancelled", or None."""
        return self.stop_requested.reason

    @property
    def state(self) -> State:
        """ "running" while a process holds it, else "waiting"."""
        return "waiting" if self.reserved_by is None else "running"

    @property
    def result(self) -> None:
        """Only finished jobs have a result (see FinishedJob)."""
        return None


Handler = Callable[[Job], object]


@dataclass(frozen=True, slots=True)
class Worker:
    """Runs jobs named `job_name`: the handler returns for success and raises for failure."""

    job_name: str
    handler: Handler

    def __post_init__(self) -> None:
        if not isinstance(self.job_name, str) or not self.job_name:
            raise ConfigurationError(
                f"Worker job_name: expected a non-empty string, got {self.job_name!r}"
            )
        if not callable(self.handler):
            raise ConfigurationError(
                f"handler of job {self.job_name!r}: expected a callable taking the job, "
                f"got {self.handler!r}"
            )


def encode_payload(payload: Any, what: str = "payload") -> str:
    """The value as compact JSON text, or PayloadError if it is not JSON or too large.

    Payloads and handler results follow the same rules; `what` names which one.
    """
    _check_json_value(payload, what)
    try:
        text = _ENCODER.encode(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"{what} is not a JSON value: {exc}") from exc
    size = len(text.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"{what} is {size} bytes encoded; at most {MAX_PAYLOAD_BYTES} bytes are allowed"
        )
    return text


def decode_payload(text: str | None) -> Any:
    """The payload value stored as JSON text (None for a NULL column)."""
    return None if text is None else json.loads(text)


def _check_json_value(value: Any, where: str, depth: int = 0) -> None:
    # json.dumps would quietly turn {1: 2} into {"1": 2} and a set into an
    # error without a path; check the shape first so the message says where.
    if depth > 200:
        raise PayloadError(f"value nests deeper than 200 levels at {where}")
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"{where} is {value!r}: JSON has no NaN or infinity")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_value(item, f"{where}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(
                    f"{where} has a key {key!r} of type {type(key).__name__}: JSON keys are strings"
                )
            _check_json_value(item, f"{where}[{key!r}]", depth + 1)
        return
    raise PayloadError(
        f"{where} is a {type(value).__name__}, which is not a JSON value "
        "(use None, bool, int, float, str, list or dict; payloads are never pickled)"
    )
