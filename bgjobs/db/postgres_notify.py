"""PostgreSQL LISTEN/NOTIFY: the channel, its payload both ways, and the listening thread.

Enqueue sends one NOTIFY per transaction naming the job names due now;
`Listener` keeps one autocommit connection outside the pool on a daemon
thread, LISTENs again after every reconnect and then calls back with None
("look at everything") because notifications may have been missed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg
from psycopg import sql

from bgjobs.db.adapter import NotifyCallback

log = logging.getLogger("bgjobs")

#: The LISTEN/NOTIFY channel enqueues announce due jobs on.
CHANNEL: Final = "bgjobs"
#: NOTIFY payloads must stay under 8000 bytes; longer lists become "look at everything".
_MAX_NOTIFY_PAYLOAD: Final = 7000


def notify_payload(names: Sequence[str]) -> str:
    """The NOTIFY payload announcing `names`: a JSON array, or "" when it would be too long."""
    payload = json.dumps(list(names), separators=(",", ":"))
    return payload if len(payload.encode("utf-8")) <= _MAX_NOTIFY_PAYLOAD else ""


def parse_names(payload: str) -> frozenset[str] | None:
    """The job names a NOTIFY payload announced, or None for "look at everything"."""
    try:
        names = json.loads(payload)
    except ValueError:
        return None
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return frozenset(names)
    return None


class Listener:
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
                            self._deliver(parse_names(notice.payload))
            except psycopg.Error as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "LISTEN connection to %s lost: %s", self._where, " ".join(str(exc).split())
                    )
                self._stop.wait(min(0.1 * 2 ** (failures - 1), 5.0))

    def _deliver(self, names: frozenset[str] | None) -> None:
        try:
            self._callback(names)
        except Exception:
            log.exception("a notify callback raised; listening goes on")
