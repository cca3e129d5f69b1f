"""The PostgreSQL adapter's multi-statement write paths, each safe to run twice.

A connection dropped during COMMIT leaves the client not knowing whether the
work committed, so PostgresConnections runs it again: a claim first looks for
the rows its first run took, an insert skips ids that exist and recognises
its own earlier rows, and outcomes already applied count as done.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
import psycopg.rows

from bgjobs.db.adapter import (
    CancelResult,
    Failed,
    Outcome,
    Released,
    RetryLater,
    ScheduledNext,
    Succeeded,
)
from bgjobs.db.postgres_connections import Conn, Row, dict_rows, pinned_rows
from bgjobs.db.postgres_notify import CHANNEL, notify_payload
from bgjobs.db.queries import load_queries
from bgjobs.db.records import NewJob, clip_text, held_by_period, job_from_row, succeeded_as_job
from bgjobs.db.times import from_postgres_time, require_aware
from bgjobs.errors import DatabaseError
from bgjobs.ids import new_job_id
from bgjobs.jobs import Job

_Q = load_queries("postgres")

#: Batches at least this big (and without unique keys) are inserted with COPY.
_COPY_AT_LEAST: Final = 64


class Claim:
    """A claim that can be run twice: a second run first looks for the rows the first one took.

    If the connection dropped during COMMIT, the first run's UPDATE may have
    committed. The rows it read (before COMMIT) name the jobs; those still
    reserved by this owner, for that attempt, at this claim's time are ours.
    If none are, the first run rolled back and this run claims afresh.
    """

    def __init__(self, query: str, params: dict[str, Any]) -> None:
        self._query = query
        self._params = params
        self._read: list[Row] = []

    def __call__(self, conn: Conn) -> list[Row]:
        if self._read:
            ours = dict_rows(
                conn,
                _Q["still_claimed"],
                {
                    "ids": [row["id"] for row in self._read],
                    "attempts": [row["attempts"] for row in self._read],
                    "owner": self._params["owner"],
                    "now": self._params["now"],
                },
            )
            if ours:
                return ours
        self._read = pinned_rows(conn, self._query, self._params)
        return self._read


class Cancel:
    """A cancel that can be run twice: a second run that finds the job gone first looks for
    the move its first run made.

    If the connection dropped during COMMIT, the first run may have moved the
    waiting job to jobs_failed; the job is then not found any more, and the
    answer must still be "cancelled". The move is recognised by this call's own
    time and exception text.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self._params = params
        self._runs = 0

    def __call__(self, conn: Conn) -> CancelResult:
        self._runs += 1
        params = self._params
        # A job can move between the statements (claimed, or retried back to
        # waiting): look again, a few times, rather than answer wrongly.
        for _ in range(3):
            if conn.execute(_Q["cancel_waiting_job"], params).fetchall():
                return "cancelled"
            if conn.execute(_Q["request_cancel"], params).fetchall():
                return "requested"
            if not dict_rows(conn, _Q["get_waiting"], params):
                break
        if self._runs > 1 and conn.execute(_Q["cancelled_by_this_call"], params).fetchall():
            return "cancelled"
        return "not_found"


def insert_jobs(
    conn: Conn,
    new_jobs: Sequence[NewJob],
    now: datetime,
    notify: Sequence[str],
    *,
    again: bool,
    use_copy: bool,
    rounds: int = 1,
) -> list[Job]:
    """Insert the rows and NOTIFY the names due now; returns the Jobs in input order.

    With `use_copy` (a big first attempt without unique keys, whose fresh ids
    cannot conflict with anything), COPY then NOTIFY, inside the caller's
    transaction. Otherwise one statement, INSERT ... ON CONFLICT DO NOTHING
    over a JSON array with the NOTIFY riding along.
    """
    if use_copy and not again:
        with conn.cursor() as cursor, cursor.copy(_Q["copy_jobs"]) as copy:
            for job in new_jobs:
                copy.write_row(
                    (
                        job.id,
                        job.name,
                        job.payload_text,
                        now,
                        job.available_at,
                        job.queue,
                        job.priority,
                        job.timeout_seconds,
                    )
                )
        if notify:
            conn.execute(_Q["notify"], {"channel": CHANNEL, "payload": notify_payload(notify)})
        return [job.to_job() for job in new_jobs]
    params = insert_params(new_jobs, now, notify)
    query = _Q["insert_jobs_again" if again else "insert_jobs"]
    inserted = {row[0] for row in conn.execute(query, params).fetchall()} - {None}
    if len(inserted) == len(new_jobs):
        return [job.to_job() for job in new_jobs]
    return _resolve_skipped(conn, new_jobs, inserted, now, again=again, rounds=rounds)


def insert_params(
    new_jobs: Sequence[NewJob], now: datetime, notify: Sequence[str]
) -> dict[str, Any]:
    """The parameters of the one-statement insert (and its NOTIFY)."""
    times: dict[datetime, str] = {}  # most jobs share one or two times: format each once
    rows = [
        {
            "id": job.id,
            "name": job.name,
            "payload": job.payload_text,
            "available_at": times.get(job.available_at)
            or times.setdefault(job.available_at, job.available_at.isoformat()),
            "queue": job.queue,
            "priority": job.priority,
            "unique_key": job.unique_key,
            "timeout_seconds": job.timeout_seconds,
        }
        for job in new_jobs
    ]
    return {
        "rows": json.dumps(rows, ensure_ascii=False),
        "now": now,
        "channel": CHANNEL,
        "payload": notify_payload(notify),
        "notify": bool(notify),
    }


async def insert_jobs_async(
    conn: psycopg.AsyncConnection[Any],
    new_jobs: Sequence[NewJob],
    now: datetime,
    notify: Sequence[str],
) -> list[Job]:
    """`insert_jobs` on the caller's AsyncConnection, inside the caller's transaction."""
    cursor = await conn.execute(_Q["insert_jobs"], insert_params(new_jobs, now, notify))
    inserted = {row[0] for row in await cursor.fetchall()} - {None}
    if len(inserted) == len(new_jobs):
        return [job.to_job() for job in new_jobs]
    skipped = [job for job in new_jobs if job.id not in inserted]
    async with conn.cursor(row_factory=psycopg.rows.dict_row) as rows_cursor:
        await rows_cursor.execute(
            _Q["jobs_by_id_or_unique_key"],
            {
                "ids": [job.id for job in skipped],
                "keys": sorted({job.unique_key for job in skipped if job.unique_key is not None}),
            },
        )
        rows = await rows_cursor.fetchall()
    by_key = {row["unique_key"]: row for row in rows if row["unique_key"] is not None}
    result: list[Job] = []
    for job in new_jobs:
        if job.id in inserted:
            result.append(job.to_job())
            continue
        row = by_key.get(job.unique_key) if job.unique_key is not None else None
        if row is None:
            # The job holding the key finished between the insert and this read.
            raise DatabaseError(
                f"the job with unique key {job.unique_key!r} finished while this one was "
                "inserted; enqueue it again"
            )
        result.append(job_from_row(row, from_postgres_time))
    return result


def settle_unique_periods(conn: Conn, new_jobs: Sequence[NewJob], jobs: list[Job]) -> list[Job]:
    """Replace each job just inserted whose key succeeded within its period by that success.

    Runs after the INSERT, in its transaction, as a statement of its own: its
    snapshot is taken after the INSERT, so a job holding the key that moved to
    jobs_succeeded while we inserted (the INSERT waited for that move to
    commit, or found the key free because it had) is seen here.
    """
    held = held_by_period(new_jobs, jobs)
    if not held:
        return jobs
    params = {
        "keys": [new_jobs[index].unique_key for index in held],
        "since": [new_jobs[index].unique_since for index in held],
    }
    found = {
        row["unique_key"]: row for row in dict_rows(conn, _Q["recently_succeeded_by_key"], params)
    }
    dropped = [new_jobs[index].id for index in held if new_jobs[index].unique_key in found]
    if not dropped:
        return jobs
    conn.execute(_Q["delete_unclaimed_jobs"], {"ids": dropped})
    result = list(jobs)
    for index in held:
        row = found.get(new_jobs[index].unique_key)
        if row is not None:
            result[index] = succeeded_as_job(row, from_postgres_time)
    return result


def copy_suits(new_jobs: Sequence[NewJob]) -> bool:
    """A big batch without unique keys: COPY can insert it (nothing can conflict)."""
    return len(new_jobs) >= _COPY_AT_LEAST and all(job.unique_key is None for job in new_jobs)


def _resolve_skipped(
    conn: Conn,
    new_jobs: Sequence[NewJob],
    inserted: set[str],
    now: datetime,
    *,
    again: bool,
    rounds: int,
) -> list[Job]:
    """Jobs for the rows the insert skipped: an existing unique-key job, or our own earlier row."""
    skipped = [job for job in new_jobs if job.id not in inserted]
    rows = dict_rows(
        conn,
        _Q["jobs_by_id_or_unique_key"],
        {
            "ids": [job.id for job in skipped],
            "keys": sorted({job.unique_key for job in skipped if job.unique_key is not None}),
        },
    )
    by_id = {row["id"]: row for row in rows}
    by_key = {row["unique_key"]: row for row in rows if row["unique_key"] is not None}
    finished: set[str] = set()
    if again:
        ids = [job.id for job in skipped if job.id not in by_id]
        finished = {row[0] for row in conn.execute(_Q["finished_ids"], {"ids": ids}).fetchall()}
    result: list[Job] = []
    for job in new_jobs:
        if job.id in inserted or job.id in finished:
            result.append(job.to_job())  # ours: inserted now, or by a run that already finished
            continue
        row = by_id.get(job.id) or (by_key.get(job.unique_key) if job.unique_key else None)
        if row is None:
            # The row that held the key finished between our INSERT and this
            # read (READ COMMITTED): insert the job after all.
            if rounds >= 5:
                raise DatabaseError(f"could not insert or find the job with key {job.unique_key!r}")
            return insert_jobs(
                conn, new_jobs, now, [], again=True, use_copy=False, rounds=rounds + 1
            )
        result.append(job_from_row(row, from_postgres_time))
    return result


def apply_outcomes(conn: Conn, outcomes: Sequence[Outcome], now: datetime) -> list[bool]:
    """One statement per kind of outcome, then the next rows of finished scheduled jobs."""
    applied: dict[str, bool] = {}
    moved_now: set[str] = set()

    def run(query: str, params: dict[str, Any]) -> None:
        for row in pinned_rows(conn, query, params):
            applied[row["id"]] = row["applied"] or row["already"]
            if row["applied"]:
                moved_now.add(row["id"])

    def fence(items: Sequence[Outcome]) -> dict[str, Any]:
        return {
            "ids": [o.lease.job_id for o in items],
            "owners": [o.lease.owner for o in items],
            "attempts": [o.lease.attempts for o in items],
            "now": now,
        }

    succeeded = [o for o in outcomes if isinstance(o, Succeeded)]
    failed = [o for o in outcomes if isinstance(o, Failed)]
    retried = [o for o in outcomes if isinstance(o, RetryLater)]
    released = [o for o in outcomes if isinstance(o, Released)]
    if len(succeeded) + len(failed) + len(retried) + len(released) != len(outcomes):
        unknown = next(
            o for o in outcomes if not isinstance(o, Succeeded | Failed | RetryLater | Released)
        )
        raise TypeError(f"unknown outcome {unknown!r}")
    if succeeded:
        run(_Q["succeed_jobs"], {**fence(succeeded), "results": [o.result for o in succeeded]})
    if failed:
        run(
            _Q["fail_jobs"],
            {
                **fence(failed),
                "exceptions": [clip_text(o.exception) for o in failed],
                "tracebacks": [clip_text(o.traceback, keep="tail") for o in failed],
            },
        )
    if retried:
        run(
            _Q["retry_jobs"],
            {
                **fence(retried),
                "available_ats": [require_aware(o.available_at, "available_at") for o in retried],
                "errors": [clip_text(o.last_error) for o in retried],
            },
        )
    if released:
        run(
            _Q["release_jobs"],
            {**fence(released), "available_ats": [o.available_at for o in released]},
        )
    # The next row of a scheduled job goes in only with the move that freed its key.
    finishing: list[Succeeded | Failed] = [*succeeded, *failed]
    ended = [
        (o, o.next_scheduled)
        for o in finishing
        if o.next_scheduled is not None and o.lease.job_id in moved_now
    ]
    history = [(o, end) for o, end in ended if end.slot is not None]
    if history:
        conn.execute(
            _Q["record_schedule_runs"],
            {
                "run_ids": [o.lease.job_id for o, _ in history],
                "keys": [end.key for _, end in history],
                "slots": [end.slot for _, end in history],
                "started_ats": [end.started_at for _, end in history],
                "outcomes": [
                    "failed" if isinstance(o, Failed) else "succeeded" for o, _ in history
                ],
                "errors": [
                    clip_text(o.exception) if isinstance(o, Failed) else None for o, _ in history
                ],
                "notes": [end.note for _, end in history],
                "now": now,
            },
        )
    upcoming: list[ScheduledNext] = [end for _, end in ended if end.available_at is not None]
    if upcoming:
        conn.execute(
            _Q["insert_scheduled_jobs"],
            {
                "ids": [new_job_id() for _ in upcoming],
                "keys": [n.key for n in upcoming],
                "names": [n.key if n.name is None else n.name for n in upcoming],
                "payloads": [n.payload for n in upcoming],
                "schedules": [n.schedule_text for n in upcoming],
                "available_ats": [
                    require_aware(n.available_at, "available_at")
                    for n in upcoming
                    if n.available_at is not None
                ],
                "now": now,
            },
        ).fetchall()
    return [applied.get(o.lease.job_id, False) for o in outcomes]
