"""SQLite connections: one writer behind a lock, pooled readers, retries of a locked file.

- bgjobs opens its own connections, `isolation_level=None` (no hidden
  transactions), each wrapped in sqlite_utils.Database.
- Every write is an explicit BEGIN IMMEDIATE ... COMMIT on the one writer
  connection, behind a lock shared by every writing thread.
- Reads use separate reader connections, which WAL lets run beside a writer.
- "database is locked" (another process holds the write lock longer than the
  busy timeout) is retried with backoff and never reaches the caller.
- After os.fork() the child leaves the parent's connections alone and opens its own.
- sqlite3 errors become bgjobs' DatabaseError (SchemaError for missing tables).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlite_utils import Database

from bgjobs.errors import ConfigurationError, DatabaseError, SchemaError

log = logging.getLogger("bgjobs")

T = TypeVar("T")

#: Longest wait SQLite itself does for a lock before bgjobs' own backoff takes over.
DEFAULT_BUSY_TIMEOUT = 5.0

# Connections made before os.fork() must never be used or closed in the child
# (closing could checkpoint and delete the parent's WAL); they are parked here.
_ABANDONED_AFTER_FORK: list[object] = []


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    message = str(exc).lower()
    return "database is locked" in message or "database is busy" in message


class _Backoff:
    """Sleeps between retries of a locked database: short at first, at most 0.1 s, forever."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._tries = 0
        self._started = time.monotonic()
        self._warned_at = self._started

    def wait(self) -> None:
        self._tries += 1
        now = time.monotonic()
        if now - self._warned_at >= 30:
            self._warned_at = now
            log.warning(
                "%s has been locked by another connection for %.0f s; still waiting",
                self._path,
                now - self._started,
            )
        delay = min(0.001 * 2 ** min(self._tries, 7), 0.1)
        time.sleep(delay * random.uniform(0.5, 1.0))


class SqliteConnections:
    """The connection side of SqliteAdapter: the file, its writer and readers, retries, errors."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> None:
        text = os.fspath(path)
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(f"SQLite path must be a non-empty file path (got {path!r})")
        if "\x00" in text:
            raise ConfigurationError(f"SQLite path must not contain a NUL character (got {text!r})")
        if text == ":memory:" or text.startswith("file:"):
            raise ConfigurationError(
                f"SQLite path must be a plain file path (got {text!r}): bgjobs opens several "
                "connections, and an in-memory database would be a different one on each"
            )
        if not busy_timeout > 0:
            raise ConfigurationError(f"busy_timeout must be positive seconds (got {busy_timeout})")
        if sqlite3.sqlite_version_info < (3, 35, 0):
            raise ConfigurationError(
                "bgjobs needs SQLite >= 3.35 for RETURNING "
                f"(this Python has {sqlite3.sqlite_version})"
            )
        self.path = text
        self._busy_timeout = float(busy_timeout)
        #: Queues whose last claim found work; their next claim skips the idle check.
        self._busy_queues: dict[str, bool] = {}
        self._reset_connections()

    def _reset_connections(self) -> None:
        self._pid = os.getpid()
        self._write_lock = threading.Lock()
        self._writer: Database | None = None
        self._beat_lock = threading.Lock()
        self._beat_writer: Database | None = None
        self._idle_readers: queue.SimpleQueue[Database] = queue.SimpleQueue()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._closed = False

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            # Forked: the parent's connections belong to the parent.
            _ABANDONED_AFTER_FORK.append((self._writer, self._idle_readers, self._opened))
            self._reset_connections()
        if self._closed:
            raise DatabaseError(f"{self!r} is closed")

    def _create_private_file(self) -> None:
        """Create a missing database file readable by its owner only (0600).

        Payloads may hold personal data. SQLite gives the -wal and -shm files
        the main file's mode, so they are private too. An existing file keeps
        its mode: whoever made it chose it.
        """
        if os.path.exists(self.path):
            return
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # another process made it a moment ago
        except OSError:
            pass  # e.g. a missing directory: sqlite3.connect says so below

    def _connect(self, *, reader: bool) -> Database:
        self._create_private_file()
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,  # the busy timeout, on every connection
                isolation_level=None,  # bgjobs says BEGIN and COMMIT itself
                check_same_thread=False,  # used by one thread at a time, under a lock
            )
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open SQLite database {self.path}: {exc}") from exc
        conn.text_factory = _lenient_text
        with self._opened_lock:
            self._opened.append(conn)
        try:
            # synchronous=NORMAL in WAL mode: a commit survives a crash of the
            # process, not a power loss (docs/storage.md says so).
            conn.execute("PRAGMA synchronous = NORMAL")
            if reader:
                conn.execute("PRAGMA query_only = 1")
            # The first read of the file: "file is not a database" shows up here.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"cannot use SQLite database {self.path}: {exc}") from exc
        return wrap(conn)

    def _writer_db(self) -> Database:
        """The writer connection; the caller holds the write lock."""
        if self._writer is None:
            db = self._connect(reader=False)
            self._set_wal(db.conn)
            self._writer = db
        return self._writer

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        # journal_mode is a property of the file, set once and outside any
        # transaction; another process may hold a lock while we try.
        backoff = _Backoff(self.path)
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise self._translate(exc) from exc
                backoff.wait()
        if str(mode).lower() != "wal":
            raise DatabaseError(
                f"SQLite refused WAL mode for {self.path} (journal_mode is {mode}); "
                "bgjobs needs WAL: use a local file system"
            )

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        self._check_process()
        if self._writer is None:
            # The writer sets WAL; open it first so readers never see another mode.
            with self._write_lock:
                self._writer_db()
        try:
            db = self._idle_readers.get_nowait()
        except queue.Empty:
            db = self._connect(reader=True)
        try:
            yield db.conn
        finally:
            self._idle_readers.put(db)

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in BEGIN IMMEDIATE ... COMMIT on the writer, retrying a locked database."""
        self._check_process()
        with self._write_lock:
            return self._transact(self._writer_db().conn, work)

    def _write_apart(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`_write` on a second writer connection with a lock of its own: for the heartbeat.

        Behind the shared write lock a heartbeat queues after every claim and
        completion of this process's busy queues (gaps of several intervals
        were measured under load); on its own connection it only waits for
        SQLite's file lock, as any other process's writer does.
        """
        self._check_process()
        with self._beat_lock:
            if self._beat_writer is None:
                if self._writer is None:
                    with self._write_lock:  # the writer sets WAL before anyone else opens
                        self._writer_db()
                beat = self._connect(reader=False)
                # A commit past the WAL's checkpoint threshold runs the checkpoint on
                # the committing connection: leave that to the main writer, so a
                # heartbeat never waits for a checkpoint of its own making.
                beat.conn.execute("PRAGMA wal_autocheckpoint = 0")
                self._beat_writer = beat
            return self._transact(self._beat_writer.conn, work)

    def _transact(self, conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        backoff = _Backoff(self.path)
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                self._rollback(conn)
                if not _is_busy(exc):
                    raise self._translate(exc) from exc
                backoff.wait()
            except BaseException:
                self._rollback(conn)
                raise

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on a reader connection, retrying a locked database."""
        backoff = _Backoff(self.path)
        while True:
            try:
                with self._reader() as conn:
                    return work(conn)
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise self._translate(exc) from exc
                backoff.wait()

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _translate(self, exc: sqlite3.Error) -> DatabaseError:
        message = str(exc)
        if "no such table" in message:
            return SchemaError(
                f"the bgjobs tables are missing from {self.path} ({message}): "
                "run migrate() or `bgjobs migrate` first"
            )
        return DatabaseError(f"SQLite error on {self.path}: {message}")

    def close(self) -> None:
        """Close every connection this adapter opened (in this process)."""
        if self._pid != os.getpid():
            self._check_process()
            return
        with self._write_lock, self._beat_lock, self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
            self._writer = None
            self._beat_writer = None
            self._idle_readers = queue.SimpleQueue()
            self._closed = True

    def _caller_connection(self, connection: Any) -> sqlite3.Connection:
        conn = getattr(connection, "conn", connection)  # a sqlite_utils.Database wraps one
        if not isinstance(conn, sqlite3.Connection):
            raise TypeError(
                "connection must be an open sqlite3.Connection (or sqlite_utils.Database) "
                f"to the same file as {self!r} (got {type(connection).__name__})"
            )
        try:
            rows = conn.execute("PRAGMA database_list").fetchall()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        main_file = next((row[2] for row in rows if row[1] == "main"), "")
        if not main_file or os.path.realpath(main_file) != os.path.realpath(self.path):
            raise ConfigurationError(
                f"the connection is to {main_file or 'an in-memory database'!r}, "
                f"not to this adapter's file {self.path!r}"
            )
        return conn


def _lenient_text(data: bytes) -> str:
    """TEXT as str, keeping bytes that are not UTF-8 as lone surrogates instead of raising.

    SQLite stores whatever bytes it is given: a row written by raw SQL with a
    bad byte would otherwise make sqlite3 fail the whole fetch, and with it a
    claim of good jobs. bgjobs itself never writes such text; reading it back
    (`read_payload`) reports the row as unreadable.
    """
    return data.decode("utf-8", "surrogateescape")


def wrap(conn: sqlite3.Connection) -> Database:
    """Wrap a connection in sqlite_utils.Database.

    Imported here, not at the top: sqlite_utils takes a third of a second to
    import (it loads numpy when present), which every CLI call would pay.
    """
    from sqlite_utils import Database

    return Database(conn, recursive_triggers=False, execute_plugins=False)
