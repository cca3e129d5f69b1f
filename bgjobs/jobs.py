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
#: The longest job name or queue name, in UTF-8 bytes (255 ASCII characters).
MAX_NAME_BYTES: Final = 255
#: The longest unique key, in UTF-8 bytes: PostgreSQL's unique index holds about 2,700.
MAX_UNIQUE_KEY_BYTES: Final = 1024

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
        check_stored_text(self.name, "job name", MAX_NAME_BYTES)

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
        check_stored_text(name, "queue", MAX_NAME_BYTES)
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
        check_stored_text(key, "unique key", MAX_UNIQUE_KEY_BYTES)
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
        try:
            check_stored_text(self.job_name, "job_name", MAX_NAME_BYTES)
        except ValueError as exc:
            raise ConfigurationError(f"Worker {exc}") from None
        if not callable(self.handler):
            raise ConfigurationError(
                f"handler of job {self.job_name!r}: expected a callable taking the job, "
                f"got {self.handler!r}"
            )


def check_stored_text(value: object, what: str, max_bytes: int) -> None:
    """Names, queues and keys: non-empty strings of valid UTF-8, at most `max_bytes` long.

    ValueError says which rule was broken; nothing reaches the database.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string (got {value!r})")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} is not valid UTF-8: {exc.reason} {value[exc.start : exc.end]!r} "
            f"at index {exc.start}"
        ) from None
    if size > max_bytes:
        raise ValueError(
            f"{what} is {size} bytes of UTF-8; at most {max_bytes} are allowed "
            f"(got {value[:40]!r}...)"
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
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        # A lone surrogate ("\ud800", e.g. from os.fsdecode of a bad file name)
        # is a Python str but no UTF-8 text: no database could store it.
        raise PayloadError(
            f"{what} is not valid UTF-8: {exc.reason} {text[exc.start : exc.end]!r} "
            f"near {text[max(0, exc.start - 20) : exc.start]!r}"
        ) from None
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"{what} is {size} bytes encoded; at most {MAX_PAYLOAD_BYTES} bytes are allowed"
        )
    return text


def decode_payload(text: str | None) -> Any:
    """The payload value stored as JSON text (None for a NULL column)."""
    return None if text is None else json.loads(text)


@dataclass(frozen=True, slots=True)
class UnreadablePayload:
    """Stands in for a stored payload that is not valid JSON (or nests too deep to decode).

    bgjobs never stores such a payload, but raw SQL, another application or a
    bad migration can. Listings and `get_job` show it as this value instead of
    failing; a claim fails the job at once (PayloadError in jobs_failed) rather
    than handing it to a handler.
    """

    text: str  # the stored text, cut to 200 characters
    error: str  # why it could not be decoded

    def __str__(self) -> str:
        return f"<unreadable payload: {self.error}>"


def read_payload(text: str | None) -> Any:
    """The stored payload decoded, or an UnreadablePayload saying why it could not be."""
    try:
        if text is not None and not text.isascii():
            # Bytes that were not UTF-8 arrive as lone surrogates (the SQLite
            # adapter reads text leniently, so one bad row cannot fail a whole read).
            text.encode("utf-8")
        return decode_payload(text)
    except RecursionError:
        problem = "not valid JSON: it nests too deep to decode"
    except UnicodeEncodeError as exc:
        problem = f"not valid UTF-8 text (a bad byte at character {exc.start})"
    except ValueError as exc:  # json.JSONDecodeError
        problem = f"not valid JSON: {exc}"
    assert text is not None  # NULL decodes to None
    shown = text if len(text) <= 200 else text[:197] + "..."
    printable = shown.encode("utf-8", "backslashreplace").decode("utf-8")
    return UnreadablePayload(text=printable, error=problem)


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
