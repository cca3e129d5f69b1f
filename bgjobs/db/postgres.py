"""The PostgreSQL adapter: any number of processes on any number of hosts share one database.

How it keeps SPEC 3.2's promises:
- psycopg 3 with a psycopg_pool connection pool, opened on first use.
- The claim is one statement in one round trip: a CTE picks rows FOR UPDATE
  SKIP LOCKED in claim order, then UPDATE ... RETURNING reserves them, so
  concurrent claimers never wait for or take each other's rows.
- The hot statements carry their planner settings (PIN_PLANS in
  postgres_connections.py), so their plans never depend on statistics.
- A batch of outcomes is a few statements (one per kind) in one transaction.
- A dropped connection (server restart, failover, network) is replaced and the
  transaction run again. Every transaction is written to be safe to run
  twice: ids are made by the client, inserts skip ids that exist, outcomes
  already applied count as done. A claim whose answer was lost leaves jobs
  reserved by a process that does not know them: the runtime's monitor gives
  them back (release_untracked_jobs), and the rescue covers a dead process.
- Enqueue sends one NOTIFY per transaction naming the job names due now;
  `listen()` keeps one autocommit connection outside the pool on a daemon
  thread, LISTENs again after every reconnect and then calls back with None
  ("look at everything") because notifications may have been missed.

The pool and retries live in postgres_connections.py, LISTEN/NOTIFY in
postgres_notify.py, the multi-statement write paths in postgres_statements.py;
this module holds the PostgreSQL side of each Adapter method.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import psycopg

from bgjobs.db.adapter import (
    CancelResult,
    Counts,
    FinishedJob,
    JobState,
    Lease,
    NotifyCallback,
    Outcome,
    QueueLimits,
    QueueRow,
    Subscription,
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
    names_param,
    now_or_system,
    prune_query,
    rescue_window,
)
from bgjobs.db.migrations import MigrationReport, run_migrations
from bgjobs.db.postgres_connections import (
    PIN_PLANS_NO_FLUSH,
    Conn,
    PostgresConnections,
    Row,
    dict_rows,
    pinned_rows,
)
from bgjobs.db.postgres_notify import CHANNEL, Listener
from bgjobs.db.postgres_statements import (
    Cancel,
    Claim,
    apply_outcomes,
    copy_suits,
    insert_jobs,
    insert_jobs_async,
    settle_unique_periods,
)
from bgjobs.db.queries import load_queries
from bgjobs.db.records import (
    CANCELLED,
    DELETE_QUERIES,
    check_outcomes,
    counts_from_rows,
    find_job,
    handles_params,
    heartbeat_params,
    in_claim_order,
    job_from_row,
    jobs_from_rows,
    notify_names,
    prepare_jobs,
    queue_from_row,
    scheduled_job_from_row,
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
from bgjobs.db.times import from_postgres_time, require_aware
from bgjobs.errors import JobNotFound, SchemaError
from bgjobs.ids import new_job_id
from bgjobs.jobs import Job, JobRequest

_Q = load_queries("postgres")

#: pg_advisory_xact_lock key serialising migrations ("bgjobs" in ASCII).
MIGRATION_LOCK_KEY: Final = 0x62676A6F6273


class PostgresAdapter(PostgresConnections, BaseAdapter):
    """Jobs in PostgreSQL (psycopg 3). The pool opens on first use.

    `conninfo` is a URL (postgresql://user@host/db) or a libpq key=value
    string. bgjobs' tables live in the connection's current schema (set
    `options=-csearch_path=...` to keep them apart from yours).

    Behind a transaction-pooling PgBouncer, pass `pooled=True`: LISTEN then
    goes to `listen_url` (a direct connection to the server), or, without
    one, queues poll. Nothing else keeps session state on pooled connections.
    """

    def __repr__(self) -> str:
        return f"PostgresAdapter({self._where})"

    @functools.cached_property
    def _busy_limited(self) -> dict[str, bool]:
        """Limited queues whose last claim here found work (they skip the look for due jobs)."""
        return {}

    # -- schema -------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema in one transaction under pg_advisory_xact_lock."""
        return self.migrate_report().version

    def migrate_report(self) -> MigrationReport:
        """migrate(), also saying which versions this call applied (none when up to date)."""

        def work(conn: Conn) -> MigrationReport:
            conn.execute(_Q["lock_migrations"], {"key": MIGRATION_LOCK_KEY})
            _check_schema_selected(conn)
            return run_migrations(_MigrationSession(conn), "postgres")

        return self._run(work, transaction=True)

    def clock_offset(self) -> timedelta:
        """The database's clock minus this host's, from the quickest of three round trips."""

        def measure(conn: Conn) -> tuple[float, timedelta]:
            before = datetime.now(UTC)
            row = conn.execute("SELECT clock_timestamp()").fetchone()
            after = datetime.now(UTC)
            database_now: datetime = row[0] if row else after
            middle = before + (after - before) / 2
            return (after - before).total_seconds(), database_now - middle

        samples = [self._run(measure, transaction=False) for _ in range(3)]
        return min(samples, key=lambda sample: sample[0])[1]

    # -- producing ----------------------------------------------------------------

    def enqueue_many(
        self,
        requests: Sequence[JobRequest],
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> list[Job]:
        """Insert jobs in one statement and return them in input order.

        With `connection` (an open psycopg.Connection) the insert and NOTIFY
        run on it and commit or roll back with the caller's transaction;
        bgjobs never begins, commits or retries there. `notify=False` sends
        no NOTIFY.
        """
        stamp = now_or_system(now)
        new_jobs = prepare_jobs(requests, stamp)
        if not new_jobs:
            return []
        names = notify_names(new_jobs, stamp) if notify else []
        if connection is not None:
            if not isinstance(connection, psycopg.Connection):
                raise TypeError(
                    "connection must be an open psycopg (3) Connection "
                    f"(got {type(connection).__name__})"
                )
            try:
                jobs = insert_jobs(connection, new_jobs, stamp, names, again=False, use_copy=False)
                return settle_unique_periods(connection, new_jobs, jobs)
            except psycopg.Error as exc:
                raise self._translate(exc) from exc
        attempts = 0
        use_copy = copy_suits(new_jobs)

        def work(conn: Conn) -> list[Job]:
            nonlocal attempts
            attempts += 1
            again = attempts > 1
            jobs = insert_jobs(conn, new_jobs, stamp, names, again=again, use_copy=use_copy)
            return settle_unique_periods(conn, new_jobs, jobs) if held else jobs

        # One INSERT (with its NOTIFY) is a single statement; COPY and its
        # NOTIFY are two, committed together, as are an INSERT and the look at
        # recent successes of keys held for a period.
        held = any(job.unique_since is not None for job in new_jobs)
        return self._run(work, transaction=use_copy or held)

    async def enqueue_many_async(
        self,
        requests: Sequence[JobRequest],
        *,
        connection: Any = None,
        now: datetime | None = None,
        notify: bool = True,
    ) -> list[Job]:
        """`enqueue_many` for async code; never blocks the event loop.

        `connection` may be a psycopg.AsyncConnection: the insert (and NOTIFY)
        run on it asynchronously, inside the caller's transaction; bgjobs never
        commits there.
        """
        if isinstance(connection, psycopg.AsyncConnection):
            stamp = now_or_system(now)
            new_jobs = prepare_jobs(requests, stamp)
            if not new_jobs:
                return []
            names = notify_names(new_jobs, stamp) if notify else []
            try:
                return await insert_jobs_async(connection, new_jobs, stamp, names)
            except psycopg.Error as exc:
                raise self._translate(exc) from exc
        return await super().enqueue_many_async(
            requests, connection=connection, now=now, notify=notify
        )

    # -- consuming -------------------------------------------------------------------

    def reserve_jobs(
        self,
        names: Collection[str],
        *,
        queue: str,
        limit: int,
        owner: str,
        now: datetime,
    ) -> list[Job]:
        """Claim up to `limit` due jobs in claim order (SKIP LOCKED); attempts += 1 on each."""
        check_claim(queue, limit, owner)
        params = {
            "names": names_param(names),
            "queue": queue,
            "limit": limit,
            "owner": owner,
            "now": require_aware(now, "now"),
        }
        # One round trip, committed on its own. If the answer is lost, the jobs
        # stay reserved by `owner` with no thread tracking them: the runtime's
        # monitor gives such reservations back (release_untracked_jobs), and the
        # rescue takes them from an owner that is not a running process.
        rows = self._run(
            lambda conn: pinned_rows(conn, _Q["claim_jobs"], params, settings=PIN_PLANS_NO_FLUSH),
            transaction=False,
        )
        jobs = in_claim_order(job_from_row(row, from_postgres_time, claimed=True) for row in rows)
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

        One statement calling jobs_claim_limited (migration 0006), which locks
        the queue's jobs_queues row and then counts with a fresh snapshot.
        """
        check_claim(queue, limit, owner)
        check_limits(limits)
        params = {
            "names": names_param(names),
            "queue": queue,
            "limit": limit,
            "owner": owner,
            "now": require_aware(now, "now"),
            "concurrency": limits.concurrency,
            "rate": limits.rate,
            "per": limits.per if limits.rate is not None else None,
            # A queue whose last claim found work skips the look for due jobs.
            "look_first": not self._busy_limited.get(queue, False),
        }
        # One round trip committed on its own, like the plain claim (see
        # reserve_jobs): if the answer is lost, the monitor gives the
        # reservations no thread tracks back. The function sets its own plan
        # settings; pinned_rows adds the same no-flush commit as the plain claim.
        rows = self._run(
            lambda conn: pinned_rows(
                conn, _Q["claim_limited_jobs"], params, settings=PIN_PLANS_NO_FLUSH
            ),
            transaction=False,
        )
        self._busy_limited[queue] = bool(rows)
        return in_claim_order(job_from_row(row, from_postgres_time, claimed=True) for row in rows)

    def reserve_scheduled_job(self, key: str, *, owner: str, now: datetime) -> Job | None:
        """Claim the row of scheduled job `key` if it is due and unreserved."""
        check_scheduled_claim(key, owner)
        params = {"key": key, "owner": owner, "now": require_aware(now, "now")}
        rows = self._run(Claim(_Q["claim_scheduled_job"], params), transaction=True)
        return job_from_row(rows[0], from_postgres_time, claimed=True) if rows else None

    def finish_jobs(self, outcomes: Sequence[Outcome], *, now: datetime) -> list[bool]:
        """Apply outcomes in one transaction, each fenced by its lease (see Adapter)."""
        check_outcomes(outcomes)
        if not outcomes:
            return []
        stamp = require_aware(now, "now")
        # One kind of outcome and no next scheduled rows is a single statement,
        # atomic on its own; anything more needs a transaction.
        kinds = {type(outcome) for outcome in outcomes}
        chained = any(getattr(outcome, "next_scheduled", None) for outcome in outcomes)
        return self._run(
            lambda conn: apply_outcomes(conn, outcomes, stamp),
            transaction=len(kinds) > 1 or chained,
        )

    def next_available_at(self, names: Collection[str], *, queue: str) -> datetime | None:
        """The earliest available_at of unreserved jobs this queue could claim."""
        params = {"names": names_param(names), "queue": queue}
        rows = self._run(
            lambda conn: pinned_rows(conn, _Q["next_available_at"], params), transaction=False
        )
        return from_postgres_time(rows[0]["available_at"]) if rows else None

    # -- queues -----------------------------------------------------------------------

    def pause_queue(self, name: str, *, now: datetime | None = None) -> None:
        """Stop every process claiming for queue `name`; running jobs finish. Persistent."""
        params = {"name": check_queue_name(name), "now": now_or_system(now)}
        self._change(_Q["pause_queue"], params)

    def resume_queue(self, name: str, *, now: datetime | None = None) -> bool:
        """Let queue `name` be claimed again (and wake idle processes); False if not paused."""
        params = {"name": check_queue_name(name), "now": now_or_system(now), "channel": CHANNEL}
        return bool(self._fetch(_Q["resume_queue"], params))

    def paused_queues(self) -> list[str]:
        """The names of the paused queues, sorted."""
        return [row.name for row in self.list_queues() if row.paused]

    def list_queues(self) -> list[QueueRow]:
        """Every row of jobs_queues, by name."""
        return [
            queue_from_row(row, from_postgres_time) for row in self._fetch(_Q["list_queues"], {})
        ]

    def register_queues(self, names: Collection[str], *, now: datetime) -> None:
        """Add a jobs_queues row (unpaused) for each name that has none."""
        checked = sorted({check_queue_name(name) for name in names})
        if checked:
            self._change(
                _Q["register_queues"], {"names": checked, "now": require_aware(now, "now")}
            )

    # -- processes and rescue --------------------------------------------------------

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
            "now": require_aware(now, "now"),
            **handles_params(queues, job_names),
            **heartbeat_params(heartbeat_every, lease),
        }
        self._change(_Q["register_worker"], params)

    def heartbeat_worker(
        self, worker_id: str, *, now: datetime, abandoned_threads: int | None = None
    ) -> bool:
        """Refresh the heartbeat (and the abandoned-thread count) on its own connection
        (one try: DatabaseError if the server cannot be reached); False if the row is gone."""
        params = {
            "id": worker_id,
            "now": require_aware(now, "now"),
            "abandoned_threads": abandoned_threads,
        }
        return self._change_on_own_connection(_Q["heartbeat_worker"], params) > 0

    def remove_worker(self, worker_id: str) -> None:
        """Delete the row at a graceful stop."""
        self._change(_Q["remove_worker"], {"id": worker_id})

    def list_workers(self) -> list[WorkerRow]:
        """Every row of jobs_workers, oldest first."""
        rows = self._fetch(_Q["list_workers"], {})
        return [worker_from_row(row, from_postgres_time) for row in rows]

    def rescue_jobs(self, *, now: datetime, lease_seconds: float) -> list[Job]:
        """Unreserve jobs of dead owners (attempts kept, available now); drop dead owners' rows."""
        stamp, cutoff = rescue_window(now, lease_seconds)
        params = {"now": stamp, "cutoff": cutoff}

        def rescue(conn: Conn) -> list[Row]:
            rows = pinned_rows(conn, _Q["rescue_jobs"], params)
            conn.execute(_Q["delete_dead_workers"], params)
            return rows

        return [
            job_from_row(row, from_postgres_time) for row in self._run(rescue, transaction=True)
        ]

    def release_untracked_jobs(
        self, owner: str, *, keep: Collection[str], claimed_before: datetime
    ) -> list[Job]:
        """Unreserve `owner`'s jobs claimed before `claimed_before` and not in `keep`."""
        check_text(owner, "owner")
        params = {
            "owner": owner,
            "keep": sorted(keep),
            "before": require_aware(claimed_before, "claimed_before"),
        }
        rows = self._run(
            lambda conn: pinned_rows(conn, _Q["release_untracked_jobs"], params), transaction=False
        )
        return [job_from_row(row, from_postgres_time) for row in rows]

    # -- scheduled jobs -------------------------------------------------------------------

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
        check_text(key, "scheduled job key")
        job_id = new_job_id()
        params = {
            "ids": [job_id],
            "keys": [key],
            "names": [key if name is None else name],
            "payloads": [payload],
            "schedules": [schedule_text],
            "available_ats": [require_aware(available_at, "available_at")],
            "now": require_aware(now, "now"),
        }

        def insert(conn: Conn) -> bool:
            if conn.execute(_Q["insert_scheduled_jobs"], params).fetchall():
                return True
            # A second run after a lost COMMIT finds the row it inserted itself.
            return bool(dict_rows(conn, _Q["get_waiting"], {"id": job_id}))

        return self._run(insert, transaction=False)

    def get_scheduled_job(self, key: str) -> tuple[Job, str] | None:
        """The row of `key` and its stored schedule text, if any."""
        rows = self._fetch(_Q["get_scheduled_job"], {"key": key})
        return scheduled_job_from_row(rows[0], from_postgres_time) if rows else None

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
            "available_at": require_aware(available_at, "available_at"),
        }
        changed = self._change(_Q["replace_scheduled_job"], params)
        return changed > 0

    def skip_scheduled_slot(
        self, lease: Lease, *, key: str, resume_at: datetime, note: str, now: datetime
    ) -> bool:
        """Give back the claim on a schedule's row without running it, moved to `resume_at`,
        and record the skipped slot in its history, in one transaction; False if the lease
        was lost (nothing changed)."""
        check_text(key, "scheduled job key")
        fence = {
            "id": lease.job_id,
            "owner": lease.owner,
            "attempts": lease.attempts,
            "available_at": require_aware(resume_at, "resume_at"),
        }

        def skip(conn: Conn) -> bool:
            rows = dict_rows(conn, _Q["release_scheduled_slot"], fence)
            if not rows:
                # Applied by an earlier try whose COMMIT was lost, or the lease is gone.
                return bool(dict_rows(conn, _Q["was_released"], fence))
            params = {
                "run_ids": [new_job_id()],
                "keys": [key],
                "slots": [rows[0]["slot"]],
                "started_ats": [None],
                "outcomes": ["skipped"],
                "errors": [None],
                "notes": [note],
                "now": require_aware(now, "now"),
            }
            conn.execute(_Q["record_schedule_runs"], params)
            return True

        return self._run(skip, transaction=True)

    def add_schedule(
        self, schedule: StoredSchedule, *, first_fire: datetime, now: datetime
    ) -> bool:
        """Store a runtime schedule and insert its row (due at `first_fire`) in one
        transaction; False (nothing changed) if the key is in use."""
        check_text(schedule.key, "schedule key")
        params, row = add_schedule_params(
            schedule,
            row_id=new_job_id(),
            available_at=require_aware(first_fire, "first_fire"),
            now=require_aware(now, "now"),
        )

        inserted = {
            "ids": [row["id"]],
            "keys": [row["key"]],
            "names": [row["name"]],
            "payloads": [row["payload"]],
            "schedules": [row["schedule"]],
            "available_ats": [row["available_at"]],
            "now": row["now"],
        }

        def add(conn: Conn) -> bool:
            existing = dict_rows(conn, _Q["schedule_row_exists"], params)
            if existing:
                # Ours from a try whose COMMIT was lost, or a schedule from code owns the key.
                return bool(dict_rows(conn, _Q["get_waiting"], {"id": row["id"]}))
            if not dict_rows(conn, _Q["add_schedule"], params):
                return False
            conn.execute(_Q["delete_schedule_pause"], params)  # a new schedule starts active
            conn.execute(_Q["insert_scheduled_jobs"], inserted).fetchall()
            return True

        return self._run(add, transaction=True)

    def remove_schedule(self, key: str) -> bool:
        """Remove a runtime schedule and its waiting row; False if there is none."""

        def remove(conn: Conn) -> bool:
            if not conn.execute(_Q["remove_schedule"], {"key": key}).rowcount:
                return False
            conn.execute(_Q["delete_waiting_schedule_row"], {"key": key})
            conn.execute(_Q["delete_schedule_pause"], {"key": key})  # added again, it runs
            return True

        return self._run(remove, transaction=True)

    def pause_schedule(
        self, key: str, *, paused: bool, resume_at: datetime | None, now: datetime
    ) -> bool:
        """Pause or resume a schedule, from code or added at runtime, in one transaction
        (a resumed one that was paused has its waiting row moved to `resume_at`, unless
        None); False if there is no such schedule."""
        check_text(key, "schedule key")
        params = {"key": key, "now": require_aware(now, "now")}

        def pause(conn: Conn) -> bool:
            if not dict_rows(conn, _Q["schedule_exists"], {"key": key}):
                return False
            if paused:
                conn.execute(_Q["insert_schedule_pause"], params)
                conn.execute(_Q["mirror_schedule_pause"], params)
                return True
            was_paused = conn.execute(_Q["delete_schedule_pause"], params).rowcount > 0
            conn.execute(_Q["mirror_schedule_resume"], params)
            if was_paused and resume_at is not None:
                at = {**params, "available_at": require_aware(resume_at, "resume_at")}
                conn.execute(_Q["move_waiting_schedule_row"], at)
            return True

        return self._run(pause, transaction=True)

    def stored_schedules(self) -> list[StoredSchedule]:
        """The runtime schedules (not removed), by key, with their rows' state."""
        rows = self._fetch(_Q["stored_schedules"], {})
        return [stored_schedule_from_row(row, from_postgres_time) for row in rows]

    def schedule_history(self, key: str, *, limit: int = 20) -> list[ScheduleRun]:
        """The history of schedule `key`, newest first."""
        check_limit(limit)
        rows = self._fetch(_Q["schedule_history"], {"key": key, "limit": limit})
        return [schedule_run_from_row(row, from_postgres_time) for row in rows]

    def list_schedules(self) -> list[ScheduleRow]:
        """Every schedule with a row in `jobs`, by key, with its last history entry."""
        rows = self._fetch(_Q["list_schedules"], {})
        return [schedule_row_from_row(row, from_postgres_time) for row in rows]

    # -- housekeeping and reads ------------------------------------------------------------

    def prune_finished(
        self, state: Literal["succeeded", "failed"], *, older_than: datetime, batch_size: int = 500
    ) -> int:
        """Delete up to `batch_size` finished rows older than `older_than`; returns how many."""
        check_batch_size(batch_size)
        query = _Q[prune_query(state)]
        params = {"older_than": require_aware(older_than, "older_than"), "batch_size": batch_size}
        return self._change(query, params)

    def prune_schedule_runs(
        self, state: Literal["succeeded", "failed"], *, older_than: datetime, batch_size: int = 500
    ) -> int:
        """Delete up to `batch_size` schedule history entries of `state` ("succeeded" covers
        skipped slots too) finished before `older_than`; returns how many."""
        check_batch_size(batch_size)
        query = _Q[prune_query(state, schedule_runs=True)]
        params = {"older_than": require_aware(older_than, "older_than"), "batch_size": batch_size}
        rows = self._run(lambda conn: pinned_rows(conn, query, params), transaction=False)
        return len(rows)

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
        params = {"limit": limit, **check_filter(name, queue)}
        rows = self._fetch(_Q[listing_query(state)], params)
        return jobs_from_rows(rows, state, from_postgres_time)

    def count_listed(
        self, state: JobState, *, name: str | None = None, queue: str | None = None
    ) -> int:
        """How many rows `list_jobs` would list without a limit."""
        listing_query(state)  # refuses an unknown state
        rows = self._fetch(_Q[count_query(state)], check_filter(name, queue))
        return int(rows[0]["count"])

    def retry_failed_jobs(
        self, *, limit: int, now: datetime, name: str | None = None, queue: str | None = None
    ) -> list[Job]:
        """Move up to `limit` failed jobs back to `jobs` as plain jobs, in one statement."""
        check_limit(limit)
        params = {"limit": limit, "now": now_or_system(now), **check_filter(name, queue)}
        # A second run after a lost COMMIT moves the next batch: the jobs of the
        # first are back in `jobs` all the same, only missing from this answer.
        rows = self._fetch(_Q["retry_failed_batch"], params)
        return [job_from_row(row, from_postgres_time) for row in rows]

    def running_by_owner(self) -> dict[str, int]:
        """How many jobs each process (jobs_workers.id) holds reserved."""
        rows = self._fetch(_Q["running_by_owner"], {})
        return {row["reserved_by"]: int(row["running"]) for row in rows}

    def get_job(self, job_id: str) -> Job | FinishedJob | None:
        """The job with this id, wherever it is."""

        def find(conn: Conn) -> Job | FinishedJob | None:
            params = {"id": job_id}
            return find_job(lambda query: dict_rows(conn, _Q[query], params), from_postgres_time)

        return self._run(find, transaction=False)

    def cancel(self, job_id: str, *, now: datetime | None = None) -> CancelResult:
        """Cancel a waiting job (to jobs_failed at once) or ask the process running it to stop."""
        check_text(job_id, "job id")
        params = {"id": job_id, "now": now_or_system(now), "exception": CANCELLED}

        return self._run(Cancel(params), transaction=False)

    def cancel_requests(self, owner: str) -> list[str]:
        """Ids of jobs reserved by `owner` whose cancel was requested."""
        params = {"owner": owner}
        # Asked every second while jobs run: pinned, like the other hot statements.
        rows = self._run(
            lambda conn: pinned_rows(conn, _Q["cancel_requests"], params), transaction=False
        )
        return [row["id"] for row in rows]

    def retry_failed_job(self, job_id: str, *, now: datetime) -> Job:
        """Move a failed job back to `jobs` as a plain job (attempts 0, available now)."""
        params = {"id": job_id, "now": require_aware(now, "now")}
        attempts = 0

        def move(conn: Conn) -> Job:
            nonlocal attempts
            attempts += 1
            rows = dict_rows(conn, _Q["retry_failed_job"], params)
            if not rows and attempts > 1:
                # The first run's COMMIT may have happened: the job is back in jobs.
                rows = dict_rows(conn, _Q["get_waiting"], {"id": job_id})
            if not rows:
                raise JobNotFound(f"no failed job with id {job_id}")
            return job_from_row(rows[0], from_postgres_time)

        return self._run(move, transaction=False)

    def delete_job(self, job_id: str) -> JobState:
        """Delete a job from whichever table holds it; returns the table. JobNotFound if none."""
        found: list[JobState] = []

        def delete(conn: Conn) -> JobState:
            for state, query in DELETE_QUERIES:
                if conn.execute(_Q[query], {"id": job_id}).rowcount:
                    found.append(state)
                    return state
            if found:  # deleted by a first run whose COMMIT answer was lost
                return found[0]
            raise JobNotFound(f"no job with id {job_id}")

        return self._run(delete, transaction=False)

    def count_jobs(self, *, now: datetime) -> Counts:
        """Counts by state and job name; by_name also has "due" (waiting and due at `now`)."""
        params = {"now": require_aware(now, "now")}

        def count(conn: Conn) -> Counts:
            # One snapshot for the three tables, so a job moving between them
            # is counted once.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            waiting = dict_rows(conn, _Q["count_waiting_by_name"], params)
            succeeded = dict_rows(conn, _Q["count_succeeded_by_name"], {})
            failed = dict_rows(conn, _Q["count_failed_by_name"], {})
            return counts_from_rows(waiting, succeeded, failed)

        return self._run(count, transaction=True)

    def count_waiting_groups(self) -> list[WaitingGroup]:
        """Unreserved jobs counted by job name and target queue (due or not)."""
        rows = self._fetch(_Q["count_waiting_groups"], {})
        return [WaitingGroup(row["name"], row["queue"], row["n"]) for row in rows]

    def listen(self, callback: NotifyCallback) -> Subscription | None:
        """Deliver enqueue notifications to `callback` on a daemon thread.

        Returns once LISTEN is in place (or after 5 s if the server is
        unreachable). The callback gets the job names announced, or None after
        a reconnect, when notifications may have been missed.
        """
        if not callable(callback):
            raise TypeError("listen needs a callable")
        self._pool()  # refuses a closed adapter; parks connections after a fork
        if self.listen_url is None:
            return None  # behind a pooler without a direct URL: queues poll
        listener = Listener(self.listen_url, self._connect_options, callback, self._where)
        self._listeners.append(listener)
        # Returning once LISTEN is in place means no enqueue after this call
        # goes unannounced. If the server is down, the thread keeps trying and
        # calls back with None once it is connected.
        listener.start(wait=5.0)
        return listener


def _check_schema_selected(conn: Conn) -> None:
    """A search_path naming only schemas that do not exist: say so before CREATE TABLE does.

    PostgreSQL would answer "no schema has been selected to create in", which
    does not say that the schema has to be created first.
    """
    (row,) = dict_rows(conn, _Q["current_schema"], {})
    if row["current_schema"] is None:
        raise SchemaError(
            f"no schema of the search_path {row['search_path']!r} exists, so there is nowhere "
            "to create the bgjobs tables: create the schema first (for example "
            "`CREATE SCHEMA bgjobs` in psql, for ?options=-csearch_path%3Dbgjobs) "
            "or leave the search_path out of the URL"
        )


class _MigrationSession:
    """The migration runner's view of a connection holding the migration lock."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def table_columns(self, tables: Collection[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for table, column in self._conn.execute(_Q["table_columns"], {"tables": list(tables)}):
            columns = found.setdefault(table, set())
            if column is not None:
                columns.add(column)
        return found

    def applied_versions(self) -> list[int]:
        return [int(row[0]) for row in self._conn.execute(_Q["applied_versions"]).fetchall()]

    def execute(self, statement: str) -> None:
        # DDL from the package's own migration files; nothing here comes from input.
        self._conn.execute(statement)

    def record_version(self, version: int) -> None:
        self._conn.execute(_Q["record_version"], {"version": version})
