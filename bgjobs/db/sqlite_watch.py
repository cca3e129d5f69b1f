"""Wake-ups across processes on SQLite: watch `PRAGMA data_version` on a read connection.

SQLite has no notifications, and a worker process that polls once a second
starts a job enqueued by a web process about half a second late. The file
says when anyone else has committed: `PRAGMA data_version` changes on a
connection whenever another connection commits. One dedicated connection reads
it every few milliseconds (a few microseconds each, no lock taken, no server)
and calls back with None, "look at everything", after each change.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Final

from bgjobs.db.adapter import NotifyCallback

log = logging.getLogger("bgjobs")

#: How often the watcher looks: half of it is the mean delay it adds to a wake-up.
WATCH_INTERVAL: Final = 0.004


class DataVersionWatch:
    """A daemon thread reading `PRAGMA data_version`; close() stops it."""

    def __init__(self, path: str, callback: NotifyCallback) -> None:
        self._path = path
        self._callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bgjobs-watch", daemon=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA query_only = 1")
        self._cursor = self._conn.cursor()
        self._version = self._read()

    def start(self) -> DataVersionWatch:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop watching; returns within about one interval."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self._conn.close()

    def _read(self) -> int:
        self._cursor.execute("PRAGMA data_version")
        return int(self._cursor.fetchone()[0])

    def _loop(self) -> None:
        # time.sleep, not Event.wait: this loop runs 250 times a second in every
        # idle worker process, and a plain sleep costs a fraction of a wait.
        while not self._stop.is_set():
            time.sleep(WATCH_INTERVAL)
            try:
                version = self._read()
            except sqlite3.Error as exc:  # a locked or vanished file: look again later
                log.debug("bgjobs: data_version of %s unreadable: %s", self._path, exc)
                continue
            if version != self._version:
                self._version = version
                try:
                    self._callback(None)
                except Exception:
                    log.exception("bgjobs: a notify callback raised; watching goes on")
