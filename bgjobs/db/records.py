"""Rows going in and out: new job rows prepared from requests, stored rows turned into values.

Both adapters share this module, so a request is validated the same way
everywhere and a row means the same thing whichever database it came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple

from bgjobs.db.adapter import (
    Counts,
    Failed,
    FinishedJob,
    JobState,
    Lease,
    Outcome,
    QueueRow,
    WorkerRow,
)
from bgjobs.db.times import require_aware
from bgjobs.errors import PayloadError
from bgjobs.ids import new_job_id
from bgjobs.jobs import (
    MAX_NAME_BYTES,
    MAX_UNIQUE_KEY_BYTES,
    Job,
    JobRequest,
    StopReason,
    StopRequest,
    UnreadablePayload,
    check_stored_text,
    encode_payload,
    read_payload,
)

#: The most text kept for a traceback, an exception line or a last_error (UTF-8 bytes).
MAX_ERROR_TEXT_BYTES: Final = 64 * 1024

#: jobs_failed.exception of a job cancelled before it started.
CANCELLED: Final = "Cancelled: cancelled before it started"

#: Where `delete_job` looks, in order, and the named query that deletes from there.
DELETE_QUERIES: Final[tuple[tuple[JobState, str], ...]] = (
    ("jobs", "delete_waiting"),
    ("succeeded", "delete_succeeded"),
    ("failed", "delete_failed"),
)

#: Turns a stored time (SQLite text or a psycopg datetime) into an aware UTC datetime.
TimeReader = Callable[[Any], datetime]


class NewJob(NamedTuple):
    """A validated row for `jobs`, ready to insert: the payload is already JSON text.

    A NamedTuple rather than a frozen dataclass: it is built once per enqueued
    job, and on that hot path a tuple is several times cheaper.
    """

    id: str
    name: str
    payload_text: str
    payload: Any  # the value the caller passed, handed back in the returned Job
    created_at: datetime
    available_at: datetime
    queue: str | None
    priority: int
    unique_key: str | None
    timeout_seconds: float | None
    #: With a unique key held for a period: a success of the key since then blocks this job.
    unique_since: datetime | None = None

    def to_job(self) -> Job:
        """The Job this row becomes once inserted."""
        return Job(
            id=self.id,
            name=self.name,
            payload=self.payload,
            attempts=0,
            created_at=self.created_at,
            available_at=self.available_at,
            queue=self.queue,
            priority=self.priority,
            unique_key=self.unique_key,
            timeout=None
            if self.timeout_seconds is None
            else timedelta(seconds=self.timeout_seconds),
            stop_requested=NOT_RUNNING,
        )


class _NotRunning(StopRequest):
    """The stop flag of jobs that no handler is running: never set, shared by all of them.

    Only a claimed job can be asked to stop, and every claim gets its own
    Event; enqueue results and listings share this one instead of paying for
    an Event each.
    """

    def set(self, reason: StopReason = "shutdown") -> None:
        raise RuntimeError(
            "this Job came from an enqueue or a listing, not a claim: no handler runs it, "
            "so it cannot be asked to stop"
        )


NOT_RUNNING: Final = _NotRunning()


def prepare_jobs(requests: Sequence[JobRequest], now: datetime) -> list[NewJob]:
    """Validate every request and encode every payload before anything is written.

    A bad request raises (PayloadError for the payload) naming its position,
    so a batch is written whole or not at all.
    """
    if isinstance(requests, JobRequest) or not isinstance(requests, Sequence):
        raise TypeError(
            f"enqueue_many takes a sequence of JobRequest (got {type(requests).__name__})"
        )
    now = require_aware(now, "now")
    return [_prepare(request, now, index) for index, request in enumerate(requests)]


def _prepare(request: JobRequest, now: datetime, index: int) -> NewJob:
    if not isinstance(request, JobRequest):
        raise TypeError(
            f"request {index} is a {type(request).__name__}; enqueue takes JobRequest values"
        )
    name, queue, key, priority = request.name, request.queue, request.unique_key, request.priority
    _check_text(name, index, "job name", MAX_NAME_BYTES)
    if queue is not None:
        _check_text(queue, index, "queue", MAX_NAME_BYTES)
    if key is not None:
        _check_text(key, index, "unique key", MAX_UNIQUE_KEY_BYTES)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"request {index}: priority must be an int (got {priority!r})")
    if not -(2**31) <= priority < 2**31:
        raise ValueError(f"request {index}: priority must fit in 32 bits (got {priority})")
    if request.at is not None:
        available_at = require_aware(request.at, f"request {index}: available_at")
    elif request.delay is not None:
        available_at = now + request.delay
    else:
        available_at = now
    try:
        payload_text = encode_payload(request.payload)
    except PayloadError as exc:
        raise PayloadError(f"request {index} ({name!r}): {exc}") from exc
    return NewJob(
        new_job_id(),
        name,
        payload_text,
        request.payload,
        now,
        available_at,
        queue,
        priority,
        key,
        None if request.timeout is None else request.timeout.total_seconds(),
        _unique_since(request, now, index),
    )


def _unique_since(request: JobRequest, now: datetime, index: int) -> datetime | None:
    period = request.unique_for
    if period is None:
        return None
    if request.unique_key is None:
        raise ValueError(f"request {index}: unique_for needs a unique key")
    if not isinstance(period, timedelta) or period <= timedelta(0):
        raise ValueError(
            f"request {index}: unique_for must be a positive timedelta (got {period!r})"
        )
    return now - period


def _check_text(value: object, index: int, what: str, max_bytes: int) -> None:
    try:
        check_stored_text(value, what, max_bytes)
    except ValueError as exc:
        raise ValueError(f"request {index}: {exc}") from None
    assert isinstance(value, str)
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; refuse it on SQLite too so both behave alike.
        raise ValueError(
            f"request {index}: {what} must not contain a NUL character (got {value!r})"
        )


def clip_text(text: str, *, keep: str = "head") -> str:
    """`text` cut to MAX_ERROR_TEXT_BYTES of UTF-8, keeping its head or its tail.

    Tracebacks keep the tail (the innermost frames and the exception line),
    messages keep the head. The cut is marked so a reader knows it happened.
    """
    data = text.encode("utf-8", errors="replace")
    if len(data) <= MAX_ERROR_TEXT_BYTES:
        return text
    marker = f"[... {len(data) - MAX_ERROR_TEXT_BYTES} bytes cut ...]"
    room = MAX_ERROR_TEXT_BYTES - len(marker.encode("utf-8")) - 1
    if keep == "tail":
        return marker + "\n" + data[-room:].decode("utf-8", errors="ignore")
    return data[:room].decode("utf-8", errors="ignore") + "\n" + marker


def check_outcomes(outcomes: Sequence[Outcome]) -> None:
    """Refuse a batch that names one job twice: its result would depend on statement order."""
    seen: set[str] = set()
    for outcome in outcomes:
        job_id = outcome.lease.job_id
        if job_id in seen:
            raise ValueError(f"finish_jobs got job {job_id} twice in one batch")
        seen.add(job_id)


def job_from_row(row: Mapping[str, Any], read_time: TimeReader, *, claimed: bool = False) -> Job:
    """A Job from a row of `jobs` (any mapping with its column names).

    `claimed` jobs are about to be run, so each gets its own stop_requested Event.
    """
    reserved_at = row["reserved_at"]
    return Job(
        id=row["id"],
        name=row["name"],
        payload=read_payload(row["payload"]),
        attempts=row["attempts"],
        created_at=read_time(row["created_at"]),
        available_at=read_time(row["available_at"]),
        reserved_at=None if reserved_at is None else read_time(reserved_at),
        reserved_by=row["reserved_by"],
        queue=row["queue"],
        priority=row["priority"],
        unique_key=row["unique_key"],
        scheduled_job=row["scheduled_job"],
        last_error=row["last_error"],
        timeout=_timeout_of(row.get("timeout_seconds")),
        cancel_requested=bool(row.get("cancel_requested")),
        stop_requested=StopRequest() if claimed else NOT_RUNNING,
    )


def _timeout_of(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def finished_job_from_row(
    row: Mapping[str, Any], state: JobState, read_time: TimeReader
) -> FinishedJob:
    """A FinishedJob from a row of jobs_succeeded or jobs_failed."""
    failed = state == "failed"
    return FinishedJob(
        id=row["id"],
        name=row["name"],
        payload=read_payload(row["payload"]),
        attempts=row["attempts"],
        queue=row["queue"],
        priority=row["priority"],
        created_at=read_time(row["created_at"]),
        available_at=read_time(row["available_at"]),
        finished_at=read_time(row["failed_at"] if failed else row["succeeded_at"]),
        state=state,
        exception=row["exception"] if failed else None,
        traceback=row["traceback"] if failed else None,
        result=None if failed else read_payload(row.get("result")),
    )


def jobs_from_rows(
    rows: Iterable[Mapping[str, Any]], state: JobState, read_time: TimeReader
) -> list[Job] | list[FinishedJob]:
    """The rows of one table as values: Jobs for `jobs`, FinishedJobs for the others."""
    if state == "jobs":
        return [job_from_row(row, read_time) for row in rows]
    return [finished_job_from_row(row, state, read_time) for row in rows]


def find_job(
    rows_of: Callable[[str], Sequence[Mapping[str, Any]]], read_time: TimeReader
) -> Job | FinishedJob | None:
    """The job found by the `get_*` queries, looking in jobs, then succeeded, then failed.

    `rows_of(query_name)` runs that named query for the wanted id, on one
    connection, so the three looks see the same database.
    """
    rows = rows_of("get_waiting")
    if rows:
        return job_from_row(rows[0], read_time)
    for state in ("succeeded", "failed"):
        rows = rows_of(f"get_{state}")
        if rows:
            return finished_job_from_row(rows[0], state, read_time)
    return None


def scheduled_job_from_row(row: Mapping[str, Any], read_time: TimeReader) -> tuple[Job, str]:
    """The row of a scheduled job as its Job and its stored schedule text."""
    return job_from_row(row, read_time), row["schedule"]


def worker_from_row(row: Mapping[str, Any], read_time: TimeReader) -> WorkerRow:
    """A WorkerRow from a row of jobs_workers."""
    return WorkerRow(
        id=row["id"],
        hostname=row["hostname"],
        pid=row["pid"],
        started_at=read_time(row["started_at"]),
        heartbeat_at=read_time(row["heartbeat_at"]),
        abandoned_threads=int(row.get("abandoned_threads") or 0),
        queues=_names_from_json(row.get("queues")),
        job_names=_names_from_json(row.get("job_names")),
        heartbeat_every=_milliseconds(row.get("heartbeat_ms")),
        lease=_milliseconds(row.get("lease_ms")),
    )


def heartbeat_params(every: timedelta | None, lease: timedelta | None) -> dict[str, int | None]:
    """A process's heartbeat interval and lease as the milliseconds stored (None: unknown)."""
    return {
        "heartbeat_ms": None if every is None else round(every.total_seconds() * 1000),
        "lease_ms": None if lease is None else round(lease.total_seconds() * 1000),
    }


def _milliseconds(value: Any) -> timedelta | None:
    return None if value is None else timedelta(milliseconds=int(value))


def handles_params(queues: Sequence[str], job_names: Sequence[str]) -> dict[str, str]:
    """The queues and job names a process registers, as the JSON array texts stored."""
    return {
        "queues": json.dumps(sorted(set(queues))),
        "job_names": json.dumps(sorted(set(job_names))),
    }


def _names_from_json(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def unreadable_failures(jobs: Iterable[Job]) -> tuple[list[Job], list[Failed]]:
    """Claimed jobs split into those a handler can run and failures for unreadable ones.

    A payload that cannot be decoded will not decode on any later attempt
    either: the job fails at once, alone, with an error naming the problem,
    and its batch-mates run.
    """
    runnable: list[Job] = []
    failures: list[Failed] = []
    for job in jobs:
        if not isinstance(job.payload, UnreadablePayload) or job.reserved_by is None:
            runnable.append(job)
            continue
        failures.append(
            Failed(
                lease=Lease(job.id, job.reserved_by, job.attempts),
                exception=f"PayloadError: the stored payload of job {job.id} is "
                f"{job.payload.error} (text: {job.payload.text[:80]!r})",
                traceback="",
            )
        )
    return runnable, failures


def in_claim_order(jobs: Iterable[Job]) -> list[Job]:
    """Jobs sorted as they are claimed: priority descending, then available_at, then id.

    UPDATE ... RETURNING gives rows in no promised order, so claims sort here.
    """
    return sorted(jobs, key=lambda job: (-job.priority, job.available_at, job.id))


def notify_names(jobs: Iterable[NewJob], now: datetime) -> list[str]:
    """The sorted job names due at `now`: what an enqueue NOTIFY announces."""
    return sorted({job.name for job in jobs if job.available_at <= now})


def counts_from_rows(
    waiting: Sequence[Mapping[str, Any]],
    succeeded: Sequence[Mapping[str, Any]],
    failed: Sequence[Mapping[str, Any]],
) -> Counts:
    """Counts from per-name rows: jobs (waiting, running, due), succeeded (n), failed (n)."""
    by_name: dict[str, dict[str, int]] = {}

    def entry(name: str) -> dict[str, int]:
        return by_name.setdefault(
            name, {"waiting": 0, "running": 0, "due": 0, "succeeded": 0, "failed": 0}
        )

    for row in waiting:
        counts = entry(row["name"])
        counts["waiting"] = int(row["waiting"])
        counts["running"] = int(row["running"])
        counts["due"] = int(row["due"])
    for row in succeeded:
        entry(row["name"])["succeeded"] = int(row["n"])
    for row in failed:
        entry(row["name"])["failed"] = int(row["n"])
    return Counts(
        waiting=sum(c["waiting"] for c in by_name.values()),
        running=sum(c["running"] for c in by_name.values()),
        succeeded=sum(c["succeeded"] for c in by_name.values()),
        failed=sum(c["failed"] for c in by_name.values()),
        by_name=dict(sorted(by_name.items())),
    )


def succeeded_as_job(row: Mapping[str, Any], read_time: TimeReader) -> Job:
    """The Job an enqueue returns when a recent success of its unique key blocked it."""
    return Job(
        id=row["id"],
        name=row["name"],
        payload=read_payload(row["payload"]),
        attempts=row["attempts"],
        created_at=read_time(row["created_at"]),
        available_at=read_time(row["available_at"]),
        queue=row["queue"],
        priority=row["priority"],
        unique_key=row["unique_key"],
        stop_requested=NOT_RUNNING,
    )


def queue_from_row(row: Mapping[str, Any], read_time: TimeReader) -> QueueRow:
    """A QueueRow from a row of the list_queues query."""
    paused_at = row["paused_at"]
    return QueueRow(
        name=row["name"],
        paused_at=None if paused_at is None else read_time(paused_at),
        updated_at=read_time(row["updated_at"]),
    )


def held_by_period(new_jobs: Sequence[NewJob], result: Sequence[Job]) -> list[int]:
    """Positions of jobs inserted just now whose key is held for a period: each must be
    checked against recent successes of its key."""
    return [
        index
        for index, (new, job) in enumerate(zip(new_jobs, result, strict=True))
        if new.unique_since is not None and job.id == new.id
    ]
