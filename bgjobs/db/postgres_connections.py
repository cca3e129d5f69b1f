"""PostgreSQL connections: configuration, the pool, retries over lost connections, errors.

- psycopg 3 with a psycopg_pool connection pool, opened on first use, its
  connections in autocommit mode.
- A dropped connection (server restart, failover, network) is replaced and the
  work run again, within `reconnect_timeout`; the work must be safe to run twice.
- A refusal that waiting cannot fix (bad password, unknown database or host, a
  bad option such as sslmode) fails at once with ConfigurationError; only a
  refused, reset or timed-out connection, or a server shutting down, is retried.
- An outage is logged once when it starts and once when it ends, however many
  threads wait it out (psycopg.pool's own repeated warnings are held back).
- After os.fork() the child leaves the parent's pool and listeners alone and
  opens its own.
- psycopg errors become bgjobs' DatabaseError (SchemaError for missing tables).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from bgjobs.db.postgres_notify import Listener
from bgjobs.errors import ConfigurationError, DatabaseError, SchemaError

log = logging.getLogger("bgjobs")

T = TypeVar("T")
Row = dict[str, Any]
Conn = psycopg.Connection[Any]

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


# Connect-time answers that waiting cannot fix although they carry no FATAL:
# libpq refusing an option value before connecting, a host name that does not
# resolve, a password the client does not have, SSL demanded but not offered.
_CONFIGURATION_ERRORS: Final = (
    "connection is bad: invalid",
    "failed to resolve host",
    "could not translate host name",
    "fe_sendauth",
    "no password supplied",
    "server does not support SSL",
    "SSL was required",
)

_SSLMODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _check_options(params: Mapping[str, Any]) -> None:
    """Refuse option values libpq would refuse, before anything connects."""
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        raise ConfigurationError(
            f"bad PostgreSQL sslmode {sslmode!r}: use one of {', '.join(_SSLMODES)}"
        )
    timeout = params.get("connect_timeout")
    if timeout is not None:
        try:
            int(str(timeout).strip())
        except ValueError:
            raise ConfigurationError(
                f"bad PostgreSQL connect_timeout {timeout!r}: use whole seconds, e.g. 10"
            ) from None


class _OncePerOutage(logging.Filter):
    """Lets psycopg.pool's first warning of an outage through and holds back the repeats.

    While the server is down the pool warns on every reconnect attempt; bgjobs
    says once that it is down and once that it is back (see `_run`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.quiet = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if self.quiet:
            return False
        self.quiet = True
        return True


_POOL_WARNINGS: Final = _OncePerOutage()
logging.getLogger("psycopg.pool").addFilter(_POOL_WARNINGS)


def _is_conflict(error: BaseException | str) -> bool:
    """A serialization failure or deadlock: no outage, just a transaction to run again."""
    return getattr(error, "sqlstate", None) in ("40001", "40P01")


def _is_transient(exc: BaseException) -> bool:
    """A lost or refused connection, or a conflict that a fresh attempt resolves."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state in _RETRY_SQLSTATES or state.startswith("08")


class PostgresConnections:
    """The connection side of PostgresAdapter: settings, pool, retries, error translation."""

    def __init__(
        self,
        conninfo: str,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        reconnect_timeout: float = 60.0,
        listen_url: str | None = None,
        pooled: bool = False,
    ) -> None:
        if not isinstance(conninfo, str) or not conninfo.strip():
            raise ConfigurationError(
                f"PostgreSQL conninfo must be a non-empty string (got {conninfo!r})"
            )
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise ConfigurationError(f"bad PostgreSQL conninfo: {exc}") from exc
        _check_options(params)
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
        if listen_url is not None and (not isinstance(listen_url, str) or not listen_url.strip()):
            raise ConfigurationError(
                f"listen_url must be a non-empty PostgreSQL URL or None (got {listen_url!r})"
            )
        if not isinstance(pooled, bool):
            raise ConfigurationError(f"pooled must be True or False (got {pooled!r})")
        self.conninfo = conninfo
        #: Where LISTEN connects: LISTEN needs a session of its own, which a
        #: transaction-pooling PgBouncer does not give; None with `pooled`: poll.
        self.listen_url = listen_url if listen_url is not None else (None if pooled else conninfo)
        self.pooled = pooled
        self.supports_notify = self.listen_url is not None
        self._connect_options = {k: v for k, v in _KEEPALIVES.items() if k not in params}
        self._where = "PostgreSQL at {}:{}/{}".format(
            params.get("host", "localhost"), params.get("port", 5432), params.get("dbname", "")
        )
        self._min = min_connections
        self._max = max_connections
        self._reconnect_timeout = float(reconnect_timeout)
        self._reset_connections()

    def _reset_connections(self) -> None:
        self._pid = os.getpid()
        self._pool_lock = threading.Lock()
        self._pool_obj: ConnectionPool[Conn] | None = None
        self._listeners: list[Listener] = []
        self._closed = False
        self._beat_lock = threading.Lock()
        self._beat_conn: Conn | None = None
        self._outage_lock = threading.Lock()
        self._down_since: float | None = None  # monotonic start of the outage being waited out

    def _pool(self) -> ConnectionPool[Conn]:
        if self._pid != os.getpid():
            _ABANDONED_AFTER_FORK.append((self._pool_obj, self._listeners, self._beat_conn))
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
                        # prepare_threshold=None: no prepared statement outlives its
                        # transaction, so a transaction-pooling PgBouncer can hand
                        # each transaction to any server connection.
                        kwargs={
                            "autocommit": True,
                            "prepare_threshold": None,
                            **self._connect_options,
                        },
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
                        result = work(conn)
                    else:
                        with conn.transaction():
                            result = work(conn)
                if self._down_since is not None:
                    self._note_back()
                return result
            except PoolTimeout as exc:  # (a psycopg.OperationalError too)
                # The pool does not say why it has no connection: ask the server,
                # and report its answer ("connection refused"), not the pool's.
                cause = self._raise_if_misconfigured()
                error: BaseException | str = cause or exc
            except psycopg.Error as exc:
                if not _is_transient(exc):
                    raise self._translate(exc) from exc
                error = exc
            now = time.monotonic()
            if deadline is None:
                deadline = now + self._reconnect_timeout
                if _is_conflict(error):
                    log.debug("%s: %s; running the transaction again", self._where, error)
                else:
                    self._note_down(error)
            if now >= deadline:
                raise DatabaseError(
                    f"{self._where} stayed unreachable for {self._reconnect_timeout:.0f} s: "
                    f"{_one_line(error)}"
                ) from (error if isinstance(error, BaseException) else None)
            failures += 1
            if failures == 1:
                # Drop the other idle connections the same outage broke.
                with contextlib.suppress(psycopg.Error, PoolTimeout):
                    pool.check()
            else:
                time.sleep(min(0.05 * 2 ** (failures - 2), 1.0) * random.uniform(0.5, 1.0))

    def _change_on_own_connection(self, query: str, params: Mapping[str, Any]) -> int:
        """Run one changing statement on a connection of its own, outside the pool; one try.

        For the heartbeat: it must not queue behind job traffic for a pooled
        connection, nor behind the pool's growing reconnect backoff after an
        outage. It connects directly and fails fast with DatabaseError; the
        monitor retries it, and counts the failure as an outage.
        """
        self._pool()  # refuses a closed adapter; resets connections after a fork
        with self._beat_lock:
            conn = self._beat_conn
            try:
                if conn is None or conn.closed:
                    conn = self._beat_conn = psycopg.connect(
                        self.conninfo, autocommit=True, **self._beat_options()
                    )
                return conn.execute(query, params).rowcount
            except psycopg.Error as exc:
                self._beat_conn = None
                if conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
                if not _is_transient(exc):
                    raise self._translate(exc) from exc
                raise DatabaseError(f"{self._where}: {_one_line(exc)}") from exc

    def _beat_options(self) -> dict[str, Any]:
        options: dict[str, Any] = dict(self._connect_options)
        if "connect_timeout" not in conninfo_to_dict(self.conninfo):
            options["connect_timeout"] = 5
        return options

    def _fetch(self, query: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of one statement (autocommit)."""
        return self._run(lambda conn: dict_rows(conn, query, params), transaction=False)

    def _change(self, query: str, params: Mapping[str, Any]) -> int:
        """Run one changing statement (atomic on its own); returns the rows it changed."""
        return self._run(lambda conn: conn.execute(query, params).rowcount, transaction=False)

    def _note_down(self, error: BaseException | str) -> None:
        """Say once per outage, whichever thread meets it first, that the server is away."""
        with self._outage_lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.warning("%s: %s; retrying until it is back", self._where, _one_line(error))

    def _note_back(self) -> None:
        with self._outage_lock:
            down_since, self._down_since = self._down_since, None
        if down_since is not None:
            _POOL_WARNINGS.quiet = False
            log.warning(
                "%s is reachable again after %.1f s", self._where, time.monotonic() - down_since
            )

    def _raise_if_misconfigured(self) -> str | None:
        """Fail at once with ConfigurationError when waiting would not fix the refusal.

        Returns why the server could not be reached when waiting might help
        (refused, timed out, shutting down), or None if it could be.
        """
        try:
            with psycopg.connect(self.conninfo, connect_timeout=self._probe_timeout()):
                return None
        except psycopg.ProgrammingError as exc:  # a conninfo value psycopg itself refuses
            raise ConfigurationError(f"cannot connect to {self._where}: {exc}") from None
        except psycopg.OperationalError as exc:
            message = _one_line(exc)
            fatal = "FATAL" in message and not any(text in message for text in _TRANSIENT_FATALS)
            if fatal or any(text in message for text in _CONFIGURATION_ERRORS):
                raise ConfigurationError(f"cannot connect to {self._where}: {message}") from None
            return message

    def _probe_timeout(self) -> int:
        """The conninfo's connect_timeout if it is shorter, else 5 s: a probe answers quickly."""
        given = conninfo_to_dict(self.conninfo).get("connect_timeout")
        try:
            seconds = int(str(given)) if given is not None else 5
        except ValueError:
            return 5
        return seconds if 0 < seconds < 5 else 5

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
        with self._beat_lock:
            if self._beat_conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._beat_conn.close()
                self._beat_conn = None
        with self._pool_lock:
            if self._pool_obj is not None:
                self._pool_obj.close()
                self._pool_obj = None
            self._closed = True


def _one_line(error: BaseException | str) -> str:
    """An error's text with libpq's line breaks and hint lines folded into one line."""
    return " ".join(str(error).split())


#: Planner settings for the hot statements, undone when their transaction ends.
#: A table bulk-filled a moment ago has no statistics (pg_class.reltuples = -1),
#: and the planner's defaults then say "IS NULL keeps 0.5% of rows": a claim of
#: 10 expects 1 due job and sorts them all (21-80 ms at 20,000-50,000 due jobs),
#: a batch of 500 outcomes hash-joins a sequential scan of jobs. Ruling sorts,
#: sequential and bitmap scans out leaves each statement its one index plan,
#: whatever the statistics say; jit stays off because the disabled plans' huge
#: costs would otherwise make the planner compile the statement.
PIN_PLANS: Final = (
    "SELECT set_config('enable_seqscan', 'off', true),"
    " set_config('enable_bitmapscan', 'off', true),"
    " set_config('enable_sort', 'off', true),"
    " set_config('jit', 'off', true);\n"
)

#: PIN_PLANS for a claim, whose commit does not wait for the disk. A claim is
#: the one change that may be forgotten: after a server crash the job is simply
#: unreserved again (and runs again: at least once, as after any crash). Every
#: later commit that waits for the disk (an outcome, an enqueue) flushes the
#: WAL up to itself, so no outcome can outlive the claim it depends on. On a
#: durable server this turns one disk flush per claim into none.
PIN_PLANS_NO_FLUSH: Final = PIN_PLANS.replace(
    ";\n", ", set_config('synchronous_commit', 'off', true);\n"
)


def pinned_rows(
    conn: Conn, query: str, params: Mapping[str, Any], *, settings: str = PIN_PLANS
) -> list[Row]:
    """The rows of one statement run with PIN_PLANS, in one round trip.

    Both go in one simple-protocol message with the values bound client-side:
    the server runs them as one implicit transaction (the statement commits
    on its own, as in autocommit), the settings end with it, and no prepared
    statement outlives it (safe behind a transaction-pooling PgBouncer).
    Inside an explicit transaction the settings last until its end.
    """
    with psycopg.ClientCursor(conn, row_factory=dict_row) as cursor:
        cursor.execute(settings + query, params)
        cursor.nextset()
        return cursor.fetchall()


def dict_rows(conn: Conn, query: str, params: Mapping[str, Any]) -> list[Row]:
    """The rows of one statement as dicts by column name."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()
