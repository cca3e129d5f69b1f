"""The PostgreSQL adapter: any number of processes on any number of hosts share one database.

How it keeps SPEC 3.2's promises:
- psycopg 3 with a psycopg_pool connection pool, opened on first use.
- The claim is one statement: a CTE picks rows FOR UPDATE SKIP LOCKED in claim
  order, then UPDATE ... RETURNING reserves them, so concurrent claimers
  never wait for or take each other's rows.
- A batch of outcomes is a few statements (one per kind) in one transaction.
- A dropped connection (server restart, failover, network) is replaced and the
  transaction run again. Every transaction is written to be safe to run
  twice: ids are made by the client, inserts skip ids that exist, outcomes
  already applied count as done, and a claim whose COMMIT was lost checks
  which of the rows it read are really its own.
- Enqueue sends one NOTIFY per transaction naming the job names due now;
  `listen()` keeps one autocommit connection outside the pool on a daemon
  thread, LISTENs again after every reconnect and then calls back with None
  ("look at everything") because notifications may have been missed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from bgjobs.db.adapter import (
    Counts,
    Failed,
    FinishedJob,
    JobState,
    NotifyCallback,
    Outcome,
    Released,
    RetryLater,
    ScheduledNext,
    Subscription,
    Succeeded,
    WorkerRow,
)
from bgjobs.db.base import (
    BaseAdapter,
    check_batch_size,
    check_claim,
    check_limit,
    check_text,
    names_param,
    now_or_system,
)
from bgjobs.db.migrations import run_migrations
from bgjobs.db.queries import load_queries
from bgjobs.db.records import (
    DELETE_QUERIES,
    NewJob,
    check_outcomes,
    clip_text,
    counts_from_rows,
    finished_job_from_row,
    in_claim_order,
    job_from_row,
    notify_names,
    prepare_jobs,
)
from bgjobs.db.times import from_postgres_time, require_aware
from bgjobs.errors import ConfigurationError, DatabaseError, JobNotFound, SchemaError
from bgjobs.ids import new_job_id
from bgjobs.jobs import Job, JobRequest

log = logging.getLogger("bgjobs")

T = TypeVar("T")
Row = dict[str, Any]
Conn = psycopg.Connection[Any]

_Q = load_queries("postgres")

#: The LISTEN/NOTIFY channel enqueues announce due jobs on.
CHANNEL: Final = "bgjobs"
#: pg_advisory_xact_lock key serialising migrations ("bgjobs" in ASCII).
MIGRATION_LOCK_KEY: Final = 0x62676A6F6273
#: Batches at least this big (and without unique keys) are inserted with COPY.
_COPY_AT_LEAST: Final = 64
#: NOTIFY payloads must stay under 8000 bytes; longer lists become "look at everything".
_MAX_NOTIFY_PAYLOAD: Final = 7000

# SQLSTATEs worth running a transaction again for: serialization failure,
# deadlock, and the server shutting down or starting up.
_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})

# TCP keepalives, unless the conninfo sets its own: a connection cut without a
# word (a dead host, a dropped NAT entry) is noticed in about a minute, not hours.
_KEEPALIVES: Final = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

# Pools and connections made before os.fork() must not be closed in the child:
# libpq would tell the server to end the parent's sessions.
_ABANDONED_AFTER_FORK: list[object] = []


# FATAL answers at connect time that waiting can fix; any other FATAL
# (bad password, unknown database or role, bad option) is a configuration error.
_TRANSIENT_FATALS: Final = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "too many clients",
    "remaining connection slots are reserved",
    "terminating connection",
)


def _is_transient(exc: BaseException) -> bool:
    """A lost or refused connection, or a conflict that a fresh attempt resolves."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state in _RETRY_SQLSTATES or state.startswith("08")


class PostgresAdapter(BaseAdapter):
    """Jobs in PostgreSQL (psycopg 3). The pool opens on first use.

    `conninfo` is a URL (postgresql://user@host/db) or a libpq key=value
    string. bgjobs' tables live in the connection's current schema (set
    `options=-csearch_path=...` to keep them apart from yours).
    """

    supports_notify = True

    def __init__(
        self,
        conninfo: str,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        reconnect_timeout: float = 60.0,
    ) -> None:
        if not isinstance(conninfo, str) or not conninfo.strip():
            raise ConfigurationError(
                f"PostgreSQL conninfo must be a non-empty string (got {conninfo!r})"
            )
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise ConfigurationError(f"bad PostgreSQL conninfo: {exc}") from exc
        for name, value in (
            ("min_connections", min_connections),
            ("max_connections", max_connections),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive int (got {value!r})")
        if max_connections < min_connections:
            raise ConfigurationError(
                f"max_connections ({max_connections}) must be at least "
                f"min_connections ({min_connections})"
            )
        if not reconnect_timeout > 0:
            raise ConfigurationError(
                f"reconnect_timeout must be positive seconds (got {reconnect_timeout!r})"
            )
        self.conninfo = conninfo
        self._connect_options = {k: v for k, v in _KEEPALIVES.items() if k not in params}
        self._where = "PostgreSQL at {}:{}/{}".format(
            params.get("host", "localhost"), params.get("port", 5432), params.get("dbname", "")
        )
        self._min = min_connections
        self._max = max_connections
        self._reconnect_timeout = float(reconnect_timeout)
        self._reset_connections()

    def __repr__(self) -> str:
        return f"PostgresAdapter({self._where})"

    # -- connections ------------------------------------------------------------

    def _reset_connections(self) -> None:
        self._pid = os.getpid()
        self._pool_lock = threading.Lock()
        self._pool_obj: ConnectionPool[Conn] | None = None
        self._listeners: list[_Listener] = []
        self._closed = False

    def _pool(self) -> ConnectionPool[Conn]:
        if self._pid != os.getpid():
            _ABANDONED_AFTER_FORK.append((self._pool_obj, self._listeners))
            self._reset_connections()
        if self._closed:
            raise DatabaseError(f"{self!r} is closed")
        pool = self._pool_obj
        if pool is None:
            with self._pool_lock:
                pool = self._pool_obj
                if pool is None:
                    # A wrong password or database name should fail now, not
                    # after the pool has retried for reconnect_timeout.
                    self._raise_if_misconfigured()
                    pool = ConnectionPool(
                        self.conninfo,
                        min_size=self._min,
                        max_size=self._max,
                        open=False,
                        name="bgjobs",
                        timeout=min(self._reconnect_timeout, 10.0),
                        kwargs={"autocommit": True, **self._connect_options},
                    )
                    # wait=False: a server that is down at start-up is waited
                    # for by the first statement, within reconnect_timeout.
                    pool.open(wait=False)
                    self._pool_obj = pool
        return pool

    def _run(self, work: Callable[[Conn], T], *, transaction: bool) -> T:
        """Run `work`; on a lost connection, run it again on a new one.

        Pool connections are in autocommit mode, so a single statement (atomic
        on its own) costs one round trip. `transaction=True` wraps `work` in
        BEGIN ... COMMIT: for several statements that must commit together,
        and for claims, whose RETURNING rows must be read before COMMIT.

        `work` must be safe to run twice: the COMMIT of the first run may have
        happened even though its answer never arrived.
        """
        deadline: float | None = None
        failures = 0
        while True:
            pool = self._pool()
            try:
                with pool.connection() as conn:
                    if not transaction:
                        return work(conn)
                    with conn.transaction():
                        return work(conn)
            except PoolTimeout as exc:  # (a psycopg.OperationalError too)
                # The pool does not say why it has no connection: ask the server.
                self._raise_if_misconfigured()
                error: BaseException = exc
            except psycopg.Error as exc:
                if not _is_transient(exc):
                    raise self._translate(exc) from exc
                error = exc
            now = time.monotonic()
            if deadline is None:
                deadline = now + self._reconnect_timeout
                log.warning("bgjobs: %s: %s; retrying", self._where, error)
            if now >= deadline:
                raise DatabaseError(
                    f"{self._where} stayed unreachable for {self._reconnect_timeout:.0f} s: {error}"
                ) from error
            failures += 1
            if failures == 1:
                # Drop the other idle connections the same outage broke.
                with contextlib.suppress(psycopg.Error, PoolTimeout):
                    pool.check()
            else:
                time.sleep(min(0.05 * 2 ** (failures - 2), 1.0) * random.uniform(0.5, 1.0))

    def _fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of one statement (autocommit)."""
        return self._run(lambda conn: _rows(conn, query, params), transaction=False)

    def _change(self, query: str, params: Mapping[str, Any]) -> int:
        """Run one changing statement (atomic on its own); returns the rows it changed."""
        return self._run(lambda conn: conn.execute(query, params).rowcount, transaction=False)

    def _raise_if_misconfigured(self) -> None:
        """Fail at once, with the server's reason, when waiting would not fix the refusal."""
        try:
            with psycopg.connect(self.conninfo, connect_timeout=5):
                return
        except psycopg.OperationalError as exc:
            message = str(exc)
            if "FATAL" in message and not any(text in message for text in _TRANSIENT_FATALS):
                raise DatabaseError(f"cannot connect to {self._where}: {message}") from exc

    def _translate(self, exc: psycopg.Error) -> DatabaseError:
        if isinstance(exc, psycopg.errors.UndefinedTable):
            return SchemaError(
                f"the bgjobs tables are missing from {self._where} ({exc}): "
                "run migrate() or `bgjobs migrate` first"
            )
        return DatabaseError(f"{self._where}: {type(exc).__name__}: {exc}".strip())

    def close(self) -> None:
        """Stop listeners and close the pool."""
        if self._pid != os.getpid():
            self._pool()  # parks the parent's pool without closing it
            self._closed = True
            return
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        with self._pool_lock:
            if self._pool_obj is not None:
                self._pool_obj.close()
                self._pool_obj = None
            self._closed = True

    # -- schema -------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema in one transaction under pg_advisory_xact_lock."""

        def work(conn: Conn) -> int:
            conn.execute(_Q["lock_migrations"], {"key": MIGRATION_LOCK_KEY})
            return run_migrations(_MigrationSession(conn), "postgres")

        return self._run(work, transaction=True)

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
                return _insert_jobs(connection, new_jobs, stamp, names, again=False, use_copy=False)
            except psycopg.Error as exc:
                raise self._translate(exc) from exc
        attempts = 0
        use_copy = _copy_suits(new_jobs)

        def work(conn: Conn) -> list[Job]:
            nonlocal attempts
            attempts += 1
            again = attempts > 1
            return _insert_jobs(conn, new_jobs, stamp, names, again=again, use_copy=use_copy)

        # One INSERT (with its NOTIFY) is a single statement; COPY and its
        # NOTIFY are two, committed together.
        return self._run(work, transaction=use_copy)

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
        rows = self._run(_Claim(_Q["claim_jobs"], params), transaction=True)
        return in_claim_order(job_from_row(row, from_postgres_time, claimed=True) for row in rows)

    def reserve_scheduled_job(self, key: str, *, owner: str, now: datetime) -> Job | None:
        """Claim the row of scheduled job `key` if it is due and unreserved."""
        check_text(key, "scheduled job key")
        check_text(owner, "owner")
        params = {"key": key, "owner": owner, "now": require_aware(now, "now")}
        rows = self._run(_Claim(_Q["claim_scheduled_job"], params), transaction=True)
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
            lambda conn: _apply_outcomes(conn, outcomes, stamp),
            transaction=len(kinds) > 1 or chained,
        )

    def next_available_at(self, names: Collection[str], *, queue: str) -> datetime | None:
        """The earliest available_at of unreserved jobs this queue could claim."""
        params = {"names": names_param(names), "queue": queue}
        rows = self._fetch(_Q["next_available_at"], params)
        return from_postgres_time(rows[0]["available_at"]) if rows else None

    # -- processes and rescue --------------------------------------------------------

    def register_worker(self, worker_id: str, *, hostname: str, pid: int, now: datetime) -> None:
        """Insert this process's jobs_workers row (refresh it if it exists)."""
        params = {
            "id": worker_id,
            "hostname": hostname,
            "pid": pid,
            "now": require_aware(now, "now"),
        }
        self._change(_Q["register_worker"], params)

    def heartbeat_worker(self, worker_id: str, *, now: datetime) -> bool:
        """Refresh the heartbeat; False if the row is gone."""
        params = {"id": worker_id, "now": require_aware(now, "now")}
        return self._change(_Q["heartbeat_worker"], params) > 0

    def remove_worker(self, worker_id: str) -> None:
        """Delete the row at a graceful stop."""
        self._change(_Q["remove_worker"], {"id": worker_id})

    def list_workers(self) -> list[WorkerRow]:
        """Every row of jobs_workers, oldest first."""
        rows = self._fetch(_Q["list_workers"], {})
        return [
            WorkerRow(
                id=row["id"],
                hostname=row["hostname"],
                pid=row["pid"],
                started_at=from_postgres_time(row["started_at"]),
                heartbeat_at=from_postgres_time(row["heartbeat_at"]),
            )
            for row in rows
        ]

    def rescue_jobs(self, *, now: datetime, lease_seconds: float) -> list[Job]:
        """Unreserve jobs of dead owners (attempts kept, available now); drop dead owners' rows."""
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive (got {lease_seconds})")
        stamp = require_aware(now, "now")
        params = {"now": stamp, "cutoff": stamp - timedelta(seconds=lease_seconds)}

        def rescue(conn: Conn) -> list[Row]:
            rows = _rows(conn, _Q["rescue_jobs"], params)
            conn.execute(_Q["delete_dead_workers"], params)
            return rows

        return [
            job_from_row(row, from_postgres_time) for row in self._run(rescue, transaction=True)
        ]

    # -- scheduled jobs -------------------------------------------------------------------

    def insert_scheduled_job(
        self, key: str, *, schedule_text: str, available_at: datetime, now: datetime
    ) -> bool:
        """Insert the row for `key` unless one exists; True if inserted."""
        check_text(key, "scheduled job key")
        job_id = new_job_id()
        params = {
            "ids": [job_id],
            "keys": [key],
            "schedules": [schedule_text],
            "available_ats": [require_aware(available_at, "available_at")],
            "now": require_aware(now, "now"),
        }

        def insert(conn: Conn) -> bool:
            if conn.execute(_Q["insert_scheduled_jobs"], params).fetchall():
                return True
            # A second run after a lost COMMIT finds the row it inserted itself.
            return bool(_rows(conn, _Q["get_waiting"], {"id": job_id}))

        return self._run(insert, transaction=False)

    def get_scheduled_job(self, key: str) -> tuple[Job, str] | None:
        """The row of `key` and its stored schedule text, if any."""
        rows = self._fetch(_Q["get_scheduled_job"], {"key": key})
        if not rows:
            return None
        return job_from_row(rows[0], from_postgres_time), rows[0]["schedule"]

    def replace_scheduled_job(
        self, key: str, *, schedule_text: str, available_at: datetime
    ) -> bool:
        """Update the unreserved row's schedule text and available_at; False if reserved/absent."""
        params = {
            "key": key,
            "schedule": schedule_text,
            "available_at": require_aware(available_at, "available_at"),
        }
        changed = self._change(_Q["replace_scheduled_job"], params)
        return changed > 0

    # -- housekeeping and reads ------------------------------------------------------------

    def prune_finished(
        self, state: Literal["succeeded", "failed"], *, older_than: datetime, batch_size: int = 500
    ) -> int:
        """Delete up to `batch_size` finished rows older than `older_than`; returns how many."""
        check_batch_size(batch_size)
        query = {"succeeded": _Q["prune_succeeded"], "failed": _Q["prune_failed"]}.get(state)
        if query is None:
            raise ValueError(f"state must be 'succeeded' or 'failed' (got {state!r})")
        params = {"older_than": require_aware(older_than, "older_than"), "batch_size": batch_size}
        return self._change(query, params)

    def list_jobs(self, state: JobState, *, limit: int = 100) -> list[Job] | list[FinishedJob]:
        """Rows of one table: claim order for `jobs`, newest first for finished ones."""
        check_limit(limit)
        if state == "jobs":
            rows = self._fetch(_Q["list_waiting"], {"limit": limit})
            return [job_from_row(row, from_postgres_time) for row in rows]
        if state in ("succeeded", "failed"):
            query = _Q[f"list_{state}"]
            rows = self._fetch(query, {"limit": limit})
            return [finished_job_from_row(row, state, from_postgres_time) for row in rows]
        raise ValueError(f"state must be 'jobs', 'succeeded' or 'failed' (got {state!r})")

    def get_job(self, job_id: str) -> Job | FinishedJob | None:
        """The job with this id, wherever it is."""

        def find(conn: Conn) -> Job | FinishedJob | None:
            params = {"id": job_id}
            rows = _rows(conn, _Q["get_waiting"], params)
            if rows:
                return job_from_row(rows[0], from_postgres_time)
            for state in ("succeeded", "failed"):
                rows = _rows(conn, _Q[f"get_{state}"], params)
                if rows:
                    return finished_job_from_row(rows[0], state, from_postgres_time)
            return None

        return self._run(find, transaction=False)

    def retry_failed_job(self, job_id: str, *, now: datetime) -> Job:
        """Move a failed job back to `jobs` as a plain job (attempts 0, available now)."""
        params = {"id": job_id, "now": require_aware(now, "now")}
        attempts = 0

        def move(conn: Conn) -> Job:
            nonlocal attempts
            attempts += 1
            rows = _rows(conn, _Q["retry_failed_job"], params)
            if not rows and attempts > 1:
                # The first run's COMMIT may have happened: the job is back in jobs.
                rows = _rows(conn, _Q["get_waiting"], {"id": job_id})
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
            waiting = _rows(conn, _Q["count_waiting_by_name"], params)
            succeeded = _rows(conn, _Q["count_succeeded_by_name"], {})
            failed = _rows(conn, _Q["count_failed_by_name"], {})
            return counts_from_rows(waiting, succeeded, failed)

        return self._run(count, transaction=True)

    def listen(self, callback: NotifyCallback) -> Subscription | None:
        """Deliver enqueue notifications to `callback` on a daemon thread.

        Returns once LISTEN is in place (or after 5 s if the server is
        unreachable). The callback gets the job names announced, or None after
        a reconnect, when notifications may have been missed.
        """
        if not callable(callback):
            raise TypeError("listen needs a callable")
        self._pool()  # refuses a closed adapter; parks connections after a fork
        listener = _Listener(self.conninfo, self._connect_options, callback, self._where)
        self._listeners.append(listener)
        # Returning once LISTEN is in place means no enqueue after this call
        # goes unannounced. If the server is down, the thread keeps trying and
        # calls back with None once it is connected.
        listener.start(wait=5.0)
        return listener


# -- statements -----------------------------------------------------------------------------


def _rows(conn: Conn, query: str, params: Mapping[str, Any]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


class _Claim:
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
            ours = _rows(
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
        self._read = _rows(conn, self._query, self._params)
        return self._read


def _insert_jobs(
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
                    )
                )
        if notify:
            conn.execute(_Q["notify"], {"channel": CHANNEL, "payload": _notify_payload(notify)})
        return [job.to_job() for job in new_jobs]
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
        }
        for job in new_jobs
    ]
    params = {
        "rows": json.dumps(rows, ensure_ascii=False),
        "now": now,
        "channel": CHANNEL,
        "payload": _notify_payload(notify),
        "notify": bool(notify),
    }
    query = _Q["insert_jobs_again" if again else "insert_jobs"]
    inserted = {row[0] for row in conn.execute(query, params).fetchall()} - {None}
    if len(inserted) == len(new_jobs):
        return [job.to_job() for job in new_jobs]
    return _resolve_skipped(conn, new_jobs, inserted, now, again=again, rounds=rounds)


def _copy_suits(new_jobs: Sequence[NewJob]) -> bool:
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
    rows = _rows(
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
            return _insert_jobs(
                conn, new_jobs, now, [], again=True, use_copy=False, rounds=rounds + 1
            )
        result.append(job_from_row(row, from_postgres_time))
    return result


def _notify_payload(names: Sequence[str]) -> str:
    payload = json.dumps(list(names), separators=(",", ":"))
    return payload if len(payload.encode("utf-8")) <= _MAX_NOTIFY_PAYLOAD else ""


def _apply_outcomes(conn: Conn, outcomes: Sequence[Outcome], now: datetime) -> list[bool]:
    """One statement per kind of outcome, then the next rows of finished scheduled jobs."""
    applied: dict[str, bool] = {}
    moved_now: set[str] = set()

    def run(query: str, params: dict[str, Any]) -> None:
        for job_id, done_now, done_before in conn.execute(query, params).fetchall():
            applied[job_id] = done_now or done_before
            if done_now:
                moved_now.add(job_id)

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
        run(_Q["succeed_jobs"], fence(succeeded))
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
        run(_Q["release_jobs"], fence(released))
    # The next row of a scheduled job goes in only with the move that freed its key.
    finishing: list[Succeeded | Failed] = [*succeeded, *failed]
    upcoming: list[ScheduledNext] = [
        o.next_scheduled
        for o in finishing
        if o.next_scheduled is not None and o.lease.job_id in moved_now
    ]
    if upcoming:
        conn.execute(
            _Q["insert_scheduled_jobs"],
            {
                "ids": [new_job_id() for _ in upcoming],
                "keys": [n.key for n in upcoming],
                "schedules": [n.schedule_text for n in upcoming],
                "available_ats": [require_aware(n.available_at, "available_at") for n in upcoming],
                "now": now,
            },
        ).fetchall()
    return [applied.get(o.lease.job_id, False) for o in outcomes]


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


# -- LISTEN ---------------------------------------------------------------------------------


class _Listener:
    """One autocommit connection outside the pool, LISTENing on a daemon thread."""

    def __init__(
        self, conninfo: str, options: Mapping[str, Any], callback: NotifyCallback, where: str
    ) -> None:
        self._conninfo = conninfo
        self._options = options
        self._callback = callback
        self._where = where
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bgjobs-listen", daemon=True)

    def start(self, wait: float) -> None:
        """Start the thread; wait up to `wait` seconds for LISTEN to be in place."""
        self._thread.start()
        self._listening.wait(wait)

    def close(self) -> None:
        """Stop listening; returns within about a second."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=10, **self._options
                ) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self._listening.set()
                    if failures:
                        # Notifications sent while we were away are lost: poll once.
                        self._deliver(None)
                    failures = 0
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self._deliver(_parse_names(notice.payload))
            except psycopg.Error as exc:
                failures += 1
                if failures == 1:
                    log.warning("bgjobs: LISTEN connection to %s lost: %s", self._where, exc)
                self._stop.wait(min(0.1 * 2 ** (failures - 1), 5.0))

    def _deliver(self, names: frozenset[str] | None) -> None:
        try:
            self._callback(names)
        except Exception:
            log.exception("bgjobs: a notify callback raised; listening goes on")


def _parse_names(payload: str) -> frozenset[str] | None:
    """The job names a NOTIFY payload announced, or None for "look at everything"."""
    try:
        names = json.loads(payload)
    except ValueError:
        return None
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return frozenset(names)
    return None
