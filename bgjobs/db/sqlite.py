"""The SQLite adapter: the embedded default, one file shared by the processes of one host.

How it keeps SPEC 3.2's promises:
- bgjobs opens its own connections, `isolation_level=None` (no hidden
  transactions), each wrapped in sqlite_utils.Database.
- Every write is an explicit BEGIN IMMEDIATE ... COMMIT on the one writer
  connection of this adapter, behind a lock shared by every writing thread.
  IMMEDIATE takes SQLite's write lock up front, so two processes never both
  read-then-write the same rows: that is what makes a claim atomic.
- RETURNING rows are fetched before COMMIT (SQLite refuses to commit while a
  statement still has rows to give).
- Reads use separate reader connections, which WAL lets run beside a writer.
- "database is locked" (another process holds the write lock longer than the
  busy timeout) is retried with backoff and never reaches the caller.

Connections, locking and retries live in sqlite_connections.py; this module
holds the SQLite side of each Adapter method.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from bgjobs.db.adapter import (
    CancelResult,
    Counts,
    Failed,
    FinishedJob,
    JobState,
    Lease,
    NotifyCallback,
    Outcome,
    QueueLimits,
    QueueRow,
    Released,
    RetryLater,
    ScheduledNext,
    Subscription,
    Succeeded,
    WaitingGroup,
    WorkerRow,
)
from bgjobs.db.base import (
    BaseAdapter,
    check_batch_size,
    check_claim,
    check_filter,
    check_limit,
    check_limits,
    check_queue_name,
    check_scheduled_claim,
    check_text,
    count_query,
    listing_query,
    names_json,
    now_or_system,
    prune_query,
    rescue_window,
)
from bgjobs.db.migrations import MigrationReport, run_migrations
from bgjobs.db.queries import load_queries
from bgjobs.db.records import (
    CANCELLED,
    DELETE_QUERIES,
    NewJob,
    check_outcomes,
    clip_text,
    counts_from_rows,
    find_job,
    handles_params,
    heartbeat_params,
    held_by_period,
    in_claim_order,
    job_from_row,
    jobs_from_rows,
    prepare_jobs,
    queue_from_row,
    scheduled_job_from_row,
    succeeded_as_job,
    worker_from_row,
)
from bgjobs.db.schedule_records import (
    ScheduleRow,
    ScheduleRun,
    StoredSchedule,
    add_schedule_params,
    schedule_row_from_row,
    schedule_run_from_row,
    stored_schedule_from_row,
)
from bgjobs.db.sqlite_connections import DEFAULT_BUSY_TIMEOUT, SqliteConnections, wrap
from bgjobs.db.sqlite_watch import DataVersionWatch
from bgjobs.db.times import from_sqlite_time, to_sqlite_time
from bgjobs.errors import DatabaseError, JobNotFound
from bgjobs.ids import new_job_id
from bgjobs.jobs import Job, JobRequest

_Q = load_queries("sqlite")

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SqliteAdapter"]


class SqliteAdapter(SqliteConnections, BaseAdapter):
    """Jobs in a SQLite file (SQLite >= 3.35). Connections open on first use."""

    #: Not NOTIFY: listen() watches the file for other connections' commits.
    supports_notify = True

    def __repr__(self) -> str:
        return f"SqliteAdapter({self.path!r})"

    # -- schema ---------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema under BEGIN IMMEDIATE; returns the schema version."""
        return self.migrate_report().version

    def migrate_report(self) -> MigrationReport:
        """migrate(), also saying which versions this call applied (none when up to date)."""
        return self._write(lambda conn: run_migrations(_MigrationSession(conn), "sqlite"))

    # -- producing ------------------------------------------------------------

    def enqueue_many(
        self,
        requests: Sequence[JobRequest],
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> list[Job]:
        """Insert jobs in one transaction (or on the caller's connection); input order kept.

        `notify` is accepted for the common interface; SQLite has no
        cross-process notifications (other processes poll).
        """
        new_jobs = prepare_jobs(requests, now_or_system(now))
        if not new_jobs:
            return []
        if connection is None:
            return self._write(lambda conn: _insert_jobs(conn, new_jobs))
        conn = self._caller_connection(connection)
        try:
            return _insert_jobs(conn, new_jobs)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    # -- consuming ------------------------------------------------------------

    def reserve_jobs(
        self,
        names: Collection[str],
        *,
        queue: str,
        limit: int,
        owner: str,
        now: datetime,
    ) -> list[Job]:
        """Claim up to `limit` due jobs in claim order; attempts += 1 on each."""
        check_claim(queue, limit, owner)
        params: dict[str, Any] = {
            "names": names_json(names),
            "queue": queue,
            "limit": limit,
            "owner": owner,
            "now": to_sqlite_time(now),
        }
        # Most polls of an idle queue find nothing: answer those from a reader,
        # without the write lock. A queue whose last claim found work is busy:
        # skip the extra look and claim at once.
        busy = self._busy_queues.get(queue, False)
        if not busy and self._read(lambda conn: _scalar(conn, _Q["count_claimable"], params)) == 0:
            return []

        def claim(conn: sqlite3.Connection) -> list[Job]:
            # Counting first lets the ordered walk stop at the last due job
            # instead of running on through jobs that are not due yet.
            due = _scalar(conn, _Q["count_claimable"], params)
            if due == 0:
                return []
            rows = _rows(conn, _Q["claim_jobs"], {**params, "limit": due})
            return [job_from_row(row, from_sqlite_time, claimed=True) for row in rows]

        jobs = in_claim_order(self._write(claim))
        self._busy_queues[queue] = bool(jobs)
        return self._fail_unreadable(jobs, now)

    def reserve_limited_jobs(
        self,
        names: Collection[str],
        *,
        queue: str,
        limit: int,
        owner: str,
        now: datetime,
        limits: QueueLimits,
    ) -> list[Job]:
        """Claim as `reserve_jobs` does, no more than the queue's limits allow.

        BEGIN IMMEDIATE serialises every writer of the file, so the counts
        taken inside the claim's transaction are exact: no other process can
        claim between counting and claiming.
        """
        check_claim(queue, limit, owner)
        check_limits(limits)
        stamp = to_sqlite_time(now)
        params: dict[str, Any] = {
            "names": names_json(names),
            "queue": queue,
            "limit": limit,
            "owner": owner,
            "now": stamp,
        }
        # As in reserve_jobs: an idle queue is answered from a reader, without
        # the write lock; a busy one claims at once.
        busy = self._busy_queues.get(queue, False)
        if not busy and self._read(lambda conn: _scalar(conn, _Q["count_claimable"], params)) == 0:
            return []  # nothing due, or paused

        def claim(conn: sqlite3.Connection) -> list[Job]:
            allowed = limit
            moment, total = now, 0
            if limits.concurrency is not None:
                running = _scalar(conn, _Q["count_limited_running"], params)
                allowed = min(allowed, limits.concurrency - running)
            if limits.rate is not None and limits.per is not None:
                moment, total, started = _rate_window(conn, queue, now, limits.per)
                allowed = min(allowed, limits.rate - started)
            if allowed <= 0:
                return []
            at = {**params, "now": to_sqlite_time(moment)}
            due = _scalar(conn, _Q["count_claimable"], {**at, "limit": allowed})
            if due == 0:
                return []
            rows = _rows(conn, _Q["claim_jobs"], {**at, "limit": due})
            if queue not in self._registered_queues:
                conn.execute(_Q["register_queues"], {"names": json.dumps([queue]), "now": stamp})
            if limits.rate is not None:
                ids = json.dumps([row["id"] for row in rows])
                log = {"queue": queue, "now": at["now"], "total": total, "ids": ids}
                conn.execute(_Q["log_limited_starts"], log)
            return [job_from_row(row, from_sqlite_time, claimed=True) for row in rows]

        jobs = in_claim_order(self._write(claim))
        self._busy_queues[queue] = bool(jobs)
        if jobs:
            self._registered_queues.add(queue)
        return jobs

    @functools.cached_property
    def _registered_queues(self) -> set[str]:
        """Queues whose jobs_queues row this adapter has made (the limited claim makes it)."""
        return set()

    def reserve_scheduled_job(self, key: str, *, owner: str, now: datetime) -> Job | None:
        """Claim the row of scheduled job `key` if it is due and unreserved."""
        check_scheduled_claim(key, owner)
        params = {"key": key, "owner": owner, "now": to_sqlite_time(now)}
        rows = self._write(lambda conn: _rows(conn, _Q["claim_scheduled_job"], params))
        return job_from_row(rows[0], from_sqlite_time, claimed=True) if rows else None

    def finish_jobs(self, outcomes: Sequence[Outcome], *, now: datetime) -> list[bool]:
        """Apply outcomes in one transaction, each fenced by its lease (see Adapter)."""
        check_outcomes(outcomes)
        if not outcomes:
            return []
        stamp = to_sqlite_time(now)
        return self._write(lambda conn: [_apply(conn, outcome, stamp) for outcome in outcomes])

    def next_available_at(self, names: Collection[str], *, queue: str) -> datetime | None:
        """The earliest available_at of unreserved jobs this queue could claim."""
        params = {"names": names_json(names), "queue": queue}
        value = self._read(lambda conn: _scalar(conn, _Q["next_available_at"], params))
        return None if value is None else from_sqlite_time(value)

    # -- queues -----------------------------------------------------------------

    def pause_queue(self, name: str, *, now: datetime | None = None) -> None:
        """Stop every process claiming for queue `name`; running jobs finish. Persistent."""
        params = {"name": check_queue_name(name), "now": to_sqlite_time(now_or_system(now))}
        self._write(lambda conn: conn.execute(_Q["pause_queue"], params))

    def resume_queue(self, name: str, *, now: datetime | None = None) -> bool:
        """Let queue `name` be claimed again; False if it was not paused."""
        params = {"name": check_queue_name(name), "now": to_sqlite_time(now_or_system(now))}
        return self._write(lambda conn: conn.execute(_Q["resume_queue"], params).rowcount) > 0

    def paused_queues(self) -> list[str]:
        """The names of the paused queues, sorted."""
        return [row.name for row in self.list_queues() if row.paused]

    def list_queues(self) -> list[QueueRow]:
        """Every row of jobs_queues, by name."""
        rows = self._read(lambda conn: _rows(conn, _Q["list_queues"], {}))
        return [queue_from_row(row, from_sqlite_time) for row in rows]

    def register_queues(self, names: Collection[str], *, now: datetime) -> None:
        """Add a jobs_queues row (unpaused) for each name that has none."""
        checked = sorted({check_queue_name(name) for name in names})
        if checked:
            params = {"names": json.dumps(checked), "now": to_sqlite_time(now)}
            self._write(lambda conn: conn.execute(_Q["register_queues"], params))

    # -- processes and rescue ---------------------------------------------------

    def register_worker(
        self,
        worker_id: str,
        *,
        hostname: str,
        pid: int,
        now: datetime,
        queues: Sequence[str] = (),
        job_names: Sequence[str] = (),
        heartbeat_every: timedelta | None = None,
        lease: timedelta | None = None,
    ) -> None:
        """Insert this process's jobs_workers row (refresh it if it exists)."""
        params = {
            "id": worker_id,
            "hostname": hostname,
            "pid": pid,
            "now": to_sqlite_time(now),
            **handles_params(queues, job_names),
            **heartbeat_params(heartbeat_every, lease),
        }
        self._write(lambda conn: conn.execute(_Q["register_worker"], params))

    def heartbeat_worker(
        self, worker_id: str, *, now: datetime, abandoned_threads: int | None = None
    ) -> bool:
        """Refresh the heartbeat (and the abandoned-thread count); False if the row is gone."""
        params = {
            "id": worker_id,
            "now": to_sqlite_time(now),
            "abandoned_threads": abandoned_threads,
        }
        changed = self._write_apart(lambda conn: conn.execute(_Q["heartbeat_worker"], params))
        return changed.rowcount > 0

    def remove_worker(self, worker_id: str) -> None:
        """Delete the row at a graceful stop."""
        self._write(lambda conn: conn.execute(_Q["remove_worker"], {"id": worker_id}))

    def list_workers(self) -> list[WorkerRow]:
        """Every row of jobs_workers, oldest first."""
        rows = self._read(lambda conn: _rows(conn, _Q["list_workers"], {}))
        return [worker_from_row(row, from_sqlite_time) for row in rows]

    def rescue_jobs(self, *, now: datetime, lease_seconds: float) -> list[Job]:
        """Unreserve jobs of dead owners (attempts kept, available now); drop dead owners' rows."""
        stamp, cutoff = rescue_window(now, lease_seconds)
        params = {"now": to_sqlite_time(stamp), "cutoff": to_sqlite_time(cutoff)}

        def rescue(conn: sqlite3.Connection) -> list[Row]:
            rows = _rows(conn, _Q["rescue_jobs"], params)
            conn.execute(_Q["delete_dead_workers"], params)
            return rows

        return [job_from_row(row, from_sqlite_time) for row in self._write(rescue)]

    def release_untracked_jobs(
        self, owner: str, *, keep: Collection[str], claimed_before: datetime
    ) -> list[Job]:
        """Unreserve `owner`'s jobs claimed before `claimed_before` and not in `keep`."""
        check_text(owner, "owner")
        params = {
            "owner": owner,
            "keep": json.dumps(sorted(keep)),
            "before": to_sqlite_time(claimed_before),
        }
        rows = self._write(lambda conn: _rows(conn, _Q["release_untracked_jobs"], params))
        return [job_from_row(row, from_sqlite_time) for row in rows]

    # -- scheduled jobs -----------------------------------------------------------

    def insert_scheduled_job(
        self,
        key: str,
        *,
        schedule_text: str,
        available_at: datetime,
        now: datetime,
        name: str | None = None,
        payload: str | None = None,
    ) -> bool:
        """Insert the row for `key` unless one exists; True if inserted.

        The row runs as job `name` (default: the key) with `payload` (JSON text or None).
        """
        params = {
            "id": new_job_id(),
            "key": key,
            "name": key if name is None else name,
            "payload": payload,
            "schedule": schedule_text,
            "available_at": to_sqlite_time(available_at),
            "now": to_sqlite_time(now),
        }
        return (
            self._write(lambda conn: conn.execute(_Q["insert_scheduled_job"], params).rowcount) > 0
        )

    def get_scheduled_job(self, key: str) -> tuple[Job, str] | None:
        """The row of `key` and its stored schedule text, if any."""
        rows = self._read(lambda conn: _rows(conn, _Q["get_scheduled_job"], {"key": key}))
        return scheduled_job_from_row(rows[0], from_sqlite_time) if rows else None

    def replace_scheduled_job(
        self,
        key: str,
        *,
        schedule_text: str,
        available_at: datetime,
        name: str | None = None,
        payload: str | None = None,
    ) -> bool:
        """Update the unreserved row's schedule text, available_at, job name (default: the
        key) and payload; False if reserved/absent."""
        params = {
            "key": key,
            "name": key if name is None else name,
            "payload": payload,
            "schedule": schedule_text,
            "available_at": to_sqlite_time(available_at),
        }
        changed = self._write(
            lambda conn: conn.execute(_Q["replace_scheduled_job"], params).rowcount
        )
        return changed > 0

    def skip_scheduled_slot(
        self, lease: Lease, *, key: str, resume_at: datetime, note: str, now: datetime
    ) -> bool:
        """Give back the claim on a schedule's row without running it, moved to `resume_at`,
        and record the skipped slot in its history, in one transaction; False if the lease
        was lost (nothing changed)."""
        check_text(key, "scheduled job key")
        fence = {"id": lease.job_id, "owner": lease.owner, "attempts": lease.attempts}

        def skip(conn: sqlite3.Connection) -> bool:
            slot = _scalar(conn, _Q["reserved_slot"], fence)
            if slot is None:
                return False
            at = to_sqlite_time(resume_at)
            conn.execute(_Q["release_job"], {**fence, "available_at": at})
            params = {
                "run_id": new_job_id(),
                "key": key,
                "slot": slot,
                "started_at": None,
                "now": to_sqlite_time(now),
                "outcome": "skipped",
                "error": None,
                "note": note,
            }
            conn.execute(_Q["record_schedule_run"], params)
            return True

        return self._write(skip)

    def add_schedule(
        self, schedule: StoredSchedule, *, first_fire: datetime, now: datetime
    ) -> bool:
        """Store a runtime schedule and insert its row (due at `first_fire`) in one
        transaction; False (nothing changed) if the key is in use."""
        check_text(schedule.key, "schedule key")
        params, row = add_schedule_params(
            schedule,
            row_id=new_job_id(),
            available_at=to_sqlite_time(first_fire),
            now=to_sqlite_time(now),
        )

        def add(conn: sqlite3.Connection) -> bool:
            # The row check first: a schedule from code (or a removed one's last run) owns it.
            if _scalar(conn, _Q["schedule_row_exists"], params) is not None:
                return False
            if not _rows(conn, _Q["add_schedule"], params):
                return False
            conn.execute(_Q["delete_schedule_pause"], params)  # a new schedule starts active
            conn.execute(_Q["insert_scheduled_job"], row)
            return True

        return self._write(add)

    def remove_schedule(self, key: str) -> bool:
        """Remove a runtime schedule and its waiting row; False if there is none."""

        def remove(conn: sqlite3.Connection) -> bool:
            if not conn.execute(_Q["remove_schedule"], {"key": key}).rowcount:
                return False
            conn.execute(_Q["delete_waiting_schedule_row"], {"key": key})
            conn.execute(_Q["delete_schedule_pause"], {"key": key})  # added again, it runs
            return True

        return self._write(remove)

    def pause_schedule(
        self, key: str, *, paused: bool, resume_at: datetime | None, now: datetime
    ) -> bool:
        """Pause or resume a schedule, from code or added at runtime, in one transaction
        (a resumed one that was paused has its waiting row moved to `resume_at`, unless
        None); False if there is no such schedule."""
        check_text(key, "schedule key")
        params = {"key": key, "now": to_sqlite_time(now)}

        def pause(conn: sqlite3.Connection) -> bool:
            if _scalar(conn, _Q["schedule_exists"], {"key": key}) is None:
                return False
            if paused:
                conn.execute(_Q["insert_schedule_pause"], params)
                conn.execute(_Q["mirror_schedule_pause"], params)
                return True
            was_paused = conn.execute(_Q["delete_schedule_pause"], params).rowcount > 0
            conn.execute(_Q["mirror_schedule_resume"], params)
            if was_paused and resume_at is not None:
                at = {**params, "available_at": to_sqlite_time(resume_at)}
                conn.execute(_Q["move_waiting_schedule_row"], at)
            return True

        return self._write(pause)

    def stored_schedules(self) -> list[StoredSchedule]:
        """The runtime schedules (not removed), by key, with their rows' state."""
        rows = self._read(lambda conn: _rows(conn, _Q["stored_schedules"], {}))
        return [stored_schedule_from_row(row, from_sqlite_time) for row in rows]

    def schedule_history(self, key: str, *, limit: int = 20) -> list[ScheduleRun]:
        """The history of schedule `key`, newest first."""
        check_limit(limit)
        params = {"key": key, "limit": limit}
        rows = self._read(lambda conn: _rows(conn, _Q["schedule_history"], params))
        return [schedule_run_from_row(row, from_sqlite_time) for row in rows]

    def list_schedules(self) -> list[ScheduleRow]:
        """Every schedule with a row in `jobs`, by key, with its last history entry."""
        rows = self._read(lambda conn: _rows(conn, _Q["list_schedules"], {}))
        return [schedule_row_from_row(row, from_sqlite_time) for row in rows]

    # -- housekeeping and reads -----------------------------------------------------

    def prune_finished(
        self, state: Literal["succeeded", "failed"], *, older_than: datetime, batch_size: int = 500
    ) -> int:
        """Delete up to `batch_size` finished rows older than `older_than`; returns how many."""
        check_batch_size(batch_size)
        query = _Q[prune_query(state)]
        params = {"older_than": to_sqlite_time(older_than), "batch_size": batch_size}
        return self._write(lambda conn: conn.execute(query, params).rowcount)

    def prune_schedule_runs(
        self, state: Literal["succeeded", "failed"], *, older_than: datetime, batch_size: int = 500
    ) -> int:
        """Delete up to `batch_size` schedule history entries of `state` ("succeeded" covers
        skipped slots too) finished before `older_than`; returns how many."""
        check_batch_size(batch_size)
        query = _Q[prune_query(state, schedule_runs=True)]
        params = {"older_than": to_sqlite_time(older_than), "batch_size": batch_size}
        return self._write(lambda conn: conn.execute(query, params).rowcount)

    def list_jobs(
        self,
        state: JobState,
        *,
        limit: int = 100,
        name: str | None = None,
        queue: str | None = None,
    ) -> list[Job] | list[FinishedJob]:
        """Rows of one table: claim order for `jobs`, newest first for finished ones."""
        check_limit(limit)
        query = _Q[listing_query(state)]
        params = {"limit": limit, **check_filter(name, queue)}
        rows = self._read(lambda conn: _rows(conn, query, params))
        return jobs_from_rows(rows, state, from_sqlite_time)

    def count_listed(
        self, state: JobState, *, name: str | None = None, queue: str | None = None
    ) -> int:
        """How many rows `list_jobs` would list without a limit."""
        listing_query(state)  # refuses an unknown state
        query = _Q[count_query(state)]
        params = check_filter(name, queue)
        return int(self._read(lambda conn: _scalar(conn, query, params)))

    def retry_failed_jobs(
        self, *, limit: int, now: datetime, name: str | None = None, queue: str | None = None
    ) -> list[Job]:
        """Move up to `limit` failed jobs back to `jobs` as plain jobs, in one transaction."""
        check_limit(limit)
        stamp = to_sqlite_time(now_or_system(now))
        params = {"limit": limit, **check_filter(name, queue)}

        def move(conn: sqlite3.Connection) -> list[Job]:
            moved: list[Job] = []
            for row in _rows(conn, _Q["take_failed_batch"], params):
                conn.execute(_Q["insert_retried_job"], _retried_params(row, stamp))
                moved.append(
                    job_from_row(
                        _rows(conn, _Q["get_waiting"], {"id": row["id"]})[0], from_sqlite_time
                    )
                )
            return moved

        return self._write(move)

    def running_by_owner(self) -> dict[str, int]:
        """How many jobs each process (jobs_workers.id) holds reserved."""
        rows = self._read(lambda conn: _rows(conn, _Q["running_by_owner"], {}))
        return {row["reserved_by"]: int(row["running"]) for row in rows}

    def get_job(self, job_id: str) -> Job | FinishedJob | None:
        """The job with this id, wherever it is."""

        def find(conn: sqlite3.Connection) -> Job | FinishedJob | None:
            params = {"id": job_id}
            return find_job(lambda query: _rows(conn, _Q[query], params), from_sqlite_time)

        return self._read(find)

    def cancel(self, job_id: str, *, now: datetime | None = None) -> CancelResult:
        """Cancel a waiting job (to jobs_failed at once) or ask the process running it to stop."""
        check_text(job_id, "job id")
        params = {"id": job_id, "now": to_sqlite_time(now_or_system(now)), "exception": CANCELLED}

        def cancel(conn: sqlite3.Connection) -> CancelResult:
            # One write transaction: nothing can claim the job between the two looks.
            if conn.execute(_Q["cancel_waiting_job"], params).rowcount:
                conn.execute(_Q["delete_unreserved_job"], params)
                return "cancelled"
            if conn.execute(_Q["request_cancel"], params).rowcount:
                return "requested"
            return "not_found"

        return self._write(cancel)

    def cancel_requests(self, owner: str) -> list[str]:
        """Ids of jobs reserved by `owner` whose cancel was requested."""
        rows = self._read(lambda conn: _rows(conn, _Q["cancel_requests"], {"owner": owner}))
        return [row["id"] for row in rows]

    def retry_failed_job(self, job_id: str, *, now: datetime) -> Job:
        """Move a failed job back to `jobs` as a plain job (attempts 0, available now)."""
        stamp = to_sqlite_time(now)

        def move(conn: sqlite3.Connection) -> Job:
            rows = _rows(conn, _Q["take_failed_job"], {"id": job_id})
            if not rows:
                raise JobNotFound(f"no failed job with id {job_id}")
            conn.execute(_Q["insert_retried_job"], _retried_params(rows[0], stamp))
            return job_from_row(_rows(conn, _Q["get_waiting"], {"id": job_id})[0], from_sqlite_time)

        return self._write(move)

    def delete_job(self, job_id: str) -> JobState:
        """Delete a job from whichever table holds it; returns the table. JobNotFound if none."""

        def delete(conn: sqlite3.Connection) -> JobState:
            for state, query in DELETE_QUERIES:
                if conn.execute(_Q[query], {"id": job_id}).rowcount:
                    return state
            raise JobNotFound(f"no job with id {job_id}")

        return self._write(delete)

    def count_jobs(self, *, now: datetime) -> Counts:
        """Counts by state and job name; by_name also has "due" (waiting and due at `now`)."""
        params = {"now": to_sqlite_time(now)}

        def count(conn: sqlite3.Connection) -> Counts:
            # One read transaction, so the three tables are counted at one instant.
            conn.execute("BEGIN")
            try:
                waiting = _rows(conn, _Q["count_waiting_by_name"], params)
                succeeded = _rows(conn, _Q["count_succeeded_by_name"], {})
                failed = _rows(conn, _Q["count_failed_by_name"], {})
            finally:
                conn.execute("COMMIT")
            return counts_from_rows(waiting, succeeded, failed)

        return self._read(count)

    def count_waiting_groups(self) -> list[WaitingGroup]:
        """Unreserved jobs counted by job name and target queue (due or not)."""
        rows = self._read(lambda conn: _rows(conn, _Q["count_waiting_groups"], {}))
        return [WaitingGroup(row["name"], row["queue"], row["n"]) for row in rows]

    def listen(self, callback: NotifyCallback) -> Subscription | None:
        """Call back with None whenever another connection commits to the file.

        SQLite has no notifications: a thread reads `PRAGMA data_version` every
        few milliseconds on a connection of its own (see sqlite_watch.py).
        """
        if not callable(callback):
            raise TypeError("listen needs a callable")
        self._check_process()
        return DataVersionWatch(self.path, callback).start()


# -- statements shared by the write paths ------------------------------------------


Row = dict[str, Any]


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


def _rows(conn: sqlite3.Connection, sql: str, params: Mapping[str, Any]) -> list[Row]:
    cursor = conn.cursor()
    cursor.row_factory = _dict_row
    rows: list[Row] = cursor.execute(sql, params).fetchall()
    return rows


def _scalar(conn: sqlite3.Connection, sql: str, params: Mapping[str, Any]) -> Any:
    # fetchall, not fetchone: a statement left unfinished would hold its read
    # transaction open and keep SQLite from checkpointing the WAL.
    rows = conn.execute(sql, params).fetchall()
    return rows[0][0] if rows else None


def _rate_window(
    conn: sqlite3.Connection, queue: str, now: datetime, per: timedelta
) -> tuple[datetime, int, int]:
    """(claim time, starts recorded so far, starts inside the window ending then).

    Starts are recorded in time order: a claim whose clock reads earlier than
    the last start recorded claims at that start's time. So the starts before
    the window are a prefix of the numbering, found with one index probe. Also
    forgets starts older than two windows.
    """
    window = {"queue": queue, "window_start": to_sqlite_time(now - per)}
    rows = _rows(conn, _Q["rate_window"], window)
    if not rows:
        return now, 0, 0
    row = rows[0]
    moment, total = now, int(row["total"])
    last = from_sqlite_time(row["last_at"])
    if last > now:  # our clock reads earlier than the last start: claim at that start
        moment = last
        window["window_start"] = to_sqlite_time(moment - per)
        row = _rows(conn, _Q["rate_window"], window)[0]
    before = row["before"]
    if before is None:  # every start kept is inside the window
        before = int(row["first"]) - 1
    if row["first_at"] <= to_sqlite_time(moment - 2 * per):
        forget = {"queue": queue, "margin_start": to_sqlite_time(moment - 2 * per)}
        conn.execute(_Q["forget_old_starts"], forget)
    return moment, total, total - int(before)


def _retried_params(row: Row, now: str) -> dict[str, Any]:
    """The new `jobs` row of a failed job enqueued again as a plain job."""
    return {
        "id": row["id"],
        "name": row["name"],
        "payload": row["payload"],
        "created_at": row["created_at"],
        "now": now,
        "queue": row["queue"],
        "priority": row["priority"],
        "last_error": row["exception"],
    }


def _insert_jobs(conn: sqlite3.Connection, new_jobs: Sequence[NewJob]) -> list[Job]:
    """Insert the jobs; one whose key succeeded within its period is replaced by that job."""
    result = _insert_rows(conn, new_jobs)
    for index in held_by_period(new_jobs, result):
        new = new_jobs[index]
        # After our insert, inside the same write transaction: no success of the
        # key can commit between this look and our commit.
        params = {"key": new.unique_key, "since": to_sqlite_time(cast(datetime, new.unique_since))}
        rows = _rows(conn, _Q["recently_succeeded_by_key"], params)
        if rows:
            conn.execute(_Q["delete_waiting"], {"id": new.id})
            result[index] = succeeded_as_job(rows[0], from_sqlite_time)
    return result


def _insert_rows(conn: sqlite3.Connection, new_jobs: Sequence[NewJob]) -> list[Job]:
    """Insert rows (skipping unique-key duplicates) and return the Jobs in input order."""
    texts: dict[datetime, str] = {}  # most jobs share one or two times: format each once

    def text(value: datetime) -> str:
        found = texts.get(value)
        if found is None:
            found = texts[value] = to_sqlite_time(value)
        return found

    conn.executemany(
        _Q["insert_job"],
        [
            (
                job.id,
                job.name,
                job.payload_text,
                text(job.created_at),
                text(job.available_at),
                job.queue,
                job.priority,
                job.unique_key,
                job.timeout_seconds,
            )
            for job in new_jobs
        ],
    )
    keys = sorted({job.unique_key for job in new_jobs if job.unique_key is not None})
    existing: dict[str, Row] = {}
    if keys:
        for row in _rows(conn, _Q["jobs_by_unique_key"], {"keys": json.dumps(keys)}):
            existing[row["unique_key"]] = row
    result: list[Job] = []
    for job in new_jobs:
        if job.unique_key is None:
            result.append(job.to_job())
            continue
        found = existing.get(job.unique_key)
        if found is None:
            raise DatabaseError(f"the job with unique key {job.unique_key!r} vanished mid-insert")
        result.append(
            job.to_job() if found["id"] == job.id else job_from_row(found, from_sqlite_time)
        )
    return result


def _record_schedule_run(
    conn: sqlite3.Connection, run_id: str, end: ScheduledNext, outcome: Outcome, now: str
) -> None:
    assert end.slot is not None
    conn.execute(
        _Q["record_schedule_run"],
        {
            "run_id": run_id,
            "key": end.key,
            "slot": to_sqlite_time(end.slot),
            "started_at": None if end.started_at is None else to_sqlite_time(end.started_at),
            "now": now,
            "outcome": "failed" if isinstance(outcome, Failed) else "succeeded",
            "error": clip_text(outcome.exception) if isinstance(outcome, Failed) else None,
            "note": end.note,
        },
    )


def _apply(conn: sqlite3.Connection, outcome: Outcome, now: str) -> bool:
    """Apply one fenced outcome; True if applied now or already applied before."""
    lease = outcome.lease
    fence = {"id": lease.job_id, "owner": lease.owner, "attempts": lease.attempts}
    if isinstance(outcome, Succeeded | Failed):
        if isinstance(outcome, Succeeded):
            params = {**fence, "now": now, "result": outcome.result}
            moved = conn.execute(_Q["copy_to_succeeded"], params).rowcount
            done_query = "was_succeeded"
        else:
            params = {
                **fence,
                "now": now,
                "exception": clip_text(outcome.exception),
                "traceback": clip_text(outcome.traceback, keep="tail"),
            }
            moved = conn.execute(_Q["copy_to_failed"], params).rowcount
            done_query = "was_failed"
        if moved:
            conn.execute(_Q["delete_reserved_job"], fence)
            nxt = outcome.next_scheduled
            if nxt is not None and nxt.slot is not None:
                _record_schedule_run(conn, lease.job_id, nxt, outcome, now)
            if nxt is not None and nxt.available_at is not None:
                conn.execute(
                    _Q["insert_scheduled_job"],
                    {
                        "id": new_job_id(),
                        "key": nxt.key,
                        "name": nxt.key if nxt.name is None else nxt.name,
                        "payload": nxt.payload,
                        "schedule": nxt.schedule_text,
                        "available_at": to_sqlite_time(nxt.available_at),
                        "now": now,
                    },
                )
            return True
        return _scalar(conn, _Q[done_query], fence) is not None
    if isinstance(outcome, RetryLater):
        params = {
            **fence,
            "available_at": to_sqlite_time(outcome.available_at),
            "last_error": clip_text(outcome.last_error),
        }
        if conn.execute(_Q["retry_job"], params).rowcount:
            return True
        return _scalar(conn, _Q["was_retried"], params) is not None
    if isinstance(outcome, Released):
        at = None if outcome.available_at is None else to_sqlite_time(outcome.available_at)
        if conn.execute(_Q["release_job"], {**fence, "available_at": at}).rowcount:
            return True
        return _scalar(conn, _Q["was_released"], fence) is not None
    raise TypeError(f"unknown outcome {outcome!r}")


class _MigrationSession:
    """The migration runner's view of the writer connection, inside BEGIN IMMEDIATE."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._db = wrap(conn)

    def table_columns(self, tables: Collection[str]) -> dict[str, set[str]]:
        # Views count too: a view named `jobs` is just as much in the way.
        present = set(self._db.table_names()) | set(self._db.view_names())
        return {table: set(self._db[table].columns_dict) for table in tables if table in present}

    def applied_versions(self) -> list[int]:
        return [int(row[0]) for row in self._conn.execute(_Q["applied_versions"]).fetchall()]

    def execute(self, statement: str) -> None:
        self._conn.execute(statement)

    def record_version(self, version: int) -> None:
        self._conn.execute(_Q["record_version"], {"version": version})
